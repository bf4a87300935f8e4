import CoordinatorApp
import Foundation
import Hummingbird
import HummingbirdTesting
import HTTPTypes
import Logging
import NIOCore
import Testing
import Wire

/// Malformed and oversized input against every route of a real coordinator
/// (real PostgreSQL, a run, a worker with a lease): every answer is a 4xx
/// with a JSON body (`{"error", "message"}`, or the lease/result answer's
/// own `{"status", "reason", "message"}`), never a 5xx; the HTML pages answer
/// their own 404 page.
@Suite(.serialized) struct HostileInputTests {
    static let logger = Logger(label: "test")

    /// One hostile request and the statuses it may get.
    struct Case: CustomStringConvertible {
        var method: HTTPRequest.Method
        var uri: String
        var headers: HTTPFields = [:]
        var body: ByteBuffer? = nil
        var allowed: Set<Int>
        /// The answer is an HTML page (the dashboard), not JSON.
        var html = false
        var description: String { "\(method) \(uri.prefix(120)) (\(body?.readableBytes ?? 0) bytes)" }
    }

    static func json(_ text: String) -> ByteBuffer { ByteBuffer(string: text) }

    /// The cases, given a worker's token, an operator token, a real lease id, a real worker id.
    static func cases(worker: String, operatorToken: String, lease: String, workerID: String) -> [Case] {
        let auth: HTTPFields = [.authorization: "Bearer \(worker)"]
        let op: HTTPFields = [.authorization: "Bearer \(operatorToken)"]
        let big = ByteBuffer(repeating: UInt8(ascii: " "), count: 100_000)
        let register = "/v1/workers"
        var cases: [Case] = []
        // Registration: malformed JSON, wrong types, missing fields, huge numbers, bad strings, too large.
        for body in [
            "", "{not json", "[1,", "null", "[]", "\"x\"", "{}", #"{"name": "a"}"#,
            #"{"name": 1, "backend": "cpu", "threads": 1, "version": "0"}"#,
            #"{"name": "a", "backend": "cpu", "threads": "many", "version": "0"}"#,
            #"{"name": "a", "backend": "cpu", "threads": 1.5, "version": "0"}"#,
            #"{"name": "a", "backend": "cpu", "threads": 1e400, "version": "0"}"#,
            #"{"name": "a", "backend": "cpu", "threads": 99999999999999999999999, "version": "0"}"#,
            #"{"name": "a", "backend": "cpu", "threads": null, "version": "0"}"#,
            #"{"name": "   ", "backend": "cpu", "threads": 1, "version": "0"}"#,
            #"{"name": "\#(String(repeating: "n", count: 65))", "backend": "cpu", "threads": 1, "version": "0"}"#,
            // 64 characters as a person counts them, 128 as PostgreSQL does.
            #"{"name": "\#(String(repeating: "e\u{301}", count: 64))", "backend": "cpu", "threads": 1, "version": "0"}"#,
            #"{"name": "nul\u0000", "backend": "cpu", "threads": 1, "version": "0"}"#,
            #"{"name": "a", "backend": "cpu\u0000", "threads": 1, "version": "0"}"#,
            #"{"name": "a", "backend": "cpu", "threads": 1, "version": "0\u0000"}"#,
            #"{"name": "a", "backend": "cpu", "threads": 1, "version": "0", "owner": "o\u0000"}"#,
            #"{"name": "a", "backend": "cpu", "threads": 1, "version": "0", "owner": "\#(String(repeating: "o", count: 65))"}"#,
            #"{"name": "a", "backend": "cpu", "threads": 1, "version": "0", "owner": 7}"#,
            #"{"name": "\ud800", "backend": "cpu", "threads": 1, "version": "0"}"#,
            String(repeating: "[", count: 10_000),
        ] {
            cases.append(Case(method: .post, uri: register, body: json(body), allowed: [400]))
        }
        cases.append(Case(method: .post, uri: register, body: big, allowed: [413]))
        // Leases: bad bodies, wrong types, unknown fields are fine, too large; no token, wrong token.
        for body in ["{", "[]", #"{"max_wait_seconds": "soon"}"#, #"{"accepts_evaluation": "yes"}"#,
                     #"{"max_wait_seconds": 1e999}"#, "\u{0}"] {
            cases.append(Case(method: .post, uri: "/v1/leases", headers: auth, body: json(body), allowed: [400]))
        }
        cases.append(Case(method: .post, uri: "/v1/leases", headers: auth, body: big, allowed: [413]))
        for headers: HTTPFields in [[:], [.authorization: "Bearer nope"], [.authorization: "Basic abc"], [.authorization: "Bearer "],
                                    [.authorization: "Bearer \(String(repeating: "x", count: 4000))"]] {
            cases.append(Case(method: .post, uri: "/v1/leases", headers: headers, allowed: [401]))
            cases.append(Case(method: .put, uri: "/v1/leases/\(lease)/result", headers: headers, allowed: [401]))
        }
        // Lease ids in paths: not UUIDs, unknown ones; bodies where none is read.
        for id in ["not-a-uuid", "1", "%00", "..", "\(lease)x", String(repeating: "f", count: 5000)] {
            cases.append(Case(method: .post, uri: "/v1/leases/\(id)/heartbeat", headers: auth, allowed: [400, 404]))
            cases.append(Case(method: .delete, uri: "/v1/leases/\(id)", headers: auth, allowed: [400, 404]))
            cases.append(Case(method: .put, uri: "/v1/leases/\(id)/result", headers: auth, body: json("x"), allowed: [400, 404]))
        }
        let unknown = UUID().uuidString
        cases.append(Case(method: .post, uri: "/v1/leases/\(unknown)/heartbeat", headers: auth, body: big, allowed: [404]))
        cases.append(Case(method: .delete, uri: "/v1/leases/\(unknown)", headers: auth, allowed: [404]))
        // Results: bad or missing metadata headers, bad payload headers, too large.
        // Each rejected result is a strike for the worker: past a few it is quarantined (403) before anything is read.
        func result(_ metadata: [(String, String)], _ body: ByteBuffer, _ allowed: Set<Int>) -> Case {
            var headers = auth
            for (name, value) in metadata { headers[HTTPField.Name(name)!] = value }
            return Case(method: .put, uri: "/v1/leases/\(lease)/result", headers: headers, body: body, allowed: allowed.union([403]))
        }
        let sha = String(repeating: "a", count: 64)
        let good = [("Koinon-Lease-ID", lease), ("Koinon-Loss", "2.5"), ("Koinon-Token-Count", "32"), ("Koinon-Payload-SHA256", sha)]
        cases.append(result([], json("x"), [400]))
        for bad in [("Koinon-Lease-ID", "nope"), ("Koinon-Loss", "NaN"), ("Koinon-Loss", "1e999"), ("Koinon-Loss", "two"),
                             ("Koinon-Token-Count", "-1"), ("Koinon-Token-Count", "99999999999999999999999"),
                             ("Koinon-Token-Count", "1.5"), ("Koinon-Payload-SHA256", "xyz"),
                             ("Koinon-Lease-ID", UUID().uuidString)] {
            var metadata = good.filter { $0.0 != bad.0 }
            metadata.append(bad)
            cases.append(result(metadata, json("x"), [400, 422]))
        }
        // The body's hash matches the header, but it is no payload: bad magic, truncated, absurd counts, wrong dtype.
        func payload(_ bytes: [UInt8]) -> Case {
            let data = Data(bytes)
            var metadata = good.filter { $0.0 != "Koinon-Payload-SHA256" }
            metadata.append(("Koinon-Payload-SHA256", BlobStore.sha256(data)))
            return result(metadata, ByteBuffer(bytes: bytes), [422])
        }
        cases.append(payload([]))
        cases.append(payload(Array("KNTP".utf8)))
        cases.append(payload(Array("XXXX".utf8) + [UInt8](repeating: 0, count: 60)))
        var header = Array("KNTP".utf8) + [1, 0, 1, 0] + [UInt8](repeating: 0xFF, count: 8) + [UInt8](repeating: 0, count: 32)
        cases.append(payload(header))  // 2^64-1 elements
        header[6] = 9  // an unknown dtype
        cases.append(payload(header))
        cases.append(result(good, big, [413, 422]))
        cases.append(result(good, ByteBuffer(repeating: 0, count: 10_000_000), [413]))
        // Content: bad ints, huge ints, bad hashes; Range and If-None-Match headers of every kind.
        for uri in ["/v1/runs/x/parameters/0", "/v1/runs/1/parameters/x", "/v1/runs/99999999999999999999999/parameters/0",
                    "/v1/runs/-1/parameters/-1", "/v1/runs/9223372036854775807/parameters/9223372036854775807",
                    "/v1/runs/1/parameters/999", "/v1/runs/x/config", "/v1/runs/-9223372036854775808/config",
                    "/v1/runs/99999999999999999999999/config", "/v1/shards/x", "/v1/shards/\(sha)", "/v1/shards/..%2F..%2Fetc%2Fpasswd",
                    "/v1/shards/\(String(repeating: "A", count: 64))", "/v1/no-such-thing", "/v1", "/v1/runs/1/parameters/0/x"] {
            cases.append(Case(method: .get, uri: uri, allowed: [404]))
        }
        for range in ["bytes=-99999999999999999999", "bytes=99999999999999999999-", "bytes=5-3", "bytes=--1", "bytes=0-0,1-1",
                      "bytes=-0", "items=0-1", "bytes=9223372036854775807-", "bytes=0-9223372036854775807", ""] {
            cases.append(Case(method: .get, uri: "/v1/runs/1/parameters/0", headers: [.range: range], allowed: [200, 206]))
        }
        cases.append(Case(method: .get, uri: "/v1/runs/1/parameters/0", headers: [.ifNoneMatch: "garbage"], allowed: [200]))
        // GET routes ignore bodies.
        cases.append(Case(method: .get, uri: "/v1/status", body: big, allowed: [200]))
        cases.append(Case(method: .get, uri: "/v1/runs/1/config", body: json("{"), allowed: [200]))
        // Methods a path does not have: 404 (the router does not answer 405).
        for (method, uri) in [(HTTPRequest.Method.put, "/v1/workers"), (.delete, "/v1/status"), (.patch, "/v1/leases"),
                              (.post, "/v1/shards/\(sha)"), (.get, "/v1/leases/\(lease)/heartbeat")] {
            cases.append(Case(method: method, uri: uri, allowed: [404, 405]))
        }
        // Operator routes: no token, a wrong token, then bad input with the right one.
        for headers: HTTPFields in [[:], [.authorization: "Bearer wrong"]] {
            cases.append(Case(method: .get, uri: "/v1/runs", headers: headers, allowed: [401]))
            cases.append(Case(method: .post, uri: "/v1/runs", headers: headers, body: json("{}"), allowed: [401]))
            cases.append(Case(method: .post, uri: "/v1/runs/1/pause", headers: headers, allowed: [401]))
        }
        for body in ["{", "{}", #"{"config_yaml": 1, "base_directory": "/"}"#,
                     #"{"config_yaml": "steps: [", "base_directory": "/"}"#,
                     #"{"config_yaml": "\#(String(repeating: "[", count: 20_000))", "base_directory": "/"}"#,
                     #"{"config_yaml": "name: x\u0000", "base_directory": "/\u0000"}"#,
                     #"{"config_yaml": "a: &a [1,1,1,1,1,1,1,1]\nb: &b [*a,*a,*a,*a,*a,*a,*a,*a]\nc: &c [*b,*b,*b,*b,*b,*b,*b,*b]\nd: [*c,*c,*c,*c,*c,*c,*c,*c]", "base_directory": "/"}"#] {
            cases.append(Case(method: .post, uri: "/v1/runs", headers: op, body: json(body), allowed: [400]))
        }
        cases.append(Case(method: .post, uri: "/v1/runs", headers: op, body: big, allowed: [413]))
        for uri in ["/v1/runs/x/pause", "/v1/runs/99999999999999999999/resume", "/v1/runs/424242/pause"] {
            cases.append(Case(method: .post, uri: uri, headers: op, allowed: [404]))
        }
        // The dashboard: bad ids and names get its 404 page.
        for uri in ["/runs/x", "/runs/99999999999999999999", "/runs/-1", "/workers/%00", "/workers/%FF%FE",
                    "/workers/\(String(repeating: "w", count: 300))", "/workers/nobody", "/workers/%E2%80%AE"] {
            cases.append(Case(method: .get, uri: uri, allowed: [404], html: true))
        }
        _ = workerID
        return cases
    }

