import Foundation
import KoinonCore
import Logging
import PostgresNIO

/// A unit handed to a worker.
public struct LeaseGrant: Sendable, Equatable {
    public var leaseID: UUID
    public var runID: Int
    public var step: Int
    public var unit: Int
    public var isBackup: Bool
    public var deadline: Date
    public var parametersSHA256: String
    /// An evaluation unit of version `step` (else a training unit).
    public var isEvaluation: Bool = false
}

/// The unit a lease is for.
public struct LeasedUnit: Sendable, Equatable {
    public var run: Int
    public var step: Int
    public var unit: Int
    public var isEvaluation: Bool
}

/// What became of a submitted result.
public enum SubmitOutcome: Sendable, Equatable {
    /// Accepted; `stepComplete` when it was the step's last missing unit.
    case accepted(stepComplete: Bool)
    /// Another copy of the unit was accepted first.
    case superseded
    /// The same lease submitted different bytes before.
    case conflict
    case unknownLease
    case foreignLease
    /// The lease expired or was released before the result came.
    case leaseNotActive(state: String)
    /// Recorded as a copy waiting for a replica from another worker (the worker's trust drew one).
    case provisional
    /// A copy of a unit already waiting for verification: the caller compares the copies.
    case compare
    /// Submitted before, and since set aside (its worker found wrong, or its unit's copies disagreed).
    case dropped
    /// Submitted before, and since outvoted by the unit's other copies.
    case foundWrong
}

/// Why a heartbeat did not extend its lease.
public enum HeartbeatOutcome: Sendable, Equatable {
    case extended(Date)
    case unknownLease
    case foreignLease
    case leaseNotActive(state: String)
}

/// Work units and leases: claiming (safe across coordinator processes via
/// FOR UPDATE SKIP LOCKED), heartbeats, expiry, release and results.
///
/// The lease → submit cycle's statements are coalesced: claims of pending
/// units, submission lookups, results and the look for other work that
/// arrive while the previous batch of their kind is in PostgreSQL go
/// together in the next statement (one round trip and one commit for all).
public struct LeaseRepository: Sendable {
    let db: Database
    let logger: Logger
    private let pendingClaims: Coalescer<PendingClaim, LeaseGrant?>
    private let submissions: Coalescer<Submission, (SubmitOutcome, LeaseGrant?)>
    private let otherWorkProbes: Coalescer<Double, OtherWork>
    private let submissionLookups: Coalescer<SubmissionKey, SubmissionContext?>

    /// Calls one statement serves at most (a few milliseconds of PostgreSQL's time).
    static let maxBatch = 256

    public init(db: Database, logger: Logger) {
        self.db = db
        self.logger = logger
        pendingClaims = Coalescer(maxBatch: Self.maxBatch) { claims in
            try await Self.claimPending(claims, db: db, logger: logger)
        }
        submissions = Coalescer(maxBatch: Self.maxBatch) { results in
            await Self.submit(results, db: db, logger: logger)
        }
        submissionLookups = Coalescer(maxBatch: Self.maxBatch) { keys in
            try await Self.submissionContexts(keys, db: db, logger: logger)
        }
        otherWorkProbes = Coalescer(maxBatch: Self.maxBatch) { ages in
            let found = try await Self.otherWork(minimumLeaseAge: ages.min() ?? 0, db: db, logger: logger)
            return ages.map { _ in found }
        }
    }

