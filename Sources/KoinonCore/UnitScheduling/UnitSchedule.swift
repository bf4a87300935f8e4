import Foundation

/// The lease rules of one work unit: its leases and what each event does to them.
///
/// The unit's state is derived from its leases, never stored beside them, so
/// the two cannot disagree. `StepSchedule` composes one of these per unit;
/// a repository that locks a single unit's rows can also drive one directly.
///
/// Every mutating call returns its answer with the `ScheduleChange`s to write.
public struct UnitSchedule: Sendable, Hashable {
    public let index: Int
    /// Every lease ever issued on the unit, in issue order.
    public private(set) var leases: [Lease]

    public init(index: Int, leases: [Lease] = []) throws(StepScheduleError) {
        var seen = Set<LeaseID>()
        var accepted = 0
        for lease in leases {
            guard lease.unit == index else {
                throw .leaseOfAnotherUnit(lease: lease.id, unit: lease.unit, expected: index)
            }
            guard seen.insert(lease.id).inserted else { throw .duplicateLeaseID(lease.id) }
            if lease.submission?.status == .accepted { accepted += 1 }
        }
        guard accepted <= 1 else { throw .multipleAcceptedResults(unit: index) }
        self.index = index
        self.leases = leases
    }

    // MARK: Derived state

    public var state: UnitState {
        if acceptedResult != nil { return .accepted }
        if leases.contains(where: { $0.submission?.status == .awaitingVerification }) { return .submitted }
        if leases.contains(where: \.isActive) { return .leased }
        return .pending
    }

    public var acceptedResult: AcceptedResult? {
        for lease in leases {
            if let submission = lease.submission, submission.status == .accepted {
                return AcceptedResult(unit: index, lease: lease.id, worker: lease.worker,
                                      resultSHA256: submission.resultSHA256)
            }
        }
        return nil
    }

    public var activeLeases: [Lease] { leases.filter(\.isActive) }

    /// How many results for this unit verification has refused so far.
    public var rejectedSubmissionCount: Int {
        leases.count(where: { if case .rejected = $0.submission?.status { true } else { false } })
    }

    public func lease(_ id: LeaseID) -> Lease? { leases.first { $0.id == id } }

    /// When the first still-active lease was issued: the age that decides which straggler is backed up first.
    var oldestActiveLeaseIssuedAt: Date? { activeLeases.map(\.issuedAt).min() }

    var earliestActiveDeadline: Date? { activeLeases.map(\.deadline).min() }

    // MARK: Events

    /// Adds a lease; the caller (`StepSchedule`) has decided the unit may have it.
    mutating func issue(id: LeaseID, worker: WorkerID, now: Date, duration: TimeInterval) -> [ScheduleChange] {
        recordingChanges { unit, changes in
            let lease = Lease(id: id, unit: unit.index, worker: worker, issuedAt: now,
                              deadline: now.addingTimeInterval(duration),
                              isBackup: !unit.activeLeases.isEmpty)
            unit.leases.append(lease)
            changes.append(.leaseIssued(lease))
        }
    }

    /// Expires every active lease whose deadline is at or before `now`.
    public mutating func expire(now: Date) -> [ScheduleChange] {
        recordingChanges { unit, changes in
            for position in unit.leases.indices where unit.leases[position].isOverdue(at: now) {
                unit.update(at: position, &changes) { $0.state = .expired }
            }
        }
    }

    public mutating func heartbeat(
        lease id: LeaseID, worker: WorkerID, now: Date, leaseDuration: TimeInterval
    ) -> ScheduleOutcome<HeartbeatAnswer> {
        recordingChanges { unit, changes -> HeartbeatAnswer in
            guard let position = unit.position(of: id) else { return .stop(.unknownLease) }
            let lease = unit.leases[position]
            guard lease.worker == worker else { return .stop(.foreignLease) }
            if lease.isOverdue(at: now) {
                unit.update(at: position, &changes) { $0.state = .expired }
                return .stop(.leaseExpired(deadline: lease.deadline))
            }
            switch lease.state {
            case .active:
                // max(): a heartbeat never shortens a lease, whatever order requests arrive in.
                let deadline = max(lease.deadline, now.addingTimeInterval(leaseDuration))
                if deadline != lease.deadline {
                    unit.update(at: position, &changes) { $0.deadline = deadline }
                }
                return .extended(deadline: deadline)
            case .expired: return .stop(.leaseExpired(deadline: lease.deadline))
            case .released: return .stop(.leaseReleased)
            case .superseded: return .stop(.unitFinished)
            case .submitted: return .stop(.resultSubmitted)
            }
        }
    }

    /// Takes a result under `lease`. A replay (same lease, same digest) gets
    /// the answer its first submission has now, without writing anything.
    public mutating func submit(
        lease id: LeaseID, worker: WorkerID, resultSHA256: ResultDigest, now: Date
    ) -> ScheduleOutcome<SubmitAnswer> {
        if let settled = settledSubmitAnswer(lease: id, worker: worker, resultSHA256: resultSHA256) {
            return ScheduleOutcome(settled)
        }
        return recordingChanges { unit, changes -> SubmitAnswer in
            // settledSubmitAnswer() answered for unknown, foreign and closed leases.
            guard let position = unit.position(of: id) else { return .rejected(.unknownLease) }
            let lease = unit.leases[position]
            // The deadline decides, not whether the sweep has run: a result at or
            // after it is late, so the answer never depends on sweep timing.
            if lease.isOverdue(at: now) {
                unit.update(at: position, &changes) { $0.state = .expired }
                return .rejected(.leaseExpired(deadline: lease.deadline))
            }
            if unit.acceptedResult != nil {
                // Defensive: acceptance supersedes active leases, so stored
                // data would have to be inconsistent to get here.
                unit.update(at: position, &changes) { $0.state = .superseded }
                return .superseded(unit: unit.index)
            }
            let submission = Submission(resultSHA256: resultSHA256, submittedAt: now)
            unit.update(at: position, &changes) { $0.state = .submitted(submission) }
            return .accepted(unit: unit.index)
        }
    }

