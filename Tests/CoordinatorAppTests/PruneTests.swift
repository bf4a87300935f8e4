import CoordinatorApp
import Foundation
import Logging
import PostgresNIO
import Testing
import Wire

/// Pruning after a checkpoint deletes only what no run needs any more: blobs
/// are named by content, and two runs of the same recipe share them.
@Suite struct PruneTests {
    @Test func blobsAnotherRunStillNeedsAreKept() async throws {
        try await TestDatabase.withFresh(migrated: true) { db in
            let dir = TinyRun.directory
            let blobs = try BlobStore(root: try TestDatabase.scratchDirectory("blobs"))
            var settings = CoordinatorSettings()
            settings.checkpointEvery = 2
            let coordinator = Coordinator(db: db.client, blobs: blobs, settings: settings, logger: Logger(label: "test"))
            let yaml = TinyRun.yaml(steps: 4)
            let first = try await coordinator.createRun(yaml: yaml, baseDirectory: dir)
            let second = try await coordinator.createRun(yaml: yaml, baseDirectory: dir)
            let worker = try await coordinator.workers.register(name: "w", backend: "cpu", threads: 1, version: "0", address: "").id
            let info = try await coordinator.runInfo(first)
            let zeros = Data(TensorPayload(values: [Float](repeating: 0, count: info.parameterCount)).encoded())
            let sha = try blobs.put(zeros)
            // Every unit of the current step of `run` gets the same (zero) gradient; then the step is applied.
            func trainStep(_ run: Int) async throws {
                try await db.client.query("UPDATE runs SET state = CASE WHEN id = \(run) THEN 'active' ELSE 'paused' END",
                                          logger: Logger(label: "test"))
                while let grant = try await coordinator.leases.claim(worker: worker, leaseSeconds: 60, maxCopies: 1) {
                    _ = try await coordinator.leases.submit(lease: grant.leaseID, worker: worker, payload: sha, loss: 1, tokens: 1)
                }
                #expect(try await coordinator.aggregateCompleteSteps() == 1)
            }
            try await trainStep(first)
            try await trainStep(second)  // both runs at version 1, with identical parameters
            let shared = try #require(try await coordinator.runs.parameterVersion(run: second, version: 1)?.parameters)
            #expect(try await coordinator.runs.parameterVersion(run: first, version: 1)?.parameters == shared)
            try await trainStep(first)  // run 1: checkpoint at version 2, prunes its version 1 and step 0-1 results
            #expect(blobs.contains(shared), "the second run's current parameters were deleted")
            #expect(blobs.contains(sha), "the second run's unapplied-since-checkpoint gradient was deleted")
            // Run 1's own non-checkpoint version is gone once nobody needs it: run 2 moves on, checkpoints, prunes.
            try await trainStep(second)
            #expect(!blobs.contains(shared), "version 1 of both runs should be pruned after both checkpointed")
        }
    }
}
