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

    /// A version whose evaluation is still out keeps its parameters past the
    /// checkpoint that would prune them (its evaluation units are leased
    /// from them); they go once its validation loss is recorded.
    @Test func aVersionBeingEvaluatedKeepsItsParametersUntilRecorded() async throws {
        try await TestDatabase.withFresh(migrated: true) { db in
            let blobs = try BlobStore(root: try TestDatabase.scratchDirectory("blobs-eval"))
            var settings = CoordinatorSettings()
            settings.checkpointEvery = 3  // TinyRun evaluates every 2 versions: version 2 is evaluated, not checkpointed
            let coordinator = Coordinator(db: db.client, blobs: blobs, settings: settings, logger: Logger(label: "test"))
            let run = try await coordinator.createRun(yaml: TinyRun.yaml(steps: 6), baseDirectory: TinyRun.directory)
            let worker = try await coordinator.workers.register(name: "w", backend: "cpu", threads: 1, version: "0", address: "").id
            let info = try await coordinator.runInfo(run)
            let zeros = try blobs.put(Data(TensorPayload(values: [Float](repeating: 0, count: info.parameterCount)).encoded()))
            // Training units only (no evaluation): claim skips evaluation units unless asked.
            func trainStep() async throws {
                while let grant = try await coordinator.leases.claim(worker: worker, leaseSeconds: 60, maxCopies: 1) {
                    #expect(!grant.isEvaluation)
                    _ = try await coordinator.leases.submit(lease: grant.leaseID, worker: worker, payload: zeros, loss: 1, tokens: 32)
                }
                #expect(try await coordinator.aggregateCompleteSteps() == 1)
            }
            for _ in 0..<3 { try await trainStep() }  // versions 1, 2, 3 (checkpoint at 3)
            let evaluated = try #require(try await coordinator.runs.parameterVersion(run: run, version: 2)?.parameters)
            let skipped = try #require(try await coordinator.runs.parameterVersion(run: run, version: 1)?.parameters)
            #expect(!blobs.contains(skipped), "version 1 is covered by the checkpoint and not evaluated")
            #expect(blobs.contains(evaluated), "version 2's evaluation is out: its parameters must stay")
            // The evaluation units of version 2 (2 of them), then the recording.
            let empty = try blobs.put(Data(TensorPayload(values: []).encoded()))
            var units: [Int] = []
            // (Step 3's training units come first; they are handed in too.)
            while let grant = try await coordinator.leases.claim(worker: worker, leaseSeconds: 60, maxCopies: 1, evaluation: true) {
                if grant.isEvaluation {
                    #expect(grant.step == 2)
                    units.append(grant.unit)
                }
                _ = try await coordinator.leases.submit(lease: grant.leaseID, worker: worker, payload: grant.isEvaluation ? empty : zeros,
                                                        loss: 2.5, tokens: 32)
            }
            #expect(units == [3, 4])  // numbered after the 3 training units of a step
            await coordinator.tick()
            let history = try await coordinator.runs.history(run: run)
            #expect(history[1].validationLoss == 2.5)  // step 1 produced version 2
            #expect(!blobs.contains(evaluated), "recorded: version 2's parameters are no longer needed")
        }
    }
}
