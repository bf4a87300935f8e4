import Foundation
import KoinonCore
import Testing

@Suite struct StepSubmitTests {
    @Test func theFirstResultIsTakenThenVerificationAcceptsIt() throws {
        var step = try makeSchedule(units: 2, leaseDuration: 60)
        let lease = try #require(try step.grant(alice, id: 1, at: 0))
        let outcome = step.submit(lease: lease.id, worker: alice, resultSHA256: resultDigest(1), now: at(30))
        #expect(outcome.answer == .accepted(unit: 0))
        let submission = Submission(resultSHA256: resultDigest(1), submittedAt: at(30))
        let submitted = Lease(id: lease.id, unit: 0, worker: alice, issuedAt: at(0), deadline: at(60),
                              state: .submitted(submission))
        #expect(outcome.changes == [.leaseUpdated(submitted), .unitStateChanged(unit: 0, from: .leased, to: .submitted)])
        #expect(submission.status == .awaitingVerification)
        #expect(step.unitStateCounts == UnitStateCounts(pending: 1, submitted: 1))
        #expect(step.acceptedResults.isEmpty)

        let verified = try step.verify(lease: lease.id, verdict: .valid)
        let result = AcceptedResult(unit: 0, lease: lease.id, worker: alice, resultSHA256: resultDigest(1))
        #expect(verified.answer == .accepted(result))
        let accepted = Lease(id: lease.id, unit: 0, worker: alice, issuedAt: at(0), deadline: at(60),
                             state: .submitted(Submission(resultSHA256: resultDigest(1), submittedAt: at(30), status: .accepted)))
        #expect(verified.changes == [.leaseUpdated(accepted), .unitStateChanged(unit: 0, from: .submitted, to: .accepted)])
        #expect(step.units[0].acceptedResult == result)
        #expect(step.acceptedResults == [result])
        #expect(step.unitStateCounts == UnitStateCounts(pending: 1, accepted: 1))
    }

    @Test func resubmittingTheSameResultGetsTheSameAnswerAndWritesNothing() throws {
        var step = try makeSchedule(units: 3)
        let a = try #require(try step.grant(alice, id: 1, at: 0))
        let b = try #require(try step.grant(alice, id: 2, at: 0))
        let c = try #require(try step.grant(bob, id: 3, at: 0))
        func resubmit(_ lease: Lease, _ result: Int, at seconds: TimeInterval) -> ScheduleOutcome<SubmitAnswer> {
            step.submit(lease: lease.id, worker: lease.worker, resultSHA256: resultDigest(result), now: at(seconds))
        }
        #expect(resubmit(a, 1, at: 1).answer == .accepted(unit: 0))
        // Before the verdict:
        #expect(resubmit(a, 1, at: 2) == ScheduleOutcome(.accepted(unit: 0)))
        // After a valid verdict:
        _ = try step.verify(lease: a.id, verdict: .valid)
        #expect(resubmit(a, 1, at: 3) == ScheduleOutcome(.accepted(unit: 0)))
        // After an invalid verdict, the replay learns the verdict (what the first request was answered).
        _ = resubmit(b, 2, at: 4)
        _ = try step.verify(lease: b.id, verdict: .invalid(reason: "loss is NaN"))
        #expect(resubmit(b, 2, at: 5) == ScheduleOutcome(.rejected(.invalidResult(reason: "loss is NaN"))))
        // Even far past the deadline: the result came in time, the replay is only a lost answer.
        _ = resubmit(c, 3, at: 6)
        #expect(resubmit(c, 3, at: 500) == ScheduleOutcome(.accepted(unit: 2)))
        #expect(step.lease(c.id)?.submission?.submittedAt == at(6))
    }

    @Test func aDifferentResultUnderTheSameLeaseIsAConflict() throws {
        var step = try makeSchedule(units: 1)
        let lease = try #require(try step.grant(alice, id: 1, at: 0))
        _ = step.submit(lease: lease.id, worker: alice, resultSHA256: resultDigest(1), now: at(1))
        let second = step.submit(lease: lease.id, worker: alice, resultSHA256: resultDigest(2), now: at(2))
        #expect(second == ScheduleOutcome(.rejected(.conflictingResult(recorded: resultDigest(1)))))
        #expect(step.lease(lease.id)?.submission?.resultSHA256 == resultDigest(1))
    }

