import Foundation
import PostgresNIO

// The statements of the lease → submit cycle, prepared once per connection:
// PostgreSQL then plans them once instead of at every request (planning the
// claim took about as long as running it).

/// Leases the lowest pending units of active runs' current steps, one to
/// each worker of a batch (see LeaseRepository.claimPending): $1 lease ids,
/// $2 workers, $3 lease seconds, one per claim. Banned and quarantined
/// workers get nothing; a claim left without a unit has no row. (Migration
/// 0009's `koinon_claim_pending`, which results' statements call too.)
struct ClaimPendingUnits: PostgresPreparedStatement {
    static let sql = """
        SELECT lease_id, run_id, step, unit, deadline, parameters_sha256
        FROM koinon_claim_pending($1::uuid[], $2::uuid[], $3::float8[])
        """
    typealias Row = (UUID, Int, Int, Int, Date, String)
    var leases: [UUID]
    var workers: [UUID]
    var leaseSeconds: [Double]

    func makeBindings() throws -> PostgresBindings {
        var bindings = PostgresBindings()
        bindings.append(leases)
        bindings.append(workers)
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
            FROM (SELECT id FROM runs WHERE state IN ('active', 'finished') AND \(workerMayWork) ORDER BY id) r,
            LATERAL (SELECT u.run_id, u.step, u.unit FROM units u
                     WHERE u.run_id = r.id AND u.state = 'pending' AND u.kind = 'eval'
                     ORDER BY u.step, u.unit LIMIT 1 FOR UPDATE SKIP LOCKED) t
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

/// Records a batch of results in one statement and one commit (migration
/// 0006's `koinon_submit_batch`, planned once per connection since 0008: the common case set-wise, the rest through
/// 0004's `koinon_submit` one by one), and claims in the same statement the
/// next unit of each result accepted without completing its step whose
/// worker asked for one (0009's `koinon_submit_and_claim`): one row per
/// result, `n` its position in the batch from 1 (rows in no particular
/// order), the claimed unit's columns NULL where none was asked or found.
struct SubmitResults: PostgresPreparedStatement {
    static let sql = """
        SELECT n, outcome, detail, step_complete, next_lease, next_run, next_step, next_unit, next_deadline,
               next_parameters_sha256
        FROM koinon_submit_and_claim($1::uuid[], $2::uuid[], $3::text[], $4::float8[], $5::int8[], $6::bool[], $7::bool[],
                                     $8::bool[], $9::bool[], $10::uuid[], $11::float8[])
        """
    typealias Row = (Int, String, String?, Bool, UUID?, Int?, Int?, Int?, Date?, String?)
    var results: [LeaseRepository.Submission]

    func makeBindings() throws -> PostgresBindings {
        var bindings = PostgresBindings()
        bindings.append(results.map(\.lease))
        bindings.append(results.map(\.worker))
        bindings.append(results.map(\.payload))
        bindings.append(results.map(\.loss))
        bindings.append(results.map(\.tokens))
        bindings.append(results.map(\.replicate))
        bindings.append(results.map(\.replicateDuplicates))
        bindings.append(results.map(\.distinctAddresses))
        // Results that ask for no unit have a lease id and length no claim uses.
        bindings.append(results.map { $0.next != nil })
        bindings.append(results.map { $0.next?.lease ?? $0.lease })
        bindings.append(results.map { $0.next?.leaseSeconds ?? 0 })
        return bindings
    }

    func decodeRow(_ row: PostgresRow) throws -> Row { try row.decode(Row.self) }
}

/// What submissions are checked against, for a batch of them in one round
/// trip: each worker's trust record and the unit its lease is for (NULLs
/// for an unknown lease); no row for an unknown worker. `n` counts from 1.
/// (Migration 0008's `koinon_submission_lookups`: as a statement of its own
/// PostgreSQL planned it at every call, 0.5 ms for 0.15 ms of work.)
struct SubmissionLookups: PostgresPreparedStatement {
    static let sql = """
        SELECT n, consecutive_valid, strikes, quarantined_until, ban_reason, run_id, step, unit, kind
        FROM koinon_submission_lookups($1::uuid[], $2::uuid[])
        """
    typealias Row = (Int, Int, Int, Date?, String?, Int?, Int?, Int?, String?)
    var leases: [UUID]
    var workers: [UUID]

    func makeBindings() throws -> PostgresBindings {
        var bindings = PostgresBindings()
        bindings.append(leases)
        bindings.append(workers)
        return bindings
    }

    func decodeRow(_ row: PostgresRow) throws -> Row { try row.decode(Row.self) }
}

/// Whether any work other than pending training units exists (each an
/// index probe that stops at its first row): units waiting for a replica,
/// active leases at least $1 seconds old (candidates for backup copies),
/// pending evaluation units.
struct OtherWorkProbe: PostgresPreparedStatement {
    static let sql = """
        SELECT EXISTS (SELECT 1 FROM units u WHERE u.state = 'verifying'),
               EXISTS (SELECT 1 FROM leases l WHERE l.state = 'active' AND l.leased_at <= now() - make_interval(secs => $1)),
               EXISTS (SELECT 1 FROM units u WHERE u.state = 'pending' AND u.kind = 'eval')
        """
    typealias Row = (Bool, Bool, Bool)
    var minimumLeaseAge: Double

    func makeBindings() throws -> PostgresBindings {
        var bindings = PostgresBindings()
        bindings.append(minimumLeaseAge)
        return bindings
    }

    func decodeRow(_ row: PostgresRow) throws -> Row { try row.decode(Row.self) }
}