    /// Claims the lowest pending unit of an active run's current step; when
    /// none is pending, a backup copy of the unit whose oldest lease is oldest
    /// (fewer than `maxCopies` active leases, none held by this worker).
    /// Then, for a worker that computes them, the oldest pending evaluation unit.
    /// `pendingTried`: a claim of a pending unit just found none (with the worker's result), so
    /// only the other kinds of work are looked for.
    public func claim(worker: UUID, leaseSeconds: Double, maxCopies: Int, backupAfterSeconds: Double = 0,
                      evaluation: Bool = false, distinctAddresses: Bool = true, pendingTried: Bool = false) async throws -> LeaseGrant? {
        if !pendingTried, let grant = try await claimPending(worker: worker, leaseSeconds: leaseSeconds) { return grant }
        // Nothing pending (a step's tail, when every idle worker asks): one shared look says
        // whether any other kind of work exists before each worker looks for its own.
        let other = try await otherWorkProbes(backupAfterSeconds)
        if other.verifying, let grant = try await claimReplica(worker: worker, leaseSeconds: leaseSeconds,
                                                               distinctAddresses: distinctAddresses) { return grant }
        if other.stragglers, let grant = try await claimBackup(worker: worker, leaseSeconds: leaseSeconds, maxCopies: maxCopies,
                                                               minimumLeaseAge: backupAfterSeconds) { return grant }
        return evaluation && other.evaluation ? try await claimEvaluation(worker: worker, leaseSeconds: leaseSeconds) : nil
    }

    /// Work other than pending training units, as one look finds it.
    struct OtherWork: Sendable {
        /// Units waiting for a replica.
        var verifying: Bool
        /// Active leases old enough for a backup copy.
        var stragglers: Bool
        /// Pending evaluation units.
        var evaluation: Bool
    }

    static func otherWork(minimumLeaseAge: Double, db: Database, logger: Logger) async throws -> OtherWork {
        for try await (verifying, stragglers, evaluation) in try await db.execute(OtherWorkProbe(minimumLeaseAge: minimumLeaseAge),
                                                                                   logger: logger) {
            return OtherWork(verifying: verifying, stragglers: stragglers, evaluation: evaluation)
        }
        return OtherWork(verifying: true, stragglers: true, evaluation: true)
    }

    struct PendingClaim: Sendable {
        var lease: UUID
        var worker: UUID
        var leaseSeconds: Double
    }

    /// The lowest pending unit of an active run's current step, leased in one
    /// statement together with the other claims waiting (this is the hot path).
    func claimPending(worker: UUID, leaseSeconds: Double) async throws -> LeaseGrant? {
        try await pendingClaims(PendingClaim(lease: UUID(), worker: worker, leaseSeconds: leaseSeconds))
    }

    /// A batch of claims: each gets a unit while pending units last (nil after).
    static func claimPending(_ claims: [PendingClaim], db: Database, logger: Logger) async throws -> [LeaseGrant?] {
        let rows = try await db.execute(ClaimPendingUnits(leases: claims.map(\.lease), workers: claims.map(\.worker),
                                                          leaseSeconds: claims.map(\.leaseSeconds)), logger: logger)
        var granted: [UUID: LeaseGrant] = [:]
        for try await (id, run, step, unit, deadline, sha) in rows {
            granted[id] = LeaseGrant(leaseID: id, runID: run, step: step, unit: unit, isBackup: false, deadline: deadline,
                                     parametersSHA256: sha)
        }
        return claims.map { granted[$0.lease] }
    }

