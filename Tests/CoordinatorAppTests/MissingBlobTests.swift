import CoordinatorApp
import Foundation
import Hummingbird
import HummingbirdTesting
import Logging
import NIOCore
import PostgresNIO
import Testing
import Wire
import WorkerKit

/// Parameters the coordinator no longer has answer 404 (not 500, which a
/// worker would retry forever); a worker that cannot compute its unit gives it
/// back and carries on; with no run, a lease request says `no_active_run`.
@Suite(.serialized) struct MissingBlobTests {
    static let logger = Logger(label: "test")

    @Test func aWorkerGivesBackAUnitItCannotComputeAndCarriesOn() async throws {
        try await TestDatabase.withFresh(migrated: true) { db in
            let blobs = try BlobStore(root: try TestDatabase.scratchDirectory("blobs-missing"))
            let coordinator = Coordinator(db: db.client, blobs: blobs, settings: CoordinatorSettings(), logger: Self.logger)
            let app = CoordinatorServer.application(coordinator: coordinator, host: "127.0.0.1", port: 0, services: [],
                                                    logger: Self.logger)
            try await app.test(.live) { client in
                let token = try await client.execute(uri: "/v1/workers", method: .post, body: ByteBuffer(bytes: try WireProtocol.makeEncoder().encode(
                    RegisterWorkerRequest(name: "early", backend: "cpu", threads: 1, version: "0")))) {
                    try WireProtocol.makeDecoder().decode(RegisterWorkerResponse.self, from: Data($0.body.readableBytesView)).token
                }
                try await client.execute(uri: "/v1/leases", method: .post, headers: [.authorization: "Bearer \(token)"]) {
                    guard case .retry(let later) = try WireProtocol.makeDecoder().decode(LeaseResponse.self, from: Data($0.body.readableBytesView))
                    else { throw ChaosError("work without a run") }
                    #expect(later.reason == "no_active_run" && $0.headers[.retryAfter] == "5")
                }

                let run = try await coordinator.createRun(yaml: TinyRun.yaml(steps: 2), baseDirectory: TinyRun.directory)
                let sha = try #require(try await coordinator.runs.parameterVersion(run: run, version: 0)?.parameters)
                let bytes = try blobs.get(sha)
                blobs.remove(sha)
                try await client.execute(uri: "/v1/runs/\(run)/parameters/0", method: .get) { #expect($0.status == .notFound) }

                var options = VolunteerWorker.Options(name: "w", threads: 1,
                                                      cacheDirectory: try TestDatabase.scratchDirectory("cache-missing"), maxUnits: nil)
                options.leaseWait = 0.5
                options.failurePause = 0.2
                let worker = VolunteerWorker(coordinatorURL: "http://127.0.0.1:\(client.port!)", options: options, logger: Self.logger)
                let restored = LockedBox(false)
                // Once the worker has given a unit back, the parameters return and it must finish the run.
                try await TinyRun.train([worker], until: run, on: db.client, timeout: .seconds(120)) { _ in
                    guard !restored.value else { return }
                    let rows = try await db.client.query("SELECT count(*) FROM leases WHERE state = 'released'", logger: Self.logger)
                    for try await n in rows.decode(Int.self) where n > 0 {
                        try blobs.put(bytes, sha256: sha)
                        restored.value = true
                    }
                }
                #expect(restored.value, "the worker never gave back the unit it could not compute")
                #expect(worker.unitsDone >= 2 * 3)
            }
        }
    }
}