    @Test func unknownAndForeignLeasesAreRejected() throws {
        var step = try makeSchedule(units: 1)
        let lease = try #require(try step.grant(alice, id: 1, at: 0))
        #expect(step.submit(lease: leaseID(9), worker: alice, resultSHA256: resultDigest(1), now: at(1))
            == ScheduleOutcome(.rejected(.unknownLease)))
        #expect(step.submit(lease: lease.id, worker: bob, resultSHA256: resultDigest(1), now: at(1))
            == ScheduleOutcome(.rejected(.foreignLease)))
        // Someone else replaying alice's result is still foreign, not a replay.
        _ = step.submit(lease: lease.id, worker: alice, resultSHA256: resultDigest(1), now: at(2))
        #expect(step.submit(lease: lease.id, worker: bob, resultSHA256: resultDigest(1), now: at(3)).answer == .rejected(.foreignLease))
        #expect(step.state(ofUnit: 0) == .submitted)
    }

    /// The expiry race: the deadline passes, the sweep has not run yet, the
    /// result arrives. Decision: the deadline alone decides. The result is
    /// rejected as expired, and the submission records the expiry itself, so
    /// the answer is the same whenever the sweep happens to run.
    @Test func aResultAfterTheDeadlineIsLateEvenBeforeTheSweep() throws {
        var step = try makeSchedule(units: 1, leaseDuration: 60)
        let lease = try #require(try step.grant(alice, id: 1, at: 0))
        let late = step.submit(lease: lease.id, worker: alice, resultSHA256: resultDigest(1), now: at(60))
        #expect(late.answer == .rejected(.leaseExpired(deadline: at(60))))
        #expect(late.changes == [
            .leaseUpdated(Lease(id: lease.id, unit: 0, worker: alice, issuedAt: at(0), deadline: at(60), state: .expired)),
            .unitStateChanged(unit: 0, from: .leased, to: .pending),
        ])
        // After the sweep (here: nothing left to sweep) the answer is the same.
        #expect(step.expire(now: at(61)).isEmpty)
        #expect(step.submit(lease: lease.id, worker: alice, resultSHA256: resultDigest(1), now: at(62))
            == ScheduleOutcome(.rejected(.leaseExpired(deadline: at(60)))))
        #expect(step.state(ofUnit: 0) == .pending)
    }

    @Test func aResultJustBeforeTheDeadlineCounts() throws {
        var step = try makeSchedule(units: 1, leaseDuration: 60)
        let lease = try #require(try step.grant(alice, id: 1, at: 0))
        #expect(step.submit(lease: lease.id, worker: alice, resultSHA256: resultDigest(1), now: at(59.999)).answer == .accepted(unit: 0))
    }

    @Test func aHeartbeatMovesTheDeadlineForResultsToo() throws {
        var step = try makeSchedule(units: 1, leaseDuration: 60)
        let lease = try #require(try step.grant(alice, id: 1, at: 0))
        _ = step.heartbeat(lease: lease.id, worker: alice, now: at(50))
        #expect(step.submit(lease: lease.id, worker: alice, resultSHA256: resultDigest(1), now: at(100)).answer == .accepted(unit: 0))
    }

    @Test func aResultForAnExpiredLeaseWhoseUnitWasReissuedIsRejected() throws {
        var step = try makeSchedule(units: 1, leaseDuration: 60)
        let slow = try #require(try step.grant(alice, id: 1, at: 0))
        _ = step.expire(now: at(60))
        let fresh = try #require(try step.grant(bob, id: 2, at: 61))
        #expect(step.submit(lease: slow.id, worker: alice, resultSHA256: resultDigest(1), now: at(62)).answer
            == .rejected(.leaseExpired(deadline: at(60))))
        #expect(step.state(ofUnit: 0) == .leased)
        try step.complete(fresh, result: 2, at: 70)
        // Still expired (not superseded): the lease had ended before the unit was accepted.
        #expect(step.submit(lease: slow.id, worker: alice, resultSHA256: resultDigest(1), now: at(71)).answer
            == .rejected(.leaseExpired(deadline: at(60))))
    }

    @Test func aResultForAReleasedLeaseIsRejected() throws {
        var step = try makeSchedule(units: 1)
        let lease = try #require(try step.grant(alice, id: 1, at: 0))
        _ = step.release(lease: lease.id, worker: alice, now: at(1))
        #expect(step.submit(lease: lease.id, worker: alice, resultSHA256: resultDigest(1), now: at(2))
            == ScheduleOutcome(.rejected(.leaseReleased)))
    }

    @Test func rejectionCodesAreDistinctAndMessagesSayWhy() {
        let rejections: [SubmitRejection] = [
            .unknownLease, .foreignLease, .leaseExpired(deadline: at(0)), .leaseReleased, .stepFinished,
            .conflictingResult(recorded: resultDigest(1)), .invalidResult(reason: "gradient has 3 NaN values"),
        ]
        #expect(rejections.map(\.code) == [
            "unknown_lease", "foreign_lease", "lease_expired", "lease_released", "step_finished",
            "conflicting_result", "invalid_result",
        ])
        #expect(SubmitRejection.invalidResult(reason: "gradient has 3 NaN values").description.contains("3 NaN values"))
        #expect(SubmitRejection.conflictingResult(recorded: resultDigest(1)).description.contains(resultDigest(1).hex))
    }
}

