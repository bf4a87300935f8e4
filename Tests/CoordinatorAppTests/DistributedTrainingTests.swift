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
@Suite(.serialized, .timeLimit(.minutes(5))) struct DistributedTrainingTests {
    static let logger = Logger(label: "test")

    static var fixture: (dir: URL, yaml: String) { (TinyRun.directory, TinyRun.yaml(steps: 4)) }

    func localLosses(localSteps: Int? = nil) throws -> [(Double, Double?)] {
        try TinyRun.local(steps: 4, localSteps: localSteps).history.map { ($0.trainLoss, $0.validationLoss) }
    }

    func distributedLosses(workers: Int, localSteps: Int? = nil) async throws -> [(Double, Double?)] {
        let yaml = TinyRun.yaml(steps: 4, localSteps: localSteps)
        return try await TestDatabase.withFresh(migrated: true, function: "distributed\(workers)") { db in
            let blobs = try BlobStore(root: Self.fixture.dir.appendingPathComponent("blobs-\(workers)-\(UUID())"))
            var settings = CoordinatorSettings()
            settings.checkpointEvery = 2
            settings.leaseSeconds = 30
            let coordinator = Coordinator(db: db.client, blobs: blobs, settings: settings, logger: Self.logger)
            let run = try await coordinator.createRun(yaml: yaml, baseDirectory: Self.fixture.dir)
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
        try await expectMatch(workers: workers, localSteps: nil)
    }

    /// Local-steps mode (DiLoCo): 3 AdamW steps a unit, pseudo-gradients
    /// averaged and applied with Nesterov SGD, on 1 and 2 workers (one of
    /// them on 2 threads) against `train --local` in the same mode.
    @Test(arguments: [1, 2])
    func localStepsMatchLocalTraining(workers: Int) async throws {
        let local = try localLosses(localSteps: 3)
        let plain = try localLosses()
        // Not the gradient-step run under another name: the losses after the first step differ.
        #expect(abs(local[1].0 - plain[1].0) > 1e-3, "local-steps \(local[1].0) vs gradient-step \(plain[1].0)")
        try await expectMatch(workers: workers, localSteps: 3)
    }

    func expectMatch(workers: Int, localSteps: Int?) async throws {
        let local = try localLosses(localSteps: localSteps)
        let distributed = try await distributedLosses(workers: workers, localSteps: localSteps)
        #expect(distributed.count == local.count)
        for (step, (d, l)) in zip(distributed, local).enumerated() {
            #expect(abs(d.0 - l.0) < 1e-4, "step \(step): train loss \(d.0) vs local \(l.0)")
            #expect((d.1 == nil) == (l.1 == nil), "step \(step): validation present in one only")
            if let dv = d.1, let lv = l.1 { #expect(abs(dv - lv) < 1e-4, "step \(step): validation \(dv) vs \(lv)") }
        }
    }

    /// A worker gets its next unit with its result (Koinon-Next-Lease), except with the
    /// result after which it stops (its last unit, or a stop asked for): it leaves no lease open.
    @Test func aWorkerAsksForItsNextUnitWithItsResultUnlessItStops() async throws {
        try await TestDatabase.withFresh(migrated: true) { db in
            let blobs = try BlobStore(root: Self.fixture.dir.appendingPathComponent("blobs-next-\(UUID())"))
            let coordinator = Coordinator(db: db.client, blobs: blobs, settings: CoordinatorSettings(), logger: Self.logger)
            _ = try await coordinator.createRun(yaml: Self.fixture.yaml, baseDirectory: Self.fixture.dir)
            let app = CoordinatorServer.application(coordinator: coordinator, host: "127.0.0.1", port: 0, services: [],
                                                    logger: Self.logger)
            try await app.test(.live) { client in
                let url = "http://127.0.0.1:\(client.port!)"
                func worker(_ name: String, maxUnits: Int?, stopAfterFirst: Bool = false) throws -> VolunteerWorker {
                    var options = VolunteerWorker.Options(
                        name: name, threads: 1, cacheDirectory: Self.fixture.dir.appendingPathComponent("cache-\(name)-\(UUID())"),
                        maxUnits: maxUnits)
                    options.leaseWait = 0.5
                    let box = WorkerBox()
                    if stopAfterFirst { options.resultRewriter = { _ in box.worker?.stopRequested.set() } }
                    let w = VolunteerWorker(coordinatorURL: url, options: options, logger: Self.logger)
                    box.worker = w
                    return w
                }
                func leases(_ name: String) async throws -> (all: Int, active: Int) {
                    let rows = try await db.client.query("""
                        SELECT count(*), count(*) FILTER (WHERE l.state = 'active')
                        FROM leases l JOIN workers w ON w.id = l.worker_id WHERE w.name = \(name)
                        """)
                    for try await (all, active) in rows.decode((Int, Int).self) { return (all, active) }
                    return (0, 0)
                }
                // Two units: the first result brings the second, the second asks for nothing.
                let two = try worker("two", maxUnits: 2)
                try await two.run()
                #expect(two.unitsDone == 2)
                #expect(try await leases("two") == (2, 0))
                // Asked to stop while computing its first unit: it hands it in, asks nothing, stops.
                let stopping = try worker("stopping", maxUnits: nil, stopAfterFirst: true)
                try await stopping.run()
                #expect(stopping.unitsDone == 1)
                #expect(try await leases("stopping") == (1, 0))
            }
        }
    }
}

/// Lets a worker's own hook reach the worker (set once it exists).
final class WorkerBox: @unchecked Sendable {
    var worker: VolunteerWorker?
}
