import Foundation
import KoinonCore
import Testing

@Suite struct StepBackupTests {
    @Test func withBackupsOffAnIdleWorkerWaits() throws {
        var step = try makeSchedule(units: 1, backups: .disabled)
        _ = try step.grant(alice, id: 1, at: 0)
        #expect(try step.lease(worker: bob, id: leaseID(2), now: at(30)).answer
            == .noWork(retryAfter: 30, reason: .unitsOutstanding))
    }

    @Test func anIdleWorkerBacksUpTheLongestRunningUnit() throws {
        var step = try makeSchedule(units: 3, backups: BackupPolicy(maxCopies: 2))
        let dropped = try #require(try step.grant(alice, id: 1, at: 0))   // unit 0 ...
        _ = try step.grant(bob, id: 2, at: 5)                              // unit 1: soon the oldest lease
        _ = try step.grant(carol, id: 3, at: 10)                           // unit 2
        _ = step.release(lease: dropped.id, worker: alice, now: at(11))    // ... given back
        _ = try step.grant(worker(4), id: 4, at: 12)                       // unit 0 again, leased at 12
        let outcome = try step.lease(worker: worker(5), id: leaseID(5), now: at(20))
        let backup = Lease(id: leaseID(5), unit: 1, worker: worker(5), issuedAt: at(20), deadline: at(80), isBackup: true)
        #expect(outcome.answer == .granted(backup))
        // The unit was leased and stays leased: only the lease row is new.
        #expect(outcome.changes == [.leaseIssued(backup)])
        // The next idle workers back up the next-oldest ones.
        #expect(try step.grant(worker(6), id: 6, at: 21)?.unit == 2)
        #expect(try step.grant(worker(7), id: 7, at: 22)?.unit == 0)
        // Every unit has maxCopies active leases now.
        #expect(try step.grant(worker(8), id: 8, at: 23) == nil)
    }

    @Test func equallyOldUnitsGoLowestIndexFirst() throws {
        var step = try makeSchedule(units: 2, backups: BackupPolicy(maxCopies: 2))
        _ = try step.grant(alice, id: 1, at: 0)
        _ = try step.grant(bob, id: 2, at: 0)
        #expect(try step.grant(carol, id: 3, at: 5)?.unit == 0)
    }

    @Test func pendingUnitsComeBeforeBackups() throws {
        var step = try makeSchedule(units: 2, backups: BackupPolicy(maxCopies: 3))
        _ = try step.grant(alice, id: 1, at: 0)
        let next = try #require(try step.grant(bob, id: 2, at: 50))
        #expect(next.unit == 1 && !next.isBackup)
    }

    @Test func aWorkerIsNeverGivenASecondCopyOfItsOwnUnit() throws {
        var step = try makeSchedule(units: 2, backups: BackupPolicy(maxCopies: 3))
        _ = try step.grant(alice, id: 1, at: 0)   // unit 0
        _ = try step.grant(bob, id: 2, at: 5)     // unit 1
        // Alice's best candidate (unit 0) is her own: she gets unit 1 instead.
        #expect(try step.grant(alice, id: 3, at: 10)?.unit == 1)
        // Now alice holds both units: nothing for her.
        #expect(try step.grant(alice, id: 4, at: 11) == nil)
        // Bob can still back up unit 0.
        #expect(try step.grant(bob, id: 5, at: 12)?.unit == 0)
    }

    @Test func anExpiredLeaseOfTheSameWorkerDoesNotBlockABackup() throws {
        var step = try makeSchedule(units: 1, leaseDuration: 60, backups: BackupPolicy(maxCopies: 2))
        _ = try step.grant(alice, id: 1, at: 0)
        _ = try step.grant(bob, id: 2, at: 30)    // backup
        _ = step.expire(now: at(60))              // alice's copy expires; bob's runs on
        let again = try #require(try step.grant(alice, id: 3, at: 61))
        #expect(again.isBackup && again.unit == 0)
    }

    @Test func unitsAwaitingAVerdictAreNotBackedUp() throws {
        var step = try makeSchedule(units: 2, backups: BackupPolicy(maxCopies: 2))
        let a = try #require(try step.grant(alice, id: 1, at: 0))
        _ = try step.grant(bob, id: 2, at: 5)
        _ = step.submit(lease: a.id, worker: alice, resultSHA256: resultDigest(1), now: at(6))
        #expect(try step.grant(carol, id: 3, at: 7)?.unit == 1)
        #expect(try step.grant(worker(4), id: 4, at: 8) == nil)
    }

    @Test func backupsOnlyForTheLastFewUnits() throws {
        var step = try makeSchedule(units: 3, backups: BackupPolicy(maxCopies: 2, maxOutstandingUnits: 2))
        let first = try #require(try step.grant(alice, id: 1, at: 0))
        _ = try step.grant(bob, id: 2, at: 0)
        _ = try step.grant(carol, id: 3, at: 0)
        // Three unfinished units: not near the end yet.
        #expect(try step.grant(worker(4), id: 4, at: 1) == nil)
        try step.complete(first, result: 1, at: 2)
        // Two left: now idle workers may back them up.
        let backup = try #require(try step.grant(worker(4), id: 4, at: 3))
        #expect(backup.isBackup && backup.unit == 1)
    }

    @Test func freshLeasesAreNotBackedUpUntilOldEnough() throws {
        var step = try makeSchedule(units: 1, leaseDuration: 60,
                                    backups: BackupPolicy(maxCopies: 2, minimumLeaseAge: 20), retryAfter: 1...30)
        _ = try step.grant(alice, id: 1, at: 0)
        // At 5 s the unit may be backed up in 15 s, sooner than its deadline (60 s).
        #expect(try step.lease(worker: bob, id: leaseID(2), now: at(5)).answer
            == .noWork(retryAfter: 15, reason: .unitsOutstanding))
        #expect(try step.grant(bob, id: 2, at: 19.9) == nil)
        #expect(try step.grant(bob, id: 2, at: 20)?.isBackup == true)
    }

    @Test func theOldestActiveLeaseDecidesAfterTheFirstCopyExpired() throws {
        var step = try makeSchedule(units: 2, leaseDuration: 60, backups: BackupPolicy(maxCopies: 3))
        _ = try step.grant(alice, id: 1, at: 0)    // unit 0, expires at 60
        _ = try step.grant(bob, id: 2, at: 30)     // unit 1
        _ = try step.grant(carol, id: 3, at: 40)   // backup of unit 0 (oldest lease: 0 s)
        _ = step.expire(now: at(60))
        // Unit 0's oldest *active* lease is now carol's (40 s), younger than bob's on unit 1 (30 s).
        #expect(try step.grant(worker(4), id: 4, at: 61)?.unit == 1)
    }
}
