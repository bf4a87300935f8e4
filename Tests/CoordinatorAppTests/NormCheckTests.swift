import CoordinatorApp
import Foundation
import Hummingbird
import HummingbirdTesting
import HTTPTypes
import Logging
import NIOCore
import Testing
import Wire

/// The norm check over HTTP against a real PostgreSQL: after a few honest
/// results, a gradient scaled ×100 is rejected (`gradient_norm_outlier`,
/// stored with its reason), which ends its lease; the unit's next lease hands in an honest one.
@Suite(.serialized) struct NormCheckTests {
    func decode<T: Decodable>(_ t: T.Type, _ b: ByteBuffer) throws -> T {
        try WireProtocol.makeDecoder().decode(T.self, from: Data(b.readableBytesView))
    }

    @Test func aScaledGradientIsRejectedAfterHonestOnes() async throws {
        try await TestDatabase.withFresh(migrated: true) { db in
            let blobs = try BlobStore(root: try TestDatabase.scratchDirectory("blobs-norm"))
            let coordinator = Coordinator(db: db.client, blobs: blobs, settings: CoordinatorSettings(), logger: Logger(label: "test"))
            let run = try await coordinator.createRun(yaml: TinyRun.yaml(steps: 4), baseDirectory: TinyRun.directory)
            let count = try await coordinator.runInfo(run).parameterCount
            let app = CoordinatorServer.application(coordinator: coordinator, host: "127.0.0.1", port: 0, services: [],
                                                    logger: Logger(label: "test"))
            try await app.test(.router) { client in
                let token = try await client.execute(uri: "/v1/workers", method: .post, body: ByteBuffer(bytes: try WireProtocol.makeEncoder().encode(
                    RegisterWorkerRequest(name: "w", backend: "cpu", threads: 1, version: "0")))) { try decode(RegisterWorkerResponse.self, $0.body).token }
                let auth: HTTPFields = [.authorization: "Bearer \(token)"]
                func lease() async throws -> Assignment {
                    try await client.execute(uri: "/v1/leases", method: .post, headers: auth) {
                        guard case .assigned(let a) = try decode(LeaseResponse.self, $0.body) else { throw ChaosError("no assignment") }
                        return a
                    }
                }
                func submit(_ a: Assignment, value: Float) async throws -> (HTTPResponse.Status, SubmitResultResponse) {
                    let body = Data(TensorPayload(values: [Float](repeating: value, count: count)).encoded())
                    var headers = auth
                    for (name, v) in ResultMetadata(leaseID: a.leaseID, loss: 2.5, tokenCount: 32, payloadSHA256: BlobStore.sha256(body)).headerFields {
                        headers[HTTPField.Name(name)!] = v
                    }
                    return try await client.execute(uri: "/v1/leases/\(a.leaseID.uuidString.lowercased())/result", method: .put,
                                                    headers: headers, body: ByteBuffer(bytes: body)) {
                        ($0.status, try decode(SubmitResultResponse.self, $0.body))
                    }
                }
                // Two steps of honest results (3 units each), with small differences between them.
                for step in 0..<2 {
                    for unit in 0..<3 {
                        let answer = try await submit(try await lease(), value: 0.001 * Float(1 + unit) + 1e-5 * Float(step))  // no two units alike
                        #expect(answer.1.status == .accepted, "step \(step) unit \(unit)")
                    }
                    // (The last result also starts aggregation in the background: either may apply the step.)
                    #expect(try await ReplicationTests.reach(step + 1, run, coordinator))
                }
                let a = try await lease()
                let scaled = try await submit(a, value: 0.1)  // 100× the honest scale
                #expect(scaled.0 == .unprocessableContent)
                #expect(scaled.1.status == .rejected && scaled.1.reason == "gradient_norm_outlier")
                #expect(scaled.1.message?.contains("median") == true)
                // The rejection ended the lease: the unit is handed out again, and an honest result is accepted.
                let ended = try await submit(a, value: 0.0021)
                #expect(ended.0 == .conflict && ended.1.reason == .leaseReleased)
                #expect(try await submit(try await lease(), value: 0.0021).1.status == .accepted)
            }
            try await coordinator.statusBoard.refresh()
            let status = try await coordinator.statusBoard.snapshot().status
            #expect(status.runs.first?.verification.rejectionsByReason == ["gradient_norm_outlier": 1])
        }
    }
}