    /// A copy of a unit waiting for verification, for a worker independent of
    /// every copy so far (another worker, owner and, with
    /// `distinctAddresses`, address), while fewer copies than it needs are in
    /// or out.
    func claimReplica(worker: UUID, leaseSeconds: Double, distinctAddresses: Bool) async throws -> LeaseGrant? {
        let id = UUID()
        let rows = try await db.query("""
            WITH me AS (
                SELECT w.id, w.owner, w.address FROM workers w WHERE w.id = \(worker) AND w.ban_reason IS NULL
                  AND (w.quarantined_until IS NULL OR w.quarantined_until <= now())),
            target AS (
                SELECT u.run_id, u.step, u.unit
                FROM runs r JOIN units u ON u.run_id = r.id AND u.state = 'verifying', me
                -- Training units of an active run's current step; evaluation units whatever their version.
                WHERE ((u.kind = 'train' AND r.state = 'active' AND u.step = r.current_step)
                       OR (u.kind = 'eval' AND r.state IN ('active', 'finished')))
                  AND (SELECT count(*) FROM results x WHERE x.run_id = u.run_id AND x.step = u.step AND x.unit = u.unit
                       AND x.status = 'provisional')
                    + (SELECT count(*) FROM leases l WHERE l.run_id = u.run_id AND l.step = u.step AND l.unit = u.unit
                       AND l.state = 'active' AND l.deadline >= now()) < u.copies_needed
                  AND NOT EXISTS (SELECT 1 FROM results x JOIN workers a ON a.id = x.worker_id
                                  WHERE x.run_id = u.run_id AND x.step = u.step AND x.unit = u.unit AND x.status = 'provisional'
                                    AND (x.worker_id = me.id OR (a.owner <> '' AND a.owner = me.owner)
                                         OR (\(distinctAddresses) AND a.address = me.address)))
                  AND NOT EXISTS (SELECT 1 FROM leases l WHERE l.run_id = u.run_id AND l.step = u.step AND l.unit = u.unit
                                  AND l.state = 'active' AND l.worker_id = me.id)
                ORDER BY u.run_id, u.step, u.unit
                LIMIT 1 FOR UPDATE OF u SKIP LOCKED),
            lease AS (
                INSERT INTO leases (id, run_id, step, unit, worker_id, is_backup, deadline)
                SELECT \(id), run_id, step, unit, \(worker), false, now() + make_interval(secs => \(leaseSeconds)) FROM target
                RETURNING run_id, step, unit, deadline)
            SELECT l.run_id, l.step, l.unit, l.deadline, p.parameters_sha256, u.kind
            FROM lease l JOIN parameter_versions p ON p.run_id = l.run_id AND p.version = l.step
            JOIN units u ON u.run_id = l.run_id AND u.step = l.step AND u.unit = l.unit
            """, logger: logger)
        for try await (run, step, unit, deadline, sha, kind) in rows.decode((Int, Int, Int, Date, String, String).self) {
            return LeaseGrant(leaseID: id, runID: run, step: step, unit: unit, isBackup: false, deadline: deadline,
                              parametersSHA256: sha, isEvaluation: kind == "eval")
        }
        return nil
    }

    /// The oldest pending evaluation unit (training units go first).
    func claimEvaluation(worker: UUID, leaseSeconds: Double) async throws -> LeaseGrant? {
        let id = UUID()
        let rows = try await db.execute(ClaimEvaluationUnit(lease: id, worker: worker, leaseSeconds: leaseSeconds), logger: logger)
        for try await (run, step, unit, deadline, sha) in rows {
            return LeaseGrant(leaseID: id, runID: run, step: step, unit: unit, isBackup: false, deadline: deadline,
                              parametersSHA256: sha, isEvaluation: true)
        }
        return nil
    }

    /// What a result for `lease` from `worker` is checked against, in one
    /// round trip (shared with the other results arriving): the worker's
    /// trust record (nil: no such worker) and the unit the lease is for
    /// (nil: no such lease).
    public func submissionContext(lease: UUID, worker: UUID) async throws -> SubmissionContext? {
        try await submissionLookups(SubmissionKey(lease: lease, worker: worker))
    }

    public typealias SubmissionContext = (trust: WorkerTrust, unit: LeasedUnit?)

    struct SubmissionKey: Sendable {
        var lease: UUID
        var worker: UUID
    }

    static func submissionContexts(_ keys: [SubmissionKey], db: Database,
                                   logger: Logger) async throws -> [SubmissionContext?] {
        var found = [SubmissionContext?](repeating: nil, count: keys.count)
        let rows = try await db.execute(SubmissionLookups(leases: keys.map(\.lease), workers: keys.map(\.worker)), logger: logger)
        for try await (n, valid, strikes, until, ban, run, step, unit, kind) in rows where (1...keys.count).contains(n) {
            let trust = WorkerTrust(consecutiveValid: valid, strikes: strikes, quarantinedUntil: until, banReason: ban)
            if let run, let step, let unit, let kind {
                found[n - 1] = (trust, LeasedUnit(run: run, step: step, unit: unit, isEvaluation: kind == "eval"))
            } else {
                found[n - 1] = (trust, nil)
            }
        }
        return found
    }

