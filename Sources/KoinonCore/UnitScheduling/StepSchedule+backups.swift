import Foundation

extension StepSchedule {
    /// The unit an idle worker should back up, if the step is near its end:
    /// no unit pending (the caller checked), few enough unfinished units, and a
    /// unit still running with room for another copy that this worker is not
    /// already computing. Among those, the one whose oldest active lease was
    /// issued first (the likeliest straggler); ties go to the lower index.
    func backupCandidate(for worker: WorkerID, now: Date) -> Int? {
        let policy = configuration.backups
        guard policy.maxCopies > 1, backupsAllowedByOutstandingCount else { return nil }
        var best: (unit: Int, oldest: Date)?
        for unit in units where unit.state == .leased {
            let active = unit.activeLeases
            guard active.count < policy.maxCopies, !active.contains(where: { $0.worker == worker }),
                  let oldest = unit.oldestActiveLeaseIssuedAt,
                  now.timeIntervalSince(oldest) >= policy.minimumLeaseAge
            else { continue }
            if best == nil || oldest < best!.oldest { best = (unit.index, oldest) }
        }
        return best?.unit
    }

    private var backupsAllowedByOutstandingCount: Bool {
        guard let limit = configuration.backups.maxOutstandingUnits else { return true }
        return units.count(where: { $0.state != .accepted }) <= limit
    }

    /// "Nothing now", with when to ask again: at the next moment the answer
    /// could change by the clock alone (a lease deadline passing, or a running
    /// unit becoming old enough to back up), clamped to the configured bounds.
    /// Work can also appear unannounced (a release, a rejected result), which
    /// the upper bound caps the wait for.
    func noWorkAnswer(now: Date) -> LeaseAnswer {
        let bounds = configuration.retryAfterBounds
        guard !isComplete else { return .noWork(retryAfter: bounds.lowerBound, reason: .stepComplete) }
        var nextChange = nextDeadline
        if let eligible = nextBackupEligibility(), eligible > now {
            nextChange = min(nextChange ?? eligible, eligible)
        }
        // Nothing running: only verdicts on submitted results are awaited, and those come quickly.
        let wait = nextChange.map { $0.timeIntervalSince(now) } ?? bounds.lowerBound
        return .noWork(retryAfter: min(max(wait, bounds.lowerBound), bounds.upperBound), reason: .unitsOutstanding)
    }

    /// When the earliest not-yet-old-enough running unit may be backed up, if
    /// backups could be handed out at all. Ignores which worker asks: an
    /// earlier retry is harmless, a later one would leave a worker idle.
    private func nextBackupEligibility() -> Date? {
        let policy = configuration.backups
        guard policy.maxCopies > 1, policy.minimumLeaseAge > 0, backupsAllowedByOutstandingCount else { return nil }
        return units
            .filter { $0.state == .leased && $0.activeLeases.count < policy.maxCopies }
            .compactMap { $0.oldestActiveLeaseIssuedAt?.addingTimeInterval(policy.minimumLeaseAge) }
            .min()
    }
}
