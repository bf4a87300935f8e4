import Foundation
import PostgresNIO

// The statements of the lease → submit cycle, prepared once per connection:
// PostgreSQL then plans them once instead of at every request (planning the
// claim took about as long as running it).

/// Leases the lowest pending unit of an active run's current step (see LeaseRepository.claimPending).
struct ClaimPendingUnit: PostgresPreparedStatement {
    static let sql = """
        WITH target AS (
            -- Run by run, the lowest pending unit of its current step: an ordered
            -- scan of units_pending that stops at the first unlocked row (a join
            -- sorted afterwards reads every pending unit of the step: 3.5 ms at
            -- 4,000 units instead of 0.2 ms).
            SELECT t.run_id, t.step, t.unit
            FROM (SELECT id, current_step FROM runs WHERE state = 'active' AND \(workerMayWork) ORDER BY id) r,
            LATERAL (SELECT u.run_id, u.step, u.unit FROM units u
                     WHERE u.run_id = r.id AND u.step = r.current_step AND u.state = 'pending' AND u.kind = 'train'
                     ORDER BY u.unit LIMIT 1 FOR UPDATE SKIP LOCKED) t
            LIMIT 1),
        """ + leaseTarget
    /// Worker $2 is neither banned nor quarantined (WorkerTrust.mayWork, in SQL so a claim stays one statement).
    static let workerMayWork = """
        EXISTS (SELECT 1 FROM workers w WHERE w.id = $2 AND w.ban_reason IS NULL
                AND (w.quarantined_until IS NULL OR w.quarantined_until <= now()))
        """
    /// Leases the unit in `target` to worker $2 as lease $1 for $3 seconds,
    /// answering what the assignment needs.
    static let leaseTarget = """
        claimed AS (
            UPDATE units u SET state = 'leased' FROM target t
            WHERE u.run_id = t.run_id AND u.step = t.step AND u.unit = t.unit
            RETURNING u.run_id, u.step, u.unit),
        lease AS (
            INSERT INTO leases (id, run_id, step, unit, worker_id, is_backup, deadline)
            SELECT $1, run_id, step, unit, $2, false, now() + make_interval(secs => $3) FROM claimed
            RETURNING run_id, step, unit, deadline)
        SELECT l.run_id, l.step, l.unit, l.deadline, p.parameters_sha256
        FROM lease l JOIN parameter_versions p ON p.run_id = l.run_id AND p.version = l.step
        """
    typealias Row = (Int, Int, Int, Date, String)
    var lease: UUID
    var worker: UUID
    var leaseSeconds: Double

    func makeBindings() throws -> PostgresBindings {
        var bindings = PostgresBindings()
        bindings.append(lease)
        bindings.append(worker)
        bindings.append(leaseSeconds)
        return bindings
    }

    func decodeRow(_ row: PostgresRow) throws -> Row { try row.decode(Row.self) }
}

/// Leases the oldest pending evaluation unit of an active or finished run
/// (asked only when no training unit is pending: training goes first).
struct ClaimEvaluationUnit: PostgresPreparedStatement {
    static let sql = """
        WITH target AS (
            SELECT t.run_id, t.step, t.unit
            FROM (SELECT id FROM runs WHERE state IN ('active', 'finished') AND \(ClaimPendingUnit.workerMayWork) ORDER BY id) r,
            LATERAL (SELECT u.run_id, u.step, u.unit FROM units u
                     WHERE u.run_id = r.id AND u.state = 'pending' AND u.kind = 'eval'
                     ORDER BY u.step, u.unit LIMIT 1 FOR UPDATE SKIP LOCKED) t
            LIMIT 1),
        """ + ClaimPendingUnit.leaseTarget
    typealias Row = ClaimPendingUnit.Row
    var lease: UUID
    var worker: UUID
    var leaseSeconds: Double

    func makeBindings() throws -> PostgresBindings { try ClaimPendingUnit(lease: lease, worker: worker, leaseSeconds: leaseSeconds).makeBindings() }

    func decodeRow(_ row: PostgresRow) throws -> Row { try row.decode(Row.self) }
}

/// Records a result (migration 0004's `koinon_submit`).
struct SubmitResult: PostgresPreparedStatement {
    static let sql = "SELECT outcome, detail, step_complete FROM koinon_submit($1, $2, $3, $4, $5, $6, $7, $8)"
    typealias Row = (String, String?, Bool)
    var lease: UUID
    var worker: UUID
    var payloadSHA256: String
    var loss: Double
    var tokens: Int
    var replicate: Bool
    var replicateDuplicates: Bool
    var distinctAddresses: Bool

    func makeBindings() throws -> PostgresBindings {
        var bindings = PostgresBindings()
        bindings.append(lease)
        bindings.append(worker)
        bindings.append(payloadSHA256)
        bindings.append(loss)
        bindings.append(tokens)
        bindings.append(replicate)
        bindings.append(replicateDuplicates)
        bindings.append(distinctAddresses)
        return bindings
    }

    func decodeRow(_ row: PostgresRow) throws -> Row { try row.decode(Row.self) }
}

/// The unit a lease is for: run, step, unit and kind.
struct LeaseRunLookup: PostgresPreparedStatement {
    static let sql = """
        SELECT l.run_id, l.step, l.unit, u.kind FROM leases l
        JOIN units u ON u.run_id = l.run_id AND u.step = l.step AND u.unit = l.unit WHERE l.id = $1
        """
    typealias Row = (Int, Int, Int, String)
    var lease: UUID

    func makeBindings() throws -> PostgresBindings {
        var bindings = PostgresBindings()
        bindings.append(lease)
        return bindings
    }

    func decodeRow(_ row: PostgresRow) throws -> Row { try row.decode(Row.self) }
}
