import Foundation
import KoinonCore
import Testing

@Suite struct LeaseHeartbeatTests {
    @Test func aHeartbeatExtendsTheLeaseFromNow() throws {
        var step = try makeSchedule(units: 1, leaseDuration: 60)
        let lease = try #require(try step.grant(alice, id: 1, at: 0))
        let outcome = step.heartbeat(lease: lease.id, worker: alice, now: at(20))
        #expect(outcome.answer == .extended(deadline: at(80)))
        let extended = Lease(id: lease.id, unit: 0, worker: alice, issuedAt: at(0), deadline: at(80))
        #expect(outcome.changes == [.leaseUpdated(extended)])
        #expect(step.lease(lease.id)?.deadline == at(80))
        // Heartbeats keep a lease alive past its first deadline indefinitely.
        #expect(step.heartbeat(lease: lease.id, worker: alice, now: at(79)).answer == .extended(deadline: at(139)))
        #expect(step.heartbeat(lease: lease.id, worker: alice, now: at(130)).answer == .extended(deadline: at(190)))
        #expect(step.state(ofUnit: 0) == .leased)
    }

    @Test func aHeartbeatNeverShortensALease() throws {
        // A lease stored with a longer deadline (say, under an older, longer lease duration).
        let stored = Lease(id: leaseID(1), unit: 0, worker: alice, issuedAt: at(0), deadline: at(500))
        var step = try StepSchedule(step: 1, unitCount: 1, configuration: ScheduleConfiguration(leaseDuration: 60),
                                    restoring: [stored])
        let outcome = step.heartbeat(lease: stored.id, worker: alice, now: at(10))
        #expect(outcome.answer == .extended(deadline: at(500)))
        #expect(outcome.changes.isEmpty)
    }

    @Test func unknownAndForeignLeasesAreRefusedWithoutChanges() throws {
        var step = try makeSchedule(units: 1)
        let lease = try #require(try step.grant(alice, id: 1, at: 0))
        let unknown = step.heartbeat(lease: leaseID(42), worker: alice, now: at(1))
        #expect(unknown == ScheduleOutcome(.stop(.unknownLease)))
        let foreign = step.heartbeat(lease: lease.id, worker: bob, now: at(1))
        #expect(foreign == ScheduleOutcome(.stop(.foreignLease)))
        #expect(step.lease(lease.id)?.deadline == at(60))
    }

    @Test func aHeartbeatAtOrAfterTheDeadlineFindsTheLeaseExpired() throws {
        var step = try makeSchedule(units: 1, leaseDuration: 60)
        let lease = try #require(try step.grant(alice, id: 1, at: 0))
        // No sweep ran: the heartbeat itself expires the lease and frees the unit.
        let late = step.heartbeat(lease: lease.id, worker: alice, now: at(60))
        #expect(late.answer == .stop(.leaseExpired(deadline: at(60))))
        #expect(late.changes == [
            .leaseUpdated(Lease(id: lease.id, unit: 0, worker: alice, issuedAt: at(0), deadline: at(60), state: .expired)),
            .unitStateChanged(unit: 0, from: .leased, to: .pending),
        ])
        // Asking again gives the same answer and changes nothing more.
        #expect(step.heartbeat(lease: lease.id, worker: alice, now: at(61)) == ScheduleOutcome(.stop(.leaseExpired(deadline: at(60)))))
        #expect(step.state(ofUnit: 0) == .pending)
    }

    @Test func finishedLeasesEachGetTheirOwnStopReason() throws {
        var step = try makeSchedule(units: 2, backups: BackupPolicy(maxCopies: 2))
        let released = try #require(try step.grant(alice, id: 1, at: 0))
        let submitted = try #require(try step.grant(alice, id: 2, at: 0))
        _ = step.release(lease: released.id, worker: alice, now: at(1))
        _ = step.submit(lease: submitted.id, worker: alice, resultSHA256: resultDigest(1), now: at(2))
        #expect(step.heartbeat(lease: released.id, worker: alice, now: at(3)).answer == .stop(.leaseReleased))
        #expect(step.heartbeat(lease: submitted.id, worker: alice, now: at(3)).answer == .stop(.resultSubmitted))

        // A backup copy whose twin was accepted is told the unit is finished.
        let backup = try #require(try step.grant(bob, id: 4, at: 4))   // unit 0 is pending again
        #expect(backup.unit == 0 && !backup.isBackup)
        let twin = try #require(try step.grant(carol, id: 5, at: 5))
        #expect(twin.isBackup)
        try step.complete(backup, result: 2, at: 6)
        #expect(step.lease(twin.id)?.state == .superseded)
        #expect(step.heartbeat(lease: twin.id, worker: carol, now: at(7)) == ScheduleOutcome(.stop(.unitFinished)))
    }

    @Test func everyLeaseOfAClosedStepIsToldTheStepIsFinished() throws {
        var step = try makeSchedule(units: 1, backups: BackupPolicy(maxCopies: 2))
        let lease = try #require(try step.grant(alice, id: 1, at: 0))
        let copy = try #require(try step.grant(bob, id: 2, at: 1))
        try step.complete(lease, result: 1, at: 2)
        try step.close()
        #expect(step.heartbeat(lease: copy.id, worker: bob, now: at(3)) == ScheduleOutcome(.stop(.stepFinished)))
        #expect(step.heartbeat(lease: lease.id, worker: alice, now: at(3)).answer == .stop(.stepFinished))
        #expect(step.heartbeat(lease: lease.id, worker: carol, now: at(3)).answer == .stop(.foreignLease))
        #expect(step.heartbeat(lease: leaseID(9), worker: alice, now: at(3)).answer == .stop(.unknownLease))
    }

    @Test func refusalCodesAreDistinctAndMessagesSayWhy() {
        let refusals: [LeaseRefusal] = [
            .unknownLease, .foreignLease, .leaseExpired(deadline: at(60)), .leaseReleased,
            .resultSubmitted, .unitFinished, .stepFinished,
        ]
        #expect(Set(refusals.map(\.code)).count == refusals.count)
        #expect(refusals.map(\.code) == [
            "unknown_lease", "foreign_lease", "lease_expired", "lease_released",
            "result_submitted", "unit_finished", "step_finished",
        ])
        #expect(LeaseRefusal.leaseExpired(deadline: at(60)).description.contains("2023-11-14T22:14:20Z"))
        #expect(refusals.allSatisfy { !$0.description.isEmpty })
    }
}

