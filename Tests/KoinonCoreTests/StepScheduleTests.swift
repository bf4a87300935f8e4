import Foundation
import KoinonCore
import Testing

// MARK: Shared fixtures for the Step*/Lease* tests

let timelineStart = Date(timeIntervalSince1970: 1_700_000_000)

/// `seconds` after `start`: tests read as a timeline.
func at(_ seconds: TimeInterval) -> Date { timelineStart.addingTimeInterval(seconds) }

func testUUID(tag: UInt8, _ n: Int) -> UUID {
    UUID(uuid: (tag, 0, 0, 0, 0, 0, 0x40, 0, 0x80, 0, 0, 0, 0, 0, UInt8((n >> 8) & 0xFF), UInt8(n & 0xFF)))
}

func leaseID(_ n: Int) -> LeaseID { LeaseID(testUUID(tag: 0x1E, n)) }
func worker(_ n: Int) -> WorkerID { WorkerID(testUUID(tag: 0xA0, n)) }
let alice = worker(1)
let bob = worker(2)
let carol = worker(3)

/// A distinct, valid SHA-256 per `n`.
func resultDigest(_ n: Int) -> ResultDigest {
    let tail = String(n, radix: 16)
    return ResultDigest(hex: String(repeating: "0", count: 64 - tail.count) + tail)!
}

func makeSchedule(
    units: Int = 3, leaseDuration: TimeInterval = 60, backups: BackupPolicy = .disabled,
    retryAfter: ClosedRange<TimeInterval> = 1...30
) throws -> StepSchedule {
    let configuration = try ScheduleConfiguration(leaseDuration: leaseDuration, backups: backups, retryAfterBounds: retryAfter)
    return try StepSchedule(step: 7, unitCount: units, configuration: configuration)
}

extension StepSchedule {
    /// Asks for work; returns the lease granted, if any.
    mutating func grant(_ worker: WorkerID, id: Int, at seconds: TimeInterval) throws -> Lease? {
        try lease(worker: worker, id: leaseID(id), now: at(seconds)).answer.grantedLease
    }

    /// Submits and verifies a result as valid in one go, as the coordinator does after its structural checks.
    mutating func complete(_ lease: Lease, result: Int, at seconds: TimeInterval) throws {
        let submitted = submit(lease: lease.id, worker: lease.worker, resultSHA256: resultDigest(result), now: at(seconds))
        #expect(submitted.answer == .accepted(unit: lease.unit))
        _ = try verify(lease: lease.id, verdict: .valid)
    }

    func state(ofUnit unit: Int) -> UnitState { units[unit].state }
}

extension LeaseAnswer {
    var grantedLease: Lease? {
        if case .granted(let lease) = self { return lease }
        return nil
    }
}

// MARK: Leasing

@Suite struct StepLeasingTests {
    @Test func aFreshStepHasEveryUnitPending() throws {
        let step = try makeSchedule(units: 4)
        #expect(step.step == 7)
        #expect(step.unitCount == 4)
        #expect(step.unitStateCounts == UnitStateCounts(pending: 4))
        #expect(step.units.map(\.state) == [.pending, .pending, .pending, .pending])
        #expect(!step.isComplete)
        #expect(!step.isClosed)
        #expect(step.acceptedResults.isEmpty)
        #expect(step.nextDeadline == nil)
    }

