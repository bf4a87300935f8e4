import CoordinatorApp
import Dataset
import Foundation
import Hummingbird
import HummingbirdTesting
import Kernels
import KoinonCore
import Logging
import Testing
import WorkerKit

/// Distributed training equals local training: the same run trained by 1, 2
/// and 3 workers over real HTTP against a real PostgreSQL gives the same loss
/// at every step as `train --local` (to float tolerance: workers sum some
/// reductions in thread-dependent order).
@Suite(.serialized) struct DistributedTrainingTests {
    static let logger = Logger(label: "test")

    static var fixture: (dir: URL, yaml: String) { (TinyRun.directory, TinyRun.yaml(steps: 4)) }

    func localLosses() throws -> [(Double, Double?)] {
        try TinyRun.local(steps: 4).history.map { ($0.trainLoss, $0.validationLoss) }
    }

    func distributedLosses(workers: Int) async throws -> [(Double, Double?)] {
        try await TestDatabase.withFresh(migrated: true, function: "distributed\(workers)") { db in
            let blobs = try BlobStore(root: Self.fixture.dir.appendingPathComponent("blobs-\(workers)-\(UUID())"))
            var settings = CoordinatorSettings()
            settings.checkpointEvery = 2
            settings.leaseSeconds = 30
            let coordinator = Coordinator(db: db.client, blobs: blobs, settings: settings, logger: Self.logger)
            let run = try await coordinator.createRun(yaml: Self.fixture.yaml, baseDirectory: Self.fixture.dir)
            let app = CoordinatorServer.application(coordinator: coordinator, host: "127.0.0.1", port: 0, services: [],
                                                    logger: Self.logger)
            try await app.test(.live) { client in
                let url = "http://127.0.0.1:\(client.port!)"
                let pool = (0..<workers).map { i in
                    var options = VolunteerWorker.Options(
                        name: "w\(i)", threads: 1 + i % 2,
                        cacheDirectory: Self.fixture.dir.appendingPathComponent("cache-\(workers)-\(i)-\(UUID())"), maxUnits: nil)
                    options.leaseWait = 0.5
                    return VolunteerWorker(coordinatorURL: url, options: options, logger: Self.logger)
                }
                try await TinyRun.train(pool, until: run, on: db.client, timeout: .seconds(120))
                #expect(pool.reduce(0) { $0 + $1.unitsDone } >= 4 * 3)
            }
            return try await coordinator.runs.history(run: run).map { ($0.trainLoss ?? .nan, $0.validationLoss) }
        }
    }

    @Test(arguments: [1, 2, 3])
    func matchesLocalTraining(workers: Int) async throws {
        let local = try localLosses()
        let distributed = try await distributedLosses(workers: workers)
        #expect(distributed.count == local.count)
        for (step, (d, l)) in zip(distributed, local).enumerated() {
            #expect(abs(d.0 - l.0) < 1e-4, "step \(step): train loss \(d.0) vs local \(l.0)")
            #expect((d.1 == nil) == (l.1 == nil), "step \(step): validation present in one only")
            if let dv = d.1, let lv = l.1 { #expect(abs(dv - lv) < 1e-4, "step \(step): validation \(dv) vs \(lv)") }
        }
    }
}
