import CoordinatorApp
import Foundation
import Hummingbird
import HummingbirdTesting
import Logging
import HTTPTypes
import NIOCore
import Testing
import Wire

/// The lease endpoints over HTTP against a real PostgreSQL: registration,
/// authentication, the 409s for expired and foreign leases, idempotent
/// resubmission, and structural checks on results.
@Suite(.serialized) struct LeaseAPITests {
    func json<T: Encodable>(_ v: T) throws -> ByteBuffer { ByteBuffer(bytes: try WireProtocol.makeEncoder().encode(v)) }
    func decode<T: Decodable>(_ t: T.Type, _ b: ByteBuffer) throws -> T { try WireProtocol.makeDecoder().decode(T.self, from: Data(b.readableBytesView)) }

    /// A coordinator with the fixture's run on a fresh database, and a client of its router.
    func withCoordinator(_ settings: CoordinatorSettings = CoordinatorSettings(), function: String = #function,
                         _ body: @escaping @Sendable (Coordinator, RunInfo, any TestClientProtocol) async throws -> Void) async throws {
        try await TestDatabase.withFresh(migrated: true, function: function) { db in
            let dir = DistributedTrainingTests.fixture.dir
            let blobs = try BlobStore(root: dir.appendingPathComponent("blobs-\(function.prefix(while: \.isLetter))-\(UUID())"))
            let coordinator = Coordinator(db: db.client, blobs: blobs, settings: settings, logger: Logger(label: "test"))
            _ = try await coordinator.createRun(yaml: DistributedTrainingTests.fixture.yaml, baseDirectory: dir)
            let info = try await coordinator.runInfo(1)
            let app = CoordinatorServer.application(coordinator: coordinator, host: "127.0.0.1", port: 0, services: [],
                                                    logger: Logger(label: "test"))
            try await app.test(.router) { client in try await body(coordinator, info, client) }
        }
    }

    /// Registers a worker; its token.
    func register(_ name: String, _ client: any TestClientProtocol) async throws -> String {
        try await client.execute(uri: "/v1/workers", method: .post,
                                 body: try json(RegisterWorkerRequest(name: name, backend: "cpu", threads: 1, version: "0"))) {
            #expect($0.status == .created)
            return try decode(RegisterWorkerResponse.self, $0.body).token
        }
    }