    /// When nothing is pending: a backup copy of the outstanding unit whose
    /// oldest lease is oldest, once that lease is `minimumLeaseAge` seconds
    /// old (a straggler, not a unit about to come back), with fewer than
    /// `maxCopies` active leases and none held by this worker; the first
    /// accepted copy wins.
    func claimBackup(worker: UUID, leaseSeconds: Double, maxCopies: Int, minimumLeaseAge: Double) async throws -> LeaseGrant? {
        guard maxCopies > 1 else { return nil }
        return try await db.withTransaction(logger: logger) { conn in
            var target: (Int, Int, Int)?
            // Driven by the active leases old enough to back up (leases_active_leased_at: a few
            // stragglers), not by the step's units or every lease out: when nothing is old, it
            // reads nothing.
            let backup = try await conn.query("""
                SELECT u.run_id, u.step, u.unit
                FROM (SELECT l.run_id, l.step, l.unit, min(l.leased_at) AS oldest
                      FROM leases l WHERE l.state = 'active' AND l.leased_at <= now() - make_interval(secs => \(minimumLeaseAge))
                      GROUP BY l.run_id, l.step, l.unit) o
                JOIN runs r ON r.id = o.run_id AND r.state = 'active' AND r.current_step = o.step
                JOIN workers me ON me.id = \(worker) AND me.ban_reason IS NULL
                                   AND (me.quarantined_until IS NULL OR me.quarantined_until <= now())
                JOIN units u ON u.run_id = o.run_id AND u.step = o.step AND u.unit = o.unit
                WHERE u.state = 'leased' AND u.kind = 'train'
                  AND (SELECT count(*) FROM leases c WHERE c.run_id = u.run_id AND c.step = u.step AND c.unit = u.unit
                       AND c.state = 'active') < \(maxCopies)
                  AND NOT EXISTS (SELECT 1 FROM leases c WHERE c.run_id = u.run_id AND c.step = u.step AND c.unit = u.unit
                                  AND c.state = 'active' AND c.worker_id = \(worker))
                  AND NOT EXISTS (SELECT 1 FROM units p WHERE p.run_id = u.run_id AND p.step = u.step AND p.state = 'pending'
                                  AND p.kind = 'train')
                ORDER BY o.oldest, u.unit
                LIMIT 1 FOR UPDATE OF u SKIP LOCKED
                """, logger: logger)
            for try await row in backup.decode((Int, Int, Int).self) { target = row }
            guard let (run, step, unit) = target else { return nil }
            let id = UUID()
            let rows = try await conn.query("""
                INSERT INTO leases (id, run_id, step, unit, worker_id, is_backup, deadline)
                VALUES (\(id), \(run), \(step), \(unit), \(worker), true, now() + make_interval(secs => \(leaseSeconds)))
                RETURNING deadline, (SELECT parameters_sha256 FROM parameter_versions WHERE run_id = \(run) AND version = \(step))
                """, logger: logger)
            for try await (deadline, sha) in rows.decode((Date, String).self) {
                return LeaseGrant(leaseID: id, runID: run, step: step, unit: unit, isBackup: true,
                                  deadline: deadline, parametersSHA256: sha)
            }
            return nil
        }
    }

    /// Extends an active lease of this worker.
    public func heartbeat(lease: UUID, worker: UUID, leaseSeconds: Double) async throws -> HeartbeatOutcome {
        let rows = try await db.query("""
            UPDATE leases SET deadline = now() + make_interval(secs => \(leaseSeconds))
            WHERE id = \(lease) AND worker_id = \(worker) AND state = 'active' AND deadline >= now()
            RETURNING deadline
            """, logger: logger)
        for try await deadline in rows.decode(Date.self) { return .extended(deadline) }
        return try await whyNot(lease: lease, worker: worker)
    }

    private func whyNot(lease: UUID, worker: UUID) async throws -> HeartbeatOutcome {
        let rows = try await db.query("""
            SELECT worker_id, CASE WHEN state = 'active' AND deadline < now() THEN 'expired' ELSE state END
            FROM leases WHERE id = \(lease)
            """, logger: logger)
        for try await (owner, state) in rows.decode((UUID, String).self) {
            return owner != worker ? .foreignLease : .leaseNotActive(state: state)
        }
        return .unknownLease
    }