    @Test func aStepNeedsAtLeastOneUnit() throws {
        let configuration = try ScheduleConfiguration(leaseDuration: 60)
        #expect(throws: StepScheduleError.invalidUnitCount(0)) {
            try StepSchedule(step: 0, unitCount: 0, configuration: configuration)
        }
        #expect(throws: StepScheduleError.invalidUnitCount(-3)) {
            try StepSchedule(step: 0, unitCount: -3, configuration: configuration)
        }
    }

    @Test func leaseGivesTheLowestPendingUnitWithADeadline() throws {
        var step = try makeSchedule(units: 3, leaseDuration: 60)
        let outcome = try step.lease(worker: alice, id: leaseID(1), now: at(5))
        let expected = Lease(id: leaseID(1), unit: 0, worker: alice, issuedAt: at(5), deadline: at(65))
        #expect(outcome.answer == .granted(expected))
        #expect(outcome.changes == [.leaseIssued(expected), .unitStateChanged(unit: 0, from: .pending, to: .leased)])
        #expect(!expected.isBackup && expected.isActive && expected.submission == nil)
        #expect(step.lease(leaseID(1)) == expected)
        #expect(step.state(ofUnit: 0) == .leased)
        #expect(step.unitStateCounts == UnitStateCounts(pending: 2, leased: 1))
        #expect(step.nextDeadline == at(65))

        #expect(try step.grant(bob, id: 2, at: 6)?.unit == 1)
        #expect(try step.grant(alice, id: 3, at: 7)?.unit == 2)  // a worker may hold several units
        #expect(step.unitStateCounts == UnitStateCounts(leased: 3))
    }

    @Test func aReturnedUnitIsHandedOutBeforeHigherOnes() throws {
        var step = try makeSchedule(units: 3)
        let first = try #require(try step.grant(alice, id: 1, at: 0))
        _ = try step.grant(bob, id: 2, at: 0)
        #expect(step.release(lease: first.id, worker: alice, now: at(1)).answer == .released)
        #expect(try step.grant(carol, id: 3, at: 2)?.unit == 0)
        #expect(try step.grant(carol, id: 4, at: 2)?.unit == 2)
    }

    @Test func leaseIDsMustBeNew() throws {
        var step = try makeSchedule(units: 2)
        _ = try step.grant(alice, id: 1, at: 0)
        #expect(throws: StepScheduleError.duplicateLeaseID(leaseID(1))) {
            try step.lease(worker: bob, id: leaseID(1), now: at(1))
        }
        #expect(step.unitStateCounts == UnitStateCounts(pending: 1, leased: 1))
    }

    @Test func anOverdueLeaseIsReclaimedByTheNextRequestWithoutASweep() throws {
        var step = try makeSchedule(units: 1, leaseDuration: 60)
        _ = try step.grant(alice, id: 1, at: 0)
        // One instant before the deadline the lease still holds.
        let early = try step.lease(worker: bob, id: leaseID(2), now: at(59.999))
        #expect(early.answer.grantedLease == nil)
        #expect(early.changes.isEmpty)
        // At the deadline it has expired, and the request itself records that.
        let outcome = try step.lease(worker: bob, id: leaseID(2), now: at(60))
        let expired = Lease(id: leaseID(1), unit: 0, worker: alice, issuedAt: at(0), deadline: at(60), state: .expired)
        let fresh = Lease(id: leaseID(2), unit: 0, worker: bob, issuedAt: at(60), deadline: at(120))
        #expect(outcome.answer == .granted(fresh))
        #expect(outcome.changes == [
            .leaseUpdated(expired),
            .unitStateChanged(unit: 0, from: .leased, to: .pending),
            .leaseIssued(fresh),
            .unitStateChanged(unit: 0, from: .pending, to: .leased),
        ])
    }
}

// MARK: "Nothing now, ask again after N seconds"

@Suite struct StepRetryAfterTests {
    @Test func waitsUntilTheNearestDeadlineWithinBounds() throws {
        var step = try makeSchedule(units: 2, leaseDuration: 60, retryAfter: 2...30)
        _ = try step.grant(alice, id: 1, at: 0)   // deadline 60
        _ = try step.grant(bob, id: 2, at: 20)    // deadline 80
        func retry(at seconds: TimeInterval) throws -> LeaseAnswer {
            try step.lease(worker: carol, id: leaseID(99), now: at(seconds)).answer
        }
        #expect(try retry(at: 10) == .noWork(retryAfter: 30, reason: .unitsOutstanding))  // 50 s away: capped
        #expect(try retry(at: 45) == .noWork(retryAfter: 15, reason: .unitsOutstanding))
        #expect(try retry(at: 59.5) == .noWork(retryAfter: 2, reason: .unitsOutstanding))  // 0.5 s: raised to the floor
    }

