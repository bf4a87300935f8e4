import Foundation
import KoinonCore
import Testing

@Suite struct LeaseExpiryTests {
    @Test func nothingExpiresBeforeItsDeadline() throws {
        var step = try makeSchedule(units: 2, leaseDuration: 60)
        _ = try step.grant(alice, id: 1, at: 0)
        #expect(step.expire(now: at(59.999)).isEmpty)
        #expect(step.state(ofUnit: 0) == .leased)
    }

    @Test func anExpiredLeaseReturnsItsUnitToPending() throws {
        var step = try makeSchedule(units: 3, leaseDuration: 60)
        _ = try step.grant(alice, id: 1, at: 0)   // deadline 60
        _ = try step.grant(bob, id: 2, at: 10)    // deadline 70
        _ = try step.grant(carol, id: 3, at: 20)  // deadline 80
        let changes = step.expire(now: at(70))
        #expect(changes == [
            .leaseUpdated(Lease(id: leaseID(1), unit: 0, worker: alice, issuedAt: at(0), deadline: at(60), state: .expired)),
            .unitStateChanged(unit: 0, from: .leased, to: .pending),
            .leaseUpdated(Lease(id: leaseID(2), unit: 1, worker: bob, issuedAt: at(10), deadline: at(70), state: .expired)),
            .unitStateChanged(unit: 1, from: .leased, to: .pending),
        ])
        #expect(step.units.map(\.state) == [.pending, .pending, .leased])
        #expect(step.nextDeadline == at(80))
        // Sweeping again finds nothing new.
        #expect(step.expire(now: at(70)).isEmpty)
    }

    @Test func aUnitWithAnotherLiveCopyStaysLeased() throws {
        var step = try makeSchedule(units: 1, leaseDuration: 60, backups: BackupPolicy(maxCopies: 2))
        _ = try step.grant(alice, id: 1, at: 0)
        let backup = try #require(try step.grant(bob, id: 2, at: 30))
        #expect(backup.isBackup)
        let changes = step.expire(now: at(60))
        #expect(changes.count == 1)  // alice's lease; the unit is still bob's
        #expect(step.state(ofUnit: 0) == .leased)
        #expect(step.units[0].activeLeases.map(\.id) == [backup.id])
        #expect(step.expire(now: at(90)).last == .unitStateChanged(unit: 0, from: .leased, to: .pending))
    }

    @Test func submittedAndAcceptedUnitsAreNotReturned() throws {
        var step = try makeSchedule(units: 2, leaseDuration: 60)
        let a = try #require(try step.grant(alice, id: 1, at: 0))
        let b = try #require(try step.grant(bob, id: 2, at: 0))
        _ = step.submit(lease: a.id, worker: alice, resultSHA256: resultDigest(1), now: at(10))
        try step.complete(b, result: 2, at: 11)
        #expect(step.expire(now: at(1_000)).isEmpty)
        #expect(step.units.map(\.state) == [.submitted, .accepted])
    }

    @Test func aSubmittedUnitsExpiredBackupLeavesItSubmitted() throws {
        var step = try makeSchedule(units: 1, leaseDuration: 60, backups: BackupPolicy(maxCopies: 2))
        let first = try #require(try step.grant(alice, id: 1, at: 0))
        _ = try step.grant(bob, id: 2, at: 5)
        _ = step.submit(lease: first.id, worker: alice, resultSHA256: resultDigest(1), now: at(10))
        let changes = step.expire(now: at(65))
        #expect(changes.count == 1)
        #expect(step.state(ofUnit: 0) == .submitted)
        // ... and if verification then refuses the result, the unit is pending again.
        let verdict = try step.verify(lease: first.id, verdict: .invalid(reason: "norm 1e9 above bound"))
        #expect(verdict.answer == .rejected(reason: "norm 1e9 above bound"))
        #expect(verdict.changes.last == .unitStateChanged(unit: 0, from: .submitted, to: .pending))
    }

    @Test func expiryDoesNotTouchClosedLeases() throws {
        var step = try makeSchedule(units: 2, leaseDuration: 60)
        let released = try #require(try step.grant(alice, id: 1, at: 0))
        _ = step.release(lease: released.id, worker: alice, now: at(1))
        #expect(step.expire(now: at(100)).isEmpty)
        #expect(step.lease(released.id)?.state == .released)
    }
}
