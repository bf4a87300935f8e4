import Foundation
import KoinonCore
import Logging
import PostgresNIO
import Synchronization
import Wire

/// Workers' trust records: loaded and stored around `WorkerTrust` (the pure
/// machine), and the actions it asks for: dropping a worker's results not yet
/// applied, giving back its leases.
public struct TrustRepository: Sendable {
    let db: Database
    let logger: Logger
    /// Workers a recent look found free to work (see `recentlyFree`).
    let freeWorkers = FreeWorkers()

    /// How long a look that found a worker free to work stands in for another.
    static let freedomLifetime: Duration = .seconds(5)

    public init(db: Database, logger: Logger) {
        self.db = db
        self.logger = logger
    }

    /// The worker's trust record if it may not work now (banned or
    /// quarantined); nil if it may (or there is no such worker). A look that
    /// found it free stands for `freedomLifetime`: a lease that finds no work
    /// tells a refused worker why, and at a step's tail every idle worker asks
    /// several times a second. A ban or a strike recorded by this process
    /// forgets every such look at once; one recorded by another coordinator
    /// process is seen within `freedomLifetime` (claims themselves always
    /// check the database).
    public func refusingStanding(_ worker: UUID, policy: TrustPolicy, now: Date = Date()) async throws -> WorkerTrust? {
        let at = ContinuousClock.now
        if let seen = freeWorkers.seen.withLock({ $0[worker] }), at - seen < Self.freedomLifetime { return nil }
        guard let trust = try await standing(worker) else { return nil }
        switch trust.state(at: now, policy: policy) {
        case .banned, .quarantined:
            return trust
        case .probation, .trusted:
            freeWorkers.seen.withLock { free in
                if free.count > 100_000 { free.removeAll() }  // a bound, not a policy
                free[worker] = at
            }
            return nil
        }
    }

    /// A worker's standing changed in this process: earlier looks no longer stand.
    func forgetFreeWorkers() { freeWorkers.seen.withLock { $0.removeAll() } }

    /// When each worker was last found free to work.
    final class FreeWorkers: Sendable {
        let seen = Mutex<[UUID: ContinuousClock.Instant]>([:])
    }

    /// The worker's trust record (nil: no such worker).
    public func standing(_ worker: UUID) async throws -> WorkerTrust? {
        for try await (valid, strikes, until, ban) in try await db.execute(WorkerStandingLookup(worker: worker), logger: logger) {
            return WorkerTrust(consecutiveValid: valid, strikes: strikes, quarantinedUntil: until, banReason: ban)
        }
        return nil
    }

    /// Locks the workers' rows (in id order, as crediting and "last seen" do)
    /// and returns their trust records, in the caller's transaction.
    static func lock(_ conn: Database.Connection, _ workers: [UUID], logger: Logger) async throws -> [UUID: WorkerTrust] {
        let rows = try await conn.query("""
            SELECT id, consecutive_valid, strikes, quarantined_until, ban_reason FROM workers
            WHERE id = ANY(\(workers)) ORDER BY id FOR NO KEY UPDATE
            """, logger: logger)
        var out: [UUID: WorkerTrust] = [:]
        for try await (id, valid, strikes, until, ban) in rows.decode((UUID, Int, Int, Date?, String?).self) {
            out[id] = WorkerTrust(consecutiveValid: valid, strikes: strikes, quarantinedUntil: until, banReason: ban)
        }
        return out
    }

    static func store(_ conn: Database.Connection, _ worker: UUID, _ trust: WorkerTrust, rejected: Bool = false,
                      logger: Logger) async throws {
        try await conn.query("""
            UPDATE workers SET consecutive_valid = \(trust.consecutiveValid), strikes = \(trust.strikes),
                   quarantined_until = \(trust.quarantinedUntil), ban_reason = \(trust.banReason),
                   rejected_results = rejected_results + \(rejected ? 1 : 0)
            WHERE id = \(worker)
            """, logger: logger)
    }

    /// Applies `event` to the worker's record in one transaction (with a
    /// rejection row when `rejection` is given); returns the machine's actions.
    public func record(_ event: TrustEvent, worker: UUID, policy: TrustPolicy, now: Date,
                       rejection: Rejection? = nil) async throws -> [TrustAction] {
        defer { forgetFreeWorkers() }
        return try await db.withTransaction(logger: logger) { conn in
            guard var trust = try await Self.lock(conn, [worker], logger: logger)[worker] else { return [] }
            let actions = trust.apply(event, at: now, policy: policy)
            try await Self.store(conn, worker, trust, rejected: rejection != nil, logger: logger)
            if let rejection { try await rejection.insert(conn, worker: worker, logger: logger) }
            return actions
        }
    }

