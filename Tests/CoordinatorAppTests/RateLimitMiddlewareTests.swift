import CoordinatorApp
import Foundation
import Hummingbird
import HummingbirdTesting
import HTTPTypes
import Logging
import NIOCore
import Synchronization
import Testing
import Wire

/// The rate-limit middleware in a router: `429 rate_limited` with
/// `Retry-After` and a JSON body once the burst is spent, per key; and the
/// coordinator's own routes with its settings (registrations by address,
/// requests by worker, 0 turning them off).
@Suite struct RateLimitMiddlewareTests {
    /// A clock the test moves.
    final class TestClock: Sendable {
        let start = ContinuousClock.now
        let elapsed = Mutex<Duration>(.zero)
        var now: ContinuousClock.Instant { start + elapsed.withLock { $0 } }
        func advance(_ d: Duration) { elapsed.withLock { $0 += d } }
    }

    static func errorBody(_ response: TestResponse) throws -> ErrorResponse {
        try WireProtocol.makeDecoder().decode(ErrorResponse.self, from: Data(response.body.readableBytesView))
    }

    @Test func answers429WithRetryAfterOnceTheBurstIsSpent() async throws {
        let clock = TestClock()
        let limiter = SharedRateLimiter(.perMinute(6, burst: 3))  // one every 10 s
        let router = Router(context: CoordinatorContext.self)
        router.group("v1").add(middleware: RateLimitMiddleware(limiter: limiter, subject: "requests", now: { clock.now }) { request, _ in
            request.headers[.userAgent]
        }).post("workers") { _, _ in Response(status: .created) }
        try await Application(router: router).test(.router) { client in
            func post(_ agent: String) async throws -> TestResponse {
                try await client.execute(uri: "/v1/workers", method: .post, headers: [.userAgent: agent]) { $0 }
            }
            for _ in 0..<3 { #expect(try await post("a").status == .created) }
            let refused = try await post("a")
            #expect(refused.status == .tooManyRequests)
            #expect(refused.headers[.retryAfter] == "10")
            #expect(refused.headers[.contentType] == WireProtocol.jsonContentType)
            let body = try Self.errorBody(refused)
            #expect(body.error == "rate_limited")
            #expect(body.message.contains("retry in 10 s"))
            // Another key has its own bucket.
            #expect(try await post("b").status == .created)
            // 4 s later: 6 s to go, said in whole seconds.
            clock.advance(.seconds(4))
            #expect(try await post("a").headers[.retryAfter] == "6")
            // After the wait, one more.
            clock.advance(.seconds(6))
            #expect(try await post("a").status == .created)
            #expect(try await post("a").status == .tooManyRequests)
            // A request without a key is not limited.
            try await client.execute(uri: "/v1/workers", method: .post) { #expect($0.status == .created) }
        }
    }

    @Test func coordinatorLimitsRegistrationsAndWorkers() async throws {
        try await TestDatabase.withFresh(migrated: true) { db in
            let blobDirectory = try TestDatabase.scratchDirectory("ratelimit-blobs")
            defer { try? FileManager.default.removeItem(at: blobDirectory) }
            var settings = CoordinatorSettings()
            settings.registrationsPerMinute = 1
            settings.registrationBurst = 2
            settings.workerRequestsPerSecond = 0.01
            settings.workerRequestBurst = 3
            let coordinator = Coordinator(db: db.client, blobs: try BlobStore(root: blobDirectory), settings: settings,
                                          logger: Logger(label: "test"))
            let app = CoordinatorServer.application(coordinator: coordinator, host: "127.0.0.1", port: 0, services: [],
                                                    logger: Logger(label: "test"))
            try await app.test(.live) { client in
                func register(_ name: String) async throws -> TestResponse {
                    try await client.execute(uri: "/v1/workers", method: .post, body: ByteBuffer(bytes: try WireProtocol.makeEncoder().encode(
                        RegisterWorkerRequest(name: name, backend: "cpu", threads: 1, version: "0")))) { $0 }
                }
                let first = try await register("a")
                #expect(first.status == .created)
                let token = try WireProtocol.makeDecoder().decode(RegisterWorkerResponse.self, from: Data(first.body.readableBytesView)).token
                #expect(try await register("b").status == .created)
                let refused = try await register("c")
                #expect(refused.status == .tooManyRequests)
                // A minute after the first registration took the bucket's first token (less the
                // seconds the registrations themselves took on a loaded machine).
                #expect((55...60).contains(Int(refused.headers[.retryAfter] ?? "") ?? 0))
                #expect(try Self.errorBody(refused).error == "rate_limited")
                // The registration recorded the client's IP, without the port.
                let rows = try await db.client.query("SELECT address FROM workers ORDER BY name", logger: Logger(label: "test"))
                var addresses: [String] = []
                for try await address in rows.decode(String.self) { addresses.append(address) }
                #expect(addresses == ["127.0.0.1", "127.0.0.1"])
                // A worker's requests: 3 at once, then 429 (no run: each lease is answered `retry` at once).
                let auth: HTTPFields = [.authorization: "Bearer \(token)"]
                for _ in 0..<3 {
                    try await client.execute(uri: "/v1/leases", method: .post, headers: auth) { #expect($0.status == .ok) }
                }
                let limited = try await client.execute(uri: "/v1/leases", method: .post, headers: auth) { $0 }
                #expect(limited.status == .tooManyRequests)
                #expect(Int(limited.headers[.retryAfter] ?? "") ?? 0 >= 1)
                #expect(try Self.errorBody(limited).error == "rate_limited")
                // Unauthenticated requests are refused before they spend anything (401, not 429).
                try await client.execute(uri: "/v1/leases", method: .post, headers: [.authorization: "Bearer nope"]) {
                    #expect($0.status == .unauthorized)
                }
                // Routes without a worker are not limited by it.
                for _ in 0..<5 {
                    try await client.execute(uri: "/v1/status", method: .get) { #expect($0.status != .tooManyRequests) }
                }
            }
        }
    }

    @Test func zeroTurnsTheLimitsOff() async throws {
        try await TestDatabase.withFresh(migrated: true) { db in
            let blobDirectory = try TestDatabase.scratchDirectory("ratelimit-off-blobs")
            defer { try? FileManager.default.removeItem(at: blobDirectory) }
            var settings = CoordinatorSettings()
            settings.registrationsPerMinute = 0
            settings.workerRequestBurst = 0
            let coordinator = Coordinator(db: db.client, blobs: try BlobStore(root: blobDirectory), settings: settings,
                                          logger: Logger(label: "test"))
            let app = CoordinatorServer.application(coordinator: coordinator, host: "127.0.0.1", port: 0, services: [],
                                                    logger: Logger(label: "test"))
            try await app.test(.router) { client in
                var token = ""
                for i in 0..<100 {
                    try await client.execute(uri: "/v1/workers", method: .post, body: ByteBuffer(bytes: try WireProtocol.makeEncoder().encode(
                        RegisterWorkerRequest(name: "w\(i)", backend: "cpu", threads: 1, version: "0")))) {
                        #expect($0.status == .created)
                        token = try WireProtocol.makeDecoder().decode(RegisterWorkerResponse.self, from: Data($0.body.readableBytesView)).token
                    }
                }
                for _ in 0..<300 {
                    try await client.execute(uri: "/v1/leases", method: .post, headers: [.authorization: "Bearer \(token)"]) {
                        #expect($0.status == .ok)
                    }
                }
            }
        }
    }

    @Test func defaultsLeaveRoomForHonestClients() {
        let settings = CoordinatorSettings()
        // A few dozen workers started at once on one machine.
        #expect(settings.registrationBurst >= 40)
        #expect(settings.registrationsPerMinute >= 20)
        // A worker: a few requests a unit, units of a fraction of a second on tiny models.
        #expect(settings.workerRequestsPerSecond >= 20)
        #expect(settings.workerRequestBurst >= 100)
        #expect(settings.uploadIdleSeconds == 30)
        #expect(settings.uploadTotalSeconds == 600)
    }
}
