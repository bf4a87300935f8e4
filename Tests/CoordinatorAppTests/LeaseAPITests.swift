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

    @Test func leaseLifecycleOverHTTP() async throws {
        try await TestDatabase.withFresh(migrated: true) { db in
            let dir = DistributedTrainingTests.fixture.dir
            let blobs = try BlobStore(root: dir.appendingPathComponent("blobs-api-\(UUID())"))
            var settings = CoordinatorSettings()
            settings.leaseSeconds = 1
            let coordinator = Coordinator(db: db.client, blobs: blobs, settings: settings, logger: Logger(label: "test"))
            _ = try await coordinator.createRun(yaml: DistributedTrainingTests.fixture.yaml, baseDirectory: dir)
            let info = try await coordinator.runInfo(1)
            let app = CoordinatorServer.application(coordinator: coordinator, host: "127.0.0.1", port: 0, services: [],
                                                    logger: Logger(label: "test"))
            try await app.test(.router) { client in
                func register(_ name: String) async throws -> String {
                    try await client.execute(uri: "/v1/workers", method: .post,
                                             body: try json(RegisterWorkerRequest(name: name, backend: "cpu", threads: 1, version: "0"))) {
                        #expect($0.status == .created)
                        return try decode(RegisterWorkerResponse.self, $0.body).token
                    }
                }
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
                // A result: tampered body → 422; then a valid one → accepted, and again → same answer.
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
                #expect(try await submit(tampered, hash: hash, token: alice).0 == .unprocessableContent)
                #expect(try await submit(payload, hash: hash, token: bob).0 == .conflict)  // foreign lease
                let first = try await submit(payload, hash: hash, token: alice)
                #expect(first.0 == .ok && first.1.status == .accepted)
                let again = try await submit(payload, hash: hash, token: alice)
                #expect(again.0 == .ok && again.1.status == .accepted)
                // A second lease expires (1 s) → its heartbeat and result get 409 lease_expired.
                let second: Assignment = try await client.execute(uri: "/v1/leases", method: .post,
                                                                  headers: [.authorization: "Bearer \(bob)"]) {
                    guard case .assigned(let a) = try decode(LeaseResponse.self, $0.body) else { throw EngineError("no assignment") }
                    return a
                }
                try await Task.sleep(for: .seconds(1.5))
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
    }
}