    /// The answer to a submission that cannot change anything: the lease is
    /// unknown, someone else's, already closed, or already carries a result
    /// (then: a replay, or a conflict). Nil when the lease is active.
    func settledSubmitAnswer(lease id: LeaseID, worker: WorkerID, resultSHA256: ResultDigest) -> SubmitAnswer? {
        guard let lease = lease(id) else { return .rejected(.unknownLease) }
        guard lease.worker == worker else { return .rejected(.foreignLease) }
        switch lease.state {
        case .active:
            return nil
        case .submitted(let submission):
            guard submission.resultSHA256 == resultSHA256 else {
                return .rejected(.conflictingResult(recorded: submission.resultSHA256))
            }
            switch submission.status {
            case .awaitingVerification, .accepted: return .accepted(unit: index)
            case .superseded: return .superseded(unit: index)
            case .rejected(let reason): return .rejected(.invalidResult(reason: reason))
            }
        case .expired: return .rejected(.leaseExpired(deadline: lease.deadline))
        case .released: return .rejected(.leaseReleased)
        case .superseded: return .superseded(unit: index)
        }
    }

    /// Records verification's verdict on the result submitted under `lease`.
    ///
    /// The first verdict on a submission stands: asking again (a retried
    /// transaction) answers with where the submission ended and writes nothing.
    /// A valid verdict makes the unit accepted and supersedes every other copy,
    /// running or submitted. An invalid one returns the unit to pending unless
    /// another copy is still running or awaiting its own verdict.
    public mutating func verify(lease id: LeaseID, verdict: Verdict) throws(StepScheduleError) -> ScheduleOutcome<VerifyAnswer> {
        guard let position = position(of: id) else { throw .noSuchLease(id) }
        guard let submission = leases[position].submission else { throw .nothingSubmitted(id) }
        switch submission.status {
        case .accepted:
            return ScheduleOutcome(.accepted(acceptedResult!))
        case .rejected(let reason):
            return ScheduleOutcome(.rejected(reason: reason))
        case .superseded:
            return ScheduleOutcome(.superseded)
        case .awaitingVerification:
            break
        }
        return recordingChanges { unit, changes -> VerifyAnswer in
            switch verdict {
            case .invalid(let reason):
                unit.update(at: position, &changes) { $0.setSubmissionStatus(.rejected(reason: reason)) }
                return .rejected(reason: reason)
            case .valid:
                unit.update(at: position, &changes) { $0.setSubmissionStatus(.accepted) }
                for other in unit.leases.indices where other != position {
                    if unit.leases[other].isActive {
                        unit.update(at: other, &changes) { $0.state = .superseded }
                    } else if unit.leases[other].submission?.status == .awaitingVerification {
                        unit.update(at: other, &changes) { $0.setSubmissionStatus(.superseded) }
                    }
                }
                return .accepted(unit.acceptedResult!)
            }
        }
    }

    /// The worker gives its unit back (it is stopping).
    public mutating func release(lease id: LeaseID, worker: WorkerID, now: Date) -> ScheduleOutcome<ReleaseAnswer> {
        recordingChanges { unit, changes -> ReleaseAnswer in
            guard let position = unit.position(of: id) else { return .refused(.unknownLease) }
            let lease = unit.leases[position]
            guard lease.worker == worker else { return .refused(.foreignLease) }
            if lease.isOverdue(at: now) {
                unit.update(at: position, &changes) { $0.state = .expired }
                return .refused(.leaseExpired(deadline: lease.deadline))
            }
            switch lease.state {
            case .active:
                unit.update(at: position, &changes) { $0.state = .released }
                return .released
            case .released: return .released
            case .expired: return .refused(.leaseExpired(deadline: lease.deadline))
            case .superseded: return .refused(.unitFinished)
            case .submitted: return .refused(.resultSubmitted)
            }
        }
    }

    // MARK: Bookkeeping

    private func position(of id: LeaseID) -> Int? { leases.firstIndex { $0.id == id } }

    /// Applies `edit` to one lease and records the lease's new row.
    private mutating func update(at position: Int, _ changes: inout [ScheduleChange], _ edit: (inout Lease) -> Void) {
        edit(&leases[position])
        changes.append(.leaseUpdated(leases[position]))
    }

    /// `recordingChanges` for events that only write.
    private mutating func recordingChanges(
        _ body: (inout UnitSchedule, inout [ScheduleChange]) -> Void
    ) -> [ScheduleChange] {
        recordingChanges { unit, changes -> Bool in
            body(&unit, &changes)
            return true
        }.changes
    }

    /// Runs `body` and adds the unit's state change, if it made one, to its changes.
    private mutating func recordingChanges<Answer: Sendable & Hashable>(
        _ body: (inout UnitSchedule, inout [ScheduleChange]) -> Answer
    ) -> ScheduleOutcome<Answer> {
        let before = state
        var changes: [ScheduleChange] = []
        let answer = body(&self, &changes)
        let after = state
        if after != before { changes.append(.unitStateChanged(unit: index, from: before, to: after)) }
        return ScheduleOutcome(answer, changes: changes)
    }
}

extension Lease {
    /// Active but past its deadline: expired in all but the stored state.
    func isOverdue(at now: Date) -> Bool { isActive && now >= deadline }

    mutating func setSubmissionStatus(_ status: SubmissionStatus) {
        guard case .submitted(var submission) = state else { return }
        submission.status = status
        state = .submitted(submission)
    }
}