@Suite struct StepVerifyTests {
    @Test func anInvalidResultSendsTheUnitBackForAnotherTry() throws {
        var step = try makeSchedule(units: 2)
        let lease = try #require(try step.grant(alice, id: 1, at: 0))
        _ = step.submit(lease: lease.id, worker: alice, resultSHA256: resultDigest(1), now: at(1))
        let outcome = try step.verify(lease: lease.id, verdict: .invalid(reason: "wrong length"))
        #expect(outcome.answer == .rejected(reason: "wrong length"))
        #expect(outcome.changes == [
            .leaseUpdated(Lease(id: lease.id, unit: 0, worker: alice, issuedAt: at(0), deadline: at(60), state: .submitted(
                Submission(resultSHA256: resultDigest(1), submittedAt: at(1), status: .rejected(reason: "wrong length"))))),
            .unitStateChanged(unit: 0, from: .submitted, to: .pending),
        ])
        #expect(step.units[0].rejectedSubmissionCount == 1)
        let retry = try #require(try step.grant(bob, id: 2, at: 2))
        #expect(retry.unit == 0 && !retry.isBackup)
        try step.complete(retry, result: 2, at: 3)
        #expect(step.acceptedResults.map(\.worker) == [bob])
        #expect(step.units[0].rejectedSubmissionCount == 1)
    }

    @Test func aRejectedCopyLeavesTheUnitWithItsRunningTwin() throws {
        var step = try makeSchedule(units: 1, backups: BackupPolicy(maxCopies: 2))
        let first = try #require(try step.grant(alice, id: 1, at: 0))
        let second = try #require(try step.grant(bob, id: 2, at: 1))
        _ = step.submit(lease: first.id, worker: alice, resultSHA256: resultDigest(1), now: at(2))
        let outcome = try step.verify(lease: first.id, verdict: .invalid(reason: "bad"))
        #expect(outcome.changes.last == .unitStateChanged(unit: 0, from: .submitted, to: .leased))
        try step.complete(second, result: 2, at: 3)
        #expect(step.isComplete)
    }

    @Test func theFirstVerdictStands() throws {
        var step = try makeSchedule(units: 2)
        let good = try #require(try step.grant(alice, id: 1, at: 0))
        let bad = try #require(try step.grant(alice, id: 2, at: 0))
        _ = step.submit(lease: good.id, worker: alice, resultSHA256: resultDigest(1), now: at(1))
        _ = step.submit(lease: bad.id, worker: alice, resultSHA256: resultDigest(2), now: at(1))
        let accepted = try step.verify(lease: good.id, verdict: .valid)
        _ = try step.verify(lease: bad.id, verdict: .invalid(reason: "bad"))
        // Verifying again (a retried transaction) answers where the submission ended and writes nothing.
        #expect(try step.verify(lease: good.id, verdict: .valid) == ScheduleOutcome(accepted.answer))
        #expect(try step.verify(lease: good.id, verdict: .invalid(reason: "late doubt")) == ScheduleOutcome(accepted.answer))
        #expect(try step.verify(lease: bad.id, verdict: .valid) == ScheduleOutcome(.rejected(reason: "bad")))
        #expect(step.units.map(\.state) == [.accepted, .pending])
    }

    @Test func verifyingWhatWasNeverSubmittedIsACallerBug() throws {
        var step = try makeSchedule(units: 1)
        let lease = try #require(try step.grant(alice, id: 1, at: 0))
        #expect(throws: StepScheduleError.noSuchLease(leaseID(5))) { try step.verify(lease: leaseID(5), verdict: .valid) }
        #expect(throws: StepScheduleError.nothingSubmitted(lease.id)) { try step.verify(lease: lease.id, verdict: .valid) }
    }
}

