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

    @Test func concurrentClaimsGetDistinctUnitsAndConcurrentResultsCompleteTheStepOnce() async throws {
        try await TestDatabase.withFresh(migrated: true) { db in
            let blobs = try BlobStore(root: try TestDatabase.scratchDirectory("blobs"))
            let coordinator = Coordinator(db: db.client, blobs: blobs, settings: CoordinatorSettings(), logger: Logger(label: "test"))
            let run = try await coordinator.createRun(yaml: Self.yaml, baseDirectory: TinyRun.directory)
            var workers: [UUID] = []
            for i in 0..<60 {
                workers.append(try await coordinator.workers.register(name: "w\(i)", backend: "cpu", threads: 1, version: "0", address: "").id)
            }
            let zeros = Data(TensorPayload(values: [Float](repeating: 0, count: try await coordinator.runInfo(run).parameterCount)).encoded())
            let sha = try blobs.put(zeros)
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

    @Test func aResultThatFailsInsideABatchFailsAloneAndTheOthersAreRecorded() async throws {
        try await TestDatabase.withFresh(migrated: true) { db in
            let blobs = try BlobStore(root: try TestDatabase.scratchDirectory("blobs"))
            let coordinator = Coordinator(db: db.client, blobs: blobs, settings: CoordinatorSettings(), logger: Logger(label: "test"))
            let run = try await coordinator.createRun(yaml: Self.yaml, baseDirectory: TinyRun.directory)
            let worker = try await coordinator.workers.register(name: "w", backend: "cpu", threads: 1, version: "0", address: "").id
            let zeros = Data(TensorPayload(values: [Float](repeating: 0, count: try await coordinator.runInfo(run).parameterCount)).encoded())
            let sha = try blobs.put(zeros)
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
}
