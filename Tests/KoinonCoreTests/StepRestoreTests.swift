import Foundation
import KoinonCore
import Testing

@Suite struct StepRestoreTests {
    @Test func aStepRebuiltFromItsLeasesInAnyOrderEqualsTheLiveOne() throws {
        var live = try makeSchedule(units: 3, backups: BackupPolicy(maxCopies: 2))
        let a = try #require(try live.grant(alice, id: 1, at: 0))
        _ = try live.grant(bob, id: 2, at: 1)
        _ = try live.grant(carol, id: 3, at: 2)
        _ = try live.grant(worker(4), id: 4, at: 3)   // backup of unit 0
        try live.complete(a, result: 1, at: 4)
        _ = live.release(lease: leaseID(3), worker: carol, now: at(5))
        let leases = live.units.flatMap(\.leases)
        let rebuilt = try StepSchedule(step: live.step, unitCount: 3, configuration: live.configuration,
                                       restoring: leases.reversed())
        #expect(rebuilt == live)
        #expect(rebuilt.units.map(\.state) == [.accepted, .leased, .pending])
        #expect(rebuilt.lease(leaseID(4))?.state == .superseded)
    }

    @Test func rebuiltStepsGoOnAsTheLiveOneWould() throws {
        var live = try makeSchedule(units: 2)
        _ = try live.grant(alice, id: 1, at: 0)
        var rebuilt = try StepSchedule(step: 7, unitCount: 2, configuration: live.configuration,
                                       restoring: live.units.flatMap(\.leases))
        #expect(try rebuilt.lease(worker: bob, id: leaseID(2), now: at(1)) == live.lease(worker: bob, id: leaseID(2), now: at(1)))
        #expect(throws: StepScheduleError.duplicateLeaseID(leaseID(1))) {
            try rebuilt.lease(worker: bob, id: leaseID(1), now: at(2))
        }
    }

    @Test func inconsistentRowsAreRefused() throws {
        let configuration = try ScheduleConfiguration(leaseDuration: 60)
        func lease(_ id: Int, unit: Int, state: LeaseState = .active) -> Lease {
            Lease(id: leaseID(id), unit: unit, worker: alice, issuedAt: at(0), deadline: at(60), state: state)
        }
        let accepted = LeaseState.submitted(Submission(resultSHA256: resultDigest(1), submittedAt: at(1), status: .accepted))
        #expect(throws: StepScheduleError.leaseUnitOutOfRange(lease: leaseID(1), unit: 2, unitCount: 2)) {
            try StepSchedule(step: 0, unitCount: 2, configuration: configuration, restoring: [lease(1, unit: 2)])
        }
        #expect(throws: StepScheduleError.leaseUnitOutOfRange(lease: leaseID(1), unit: -1, unitCount: 2)) {
            try StepSchedule(step: 0, unitCount: 2, configuration: configuration, restoring: [lease(1, unit: -1)])
        }
        #expect(throws: StepScheduleError.duplicateLeaseID(leaseID(1))) {
            try StepSchedule(step: 0, unitCount: 2, configuration: configuration, restoring: [lease(1, unit: 0), lease(1, unit: 1)])
        }
        #expect(throws: StepScheduleError.multipleAcceptedResults(unit: 0)) {
            try StepSchedule(step: 0, unitCount: 1, configuration: configuration,
                             restoring: [lease(1, unit: 0, state: accepted), lease(2, unit: 0, state: accepted)])
        }
        #expect(throws: StepScheduleError.closedBeforeComplete(unfinishedUnits: 1)) {
            try StepSchedule(step: 0, unitCount: 2, configuration: configuration,
                             restoring: [lease(1, unit: 0, state: accepted)], isClosed: true)
        }
        #expect(throws: StepScheduleError.leaseOfAnotherUnit(lease: leaseID(1), unit: 1, expected: 0)) {
            try UnitSchedule(index: 0, leases: [lease(1, unit: 1)])
        }
        let closed = try StepSchedule(step: 0, unitCount: 1, configuration: configuration,
                                      restoring: [lease(1, unit: 0, state: accepted)], isClosed: true)
        #expect(closed.isClosed && closed.isComplete)
    }

    @Test func aSingleUnitCanBeDrivenOnItsOwn() throws {
        // A repository that locks one unit's rows can run the unit's rules without the whole step.
        var unit = try UnitSchedule(index: 3, leases: [
            Lease(id: leaseID(1), unit: 3, worker: alice, issuedAt: at(0), deadline: at(60)),
        ])
        #expect(unit.state == .leased)
        #expect(unit.heartbeat(lease: leaseID(1), worker: alice, now: at(10), leaseDuration: 60).answer == .extended(deadline: at(70)))
        #expect(unit.submit(lease: leaseID(1), worker: alice, resultSHA256: resultDigest(1), now: at(20)).answer == .accepted(unit: 3))
        #expect(try unit.verify(lease: leaseID(1), verdict: .valid).changes.last
            == .unitStateChanged(unit: 3, from: .submitted, to: .accepted))
        #expect(unit.expire(now: at(1_000)).isEmpty)
        #expect(unit.release(lease: leaseID(2), worker: alice, now: at(1_000)).answer == .refused(.unknownLease))
    }

    @Test func stateNamesForTheDatabase() {
        #expect(UnitState.allCases.map(\.rawValue) == ["pending", "leased", "submitted", "accepted"])
        let submission = Submission(resultSHA256: resultDigest(1), submittedAt: at(0))
        #expect([LeaseState.active, .expired, .released, .superseded, .submitted(submission)].map(\.name)
            == ["active", "expired", "released", "superseded", "submitted"])
        #expect([SubmissionStatus.awaitingVerification, .accepted, .rejected(reason: "x"), .superseded].map(\.name)
            == ["awaiting_verification", "accepted", "rejected", "superseded"])
    }

    @Test func identifiersAndDigestsParse() {
        let text = "0F1E2D3C-4B5A-4978-8695-A4B3C2D1E0F9"
        #expect(LeaseID(text)?.description == text.lowercased())
        #expect(WorkerID(text)?.description == text.lowercased())
        #expect(LeaseID("not-a-uuid") == nil)
        #expect(WorkerID("") == nil)
        let hex = String(repeating: "ab", count: 32)
        #expect(ResultDigest(hex: hex.uppercased()) == ResultDigest(hex: hex))
        #expect(ResultDigest(hex: hex)?.hex == hex)
        #expect(ResultDigest(hex: String(hex.dropLast())) == nil)
        #expect(ResultDigest(hex: hex + "0") == nil)
        #expect(ResultDigest(hex: String(repeating: "g", count: 64)) == nil)
        #expect(ResultDigest(hex: String(repeating: "é", count: 32)) == nil)
    }

    @Test func digestsAreCodableAsTheirHex() throws {
        let hex = String(repeating: "0a", count: 32)
        let encoded = try JSONEncoder().encode([ResultDigest(hex: hex)!])
        #expect(String(decoding: encoded, as: UTF8.self) == "[\"\(hex)\"]")
        #expect(try JSONDecoder().decode([ResultDigest].self, from: encoded) == [ResultDigest(hex: hex)!])
        #expect(throws: DecodingError.self) { try JSONDecoder().decode([ResultDigest].self, from: Data("[\"abc\"]".utf8)) }
    }
}