@Suite struct StepSupersededTests {
    @Test func theFirstAcceptedCopyWinsAndTheRunningOneIsSuperseded() throws {
        var step = try makeSchedule(units: 1, backups: BackupPolicy(maxCopies: 2))
        let original = try #require(try step.grant(alice, id: 1, at: 0))
        let backup = try #require(try step.grant(bob, id: 2, at: 30))
        #expect(backup.isBackup)
        _ = step.submit(lease: backup.id, worker: bob, resultSHA256: resultDigest(2), now: at(40))
        let verdict = try step.verify(lease: backup.id, verdict: .valid)
        #expect(verdict.changes.contains(.leaseUpdated(Lease(
            id: original.id, unit: 0, worker: alice, issuedAt: at(0), deadline: at(60), state: .superseded))))
        // The straggler finishes after all: told its copy is not needed.
        let late = step.submit(lease: original.id, worker: alice, resultSHA256: resultDigest(1), now: at(50))
        #expect(late == ScheduleOutcome(.superseded(unit: 0)))
        #expect(step.submit(lease: original.id, worker: alice, resultSHA256: resultDigest(1), now: at(51)) == late)
        #expect(step.acceptedResults.map(\.lease) == [backup.id])
    }

    @Test func twoCopiesSubmittedBeforeAnyVerdict() throws {
        var step = try makeSchedule(units: 1, backups: BackupPolicy(maxCopies: 3))
        let a = try #require(try step.grant(alice, id: 1, at: 0))
        let b = try #require(try step.grant(bob, id: 2, at: 1))
        let c = try #require(try step.grant(carol, id: 3, at: 2))
        // Both results are taken (each may be the one that verifies) ...
        #expect(step.submit(lease: a.id, worker: alice, resultSHA256: resultDigest(1), now: at(3)).answer == .accepted(unit: 0))
        #expect(step.submit(lease: b.id, worker: bob, resultSHA256: resultDigest(2), now: at(4)).answer == .accepted(unit: 0))
        // ... the first valid verdict wins; the other submission and the running copy are superseded.
        let winner = try step.verify(lease: b.id, verdict: .valid)
        #expect(winner.answer == .accepted(AcceptedResult(unit: 0, lease: b.id, worker: bob, resultSHA256: resultDigest(2))))
        #expect(winner.changes.count == 4)  // b accepted, a superseded, c superseded, unit accepted
        #expect(step.lease(a.id)?.submission?.status == .superseded)
        #expect(step.lease(c.id)?.state == .superseded)
        // The loser's verdict comes later and changes nothing; its replay says superseded.
        #expect(try step.verify(lease: a.id, verdict: .valid) == ScheduleOutcome(.superseded))
        #expect(step.submit(lease: a.id, worker: alice, resultSHA256: resultDigest(1), now: at(6)) == ScheduleOutcome(.superseded(unit: 0)))
        #expect(step.submit(lease: c.id, worker: carol, resultSHA256: resultDigest(3), now: at(6)) == ScheduleOutcome(.superseded(unit: 0)))
        #expect(step.acceptedResults.count == 1)
    }
}

@Suite struct StepClosedTests {
    @Test func onlyACompleteStepCloses() throws {
        var step = try makeSchedule(units: 3)
        let lease = try #require(try step.grant(alice, id: 1, at: 0))
        try step.complete(lease, result: 1, at: 1)
        #expect(throws: StepScheduleError.closedBeforeComplete(unfinishedUnits: 2)) { try step.close() }
        #expect(!step.isClosed)
    }

    @Test func aClosedStepAnswersReplaysAndTurnsEverythingElseAway() throws {
        var step = try makeSchedule(units: 2, leaseDuration: 60, backups: BackupPolicy(maxCopies: 2))
        let expired = try #require(try step.grant(alice, id: 1, at: 0))
        _ = step.expire(now: at(60))
        let winner = try #require(try step.grant(bob, id: 2, at: 61))       // unit 0
        let other = try #require(try step.grant(bob, id: 3, at: 61))        // unit 1
        let loser = try #require(try step.grant(carol, id: 4, at: 62))      // backup of unit 0
        let rejected = try #require(try step.grant(alice, id: 5, at: 63))   // backup of unit 1
        #expect(loser.isBackup && rejected.isBackup)
        _ = step.submit(lease: rejected.id, worker: alice, resultSHA256: resultDigest(5), now: at(64))
        _ = try step.verify(lease: rejected.id, verdict: .invalid(reason: "bad"))
        try step.complete(winner, result: 2, at: 65)
        try step.complete(other, result: 3, at: 66)
        try step.close()

        func submit(_ lease: Lease, _ result: Int) -> SubmitAnswer {
            step.submit(lease: lease.id, worker: lease.worker, resultSHA256: resultDigest(result), now: at(70)).answer
        }
        #expect(submit(winner, 2) == .accepted(unit: 0))                                  // replay
        #expect(submit(rejected, 5) == .rejected(.invalidResult(reason: "bad")))          // replay
        #expect(submit(winner, 9) == .rejected(.conflictingResult(recorded: resultDigest(2))))  // conflict
        #expect(submit(loser, 4) == .rejected(.stepFinished))
        #expect(submit(expired, 1) == .rejected(.stepFinished))
        #expect(step.submit(lease: winner.id, worker: carol, resultSHA256: resultDigest(2), now: at(70)).answer == .rejected(.foreignLease))
        #expect(step.submit(lease: leaseID(77), worker: carol, resultSHA256: resultDigest(2), now: at(70)).answer == .rejected(.unknownLease))
    }
}