    /// A result turned away, as stored in `rejections`.
    public struct Rejection: Sendable {
        public var lease: UUID?
        public var run: Int
        public var step: Int
        public var unit: Int
        public var reason: String
        public var message: String

        func insert(_ conn: Database.Connection, worker: UUID, logger: Logger) async throws {
            try await conn.query("""
                INSERT INTO rejections (worker_id, lease_id, run_id, step, unit, reason, message)
                VALUES (\(worker), \(lease), \(run), \(step), \(unit), \(reason), \(message))
                """, logger: logger)
        }
    }

    /// Drops the worker's results of steps not yet applied, and of evaluations
    /// not yet recorded (accepted, waiting for replicas, or agreeing copies)
    /// and puts their units back: an accepted unit another worker agreed with
    /// keeps that copy instead. Returns how many were dropped.
    @discardableResult
    public func dropUnappliedResults(of worker: UUID, reason: String) async throws -> Int {
        try await dropUnapplied(worker: worker, reason: reason)
    }

    /// Drops every unapplied result whose payload is `sha256` (its blob was
    /// found missing or corrupt: identical results share one), as above.
    @discardableResult
    public func dropUnappliedResults(payload sha256: String, reason: String) async throws -> Int {
        try await dropUnapplied(payload: sha256, reason: reason)
    }

    /// The results of `worker`, or with payload `sha256` (whichever is not
    /// nil), of steps not yet applied or evaluations not yet recorded. Locks
    /// steps before units, as applying a step does.
    private func dropUnapplied(worker: UUID? = nil, payload sha256: String? = nil, reason: String) async throws -> Int {
        try await db.withTransaction(logger: logger) { conn in
            try await conn.query("""
                SELECT 1 FROM steps s WHERE (s.state = 'open' OR s.evaluation_pending) AND EXISTS (
                    SELECT 1 FROM results r WHERE r.run_id = s.run_id AND r.step = s.step
                      AND (\(worker)::uuid IS NULL OR r.worker_id = \(worker)) AND (\(sha256)::text IS NULL OR r.payload_sha256 = \(sha256))
                      AND r.status IN ('accepted', 'provisional', 'replica'))
                ORDER BY s.run_id, s.step FOR UPDATE
                """, logger: logger)
            let rows = try await conn.query("""
                SELECT r.id, r.run_id, r.step, r.unit FROM results r
                JOIN steps s ON s.run_id = r.run_id AND s.step = r.step
                JOIN units u ON u.run_id = r.run_id AND u.step = r.step AND u.unit = r.unit
                                AND ((u.kind = 'train' AND s.state = 'open') OR (u.kind = 'eval' AND s.evaluation_pending))
                WHERE (\(worker)::uuid IS NULL OR r.worker_id = \(worker)) AND (\(sha256)::text IS NULL OR r.payload_sha256 = \(sha256))
                  AND r.status IN ('accepted', 'provisional', 'replica')
                ORDER BY r.run_id, r.step, r.unit
                """, logger: logger)
            var victims: [(Int, Int, Int, Int)] = []
            for try await row in rows.decode((Int, Int, Int, Int).self) { victims.append(row) }
            var dropped = 0
            for (id, run, step, unit) in victims {
                if try await Self.drop(conn, result: id, run: run, step: step, unit: unit, reason: reason, logger: logger) { dropped += 1 }
            }
            return dropped
        }
    }

    /// Sets one result aside and mends its unit: an accepted result's unit
    /// takes an agreeing copy from another worker if there is one, else is
    /// computed again; a copy waiting for others leaves one fewer to wait
    /// for. False when the result was settled meanwhile (read again under
    /// the unit's lock).
    static func drop(_ conn: Database.Connection, result id: Int, run: Int, step: Int, unit: Int, reason: String,
                     logger: Logger) async throws -> Bool {
        try await conn.query("""
            SELECT 1 FROM units WHERE run_id = \(run) AND step = \(step) AND unit = \(unit) FOR UPDATE
            """, logger: logger)
        var current: String?
        for try await s in try await conn.query("SELECT status FROM results WHERE id = \(id)", logger: logger).decode(String.self) {
            current = s
        }
        guard let status = current, ["accepted", "provisional", "replica"].contains(status) else { return false }
        try await conn.query("""
            UPDATE results SET status = 'dropped', reason = \(reason) WHERE id = \(id)
            """, logger: logger)
        switch status {
        case "accepted":
            // An agreeing copy from another worker stands in; else the unit is computed again.
            let promoted = try await conn.query("""
                UPDATE results SET status = 'accepted' WHERE id = (
                    SELECT id FROM results WHERE run_id = \(run) AND step = \(step) AND unit = \(unit)
                      AND status = 'replica' ORDER BY id LIMIT 1)
                RETURNING id
                """, logger: logger)
            var stands = false
            for try await _ in promoted { stands = true }
            if !stands { try await reopen(conn, run: run, step: step, unit: unit, logger: logger) }
        case "provisional":
            // The copies left wait for one more (or, if none is left, the unit starts over).
            let left = try await conn.query("""
                SELECT count(*)::int FROM results WHERE run_id = \(run) AND step = \(step) AND unit = \(unit)
                  AND status = 'provisional'
                """, logger: logger)
            var remaining = 0
            for try await n in left.decode(Int.self) { remaining = n }
            if remaining == 0 {
                try await reopen(conn, run: run, step: step, unit: unit, logger: logger)
            } else {
                try await conn.query("""
                    UPDATE units SET copies_needed = \(remaining + 1) WHERE run_id = \(run) AND step = \(step) AND unit = \(unit)
                    """, logger: logger)
            }
        default: break  // an agreeing copy: the unit keeps its result
        }
        return true
    }

