import Foundation

/// The work units and leases of one training step, as a pure state machine.
///
/// The coordinator's repository loads a step's leases, builds the schedule,
/// asks it one question (lease, heartbeat, submit, verify, release, expire)
/// and writes the answer's `changes` in the same transaction. No clock is
/// read here: every question carries its `now`.
///
/// Times: a lease is live while `now < deadline`. Any question about a lease
/// that is past its deadline treats it as expired and records the expiry,
/// whether or not `expire(now:)` has run, so answers never depend on when
/// the sweep happens to run.
public struct StepSchedule: Sendable, Hashable {
    public let step: Int
    public let configuration: ScheduleConfiguration
    /// One per unit, in unit order.
    public private(set) var units: [UnitSchedule]
    /// Set once the step's aggregate is applied; from then on the step only
    /// answers replays and tells everyone else it is finished.
    public private(set) var isClosed: Bool
    private var unitOfLease: [LeaseID: Int]

    /// A fresh step: every unit pending.
    public init(step: Int, unitCount: Int, configuration: ScheduleConfiguration) throws(StepScheduleError) {
        try self.init(step: step, unitCount: unitCount, configuration: configuration, restoring: [])
    }

    /// A step rebuilt from its stored leases (in any order).
    public init(
        step: Int, unitCount: Int, configuration: ScheduleConfiguration,
        restoring leases: [Lease], isClosed: Bool = false
    ) throws(StepScheduleError) {
        guard unitCount >= 1 else { throw .invalidUnitCount(unitCount) }
        var byUnit = [[Lease]](repeating: [], count: unitCount)
        var unitOfLease: [LeaseID: Int] = [:]
        for lease in leases.sorted(by: { ($0.issuedAt, $0.id.description) < ($1.issuedAt, $1.id.description) }) {
            guard (0..<unitCount).contains(lease.unit) else {
                throw .leaseUnitOutOfRange(lease: lease.id, unit: lease.unit, unitCount: unitCount)
            }
            guard unitOfLease.updateValue(lease.unit, forKey: lease.id) == nil else { throw .duplicateLeaseID(lease.id) }
            byUnit[lease.unit].append(lease)
        }
        var units: [UnitSchedule] = []
        units.reserveCapacity(unitCount)
        for (index, unitLeases) in byUnit.enumerated() {
            units.append(try UnitSchedule(index: index, leases: unitLeases))
        }
        self.step = step
        self.configuration = configuration
        self.units = units
        self.unitOfLease = unitOfLease
        self.isClosed = false
        if isClosed { try close() }
    }

    // MARK: Reading

    public var unitCount: Int { units.count }

    public func lease(_ id: LeaseID) -> Lease? {
        unitOfLease[id].flatMap { units[$0].lease(id) }
    }

    public var unitStateCounts: UnitStateCounts {
        var counts = UnitStateCounts()
        for unit in units { counts[unit.state] += 1 }
        return counts
    }

    /// Every unit is accepted: the step can be aggregated.
    public var isComplete: Bool { units.allSatisfy { $0.state == .accepted } }

    /// The accepted results so far, in unit order, whatever order they came
    /// in: aggregation sums in this order, so a run is reproducible.
    public var acceptedResults: [AcceptedResult] { units.compactMap(\.acceptedResult) }

    /// The earliest deadline among active leases: when the expiry sweep next has work.
    public var nextDeadline: Date? { units.compactMap(\.earliestActiveDeadline).min() }

    // MARK: Questions

