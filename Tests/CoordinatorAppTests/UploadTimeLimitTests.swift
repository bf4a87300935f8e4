import CoordinatorApp
import Foundation
import Hummingbird
import HummingbirdTesting
import HTTPTypes
import Logging
import NIOCore
import PostgresNIO
import Testing
import Wire

/// Slow uploads against a live coordinator over loopback, with a raw socket:
/// a body that stops arriving, or trickles past the total limit, is answered
/// `408 request_timeout` (JSON) and the connection closed; a steady slow body
/// is fine; a body the handler does not read cannot hold the connection; a
/// stalled result upload is not counted against the worker.
@Suite(.serialized) struct UploadTimeLimitTests {
    static let logger = Logger(label: "test")

    /// A live coordinator with limits of about a second (idle 1 s, total 2.5 s) on a fresh database.
    func withServer(_ body: @escaping @Sendable (Int, Coordinator, PostgresClient) async throws -> Void,
                    function: String = #function) async throws {
        try await TestDatabase.withFresh(migrated: true, function: function) { db in
            let blobDirectory = try TestDatabase.scratchDirectory("upload-blobs")
            defer { try? FileManager.default.removeItem(at: blobDirectory) }
            var settings = CoordinatorSettings()
            settings.uploadIdleSeconds = 1
            settings.uploadTotalSeconds = 2.5
            let coordinator = Coordinator(db: db.client, blobs: try BlobStore(root: blobDirectory), settings: settings,
                                          logger: Self.logger)
            let app = CoordinatorServer.application(coordinator: coordinator, host: "127.0.0.1", port: 0, services: [],
                                                    logger: Self.logger)
            try await app.test(.live) { client in try await body(client.port!, coordinator, db.client) }
        }
    }

    static func post(_ path: String, length: Int, extra: String = "") -> String {
        "POST \(path) HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nContent-Length: \(length)\r\n\(extra)\r\n"
    }

    static func expectTimeout(_ answer: RawHTTPConnection.Answer, _ limit: String) throws {
        #expect(answer.status == 408)
        #expect(answer.headers["connection"] == "close")
        let error = try WireProtocol.makeDecoder().decode(ErrorResponse.self, from: answer.body)
        #expect(error.error == "request_timeout")
        #expect(error.message.contains(limit), "\(error.message)")
    }

