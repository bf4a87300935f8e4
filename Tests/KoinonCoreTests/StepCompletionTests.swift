import Foundation
import KoinonCore
import NeoModel
import Testing

@Suite struct StepCompletionTests {
    @Test func resultsAreListedInUnitOrderWhateverOrderTheyCameIn() throws {
        var step = try makeSchedule(units: 3)
        let leases = try (0..<3).map { try #require(try step.grant(worker($0), id: $0, at: 0)) }
        try step.complete(leases[2], result: 12, at: 1)
        #expect(!step.isComplete)
        try step.complete(leases[0], result: 10, at: 2)
        #expect(step.acceptedResults.map(\.unit) == [0, 2])
        try step.complete(leases[1], result: 11, at: 3)
        #expect(step.isComplete)
        #expect(step.unitStateCounts == UnitStateCounts(accepted: 3))
        #expect(step.acceptedResults == (0..<3).map {
            AcceptedResult(unit: $0, lease: leaseID($0), worker: worker($0), resultSHA256: resultDigest(10 + $0))
        })
    }

    /// Random workers doing random things at random times, over runs of
    /// steps. After every call, the changes it returned are applied to a
    /// stand-in "database"; a schedule rebuilt from that database must equal
    /// the live one, so the changes are always complete. The rules'
    /// invariants must hold throughout, and every step must still finish.
    @Test func randomTrafficKeepsTheInvariantsAndTheStoredCopyInStep() throws {
        var coverage = TrafficCoverage()
        for seed in 1...8 as ClosedRange<UInt64> {
            try simulateRandomTraffic(seed: seed, coverage: &coverage)
        }
        // The traffic reached every way a lease can end, backups and rejections included.
        #expect(coverage.leaseStates == ["expired", "released", "superseded", "submitted"])
        #expect(coverage.backups > 0 && coverage.rejections > 0)
        #expect(coverage.steps == 8 * 16)
    }

    private func simulateRandomTraffic(seed: UInt64, coverage: inout TrafficCoverage) throws {
        var random = RandomSource(seed: seed)
        let configuration = try ScheduleConfiguration(
            leaseDuration: 60, backups: BackupPolicy(maxCopies: 2, minimumLeaseAge: 5))
        var now: TimeInterval = 0
        var nextID = 0
        var stepsFinished = 0
        let workers = (1...5).map(worker)

        func pick<T>(_ items: [T]) -> T? {
            items.isEmpty ? nil : items[Int(random.next() % UInt64(items.count))]
        }

        while stepsFinished < 16 {
            let unitCount = 1 + Int(random.next() % 6)
            var step = try StepSchedule(step: stepsFinished, unitCount: unitCount, configuration: configuration)
            var database = StoredStep(unitCount: unitCount)
            var firstAccepted: [Int: AcceptedResult] = [:]
            var events = 0
            while !step.isComplete {
                events += 1
                try #require(events < 2_000, "step \(stepsFinished) never finished")
                now += Double(random.next() % 20)
                let all = step.units.flatMap(\.leases)
                // Mostly leases still running (where the action is), sometimes any lease at all.
                let leases = random.next() % 4 == 0 ? all : all.filter(\.isActive)
                switch random.next() % 8 {
                case 0, 1:
                    nextID += 1
                    try database.apply(step.lease(worker: pick(workers)!, id: leaseID(nextID), now: at(now)).changes)
                case 2:
                    guard let lease = pick(leases) else { continue }
                    // Now and then someone else's worker, to exercise the foreign answers.
                    let sender = random.next() % 8 == 0 ? pick(workers)! : lease.worker
                    try database.apply(step.heartbeat(lease: lease.id, worker: sender, now: at(now)).changes)
                case 3, 4:
                    guard let lease = pick(leases) else { continue }
                    // Mostly the lease's one true result (a replay when sent twice); sometimes a conflicting one.
                    let result = random.next() % 6 == 0 ? 100_000 + nextID : Int(lease.id.uuid.uuid.14) << 8 | Int(lease.id.uuid.uuid.15)
                    try database.apply(step.submit(lease: lease.id, worker: lease.worker,
                                                   resultSHA256: resultDigest(result), now: at(now)).changes)
                case 5:
                    // Mostly results awaiting their verdict; sometimes a repeated verdict.
                    let candidates = random.next() % 4 == 0
                        ? all.filter { $0.submission != nil }
                        : all.filter { $0.submission?.status == .awaitingVerification }
                    guard let lease = pick(candidates) else { continue }
                    let verdict: Verdict = random.next() % 3 == 0 ? .invalid(reason: "random doubt") : .valid
                    try database.apply(step.verify(lease: lease.id, verdict: verdict).changes)
                case 6:
                    guard let lease = pick(leases) else { continue }
                    try database.apply(step.release(lease: lease.id, worker: lease.worker, now: at(now)).changes)
                default:
                    try database.apply(step.expire(now: at(now)))
                }
                try checkInvariants(step, database: database, firstAccepted: &firstAccepted)
            }
            #expect(step.acceptedResults.map(\.unit) == Array(0..<unitCount))
            try step.close()
            let restored = try database.restore(step: step.step, configuration: configuration, isClosed: true)
            #expect(restored == step)
            let leases = step.units.flatMap(\.leases)
            coverage.leaseStates.formUnion(leases.map(\.state.name))
            coverage.backups += leases.count(where: \.isBackup)
            coverage.rejections += step.units.map(\.rejectedSubmissionCount).reduce(0, +)
            coverage.steps += 1
            stepsFinished += 1
        }
    }

    private func checkInvariants(
        _ step: StepSchedule, database: StoredStep, firstAccepted: inout [Int: AcceptedResult]
    ) throws {
        #expect(step.unitStateCounts.total == step.unitCount)
        #expect(step.acceptedResults.map(\.unit) == step.acceptedResults.map(\.unit).sorted())
        for unit in step.units {
            #expect(unit.activeLeases.count <= step.configuration.backups.maxCopies)
            #expect(unit.leases.allSatisfy { $0.unit == unit.index })
            if let accepted = unit.acceptedResult {
                #expect(unit.state == .accepted)
                #expect(unit.activeLeases.isEmpty, "an accepted unit has no running copies")
                #expect(!unit.leases.contains { $0.submission?.status == .awaitingVerification })
                // Once accepted, a unit's result never changes.
                if let earlier = firstAccepted[unit.index] { #expect(earlier == accepted) }
                firstAccepted[unit.index] = accepted
            }
            #expect(database.unitStates[unit.index] == unit.state, "stored unit state follows the changes")
        }
        let restored = try database.restore(step: step.step, configuration: step.configuration)
        for (live, stored) in zip(step.units, restored.units) {
            #expect(Set(live.leases) == Set(stored.leases), "unit \(live.index): stored leases differ")
            #expect(live.state == stored.state)
        }
    }
}