    /// Gives `worker` the lowest-index pending unit under a new lease `id`;
    /// with none pending, perhaps a backup copy of a straggling unit (see
    /// `BackupPolicy`); otherwise tells it when to ask again.
    ///
    /// Overdue leases are expired first, so a unit whose holder went silent is
    /// handed out again even if the sweep has not run yet. `id` is only used
    /// when a lease is granted; it must be new to the step.
    public mutating func lease(worker: WorkerID, id: LeaseID, now: Date) throws(StepScheduleError) -> ScheduleOutcome<LeaseAnswer> {
        guard unitOfLease[id] == nil else { throw .duplicateLeaseID(id) }
        guard !isClosed else {
            return ScheduleOutcome(.noWork(retryAfter: configuration.retryAfterBounds.lowerBound, reason: .stepClosed))
        }
        var changes = expire(now: now)
        let chosen = units.firstIndex { $0.state == .pending } ?? backupCandidate(for: worker, now: now)
        guard let unit = chosen else {
            return ScheduleOutcome(noWorkAnswer(now: now), changes: changes)
        }
        changes += units[unit].issue(id: id, worker: worker, now: now, duration: configuration.leaseDuration)
        unitOfLease[id] = unit
        return ScheduleOutcome(.granted(units[unit].lease(id)!), changes: changes)
    }

    /// Extends an active lease to `now + leaseDuration`; anything else tells the worker to stop.
    public mutating func heartbeat(lease id: LeaseID, worker: WorkerID, now: Date) -> ScheduleOutcome<HeartbeatAnswer> {
        guard let unit = unitOfLease[id] else { return ScheduleOutcome(.stop(.unknownLease)) }
        if isClosed {
            let lease = units[unit].lease(id)!
            return ScheduleOutcome(.stop(lease.worker == worker ? .stepFinished : .foreignLease))
        }
        return units[unit].heartbeat(lease: id, worker: worker, now: now, leaseDuration: configuration.leaseDuration)
    }

    /// Takes a result; see `SubmitAnswer`. Replays (same lease, same digest)
    /// get the answer the first submission has now, even after the step closed.
    public mutating func submit(
        lease id: LeaseID, worker: WorkerID, resultSHA256: ResultDigest, now: Date
    ) -> ScheduleOutcome<SubmitAnswer> {
        guard let unit = unitOfLease[id] else { return ScheduleOutcome(.rejected(.unknownLease)) }
        if isClosed {
            // A closed step has no active lease, so every answer here is settled.
            switch units[unit].settledSubmitAnswer(lease: id, worker: worker, resultSHA256: resultSHA256) {
            case let answer? where answer.isReplayOrForeign:
                return ScheduleOutcome(answer)
            default:
                // Expired, released, superseded: true, but "the step is over" is the news.
                return ScheduleOutcome(.rejected(.stepFinished))
            }
        }
        return units[unit].submit(lease: id, worker: worker, resultSHA256: resultSHA256, now: now)
    }

    /// Records verification's verdict on the result submitted under `lease`; see `UnitSchedule.verify`.
    public mutating func verify(lease id: LeaseID, verdict: Verdict) throws(StepScheduleError) -> ScheduleOutcome<VerifyAnswer> {
        guard let unit = unitOfLease[id] else { throw .noSuchLease(id) }
        return try units[unit].verify(lease: id, verdict: verdict)
    }

    /// A stopping worker gives its unit back; the unit is pending again unless another copy runs.
    public mutating func release(lease id: LeaseID, worker: WorkerID, now: Date) -> ScheduleOutcome<ReleaseAnswer> {
        guard let unit = unitOfLease[id] else { return ScheduleOutcome(.refused(.unknownLease)) }
        return units[unit].release(lease: id, worker: worker, now: now)
    }

    /// Expires every active lease at or past its deadline; units left with no
    /// active lease and no result go back to pending. Returns what changed.
    public mutating func expire(now: Date) -> [ScheduleChange] {
        var changes: [ScheduleChange] = []
        for index in units.indices { changes += units[index].expire(now: now) }
        return changes
    }

    /// Marks the step aggregated. Only a complete step can close.
    public mutating func close() throws(StepScheduleError) {
        let unfinished = units.count(where: { $0.state != .accepted })
        guard unfinished == 0 else { throw .closedBeforeComplete(unfinishedUnits: unfinished) }
        isClosed = true
    }
}

extension SubmitAnswer {
    /// Answers that stay the same after the step closes: a replay's first
    /// answer, a conflict with the recorded result, and someone else's lease.
    fileprivate var isReplayOrForeign: Bool {
        switch self {
        case .accepted, .rejected(.conflictingResult), .rejected(.invalidResult), .rejected(.foreignLease): true
        default: false
        }
    }
}