    @Test func aStalledBodyGets408AndTheConnectionCloses() async throws {
        try await withServer { port, _, db in
            let connection = try RawHTTPConnection(port: port)
            let started = ContinuousClock.now
            try await connection.send(Self.post("/v1/workers", length: 100) + #"{"name": "slo"#)
            let answer = try await connection.readAnswer()
            let waited = ContinuousClock.now - started
            try Self.expectTimeout(answer, "nothing for 1 s")
            #expect(waited >= .milliseconds(900) && waited < .seconds(5), "answered after \(waited)")
            #expect(try await connection.closedByServer())
            // Nothing was registered.
            let rows = try await db.query("SELECT count(*) FROM workers", logger: Self.logger)
            for try await count in rows.decode(Int.self) { #expect(count == 0) }
        }
    }

    @Test func aTrickleGets408AtTheTotalLimit() async throws {
        try await withServer { port, _, _ in
            let connection = try RawHTTPConnection(port: port)
            let started = ContinuousClock.now
            try await connection.send(Self.post("/v1/workers", length: 1000))
            // A byte every 0.3 s: never idle for a second, but never done.
            let trickle = Task {
                while !Task.isCancelled {
                    guard try await connection.send(" ") else { break }
                    try await Task.sleep(for: .milliseconds(300))
                }
            }
            defer { trickle.cancel() }
            let answer = try await connection.readAnswer()
            let waited = ContinuousClock.now - started
            try Self.expectTimeout(answer, "longer than 2.5 s")
            #expect(waited >= .seconds(2.4) && waited < .seconds(7), "answered after \(waited)")
            trickle.cancel()
            #expect(try await connection.closedByServer())
        }
    }

    @Test func aSlowSteadyBodyIsFine() async throws {
        try await withServer { port, _, _ in
            let connection = try RawHTTPConnection(port: port)
            let body = Data(#"{"name": "steady", "backend": "cpu", "threads": 1, "version": "0"}"#.utf8)
            try await connection.send(Self.post("/v1/workers", length: body.count))
            // Three pieces, 0.6 s apart: each within the idle limit, all within the total.
            let third = body.count / 3
            for piece in [body.prefix(third), body.dropFirst(third).prefix(third), body.dropFirst(2 * third)] {
                try await Task.sleep(for: .milliseconds(600))
                try await connection.send(Data(piece))
            }
            let answer = try await connection.readAnswer()
            #expect(answer.status == 201)
            // The connection stays open for the next request.
            try await connection.send("GET /v1/status HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
            #expect(try await connection.readAnswer().status == 200)
        }
    }

    @Test func anUnreadBodyCannotHoldTheConnection() async throws {
        try await withServer { port, _, _ in
            // No token: the authenticator answers 401 without reading the body, which then stalls.
            let connection = try RawHTTPConnection(port: port)
            let started = ContinuousClock.now
            try await connection.send(Self.post("/v1/leases/\(UUID())/heartbeat", length: 1_000_000) + "{")
            let answer = try await connection.readAnswer()
            #expect(answer.status == 401)
            #expect(answer.headers["connection"] == "close")
            #expect(ContinuousClock.now - started < .seconds(5))
            #expect(try await connection.closedByServer())

            // A small unread body that is all there is read and dropped: the connection stays usable.
            let polite = try RawHTTPConnection(port: port)
            try await polite.send(Self.post("/v1/leases/\(UUID())/heartbeat", length: 2) + "{}")
            let first = try await polite.readAnswer()
            #expect(first.status == 401)
            #expect(first.headers["connection"] == nil)
            try await polite.send("GET /v1/status HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
            #expect(try await polite.readAnswer().status == 200)
        }
    }

    @Test func aStalledResultIs408AndNoRejection() async throws {
        let fixture = DistributedTrainingTests.fixture
        try await withServer { port, coordinator, db in
            _ = try await coordinator.createRun(yaml: fixture.yaml, baseDirectory: fixture.dir)
            let info = try await coordinator.runInfo(1)
            // Register and lease over plain HTTP on the raw connection.
            let connection = try RawHTTPConnection(port: port)
            let registration = try WireProtocol.makeEncoder().encode(RegisterWorkerRequest(name: "slow", backend: "cpu", threads: 1, version: "0"))
            try await connection.send(Data(Self.post("/v1/workers", length: registration.count).utf8) + registration)
            let registered = try await connection.readAnswer()
            #expect(registered.status == 201)
            let token = try WireProtocol.makeDecoder().decode(RegisterWorkerResponse.self, from: registered.body).token
            try await connection.send(Self.post("/v1/leases", length: 2, extra: "Authorization: Bearer \(token)\r\n") + "{}")
            let leased = try await connection.readAnswer()
            guard case .assigned(let assignment) = try WireProtocol.makeDecoder().decode(LeaseResponse.self, from: leased.body) else {
                Issue.record("no assignment")
                return
            }
            // Half a result, then nothing.
            let payload = Data(TensorPayload(values: [Float](repeating: 0.001, count: info.parameterCount)).encoded())
            let metadata = ResultMetadata(leaseID: assignment.leaseID, loss: 2.5, tokenCount: 32, payloadSHA256: BlobStore.sha256(payload))
            var head = "PUT /v1/leases/\(assignment.leaseID.uuidString.lowercased())/result HTTP/1.1\r\nHost: 127.0.0.1\r\n"
            head += "Authorization: Bearer \(token)\r\nContent-Type: \(WireProtocol.tensorContentType)\r\nContent-Length: \(payload.count)\r\n"
            for (name, value) in metadata.headerFields { head += "\(name): \(value)\r\n" }
            try await connection.send(Data((head + "\r\n").utf8) + payload.prefix(payload.count / 2))
            let answer = try await connection.readAnswer()
            try Self.expectTimeout(answer, "nothing for 1 s")
            #expect(try await connection.closedByServer())
            // A stalled upload is the line's fault, not a bad result: no rejection, no strike.
            let rows = try await db.query("SELECT count(*) FROM rejections", logger: Self.logger)
            for try await count in rows.decode(Int.self) { #expect(count == 0) }
        }
    }
}
