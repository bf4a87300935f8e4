import CoordinatorApp
import Foundation
import Logging
import Testing
import Wire

/// Graceful shutdown writes a full checkpoint of the version in memory, so a
/// restart resumes without replaying; and backup copies wait for stragglers.
@Suite(.timeLimit(.minutes(5))) struct ShutdownCheckpointTests {
    @Test func checkpointAllStoresTheOptimizerStateOfTheCurrentVersion() async throws {
        try await TestDatabase.withFresh(migrated: true) { db in
            let blobs = try BlobStore(root: try TestDatabase.scratchDirectory("blobs"))
            var settings = CoordinatorSettings()
            settings.checkpointEvery = 25
            let coordinator = Coordinator(db: db.client, blobs: blobs, settings: settings, logger: Logger(label: "test"))
            let run = try await coordinator.createRun(yaml: TinyRun.yaml(steps: 4), baseDirectory: TinyRun.directory)
            let worker = try await coordinator.workers.register(name: "w", backend: "cpu", threads: 1, version: "0", address: "").id
            let zeros = Data(TensorPayload(values: [Float](repeating: 0, count: try await coordinator.runInfo(run).parameterCount)).encoded())
            let sha = try blobs.put(zeros)
            while let grant = try await coordinator.leases.claim(worker: worker, leaseSeconds: 60, maxCopies: 1) {
                _ = try await coordinator.leases.submit(lease: grant.leaseID, worker: worker, payload: sha, loss: 1, tokens: 1)
            }
            #expect(try await coordinator.aggregateCompleteSteps() == 1)
            #expect(try await coordinator.runs.parameterVersion(run: run, version: 1)?.optimizer == nil)  // not a checkpoint step
            await coordinator.checkpointAll()
            let optimizer = try #require(try await coordinator.runs.parameterVersion(run: run, version: 1)?.optimizer)
            #expect(blobs.contains(optimizer))
            #expect(try await coordinator.runs.latestCheckpoint(run: run)?.version == 1)
        }
    }

    @Test func backupCopiesWaitUntilTheLeaseIsOld() async throws {
        try await TestDatabase.withFresh(migrated: true) { db in
            let coordinator = Coordinator(db: db.client, blobs: try BlobStore(root: try TestDatabase.scratchDirectory("blobs")),
                                          settings: CoordinatorSettings(), logger: Logger(label: "test"))
            _ = try await coordinator.createRun(yaml: TinyRun.yaml(steps: 4), baseDirectory: TinyRun.directory)
            let alice = try await coordinator.workers.register(name: "a", backend: "cpu", threads: 1, version: "0", address: "").id
            let bob = try await coordinator.workers.register(name: "b", backend: "cpu", threads: 1, version: "0", address: "").id
            for _ in 0..<3 { #expect(try await coordinator.leases.claim(worker: alice, leaseSeconds: 60, maxCopies: 2) != nil) }
            // Every unit is held and its lease is fresh: no backup yet, nor with backups off.
            #expect(try await coordinator.leases.claim(worker: bob, leaseSeconds: 60, maxCopies: 2, backupAfterSeconds: 60) == nil)
            #expect(try await coordinator.leases.claim(worker: bob, leaseSeconds: 60, maxCopies: 1, backupAfterSeconds: 0) == nil)
            // Once the leases count as old, Bob gets a backup copy of the oldest.
            let backup = try await coordinator.leases.claim(worker: bob, leaseSeconds: 60, maxCopies: 2, backupAfterSeconds: 0)
            #expect(backup?.isBackup == true)
        }
    }
}