    @Test func leaseLifecycleOverHTTP() async throws {
        try await withCoordinator { coordinator, info, client in
            func register(_ name: String) async throws -> String { try await self.register(name, client) }
            let alice = try await register("alice"), bob = try await register("bob")
            // No token: 401 with a JSON error body.
            try await client.execute(uri: "/v1/leases", method: .post) { #expect($0.status == .unauthorized) }
            let lease: Assignment = try await client.execute(uri: "/v1/leases", method: .post,
                                                             headers: [.authorization: "Bearer \(alice)"]) {
                guard case .assigned(let a) = try decode(LeaseResponse.self, $0.body) else { throw EngineError("no assignment") }
                return a
            }
            let id = lease.leaseID.uuidString.lowercased()
            // Bob cannot heartbeat Alice's lease.
            try await client.execute(uri: "/v1/leases/\(id)/heartbeat", method: .post, headers: [.authorization: "Bearer \(bob)"]) {
                #expect($0.status == .conflict)
            }
            // A result: accepted, and again → same answer; a tampered body → 422.
            let payload = Data(TensorPayload(values: [Float](repeating: 0.001, count: info.parameterCount)).encoded())
            func submit(_ body: Data, hash: String, token: String) async throws -> (HTTPResponse.Status, SubmitResultResponse) {
                var headers: HTTPFields = [.authorization: "Bearer \(token)"]
                for (name, value) in ResultMetadata(leaseID: lease.leaseID, loss: 2.5, tokenCount: 32, payloadSHA256: hash).headerFields {
                    headers[HTTPField.Name(name)!] = value
                }
                return try await client.execute(uri: "/v1/leases/\(id)/result", method: .put, headers: headers,
                                                body: ByteBuffer(bytes: body)) { ($0.status, try decode(SubmitResultResponse.self, $0.body)) }
            }
            let hash = BlobStore.sha256(payload)
            var tampered = payload
            tampered[tampered.count - 1] ^= 1
            #expect(try await submit(payload, hash: hash, token: bob).0 == .conflict)  // foreign lease
            let first = try await submit(payload, hash: hash, token: alice)
            #expect(first.0 == .ok && first.1.status == .accepted, "\(first)")
            let again = try await submit(payload, hash: hash, token: alice)
            #expect(again.0 == .ok && again.1.status == .accepted, "\(again)")
            // (A rejected result ends its lease: see RejectionTests.)
            #expect(try await submit(tampered, hash: hash, token: alice).0 == .unprocessableContent)
            // A second lease expires → its heartbeat and result get 409 lease_expired. (Its deadline is
            // moved rather than waited for: a short lease for the whole test expired the first one on a busy machine.)
            let second: Assignment = try await client.execute(uri: "/v1/leases", method: .post,
                                                              headers: [.authorization: "Bearer \(bob)"]) {
                guard case .assigned(let a) = try decode(LeaseResponse.self, $0.body) else { throw EngineError("no assignment") }
                return a
            }
            try await coordinator.db.query("UPDATE leases SET deadline = now() - interval '1 second' WHERE id = \(second.leaseID)",
                                           logger: Logger(label: "test"))
            try await client.execute(uri: "/v1/leases/\(second.leaseID.uuidString.lowercased())/heartbeat", method: .post,
                                     headers: [.authorization: "Bearer \(bob)"]) {
                #expect($0.status == .conflict)
                if case .stop(let reason, _) = try decode(HeartbeatResponse.self, $0.body) { #expect(reason == "lease_expired") }
            }
            // After the sweep the unit is pending again and is handed out anew.
            try await coordinator.leases.expireOverdue()
            try await client.execute(uri: "/v1/leases", method: .post, headers: [.authorization: "Bearer \(alice)"]) {
                guard case .assigned(let a) = try decode(LeaseResponse.self, $0.body) else { Issue.record("no reissue"); return }
                #expect(a.unitIndex == second.unitIndex)
            }
            // Parameters: ETag and If-None-Match.
            try await client.execute(uri: "/v1/runs/1/parameters/0", method: .get,
                                     headers: [.ifNoneMatch: "\"\(lease.parameters.sha256)\""]) { #expect($0.status == .notModified) }
            try await client.execute(uri: "/v1/runs/1/parameters/0", method: .get, headers: [.range: "bytes=0-47"]) {
                #expect($0.status == .partialContent && $0.body.readableBytes == 48)
            }
            try await client.execute(uri: "/v1/status", method: .get) { #expect($0.status == .ok) }
        }
    }

    /// Bad input gets a 4xx with the protocol's JSON error body, never a 500;
    /// releasing twice is fine; a late copy of an accepted unit is "superseded".
    @Test func errorAnswersReleaseAndLateCopies() async throws {
        var settings = CoordinatorSettings()
        settings.maxCopies = 2
        settings.backupAfterSeconds = 0
        try await withCoordinator(settings) { coordinator, info, client in
            func expectError(_ status: HTTPResponse.Status, _ code: String, _ response: TestResponse) throws {
                #expect(response.status == status)
                let body = try decode(ErrorResponse.self, response.body)
                #expect(body.error.rawValue == code)
                #expect(!body.message.isEmpty)
            }
            try await client.execute(uri: "/v1/workers", method: .post, body: ByteBuffer(string: "{not json")) {
                try expectError(.badRequest, "bad_request", $0)
            }
            try await client.execute(uri: "/v1/workers", method: .post, body: ByteBuffer(repeating: 0x20, count: 100_000)) {
                try expectError(.contentTooLarge, "payload_too_large", $0)
            }
            try await client.execute(uri: "/v1/no-such-thing", method: .get) { try expectError(.notFound, "not_found", $0) }
            func register(_ name: String) async throws -> String { try await self.register(name, client) }
            let alice = try await register("alice"), bob = try await register("bob")
            let auth: (String) -> HTTPFields = { [.authorization: "Bearer \($0)"] }
            try await client.execute(uri: "/v1/leases", method: .post, headers: auth(alice), body: ByteBuffer(string: "[1,")) {
                try expectError(.badRequest, "bad_request", $0)
            }
            try await client.execute(uri: "/v1/leases/not-a-uuid/heartbeat", method: .post, headers: auth(alice)) {
                try expectError(.badRequest, "bad_request", $0)
            }
            func lease(_ token: String) async throws -> Assignment {
                try await client.execute(uri: "/v1/leases", method: .post, headers: auth(token)) {
                    guard case .assigned(let a) = try decode(LeaseResponse.self, $0.body) else { throw EngineError("no assignment") }
                    return a
                }
            }
            // Releasing twice: released both times; the unit is handed out again.
            let first = try await lease(alice)
            for _ in 0..<2 {
                try await client.execute(uri: "/v1/leases/\(first.leaseID.uuidString.lowercased())", method: .delete, headers: auth(alice)) {
                    #expect($0.status == .ok)
                    let answer = try decode(ReleaseResponse.self, $0.body)
                    #expect(answer.status == .released)
                }
            }
            // Take every unit (Alice), then Bob gets a backup copy of one.
            var mine: [Assignment] = []
            for _ in 0..<3 { mine.append(try await lease(alice)) }
            #expect(Set(mine.map(\.unitIndex)).count == 3)
            let backup = try await lease(bob)
            let original = try #require(mine.first { $0.unitIndex == backup.unitIndex })
            let payload = Data(TensorPayload(values: [Float](repeating: 0.001, count: info.parameterCount)).encoded())
            func submit(_ a: Assignment, _ token: String) async throws -> (HTTPResponse.Status, SubmitResultResponse) {
                var headers = auth(token)
                for (name, value) in ResultMetadata(leaseID: a.leaseID, loss: 2.5, tokenCount: 32,
                                                    payloadSHA256: BlobStore.sha256(payload)).headerFields {
                    headers[HTTPField.Name(name)!] = value
                }
                return try await client.execute(uri: "/v1/leases/\(a.leaseID.uuidString.lowercased())/result", method: .put,
                                                headers: headers, body: ByteBuffer(bytes: payload)) {
                    ($0.status, try decode(SubmitResultResponse.self, $0.body))
                }
            }
            let winner = try await submit(backup, bob)
            #expect(winner.0 == .ok && winner.1.status == .accepted)
            let late = try await submit(original, alice)
            #expect(late.0 == .ok && late.1.status == .superseded && late.1.reason == .superseded)
            #expect(try await submit(original, alice).1.status == .superseded)  // the same answer again
        }
    }

    /// Koinon-Next-Lease: a result's 200 answer brings the worker's next unit when one is free;
    /// a refused result, or a step with nothing left, brings none.
    @Test func aResultCanBringTheWorkersNextUnit() async throws {
        try await withCoordinator { _, info, client in
            func register(_ name: String) async throws -> String { try await self.register(name, client) }
            func lease(_ token: String) async throws -> Assignment {
                try await client.execute(uri: "/v1/leases", method: .post, headers: [.authorization: "Bearer \(token)"]) {
                    guard case .assigned(let a) = try decode(LeaseResponse.self, $0.body) else { throw EngineError("no assignment") }
                    return a
                }
            }
            let payload = Data(TensorPayload(values: [Float](repeating: 0.001, count: info.parameterCount)).encoded())
            func submit(_ a: Assignment, _ token: String, next: String?) async throws -> (HTTPResponse.Status, SubmitResultResponse) {
                var headers: HTTPFields = [.authorization: "Bearer \(token)"]
                let metadata = ResultMetadata(leaseID: a.leaseID, loss: 2.5, tokenCount: 32, payloadSHA256: BlobStore.sha256(payload))
                for (name, value) in metadata.headerFields { headers[HTTPField.Name(name)!] = value }
                if let next { headers[HTTPField.Name(NextLease.header)!] = next }
                return try await client.execute(uri: "/v1/leases/\(a.leaseID.uuidString.lowercased())/result", method: .put,
                                                headers: headers, body: ByteBuffer(bytes: payload)) {
                    ($0.status, try decode(SubmitResultResponse.self, $0.body))
                }
            }
            let alice = try await register("alice"), bob = try await register("bob")
            let first = try await lease(alice), other = try await lease(bob)
            // Alice's result brings her the step's last pending unit, a lease like any other.
            let answer = try await submit(first, alice, next: "train, eval")
            #expect(answer.0 == .ok && answer.1.status == .accepted)
            let next = try #require(answer.1.next)
            #expect(next.runID == first.runID && next.step == first.step && next.evaluation == nil)
            #expect(Set([first.unitIndex, other.unitIndex, next.unitIndex]).count == 3)
            #expect(next.parameters == first.parameters && next.data == first.data)
            // A refused result (Bob handing in Alice's lease) brings nothing and takes nothing.
            let refused = try await submit(next, bob, next: "train")
            #expect(refused.0 == .conflict && refused.1.next == nil)
            // With every unit out, a result brings nothing; the answer is the same without it.
            let last = try await submit(next, alice, next: "train")
            #expect(last.0 == .ok && last.1.status == .accepted && last.1.next == nil)
            // Without the header (or without "train" in it), nothing is asked for.
            let plain = try await submit(other, bob, next: "eval")
            #expect(plain.0 == .ok && plain.1.status == .accepted && plain.1.next == nil)
        }
    }
}
