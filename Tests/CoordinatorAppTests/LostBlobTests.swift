@testable import CoordinatorApp
import Foundation
import HummingbirdTesting
import Logging
import PostgresNIO
import Testing
import Wire

/// Workers' results are not synced to the disk as they come (one sync per
/// step covers them before the step commits): one a power loss took, or that
/// someone removed, is found missing or corrupt when its step is applied or
/// its copies compared. It is set aside and its unit computed again; the run
/// goes on instead of failing that step for ever.
@Suite(.serialized, .timeLimit(.minutes(5))) struct LostBlobTests {
    typealias Hand = ReplicationTests.Hand

    /// The blob of `value` repeated `count` times (what `Hand.submit` hands in).
    static func payload(_ value: Float, count: Int) -> String {
        BlobStore.sha256(Data(TensorPayload(values: [Float](repeating: value, count: count)).encoded()))
    }

    /// Takes the blob out of the store: gone, or (with `corrupt`) its file's bytes replaced.
    static func lose(_ sha: String, from blobs: BlobStore, corrupt: Bool) throws {
        blobs.remove(sha)
        if corrupt { try Data("not the gradient".utf8).write(to: blobs.url(for: sha)) }
        #expect(throws: corrupt ? BlobError.corrupt(sha) : BlobError.missing(sha)) { try blobs.get(sha) }
    }

    /// The statuses and reasons of run `run` step 0 unit `unit`'s results, oldest first.
    static func results(_ db: Database, run: Int, unit: Int) async throws -> [(String, String?)] {
        let rows = try await db.query("""
            SELECT status, reason FROM results WHERE run_id = \(run) AND step = 0 AND unit = \(unit) ORDER BY id
            """, logger: ReplicationTests.logger)
        var out: [(String, String?)] = []
        for try await row in rows.decode((String, String?).self) { out.append(row) }
        return out
    }

    /// Waits (up to 10 s) until `condition` holds.
    static func eventually(_ condition: () async throws -> Bool) async throws -> Bool {
        for _ in 0..<200 {
            if try await condition() { return true }
            try await Task.sleep(for: .milliseconds(50))
        }
        return false
    }

    @Test(arguments: [false, true])
    func aLostAcceptedResultIsComputedAgainAndItsStepThenApplied(corrupt: Bool) async throws {
        try await ReplicationTests.withCoordinator(policy: .off) { coordinator, run, count, client in
            let alice = try await Hand.register(client, name: "alice", count: count)
            var units: [Int: Assignment] = [:]
            for _ in 0..<3 { let a = try await alice.mustLease(); units[a.unitIndex] = a }
            #expect(try await alice.submit(units[0]!, ReplicationTests.honest(0)).1.status == .accepted)
            try Self.lose(Self.payload(ReplicationTests.honest(0), count: count), from: await coordinator.blobs, corrupt: corrupt)
            for u in 1...2 { #expect(try await alice.submit(units[u]!, ReplicationTests.honest(u)).1.status == .accepted) }

            // The step is complete, but applying it finds unit 0's result lost: set aside, unit 0 pending again.
            _ = try await coordinator.aggregateCompleteSteps()
            #expect(try await Self.eventually {
                try await Self.results(coordinator.db, run: run, unit: 0).map(\.0) == ["dropped"]
            })
            #expect(try await Self.results(coordinator.db, run: run, unit: 0).first?.1 == "its payload was lost from the blob store")
            #expect(try await coordinator.runs.get(run)?.currentStep == 0)

            // Computed again (the same bytes, as a deterministic worker makes them), the step applies.
            let again = try await alice.mustLease()
            #expect(again.unitIndex == 0 && again.step == 0)
            #expect(try await alice.submit(again, ReplicationTests.honest(0)).1.status == .accepted)
            #expect(try await ReplicationTests.reach(1, run, coordinator))
            #expect(try await coordinator.steps.acceptedResults(run: run, step: 0).count == 3)
            #expect(try await coordinator.blobs.get(Self.payload(ReplicationTests.honest(0), count: count)).count > 0)
        }
    }

    @Test func aLostCopyIsSetAsideWithoutBlameAndTheCopiesLeftDecide() async throws {
        try await ReplicationTests.withCoordinator { coordinator, run, count, client in
            let alice = try await Hand.register(client, name: "alice", owner: "a", count: count)
            let bob = try await Hand.register(client, name: "bob", owner: "b", count: count)
            let carol = try await Hand.register(client, name: "carol", owner: "c", count: count)
            // Alice (on probation) computes the step: her copies wait for replicas. Unit 0's blob is then lost.
            for _ in 0..<3 {
                let a = try await alice.mustLease()
                #expect(try await alice.submit(a, ReplicationTests.honest(a.unitIndex)).1.verification == .pending)
            }
            try Self.lose(Self.payload(ReplicationTests.honest(0), count: count), from: await coordinator.blobs, corrupt: false)
            // Bob's replica cannot be compared with it: Alice's copy is set aside, Bob's waits for another.
            let b0 = try await bob.mustLease()
            #expect(b0.unitIndex == 0)
            let bobs = try await bob.submit(b0, ReplicationTests.honest(0) * (1 + 1e-6))
            #expect(bobs.0 == .ok && bobs.1.status == .accepted && bobs.1.verification == .pending)
            #expect(try await Self.results(coordinator.db, run: run, unit: 0).map(\.0) == ["dropped", "provisional"])
            // Carol's copy agrees with Bob's: verified. Nobody is blamed for the lost file.
            let c0 = try await carol.mustLease()
            #expect(c0.unitIndex == 0)
            #expect(try await carol.submit(c0, ReplicationTests.honest(0)).1.verification == .verified)
            #expect(try await Self.results(coordinator.db, run: run, unit: 0).map(\.0) == ["dropped", "accepted", "replica"])
            for worker in [alice, bob, carol] { #expect(try await coordinator.trust.standing(worker.id)?.strikes == 0) }
        }
    }
}
