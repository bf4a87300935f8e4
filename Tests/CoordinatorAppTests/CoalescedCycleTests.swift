import CoordinatorApp
import Foundation
import Logging
import Testing
import Wire

/// Many workers claiming and submitting at once against a real PostgreSQL:
/// the claims and results that coalesce into one statement each still get a
/// unit of their own and their own answer.
@Suite struct CoalescedCycleTests {
    /// TinyRun's model, 48 one-sequence units per step.
    static let yaml = TinyRun.yaml(steps: 3)
        .replacingOccurrences(of: "global_sequences: 6", with: "global_sequences: 48")
        .replacingOccurrences(of: "sequences_per_unit: 2", with: "sequences_per_unit: 1")

    /// What each test starts from: a fresh database's coordinator, a run of `yaml` (its
    /// first step open), `workers` registered workers and the blob of an all-zero result.
    struct Start {
        var coordinator: Coordinator
        var run: Int
        var workers: [UUID]
        var zeros: String
    }

    static func withStart(workers count: Int, function: String = #function,
                          _ body: (Start) async throws -> Void) async throws {
        try await TestDatabase.withFresh(migrated: true, function: function) { db in
            let blobs = try BlobStore(root: try TestDatabase.scratchDirectory("blobs"))
            let coordinator = Coordinator(db: db.client, blobs: blobs, settings: CoordinatorSettings(), logger: Logger(label: "test"))
            let run = try await coordinator.createRun(yaml: Self.yaml, baseDirectory: TinyRun.directory)
            var workers: [UUID] = []
            for i in 0..<count {
                workers.append(try await coordinator.workers.register(name: "w\(i)", backend: "cpu", threads: 1, version: "0", address: "").id)
            }
            let zeros = Data(TensorPayload(values: [Float](repeating: 0, count: try await coordinator.runInfo(run).parameterCount)).encoded())
            try await body(Start(coordinator: coordinator, run: run, workers: workers, zeros: try blobs.put(zeros)))
        }
    }