    /// A unit whose copies are all gone goes back to the queue (to 'leased'
    /// while a copy is still being computed).
    static func reopen(_ conn: Database.Connection, run: Int, step: Int, unit: Int, logger: Logger) async throws {
        try await conn.query("""
            UPDATE units u SET copies_needed = 1,
                   state = CASE WHEN EXISTS (SELECT 1 FROM leases l WHERE l.run_id = u.run_id AND l.step = u.step AND l.unit = u.unit
                                             AND l.state = 'active' AND l.deadline >= now()) THEN 'leased' ELSE 'pending' END
            WHERE u.run_id = \(run) AND u.step = \(step) AND u.unit = \(unit)
            """, logger: logger)
    }

    /// Gives back the worker's active leases (banned or quarantined: it computes nothing more).
    public func releaseLeases(of worker: UUID) async throws {
        try await db.withTransaction(logger: logger) { conn in
            let rows = try await conn.query("""
                SELECT u.run_id, u.step, u.unit FROM units u
                WHERE EXISTS (SELECT 1 FROM leases l WHERE l.run_id = u.run_id AND l.step = u.step AND l.unit = u.unit
                              AND l.worker_id = \(worker) AND l.state = 'active')
                ORDER BY u.run_id, u.step, u.unit FOR UPDATE OF u
                """, logger: logger)
            var units: [(Int, Int, Int)] = []
            for try await u in rows.decode((Int, Int, Int).self) { units.append(u) }
            try await conn.query("UPDATE leases SET state = 'released' WHERE worker_id = \(worker) AND state = 'active'",
                                 logger: logger)
            for (r, s, u) in units { try await LeaseRepository.returnIfUnleased(conn, run: r, step: s, unit: u, logger: logger) }
        }
    }

    /// Every worker as the operator sees it, most recently seen first.
    public func list(policy: TrustPolicy, now: Date) async throws -> [OperatorWorkerSummary] {
        let rows = try await db.query("""
            SELECT id, name, owner, address, consecutive_valid, strikes, accepted_units, rejected_results,
                   quarantined_until, ban_reason, last_seen_at
            FROM workers ORDER BY last_seen_at DESC, name
            """, logger: logger)
        var out: [OperatorWorkerSummary] = []
        for try await row in rows.decode((UUID, String, String, String, Int, Int, Int, Int, Date?, String?, Date).self) {
            let trust = WorkerTrust(consecutiveValid: row.4, strikes: row.5, quarantinedUntil: row.8, banReason: row.9)
            out.append(OperatorWorkerSummary(workerID: row.0, name: row.1, owner: row.2, address: row.3,
                                             trust: trust.state(at: now, policy: policy).rawValue, consecutiveValid: row.4,
                                             strikes: row.5, acceptedUnits: row.6, rejectedResults: row.7,
                                             quarantinedUntil: row.8, banReason: row.9, lastSeen: row.10))
        }
        return out
    }
}

/// A worker's trust record (asked when a lease finds no work: is it banned?).
struct WorkerStandingLookup: PostgresPreparedStatement {
    static let sql = "SELECT consecutive_valid, strikes, quarantined_until, ban_reason FROM workers WHERE id = $1"
    typealias Row = (Int, Int, Date?, String?)
    var worker: UUID

    func makeBindings() throws -> PostgresBindings {
        var bindings = PostgresBindings()
        bindings.append(worker)
        return bindings
    }

    func decodeRow(_ row: PostgresRow) throws -> Row { try row.decode(Row.self) }
}
