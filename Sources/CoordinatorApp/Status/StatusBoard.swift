import Foundation
import Logging
import NIOCore
import Synchronization
import Wire

/// The status snapshot: `GET /v1/status`, the dashboard and the metrics'
/// gauges are served from it, and it is rebuilt about once a second
/// (`refresh`), so a crowd of watchers costs the database nothing.
public final class StatusBoard: Sendable {
    public struct Snapshot: Sendable {
        public var status: StatusResponse
        /// `status` as the protocol's JSON, encoded once.
        public var json: ByteBuffer
        /// The dashboard's home page, rendered once.
        public var home: ByteBuffer
    }

    let repository: StatusRepository
    let activity: WorkerActivity
    let logger: Logger
    private let current = Mutex<Snapshot?>(nil)
    /// The build in progress: callers meanwhile wait for it rather than start another.
    private let building = Mutex<Task<Snapshot, any Error>?>(nil)
    /// Each run's applied steps as last read: a refresh reads only the steps
    /// applied since, and the (few) evaluated ones, not a long run's whole history.
    private let stepCache = Mutex<[Int: [StatusRepository.StepRow]]>([:])
    /// Finished runs whose every evaluation is recorded: their cached steps are final.
    private let settled = Mutex<Set<Int>>([])

    public init(repository: StatusRepository, activity: WorkerActivity, logger: Logger) {
        self.repository = repository
        self.activity = activity
        self.logger = logger
    }

    /// The latest snapshot; the first request before any refresh builds one.
    public func snapshot() async throws -> Snapshot {
        if let s = current.withLock({ $0 }) { return s }
        return try await refresh()
    }

    /// Reads the figures, builds the response, encodes and renders it once
    /// (one build at a time: a call during a build gets that build's result).
    @discardableResult
    public func refresh(now: Date = Date()) async throws -> Snapshot {
        let task = building.withLock { inFlight -> Task<Snapshot, any Error> in
            if let inFlight { return inFlight }
            let task = Task { try await self.rebuild(now: now) }
            inFlight = task
            return task
        }
        defer { building.withLock { if $0 == task { $0 = nil } } }
        return try await task.value
    }

    private func rebuild(now: Date) async throws -> Snapshot {
        let started = ContinuousClock.now
        let status = try await build(now: now)
        let json = try WireProtocol.encoder.encode(status)
        let snapshot = Snapshot(status: status, json: ByteBuffer(bytes: json),
                                home: ByteBuffer(string: DashboardPage.home(status)))
        current.withLock { $0 = snapshot }
        let connections = (try? await repository.connectionsByState()) ?? [:]
        CoordinatorMetrics.record(status, connections: connections, refresh: ContinuousClock.now - started)
        return snapshot
    }

    func build(now: Date) async throws -> StatusResponse {
        let r = repository
        let units = try await r.unitCounts()
        let evaluations = try await r.evaluationUnitsOutstanding()
        let verification = try await r.verification()
        let contributors = try await r.topContributors()
        let pending = try await r.pendingEvaluations()
        var runs: [RunStatus] = []
        for run in try await r.runs() {
            let steps = try await appliedSteps(run: run.id, final: run.state == "finished" && pending[run.id] == nil)
            let (train, validation) = RunProgress.curves(steps)
            runs.append(RunStatus(
                runID: run.id, name: run.name, state: RunState(rawValue: run.state) ?? .active, step: run.currentStep,
                parameterVersion: run.currentStep, totalSteps: run.totalSteps, createdAt: run.createdAt,
                tokensTrained: steps.reduce(0) { $0 + $1.tokens },
                tokensPerSecond: RunProgress.throughput(steps, createdAt: run.createdAt, now: now),
                etaSeconds: RunProgress.eta(steps, state: run.state, currentStep: run.currentStep, totalSteps: run.totalSteps,
                                            now: now),
                lossHistory: train, validationHistory: validation, units: units[run.id] ?? UnitCounts(),
                evaluationUnitsOutstanding: evaluations[run.id] ?? 0,
                verification: verification[run.id] ?? VerificationStatus(), topContributors: contributors[run.id] ?? []))
        }
        let rates = activity.tokensPerSecond(now: now)
        let workers = try await r.workers().map { w in
            var w = w
            w.tokensPerSecond = rates[w.workerID] ?? 0
            return w
        }
        return StatusResponse(generatedAt: now, runs: runs, workers: workers, workersOnline: try await r.workersOnline(),
                              recentRejections: try await r.recentRejections())
    }

    /// A run's applied steps: the cached ones, the steps applied since, and
    /// the validation losses recorded since (evaluations finish after their
    /// step). `final`: the run has finished and no evaluation is pending (as
    /// read before this call), so one more read makes the cache final.
    func appliedSteps(run: Int, final: Bool) async throws -> [StatusRepository.StepRow] {
        if settled.withLock({ $0.contains(run) }), let steps = stepCache.withLock({ $0[run] }) { return steps }
        var steps = stepCache.withLock { $0[run] } ?? []
        steps += try await repository.appliedSteps(run: run, after: steps.last?.step ?? -1)
        let first = steps.first?.step ?? 0
        for validated in try await repository.validatedSteps(run: run) {
            let i = validated.step - first  // steps are contiguous from the first applied one
            if steps.indices.contains(i), steps[i].step == validated.step { steps[i].validationLoss = validated.validationLoss }
        }
        stepCache.withLock { $0[run] = steps }
        if final { settled.withLock { _ = $0.insert(run) } }
        return steps
    }
}