    @Test func concurrentClaimsGetDistinctUnitsAndConcurrentResultsCompleteTheStepOnce() async throws {
        try await Self.withStart(workers: 60) { start in
            let (coordinator, run, workers, sha) = (start.coordinator, start.run, start.workers, start.zeros)
            // 60 workers ask at once for 48 units: each unit goes to exactly one of them.
            let grants = try await withThrowingTaskGroup(of: (UUID, LeaseGrant?).self) { group in
                for worker in workers {
                    group.addTask { (worker, try await coordinator.leases.claim(worker: worker, leaseSeconds: 60, maxCopies: 1)) }
                }
                return try await group.reduce(into: [(UUID, LeaseGrant)]()) { out, claim in
                    if let grant = claim.1 { out.append((claim.0, grant)) }
                }
            }
            #expect(grants.count == 48)
            #expect(Set(grants.map(\.1.unit)) == Set(0..<48))
            #expect(Set(grants.map(\.1.leaseID)).count == 48)
            #expect(grants.allSatisfy { $0.1.step == 0 && $0.1.runID == run && !$0.1.isBackup })
            // Their results, all at once: every one accepted, and exactly one completes the step.
            func submitAll() async throws -> [SubmitOutcome] {
                try await withThrowingTaskGroup(of: SubmitOutcome.self) { group in
                    for (worker, grant) in grants {
                        group.addTask {
                            try await coordinator.leases.submit(lease: grant.leaseID, worker: worker, payload: sha, loss: 1, tokens: 16)
                        }
                    }
                    return try await group.reduce(into: []) { $0.append($1) }
                }
            }
            let first = try await submitAll()
            #expect(first.filter { $0 == .accepted(stepComplete: true) }.count == 1)
            #expect(first.filter { $0 == .accepted(stepComplete: false) }.count == 47)
            // The same results again get the same answer (and complete nothing twice).
            #expect(try await submitAll().allSatisfy { $0 == .accepted(stepComplete: false) })
            // A lease submitted by another worker: its own answer within a batch.
            let (owner, grant) = grants[0]
            let stranger = try #require(workers.first { $0 != owner && !grants.map(\.0).contains($0) })
            #expect(try await coordinator.leases.submit(lease: grant.leaseID, worker: stranger, payload: sha, loss: 1, tokens: 16)
                    == .foreignLease)
        }
    }

    /// A result that asks for the worker's next unit gets it from the statement that records
    /// the result (migration 0009): accepted results each get a pending unit of their own, the
    /// result that completes the step and results once nothing is pending get none.
    @Test func resultsClaimTheirWorkersNextUnitsInTheirOwnStatement() async throws {
        try await Self.withStart(workers: 24) { start in
            let (coordinator, run, workers, sha) = (start.coordinator, start.run, start.workers, start.zeros)
            var grants: [(UUID, LeaseGrant)] = []
            for worker in workers {
                grants.append((worker, try #require(try await coordinator.leases.claim(worker: worker, leaseSeconds: 60, maxCopies: 1))))
            }
            // 24 units are still pending; a claim told that pending units were just tried leaves them.
            #expect(try await coordinator.leases.claim(worker: workers[0], leaseSeconds: 60, maxCopies: 1, pendingTried: true) == nil)
            func submitAll(_ held: [(UUID, LeaseGrant)]) async throws -> [(UUID, SubmitOutcome, LeaseGrant?)] {
                try await withThrowingTaskGroup(of: (UUID, SubmitOutcome, LeaseGrant?).self) { group in
                    for (worker, grant) in held {
                        group.addTask {
                            let (outcome, next) = try await coordinator.leases.submitClaimingNext(
                                lease: grant.leaseID, worker: worker, payload: sha, loss: 1, tokens: 16, nextLeaseSeconds: 60)
                            return (worker, outcome, next)
                        }
                    }
                    return try await group.reduce(into: []) { $0.append($1) }
                }
            }
            // Round one: every result accepted, each bringing one of the 24 pending units.
            let first = try await submitAll(grants)
            #expect(first.allSatisfy { $0.1 == .accepted(stepComplete: false) })
            let nextUnits = first.compactMap(\.2)
            #expect(nextUnits.count == 24)
            #expect(Set(nextUnits.map(\.unit)) == Set(24..<48))
            #expect(nextUnits.allSatisfy { $0.runID == run && $0.step == 0 && !$0.isBackup })
            // The claimed units are leased like any other: their results are accepted.
            let second = try await submitAll(first.map { ($0.0, try #require($0.2)) })
            #expect(second.filter { $0.1 == .accepted(stepComplete: true) }.count == 1)
            #expect(second.filter { $0.1 == .accepted(stepComplete: false) }.count == 23)
            // Nothing was pending (nor is, until the step is applied): no result brought a unit.
            #expect(second.allSatisfy { $0.2 == nil })
        }
    }

    @Test func aResultThatFailsInsideABatchFailsAloneAndTheOthersAreRecorded() async throws {
        try await Self.withStart(workers: 1) { start in
            let (coordinator, worker, sha) = (start.coordinator, start.workers[0], start.zeros)
            var grants: [LeaseGrant] = []
            for _ in 0..<24 { grants.append(try #require(try await coordinator.leases.claim(worker: worker, leaseSeconds: 60, maxCopies: 1))) }
            // One result's token count does not fit the table's column: PostgreSQL refuses the
            // statement, so the batch it came in is redone result by result.
            let outcomes = await withTaskGroup(of: (Int, Result<SubmitOutcome, any Error>).self) { group in
                for (i, grant) in grants.enumerated() {
                    group.addTask {
                        do {
                            return (i, .success(try await coordinator.leases.submit(
                                lease: grant.leaseID, worker: worker, payload: sha, loss: 1, tokens: i == 5 ? Int.max : 16)))
                        } catch { return (i, .failure(error)) }
                    }
                }
                return await group.reduce(into: [Int: Result<SubmitOutcome, any Error>]()) { $0[$1.0] = $1.1 }
            }
            for (i, outcome) in outcomes {
                if i == 5 {
                    #expect(throws: (any Error).self) { try outcome.get() }
                } else {
                    #expect(try outcome.get() == .accepted(stepComplete: false))
                }
            }
            // The refused result's lease is still open: a correct submission is accepted.
            #expect(try await coordinator.leases.submit(lease: grants[5].leaseID, worker: worker, payload: sha, loss: 1, tokens: 16)
                    == .accepted(stepComplete: false))
        }
    }

    /// A batch whose statement fails is recorded again result by result, each with the
    /// claim its worker asked for: the accepted results still bring their next units.
    @Test func aFailedBatchRecordedOneByOneStillClaimsEachResultsNextUnit() async throws {
        try await Self.withStart(workers: 12) { start in
            let (coordinator, workers, sha) = (start.coordinator, start.workers, start.zeros)
            var grants: [(UUID, LeaseGrant)] = []
            for worker in workers {
                grants.append((worker, try #require(try await coordinator.leases.claim(worker: worker, leaseSeconds: 60, maxCopies: 1))))
            }
            // Result 3's token count does not fit the table's column: its batch fails as a whole.
            let outcomes = await withTaskGroup(of: (Int, Result<(SubmitOutcome, LeaseGrant?), any Error>).self) { group in
                for (i, (worker, grant)) in grants.enumerated() {
                    group.addTask {
                        do {
                            let answer = try await coordinator.leases.submitClaimingNext(
                                lease: grant.leaseID, worker: worker, payload: sha, loss: 1, tokens: i == 3 ? Int.max : 16,
                                nextLeaseSeconds: 60)
                            return (i, .success((answer.outcome, answer.next)))
                        } catch { return (i, .failure(error)) }
                    }
                }
                return await group.reduce(into: [Int: Result<(SubmitOutcome, LeaseGrant?), any Error>]()) { $0[$1.0] = $1.1 }
            }
            var nextUnits: [Int] = []
            for (i, outcome) in outcomes {
                if i == 3 {
                    #expect(throws: (any Error).self) { try outcome.get() }
                } else {
                    let (answer, next) = try outcome.get()
                    #expect(answer == .accepted(stepComplete: false))
                    nextUnits.append(try #require(next).unit)
                }
            }
            // Eleven accepted results, eleven distinct units from the 36 still pending.
            #expect(nextUnits.count == 11 && Set(nextUnits).count == 11)
            #expect(nextUnits.allSatisfy { (12..<48).contains($0) })
        }
    }
}