@Suite struct LeaseReleaseTests {
    @Test func releasingReturnsTheUnitToPending() throws {
        var step = try makeSchedule(units: 1)
        let lease = try #require(try step.grant(alice, id: 1, at: 0))
        let outcome = step.release(lease: lease.id, worker: alice, now: at(5))
        #expect(outcome.answer == .released)
        #expect(outcome.changes == [
            .leaseUpdated(Lease(id: lease.id, unit: 0, worker: alice, issuedAt: at(0), deadline: at(60), state: .released)),
            .unitStateChanged(unit: 0, from: .leased, to: .pending),
        ])
        // Idempotent: a retried release is answered the same and writes nothing.
        #expect(step.release(lease: lease.id, worker: alice, now: at(6)) == ScheduleOutcome(.released))
    }

    @Test func releasingOneCopyLeavesTheUnitWithTheOther() throws {
        var step = try makeSchedule(units: 1, backups: BackupPolicy(maxCopies: 2))
        let first = try #require(try step.grant(alice, id: 1, at: 0))
        _ = try step.grant(bob, id: 2, at: 1)
        let outcome = step.release(lease: first.id, worker: alice, now: at(2))
        #expect(outcome.answer == .released)
        #expect(outcome.changes.count == 1)  // the lease only: the unit stays leased
        #expect(step.state(ofUnit: 0) == .leased)
    }

    @Test func whatCannotBeReleased() throws {
        var step = try makeSchedule(units: 2, leaseDuration: 60, backups: BackupPolicy(maxCopies: 2))
        let lease = try #require(try step.grant(alice, id: 1, at: 0))
        #expect(step.release(lease: leaseID(7), worker: alice, now: at(1)) == ScheduleOutcome(.refused(.unknownLease)))
        #expect(step.release(lease: lease.id, worker: bob, now: at(1)) == ScheduleOutcome(.refused(.foreignLease)))
        #expect(step.state(ofUnit: 0) == .leased)

        // Past the deadline the lease has expired; releasing records that, and says so.
        let late = step.release(lease: lease.id, worker: alice, now: at(60))
        #expect(late.answer == .refused(.leaseExpired(deadline: at(60))))
        #expect(late.changes.count == 2)
        #expect(step.release(lease: lease.id, worker: alice, now: at(61)) == ScheduleOutcome(.refused(.leaseExpired(deadline: at(60)))))

        let submitted = try #require(try step.grant(alice, id: 2, at: 100))
        _ = step.submit(lease: submitted.id, worker: alice, resultSHA256: resultDigest(1), now: at(101))
        #expect(step.release(lease: submitted.id, worker: alice, now: at(102)).answer == .refused(.resultSubmitted))

        let original = try #require(try step.grant(alice, id: 3, at: 110))
        let copy = try #require(try step.grant(bob, id: 4, at: 111))
        #expect(original.unit == copy.unit && copy.isBackup)
        try step.complete(original, result: 2, at: 112)
        #expect(step.release(lease: copy.id, worker: bob, now: at(113)).answer == .refused(.unitFinished))
    }
}