    /// A worker gives its unit back (it stops before finishing).
    public func release(lease: UUID, worker: UUID) async throws -> HeartbeatOutcome {
        let released: HeartbeatOutcome? = try await db.withTransaction(logger: logger) { conn in
            // Unit before lease, the order every transaction here locks them in (no deadlocks).
            try await conn.query("""
                SELECT 1 FROM units u JOIN leases l ON l.run_id = u.run_id AND l.step = u.step AND l.unit = u.unit
                WHERE l.id = \(lease) FOR UPDATE OF u
                """, logger: logger)
            let rows = try await conn.query("""
                UPDATE leases SET state = 'released' WHERE id = \(lease) AND worker_id = \(worker) AND state = 'active'
                RETURNING run_id, step, unit
                """, logger: logger)
            for try await (r, s, u) in rows.decode((Int, Int, Int).self) {
                try await Self.returnIfUnleased(conn, run: r, step: s, unit: u, logger: logger)
                return .extended(Date())
            }
            return nil
        }
        if let released { return released }
        return try await whyNot(lease: lease, worker: worker)
    }

    static func returnIfUnleased(_ conn: Database.Connection, run: Int, step: Int, unit: Int, logger: Logger) async throws {
        try await conn.query("""
            UPDATE units u SET state = 'pending'
            WHERE u.run_id = \(run) AND u.step = \(step) AND u.unit = \(unit) AND u.state = 'leased'
              AND NOT EXISTS (SELECT 1 FROM leases l WHERE l.run_id = u.run_id AND l.step = u.step AND l.unit = u.unit
                              AND l.state = 'active' AND l.deadline >= now())
            """, logger: logger)
    }

    /// Expires overdue leases and returns their units to the queue; returns how many expired.
    @discardableResult
    public func expireOverdue() async throws -> Int {
        try await db.withTransaction(logger: logger) { conn in
            // Units before leases (the order every transaction here locks them in); a unit
            // another transaction holds (a result arriving) is left for the next sweep.
            let rows = try await conn.query("""
                WITH locked AS (
                    SELECT u.run_id, u.step, u.unit FROM units u
                    WHERE EXISTS (SELECT 1 FROM leases l WHERE l.run_id = u.run_id AND l.step = u.step AND l.unit = u.unit
                                  AND l.state = 'active' AND l.deadline < now())
                    ORDER BY u.run_id, u.step, u.unit FOR UPDATE OF u SKIP LOCKED)
                UPDATE leases l SET state = 'expired' FROM locked k
                WHERE l.run_id = k.run_id AND l.step = k.step AND l.unit = k.unit AND l.state = 'active' AND l.deadline < now()
                RETURNING l.run_id, l.step, l.unit
                """, logger: logger)
            var units: [(Int, Int, Int)] = []
            for try await u in rows.decode((Int, Int, Int).self) { units.append(u) }
            for (r, s, u) in units { try await Self.returnIfUnleased(conn, run: r, step: s, unit: u, logger: logger) }
            return units.count
        }
    }

    /// Records a result whose payload (SHA-256 `payload`) is already in the
    /// blob store. The first result for a unit wins; the same submission
    /// again gets the same answer. One statement (`koinon_submit`, migration
    /// 0002): one round trip and one commit.
    /// With `replicate`, a first copy waits for a replica from another worker
    /// (independent of it, and at another address with `distinctAddresses`).
    /// With `replicateDuplicates`, so does a payload that is another unit's result (a replay).
    public func submit(lease: UUID, worker: UUID, payload: String, loss: Double, tokens: Int, replicate: Bool = false,
                       replicateDuplicates: Bool = false, distinctAddresses: Bool = true) async throws -> SubmitOutcome {
        try await submitClaimingNext(lease: lease, worker: worker, payload: payload, loss: loss, tokens: tokens,
                                     replicate: replicate, replicateDuplicates: replicateDuplicates,
                                     distinctAddresses: distinctAddresses, nextLeaseSeconds: nil).outcome
    }

