import CoordinatorApp
import Foundation
import Hummingbird
import HummingbirdTesting
import HTTPTypes
import Logging
import NIOCore
import Testing
import Wire

/// Leases of a local-steps run over HTTP against a real PostgreSQL: what the
/// assignment says about the inner steps, the token count a result must
/// have, and a worker that does not compute local-steps units (an older
/// one) told to upgrade, with the unit back in the queue.
@Suite(.serialized) struct LocalStepsLeaseTests {
    func json<T: Encodable>(_ v: T) throws -> ByteBuffer { ByteBuffer(bytes: try WireProtocol.makeEncoder().encode(v)) }
    func decode<T: Decodable>(_ t: T.Type, _ b: ByteBuffer) throws -> T { try WireProtocol.makeDecoder().decode(T.self, from: Data(b.readableBytesView)) }

    @Test func assignmentsCarryTheInnerRecipeAndOlderWorkersAreToldToUpgrade() async throws {
        try await TestDatabase.withFresh(migrated: true) { db in
            let dir = TinyRun.directory
            let blobs = try BlobStore(root: dir.appendingPathComponent("blobs-localsteps-\(UUID())"))
            let coordinator = Coordinator(db: db.client, blobs: blobs, settings: CoordinatorSettings(), logger: Logger(label: "test"))
            _ = try await coordinator.createRun(yaml: TinyRun.yaml(steps: 2, localSteps: 3), baseDirectory: dir)
            let info = try await coordinator.runInfo(1)
            let app = CoordinatorServer.application(coordinator: coordinator, host: "127.0.0.1", port: 0, services: [],
                                                    logger: Logger(label: "test"))
            try await app.test(.router) { client in
                let token = try await client.execute(uri: "/v1/workers", method: .post,
                                                     body: try json(RegisterWorkerRequest(name: "old", backend: "cpu", threads: 1, version: "0"))) {
                    try decode(RegisterWorkerResponse.self, $0.body).token
                }
                func lease(_ request: LeaseRequest) async throws -> (LeaseResponse, String?) {
                    try await client.execute(uri: "/v1/leases", method: .post, headers: [.authorization: "Bearer \(token)"],
                                             body: try json(request)) {
                        #expect($0.status == .ok)
                        return (try decode(LeaseResponse.self, $0.body), $0.headers[.retryAfter])
                    }
                }
                func activeLeases() async throws -> Int {
                    for try await n in try await db.client.query("SELECT count(*) FROM leases WHERE state = 'active'").decode(Int.self) {
                        return n
                    }
                    return -1
                }
                // An older worker (no accepts_local_steps): "upgrade", and no lease stays open.
                let (refused, retryAfter) = try await lease(LeaseRequest(maxWaitSeconds: 0, acceptsEvaluation: true))
                guard case .retry(let retry) = refused else { Issue.record("an older worker got \(refused)"); return }
                #expect(retry.reason == "worker_outdated" && retry.message.contains("upgrade koinon-worker"))
                #expect(retryAfter == "300")
                #expect(try await activeLeases() == 0)
                // A worker that computes them gets the unit, with the inner recipe.
                let (granted, _) = try await lease(LeaseRequest(maxWaitSeconds: 0, acceptsEvaluation: true, acceptsLocalSteps: true))
                guard case .assigned(let a) = granted, let spec = a.localSteps else { Issue.record("no local-steps unit: \(granted)"); return }
                #expect(a.step == 0 && spec.steps == 3 && spec.firstInnerStep == 0 && spec.innerSteps == 0..<3)
                #expect(spec.learningRate == 3e-3 && spec.warmupSteps == 1 && spec.decaySteps == 6 && spec.gradClip == 1.0)
                #expect(try await activeLeases() == 1)
                // Its result covers the tokens of 3 batches: that is accepted, one batch's worth refused.
                let payload = Data(TensorPayload(values: [Float](repeating: 0.001, count: info.parameterCount)).encoded())
                func submit(_ a: Assignment, tokens: Int) async throws -> HTTPResponse.Status {
                    var headers: HTTPFields = [.authorization: "Bearer \(token)"]
                    let metadata = ResultMetadata(leaseID: a.leaseID, loss: 2.5, tokenCount: tokens, payloadSHA256: BlobStore.sha256(payload))
                    for (name, value) in metadata.headerFields { headers[HTTPField.Name(name)!] = value }
                    return try await client.execute(uri: "/v1/leases/\(a.leaseID.uuidString.lowercased())/result", method: .put,
                                                    headers: headers, body: ByteBuffer(bytes: payload)) { $0.status }
                }
                let batch = a.data.sequences * a.data.sequenceLength
                #expect(try await submit(a, tokens: 3 * batch) == .ok)
                let (next, _) = try await lease(LeaseRequest(maxWaitSeconds: 0, acceptsEvaluation: true, acceptsLocalSteps: true))
                guard case .assigned(let b) = next else { Issue.record("no second unit: \(next)"); return }
                #expect(b.localSteps == spec && b.unitIndex != a.unitIndex)
                #expect(try await submit(b, tokens: batch) == .unprocessableContent)
            }
        }
    }
}