    @Test func everyRouteAnswersHostileInputWithA4xxAndAJSONBody() async throws {
        let fixture = DistributedTrainingTests.fixture
        try await TestDatabase.withFresh(migrated: true) { db in
            let blobs = try BlobStore(root: fixture.dir.appendingPathComponent("blobs-hostile-\(UUID())"))
            let coordinator = Coordinator(db: db.client, blobs: blobs, settings: CoordinatorSettings(), logger: Self.logger)
            _ = try await coordinator.createRun(yaml: fixture.yaml, baseDirectory: fixture.dir)
            let operatorToken = OperatorToken.random()
            let app = CoordinatorServer.application(coordinator: coordinator, host: "127.0.0.1", port: 0, services: [],
                                                    logger: Self.logger, operatorToken: operatorToken)
            try await coordinator.statusBoard.refresh()
            try await app.test(.router) { client in
                let registered = try await client.execute(uri: "/v1/workers", method: .post, body: Self.json(
                    #"{"name": "alice", "backend": "cpu", "threads": 1, "version": "0"}"#)) {
                    try WireProtocol.makeDecoder().decode(RegisterWorkerResponse.self, from: Data($0.body.readableBytesView))
                }
                let lease = try await client.execute(uri: "/v1/leases", method: .post,
                                                     headers: [.authorization: "Bearer \(registered.token)"]) {
                    guard case .assigned(let a) = try WireProtocol.makeDecoder().decode(LeaseResponse.self, from: Data($0.body.readableBytesView)) else {
                        throw RawHTTPConnection.Failure(description: "no assignment")
                    }
                    return a.leaseID.uuidString.lowercased()
                }
                let cases = Self.cases(worker: registered.token, operatorToken: operatorToken.value, lease: lease,
                                       workerID: registered.workerID.uuidString)
                for hostile in cases {
                    let response = try await client.execute(uri: hostile.uri, method: hostile.method, headers: hostile.headers,
                                                            body: hostile.body) { $0 }
                    let status = Int(response.status.code)
                    #expect(hostile.allowed.contains(status), "\(hostile): \(status) \(String(buffer: response.body).prefix(300))")
                    #expect(status < 500, "\(hostile): \(status)")
                    guard status >= 400 else { continue }
                    if hostile.html {
                        #expect(response.headers[.contentType]?.hasPrefix("text/html") == true, "\(hostile)")
                        continue
                    }
                    #expect(response.headers[.contentType] == WireProtocol.jsonContentType, "\(hostile)")
                    let object = try? JSONSerialization.jsonObject(with: Data(response.body.readableBytesView)) as? [String: Any]
                    let code = (object?["error"] ?? object?["reason"]) as? String
                    let message = object?["message"] as? String
                    #expect(code?.isEmpty == false && message?.isEmpty == false,
                            "\(hostile): \(status) without an error code and message: \(String(buffer: response.body).prefix(300))")
                }
                // The coordinator is still there, and the lease's worker gets a lease answer (its rejected
                // results sent the unit back, so the lease may have ended).
                try await client.execute(uri: "/v1/leases/\(lease)/heartbeat", method: .post,
                                         headers: [.authorization: "Bearer \(registered.token)"]) {
                    #expect([.ok, .conflict].contains($0.status))
                    #expect((try? WireProtocol.makeDecoder().decode(HeartbeatResponse.self, from: Data($0.body.readableBytesView))) != nil)
                }
                try await client.execute(uri: "/v1/status", method: .get) { #expect($0.status == .ok) }
                // Odd but harmless registrations are taken: threads beyond a 32-bit integer (kept within bounds),
                // a name of 64 characters that are not ASCII.
                for body in [#"{"name": "many", "backend": "cpu", "threads": 9000000000, "version": "0"}"#,
                             #"{"name": "\#(String(repeating: "é", count: 64))", "backend": "cpu", "threads": -5, "version": "0"}"#] {
                    try await client.execute(uri: "/v1/workers", method: .post, body: Self.json(body)) { #expect($0.status == .created) }
                }
            }
        }
    }
}