    /// Records a result and, with `nextLeaseSeconds`, claims the worker's next
    /// pending unit in the same statement when the result is accepted without
    /// completing its step (the worker asked for it with the result). The
    /// grant is nil when none was asked for or none is pending: the caller
    /// then looks for other work (`claim(…, pendingTried: true)`). The claim is
    /// part of the results' statement: should it fail, the batch's results
    /// are recorded again one by one, each with its claim (`submit(_:db:logger:)`).
    public func submitClaimingNext(lease: UUID, worker: UUID, payload: String, loss: Double, tokens: Int,
                                   replicate: Bool = false, replicateDuplicates: Bool = false, distinctAddresses: Bool = true,
                                   nextLeaseSeconds: Double?) async throws -> (outcome: SubmitOutcome, next: LeaseGrant?) {
        try await submissions(Submission(lease: lease, worker: worker, payload: payload, loss: loss, tokens: tokens,
                                         replicate: replicate, replicateDuplicates: replicateDuplicates,
                                         distinctAddresses: distinctAddresses,
                                         next: nextLeaseSeconds.map { PendingClaim(lease: UUID(), worker: worker, leaseSeconds: $0) }))
    }

    /// A result to record (the arguments of `koinon_submit`).
    struct Submission: Sendable {
        var lease: UUID
        var worker: UUID
        var payload: String
        var loss: Double
        var tokens: Int
        var replicate: Bool
        var replicateDuplicates: Bool
        var distinctAddresses: Bool
        /// The worker's next unit, claimed if the result is accepted without completing its step.
        var next: PendingClaim? = nil
    }

    /// A batch of results in one statement. Should it fail as a whole (say a
    /// deadlock with another process's batch, or one result's error), every
    /// result is recorded again on its own: the batch was rolled back, and
    /// `koinon_submit` gives a result the same answer whenever it comes.
    /// (Not when the database is unavailable or not answering: each would
    /// only wait as long again. The workers hand those results in again.)
    static func submit(_ batch: [Submission], db: Database, logger: Logger) async -> [Result<(SubmitOutcome, LeaseGrant?), any Error>] {
        do {
            return try await record(batch, db: db, logger: logger).map { .success($0) }
        } catch where batch.count > 1 && !Database.isUnavailable(error) {
            logger.debug("a batch of \(batch.count) results failed (\(Database.describe(error))); recording them one by one")
            var out: [Result<(SubmitOutcome, LeaseGrant?), any Error>] = []
            for one in batch {
                do { out.append(.success(try await record([one], db: db, logger: logger)[0])) } catch { out.append(.failure(error)) }
            }
            return out
        } catch {
            return batch.map { _ in .failure(error) }
        }
    }

    private static func record(_ batch: [Submission], db: Database, logger: Logger) async throws -> [(SubmitOutcome, LeaseGrant?)] {
        var outcomes = [(SubmitOutcome, LeaseGrant?)?](repeating: nil, count: batch.count)
        for try await (n, outcome, detail, complete, lease, run, step, unit, deadline, sha)
            in try await db.execute(SubmitResults(results: batch), logger: logger) {
            guard (1...batch.count).contains(n) else { continue }
            var grant: LeaseGrant?
            if let lease, let run, let step, let unit, let deadline, let sha {
                grant = LeaseGrant(leaseID: lease, runID: run, step: step, unit: unit, isBackup: false, deadline: deadline,
                                   parametersSHA256: sha)
            }
            outcomes[n - 1] = (Self.outcome(outcome, detail: detail, stepComplete: complete), grant)
        }
        return try outcomes.map { outcome in
            guard let outcome else { throw EngineError("koinon_submit returned no row for a result") }
            return outcome
        }
    }

    static func outcome(_ outcome: String, detail: String?, stepComplete: Bool) -> SubmitOutcome {
        switch outcome {
        case "accepted", "replica": return .accepted(stepComplete: stepComplete)
        case "superseded": return .superseded
        case "provisional": return .provisional
        case "compare": return .compare
        case "dropped": return .dropped
        case "rejected": return .foundWrong
        case "conflict": return .conflict
        case "unknown_lease": return .unknownLease
        case "foreign_lease": return .foreignLease
        default: return .leaseNotActive(state: detail ?? outcome)
        }
    }
}
