import CoordinatorApp
import Foundation
import Hummingbird
import HummingbirdTesting
import HTTPTypes
import KoinonCore
import Logging
import NIOCore
import PostgresNIO
import Testing
import Wire

/// Adaptive replication over HTTP against a real PostgreSQL (issue 5):
/// workers on probation have every result recomputed by an independent
/// worker; copies are compared; a mismatch calls for a third copy that
/// decides; a worker found wrong takes a strike and loses its unapplied
/// results; bans and quarantines refuse work.
@Suite(.serialized, .timeLimit(.minutes(5))) struct ReplicationTests {
    static let logger = Logger(label: "test")

    /// A worker driven by hand through the in-process router.
    struct Hand {
        let client: any TestClientProtocol
        let token: String
        let id: UUID
        let count: Int
        var auth: HTTPFields { [.authorization: "Bearer \(token)"] }

        static func register(_ client: any TestClientProtocol, name: String, owner: String? = nil, count: Int) async throws -> Hand {
            let body = try WireProtocol.makeEncoder().encode(RegisterWorkerRequest(name: name, backend: "cpu", threads: 1,
                                                                                   version: "0", owner: owner))
            let r = try await client.execute(uri: "/v1/workers", method: .post, body: ByteBuffer(bytes: body)) {
                try decode(RegisterWorkerResponse.self, $0.body)
            }
            return Hand(client: client, token: r.token, id: r.workerID, count: count)
        }

        /// A unit, or nil when there is none for this worker (or the HTTP status when refused).
        func lease() async throws -> Result<Assignment?, HTTPError> {
            let body = try WireProtocol.makeEncoder().encode(LeaseRequest(maxWaitSeconds: 0))
            return try await client.execute(uri: "/v1/leases", method: .post, headers: auth, body: ByteBuffer(bytes: body)) {
                guard $0.status == .ok else { return .failure(HTTPError($0.status, message: String(buffer: $0.body))) }
                if case .assigned(let a) = try decode(LeaseResponse.self, $0.body) { return .success(a) }
                return .success(nil)
            }
        }

        /// Whether a lease request finds no unit for this worker (and is not refused).
        func findsNoWork() async throws -> Bool {
            if case .success(nil) = try await lease() { return true }
            return false
        }

        func mustLease() async throws -> Assignment {
            guard case .success(let a?) = try await lease() else { throw ChaosError("no unit for this worker") }
            return a
        }

        /// Hands in a gradient of `count` copies of `value` for unit `a`.
        func submit(_ a: Assignment, _ value: Float, loss: Double = 2.5) async throws -> (HTTPResponse.Status, SubmitResultResponse) {
            let body = Data(TensorPayload(values: [Float](repeating: value, count: count)).encoded())
            var headers = auth
            for (name, v) in ResultMetadata(leaseID: a.leaseID, loss: loss, tokenCount: 32, payloadSHA256: BlobStore.sha256(body)).headerFields {
                headers[HTTPField.Name(name)!] = v
            }
            return try await client.execute(uri: "/v1/leases/\(a.leaseID.uuidString.lowercased())/result", method: .put,
                                            headers: headers, body: ByteBuffer(bytes: body)) {
                ($0.status, try decode(SubmitResultResponse.self, $0.body))
            }
        }
    }

    static func decode<T: Decodable>(_ t: T.Type, _ b: ByteBuffer) throws -> T {
        try WireProtocol.makeDecoder().decode(T.self, from: Data(b.readableBytesView))
    }

    /// An honest unit's gradient (constant, different per unit).
    static func honest(_ unit: Int) -> Float { 0.001 * Float(1 + unit) }

    static func withCoordinator(policy: TrustPolicy = TrustPolicy(probationResults: 10),
                                _ body: @escaping @Sendable (Coordinator, Int, Int, any TestClientProtocol) async throws -> Void,
                                function: String = #function) async throws {
        try await TestDatabase.withFresh(migrated: true, function: function) { db in
            var settings = CoordinatorSettings()
            settings.trust = policy
            settings.replicasFromDistinctAddresses = false  // every test client has the same address
            let blobs = try BlobStore(root: try TestDatabase.scratchDirectory("blobs-replication"))
            let coordinator = Coordinator(db: db.client, blobs: blobs, settings: settings, logger: logger)
            let run = try await coordinator.createRun(yaml: TinyRun.yaml(steps: 4), baseDirectory: TinyRun.directory)
            let count = try await coordinator.runInfo(run).parameterCount
            let app = CoordinatorServer.application(coordinator: coordinator, host: "127.0.0.1", port: 0, services: [],
                                                    logger: logger)
            try await app.test(.router) { client in try await body(coordinator, run, count, client) }
        }
    }

    /// Applies complete steps until run `run` reaches `step` (a verified copy also starts aggregation in the background).
    static func reach(_ step: Int, _ run: Int, _ coordinator: Coordinator) async throws -> Bool {
        for _ in 0..<100 {
            _ = try await coordinator.aggregateCompleteSteps()
            if try await coordinator.runs.get(run)?.currentStep == step { return true }
            try await Task.sleep(for: .milliseconds(50))
        }
        return false
    }

    static func scalar(_ db: PostgresClient, _ sql: PostgresQuery) async throws -> Int {
        for try await n in try await db.query(sql, logger: logger).decode(Int.self) { return n }
        return 0
    }

    @Test func aProbationWorkersResultsWaitForAReplicaAndAMismatchIsDecidedByAThirdCopy() async throws {
        try await Self.withCoordinator { coordinator, run, count, client in
            let alice = try await Hand.register(client, name: "alice", owner: "a", count: count)
            let bob = try await Hand.register(client, name: "bob", owner: "b", count: count)
            let carol = try await Hand.register(client, name: "carol", owner: "c", count: count)
            // Alice computes the whole step; every result waits for a replica.
            var units: [Int: Assignment] = [:]
            for _ in 0..<3 { let a = try await alice.mustLease(); units[a.unitIndex] = a }
            for (u, a) in units {
                let (status, answer) = try await alice.submit(a, Self.honest(u))
                #expect(status == .ok && answer.status == .accepted && answer.verification == .pending)
            }
            #expect(try await coordinator.aggregateCompleteSteps() == 0)  // nothing verified yet
            // Alice may not verify herself.
            #expect(try await alice.findsNoWork())
            // Bob verifies unit 0 honestly.
            let b0 = try await bob.mustLease()
            #expect(b0.unitIndex == 0)
            let verified = try await bob.submit(b0, Self.honest(0) * (1 + 1e-6))  // rounding-sized difference
            #expect(verified.1.status == .accepted && verified.1.verification == .verified)
            // Bob flips the sign of unit 1: the two copies disagree and a third is sent out.
            let b1 = try await bob.mustLease()
            #expect(b1.unitIndex == 1)
            let flipped = try await bob.submit(b1, -Self.honest(1))
            #expect(flipped.1.status == .accepted && flipped.1.verification == .pending)
            let c1 = try await carol.mustLease()
            #expect(c1.unitIndex == 1)
            let decides = try await carol.submit(c1, Self.honest(1))
            #expect(decides.1.status == .accepted && decides.1.verification == .verified)
            // Bob was found wrong: a strike, a stored rejection, and his verified copy of unit 0 is dropped.
            let bobStanding = try #require(try await coordinator.trust.standing(bob.id))
            #expect(bobStanding.strikes == 1 && bobStanding.consecutiveValid == 0)
            #expect(try await Self.scalar(coordinator.db.client, "SELECT count(*)::int FROM rejections WHERE worker_id = \(bob.id) AND reason = 'replica_mismatch'") == 1)
            #expect(try await Self.scalar(coordinator.db.client, "SELECT count(*)::int FROM results WHERE worker_id = \(bob.id) AND status = 'dropped'") == 1)
            // Carol verifies unit 2 and the step applies with Alice's gradients.
            let c2 = try await carol.mustLease()
            #expect(c2.unitIndex == 2)
            #expect(try await carol.submit(c2, Self.honest(2)).1.verification == .verified)
            #expect(try await Self.reach(1, run, coordinator))
            let accepted = try await coordinator.steps.acceptedResults(run: run, step: 0)
            #expect(accepted.map(\.worker) == [alice.id, alice.id, alice.id])
            // Credit: Alice for 3 units, Carol for her 2 agreeing copies, Bob for nothing.
            let credited = try await coordinator.db.query("SELECT worker_id, units FROM contributions WHERE run_id = \(run)", logger: Self.logger)
            var units_: [UUID: Int] = [:]
            for try await (w, n) in credited.decode((UUID, Int).self) { units_[w] = n }
            #expect(units_ == [alice.id: 3, carol.id: 2])
            // Alice and Carol each count valid results; Bob starts over.
            #expect(try await coordinator.trust.standing(alice.id)?.consecutiveValid == 3)
            #expect(try await coordinator.trust.standing(carol.id)?.consecutiveValid == 2)
        }
    }

    @Test func aCopyFromTheSameOwnerCannotVerify() async throws {
        try await Self.withCoordinator { coordinator, run, count, client in
            let alice = try await Hand.register(client, name: "alice", owner: "acme", count: count)
            let alice2 = try await Hand.register(client, name: "alice-2", owner: "acme", count: count)
            for _ in 0..<3 {
                let a = try await alice.mustLease()
                _ = try await alice.submit(a, Self.honest(a.unitIndex))
            }
            #expect(try await alice2.findsNoWork())
        }
    }

    @Test func anotherUnitsGradientHandedInAgainIsReplicatedAndOutvoted() async throws {
        // Replication on, every worker long trusted (a replica one time in a million): only the replay calls for replicas.
        try await Self.withCoordinator(policy: TrustPolicy(minimumReplicationProbability: 0)) { coordinator, run, count, client in
            let alice = try await Hand.register(client, name: "alice", count: count)
            let mallory = try await Hand.register(client, name: "mallory", count: count)
            let carol = try await Hand.register(client, name: "carol", count: count)
            try await coordinator.db.query("UPDATE workers SET consecutive_valid = 1000000", logger: Self.logger)
            let a0 = try await alice.mustLease()
            #expect(try await alice.submit(a0, Self.honest(0)).1.verification == .unreplicated)
            let m1 = try await mallory.mustLease()
            #expect(m1.unitIndex == 1)
            let replay = try await mallory.submit(m1, Self.honest(0))
            #expect(replay.1.status == .accepted && replay.1.verification == .pending)
            // Alice computes unit 2, then is the first independent worker for unit 1's replica.
            let a2 = try await alice.mustLease()
            #expect(try await alice.submit(a2, Self.honest(2)).1.verification == .unreplicated)
            let a1 = try await alice.mustLease()
            #expect(a1.unitIndex == 1)
            #expect(try await alice.submit(a1, Self.honest(1)).1.verification == .pending)  // two copies disagree
            let c1 = try await carol.mustLease()
            #expect(c1.unitIndex == 1)
            #expect(try await carol.submit(c1, Self.honest(1)).1.verification == .verified)
            #expect(try await coordinator.trust.standing(mallory.id)?.strikes == 1)
            #expect(try await coordinator.trust.standing(mallory.id)?.consecutiveValid == 0)  // back on probation
            #expect(try await coordinator.trust.standing(alice.id)?.strikes == 0)
            #expect(try await Self.reach(1, run, coordinator))
            let accepted = try await coordinator.steps.acceptedResults(run: run, step: 0)
            #expect(accepted.map(\.worker) == [alice.id, alice.id, alice.id])
        }
    }

    @Test func aTrustedWorkersResultPointingAgainstItsStepIsReplicated() async throws {
        // Every worker long trusted (a replica one time in a million): only the direction check calls for one.
        try await Self.withCoordinator(policy: TrustPolicy(minimumReplicationProbability: 0)) { coordinator, run, count, client in
            let alice = try await Hand.register(client, name: "alice", count: count)
            let mallory = try await Hand.register(client, name: "mallory", count: count)
            try await coordinator.db.query("UPDATE workers SET consecutive_valid = 1000000", logger: Self.logger)
            let a0 = try await alice.mustLease()
            #expect(try await alice.submit(a0, Self.honest(0)).1.verification == .unreplicated)  // the step's first: unjudged
            let m1 = try await mallory.mustLease()
            let flipped = try await mallory.submit(m1, -Self.honest(1))  // cosine −1 with unit 0
            #expect(flipped.1.status == .accepted && flipped.1.verification == .pending)
            let a2 = try await alice.mustLease()
            #expect(a2.unitIndex == 2)
            #expect(try await alice.submit(a2, Self.honest(2)).1.verification == .unreplicated)  // along the step
        }
    }

    @Test func aBannedWorkerIsRefusedAndLosesItsUnappliedResultsUntilUnbanned() async throws {
        try await Self.withCoordinator(policy: .off) { coordinator, run, count, client in
            let mallory = try await Hand.register(client, name: "mallory", count: count)
            let a0 = try await mallory.mustLease()
            _ = try await mallory.submit(a0, Self.honest(a0.unitIndex))
            let a1 = try await mallory.mustLease()  // in hand when the ban comes
            let ban = try #require(try await coordinator.ban(worker: mallory.id, reason: "sends noise"))
            #expect(ban.droppedResults == 1 && ban.trust == "banned")
            guard case .failure(let refused) = try await mallory.lease() else { throw ChaosError("a banned worker got work") }
            #expect(refused.status == .forbidden && refused.body?.contains("worker_banned") == true)
            let late = try await mallory.submit(a1, Self.honest(a1.unitIndex))
            #expect(late.0 == .forbidden)
            // Both units are back in the queue for others.
            #expect(try await Self.scalar(coordinator.db.client, "SELECT count(*)::int FROM units WHERE run_id = \(run) AND step = 0 AND state = 'pending' AND kind = 'train'") == 3)
            #expect(try await coordinator.unban(worker: mallory.id)?.trust == "probation")
            #expect(try await mallory.mustLease().step == 0)
        }
    }

    @Test func theOperatorListsBansAndUnbansWorkersOverHTTP() async throws {
        try await TestDatabase.withFresh(migrated: true) { db in
            var settings = CoordinatorSettings()
            settings.trust = TrustPolicy()
            let blobs = try BlobStore(root: try TestDatabase.scratchDirectory("blobs-ban"))
            let coordinator = Coordinator(db: db.client, blobs: blobs, settings: settings, logger: Self.logger)
            let run = try await coordinator.createRun(yaml: TinyRun.yaml(steps: 2), baseDirectory: TinyRun.directory)
            let count = try await coordinator.runInfo(run).parameterCount
            let token = OperatorToken.random()
            let app = CoordinatorServer.application(coordinator: coordinator, host: "127.0.0.1", port: 0, services: [],
                                                    logger: Self.logger, operatorToken: token)
            try await app.test(.router) { client in
                let mallory = try await Hand.register(client, name: "mallory", owner: "m", count: count)
                let operatorAuth: HTTPFields = [.authorization: "Bearer \(token.value)"]
                // Workers cannot use operator endpoints.
                try await client.execute(uri: "/v1/workers", method: .get, headers: mallory.auth) { #expect($0.status == .unauthorized) }
                let listed = try await client.execute(uri: "/v1/workers", method: .get, headers: operatorAuth) { response in
                    #expect(response.status == .ok)
                    // Times are ISO 8601 strings, as everywhere in the protocol.
                    let raw = try JSONSerialization.jsonObject(with: Data(response.body.readableBytesView)) as? [[String: Any]]
                    #expect(raw?.first?["last_seen"] is String)
                    return try Self.decode([OperatorWorkerSummary].self, response.body)
                }
                #expect(listed.map(\.name) == ["mallory"] && listed.first?.trust == "probation" && listed.first?.owner == "m")
                let a = try await mallory.mustLease()
                _ = try await mallory.submit(a, Self.honest(a.unitIndex))
                let uri = "/v1/workers/\(mallory.id.uuidString.lowercased())"
                let bad = try WireProtocol.makeEncoder().encode(BanWorkerRequest(reason: "bad\u{1B}[2J"))
                try await client.execute(uri: uri + "/ban", method: .post, headers: operatorAuth, body: ByteBuffer(bytes: bad)) {
                    #expect($0.status == .badRequest)
                }
                let body = try WireProtocol.makeEncoder().encode(BanWorkerRequest(reason: "sends noise"))
                let banned = try await client.execute(uri: uri + "/ban", method: .post, headers: operatorAuth, body: ByteBuffer(bytes: body)) {
                    try Self.decode(BanWorkerResponse.self, $0.body)
                }
                #expect(banned.trust == "banned" && banned.droppedResults == 1)
                guard case .failure(let refused) = try await mallory.lease() else { throw ChaosError("a banned worker got work") }
                #expect(refused.status == .forbidden && refused.body?.contains("sends noise") == true)
                let unbanned = try await client.execute(uri: uri + "/unban", method: .post, headers: operatorAuth) {
                    try Self.decode(BanWorkerResponse.self, $0.body)
                }
                #expect(unbanned.trust == "probation")
                try await client.execute(uri: "/v1/workers/\(UUID())/ban", method: .post, headers: operatorAuth) { #expect($0.status == .notFound) }
                #expect(try await mallory.mustLease().step == 0)
            }
        }
    }

    @Test func repeatOffendersAreQuarantined() async throws {
        let policy = TrustPolicy(replicates: false, strikesToQuarantine: 2, quarantineSeconds: 3600)
        try await Self.withCoordinator(policy: policy) { coordinator, run, count, client in
            let mallory = try await Hand.register(client, name: "mallory", count: count)
            for _ in 0..<2 {
                let a = try await mallory.mustLease()
                let nan = try await mallory.submit(a, .nan)
                #expect(nan.1.status == .rejected)
            }
            guard case .failure(let refused) = try await mallory.lease() else { throw ChaosError("a quarantined worker got work") }
            #expect(refused.status == .forbidden && refused.body?.contains("worker_quarantined") == true)
            let listed = try await coordinator.trust.list(policy: policy, now: Date())
            #expect(listed.first { $0.workerID == mallory.id }?.trust == "quarantined")
            // Its lease went back to the queue.
            #expect(try await Self.scalar(coordinator.db.client, "SELECT count(*)::int FROM leases WHERE worker_id = \(mallory.id) AND state = 'active'") == 0)
        }
    }
}