struct TrafficCoverage {
    var leaseStates: Set<String> = []
    var backups = 0
    var rejections = 0
    var steps = 0
}

/// What a repository would hold after writing every change it was given.
struct StoredStep {
    var leases: [LeaseID: Lease] = [:]
    var unitStates: [UnitState]

    init(unitCount: Int) { unitStates = Array(repeating: .pending, count: unitCount) }

    mutating func apply(_ changes: [ScheduleChange]) throws {
        for change in changes {
            switch change {
            case .leaseIssued(let lease):
                try #require(leases[lease.id] == nil, "issued twice: \(lease.id)")
                leases[lease.id] = lease
            case .leaseUpdated(let lease):
                try #require(leases[lease.id] != nil, "updated before issued: \(lease.id)")
                leases[lease.id] = lease
            case .unitStateChanged(let unit, let from, let to):
                try #require(unitStates[unit] == from, "unit \(unit) changed from \(from) but was \(unitStates[unit])")
                try #require(from != to)
                unitStates[unit] = to
            }
        }
    }

    func restore(step: Int, configuration: ScheduleConfiguration, isClosed: Bool = false) throws -> StepSchedule {
        try StepSchedule(step: step, unitCount: unitStates.count, configuration: configuration,
                         restoring: Array(leases.values), isClosed: isClosed)
    }
}