    @Test func heartbeatsMoveTheNextDeadline() throws {
        var step = try makeSchedule(units: 1, leaseDuration: 60, retryAfter: 1...100)
        let lease = try #require(try step.grant(alice, id: 1, at: 0))
        _ = step.heartbeat(lease: lease.id, worker: alice, now: at(30))
        #expect(step.nextDeadline == at(90))
        #expect(try step.lease(worker: bob, id: leaseID(2), now: at(40)).answer
            == .noWork(retryAfter: 50, reason: .unitsOutstanding))
    }

    @Test func onlyVerdictsAwaitedMeansTheShortestWait() throws {
        var step = try makeSchedule(units: 1, retryAfter: 3...30)
        let lease = try #require(try step.grant(alice, id: 1, at: 0))
        _ = step.submit(lease: lease.id, worker: alice, resultSHA256: resultDigest(1), now: at(10))
        #expect(step.nextDeadline == nil)
        #expect(try step.lease(worker: bob, id: leaseID(2), now: at(11)).answer
            == .noWork(retryAfter: 3, reason: .unitsOutstanding))
    }

    @Test func aCompleteStepSaysSoAndAClosedOneToo() throws {
        var step = try makeSchedule(units: 1, retryAfter: 3...30)
        let lease = try #require(try step.grant(alice, id: 1, at: 0))
        try step.complete(lease, result: 1, at: 10)
        #expect(step.isComplete)
        let complete = try step.lease(worker: bob, id: leaseID(2), now: at(11))
        #expect(complete.answer == .noWork(retryAfter: 3, reason: .stepComplete))
        #expect(complete.changes.isEmpty)
        try step.close()
        #expect(step.isClosed)
        #expect(try step.lease(worker: bob, id: leaseID(2), now: at(12)).answer
            == .noWork(retryAfter: 3, reason: .stepClosed))
    }

    @Test func reasonCodesAreStable() {
        #expect(NoWorkReason.unitsOutstanding.code == "units_outstanding")
        #expect(NoWorkReason.stepComplete.code == "step_complete")
        #expect(NoWorkReason.stepClosed.code == "step_closed")
    }
}

// MARK: Configuration

@Suite struct StepConfigurationTests {
    @Test func defaults() throws {
        let configuration = try ScheduleConfiguration(leaseDuration: 90)
        #expect(configuration.backups == BackupPolicy(maxCopies: 2, maxOutstandingUnits: nil, minimumLeaseAge: 0))
        #expect(configuration.retryAfterBounds == 1...30)
        #expect(configuration.heartbeatInterval == 30)
        #expect(BackupPolicy.disabled.maxCopies == 1)
    }

    @Test(arguments: [
        (0.0, BackupPolicy(), 1.0...30.0, "lease duration"),
        (-5, BackupPolicy(), 1...30, "lease duration"),
        (.infinity, BackupPolicy(), 1...30, "lease duration"),
        (.nan, BackupPolicy(), 1...30, "lease duration"),
        (60, BackupPolicy(maxCopies: 0), 1...30, "max_copies"),
        (60, BackupPolicy(maxOutstandingUnits: 0), 1...30, "max_outstanding_units"),
        (60, BackupPolicy(minimumLeaseAge: -1), 1...30, "minimum_lease_age"),
        (60, BackupPolicy(minimumLeaseAge: .infinity), 1...30, "minimum_lease_age"),
        (60, BackupPolicy(), -1...30, "retry-after"),
        (60, BackupPolicy(), 1...(.infinity), "retry-after"),
    ] as [(TimeInterval, BackupPolicy, ClosedRange<TimeInterval>, String)])
    func nonsenseIsRefusedWithTheSettingNamed(
        duration: TimeInterval, backups: BackupPolicy, retry: ClosedRange<TimeInterval>, named: String
    ) {
        do {
            _ = try ScheduleConfiguration(leaseDuration: duration, backups: backups, retryAfterBounds: retry)
            Issue.record("accepted \(duration) \(backups) \(retry)")
        } catch {
            #expect(error.description.contains(named))
        }
    }
}
