import Foundation
import Logging
import PostgresNIO
import Wire

/// What the status snapshot reads from the database, about once a second
/// (`StatusBoard`): a handful of grouped queries over small tables and
/// partial indexes, whatever the number of requests.
public struct StatusRepository: Sendable {
    let db: Database
    let logger: Logger

    public init(db: Database, logger: Logger) {
        self.db = db
        self.logger = logger
    }

    public struct RunRow: Sendable, Equatable {
        public var id: Int
        public var name: String
        public var state: String
        public var currentStep: Int
        public var totalSteps: Int
        public var createdAt: Date
    }

    /// An applied step: its training loss, the validation loss of the
    /// version it produced (once evaluated), its tokens and when it applied.
    public struct StepRow: Sendable, Equatable {
        public var step: Int
        public var trainLoss: Double
        public var validationLoss: Double?
        public var tokens: Int
        public var appliedAt: Date

        public init(step: Int, trainLoss: Double, validationLoss: Double?, tokens: Int, appliedAt: Date) {
            self.step = step
            self.trainLoss = trainLoss
            self.validationLoss = validationLoss
            self.tokens = tokens
            self.appliedAt = appliedAt
        }
    }

    public func runs() async throws -> [RunRow] {
        let rows = try await db.query("""
            SELECT id, name, state, current_step, total_steps, created_at FROM runs ORDER BY id
            """, logger: logger)
        var out: [RunRow] = []
        for try await (id, name, state, step, total, created) in rows.decode((Int, String, String, Int, Int, Date).self) {
            out.append(RunRow(id: id, name: name, state: state, currentStep: step, totalSteps: total, createdAt: created))
        }
        return out
    }

    /// Applied steps after `step` (all with -1), oldest first.
    public func appliedSteps(run: Int, after step: Int = -1) async throws -> [StepRow] {
        try await stepRows(db.query("""
            SELECT step, train_loss, validation_loss, tokens, applied_at FROM steps
            WHERE run_id = \(run) AND state = 'applied' AND step > \(step) ORDER BY step
            """, logger: logger))
    }

    /// The applied steps whose version has a validation loss (a few per run).
    public func validatedSteps(run: Int) async throws -> [StepRow] {
        try await stepRows(db.query("""
            SELECT step, train_loss, validation_loss, tokens, applied_at FROM steps
            WHERE run_id = \(run) AND validation_loss IS NOT NULL AND state = 'applied' ORDER BY step
            """, logger: logger))
    }

    private func stepRows(_ rows: PostgresRowSequence) async throws -> [StepRow] {
        var out: [StepRow] = []
        for try await (step, loss, validation, tokens, at) in rows.decode((Int, Double, Double?, Int, Date).self) {
            out.append(StepRow(step: step, trainLoss: loss, validationLoss: validation, tokens: tokens, appliedAt: at))
        }
        return out
    }

    /// Every run's current step: training units by state (LATERAL: each run's step by index; a
    /// join with `runs` was planned as a scan of every unit of every step).
    public func unitCounts() async throws -> [Int: UnitCounts] {
        let rows = try await db.query("""
            SELECT r.id, c.state, c.n FROM runs r CROSS JOIN LATERAL (
                SELECT u.state, count(*) AS n FROM units u
                WHERE u.run_id = r.id AND u.step = r.current_step AND u.kind = 'train' GROUP BY u.state) c
            """, logger: logger)
        var out: [Int: UnitCounts] = [:]
        for try await (run, state, n) in rows.decode((Int, String, Int).self) {
            var c = out[run] ?? UnitCounts()
            switch state {
            case "pending": c.pending = n
            case "leased": c.leased = n
            case "submitted": c.submitted = n
            case "verifying": c.verifying = n
            default: c.accepted = n
            }
            out[run] = c
        }
        return out
    }

    /// Evaluation units not yet accepted, by run.
    public func evaluationUnitsOutstanding() async throws -> [Int: Int] {
        try await countsByRun("""
            SELECT s.run_id, count(*) FROM steps s
            JOIN units u ON u.run_id = s.run_id AND u.step = s.step AND u.kind = 'eval' AND u.state <> 'accepted'
            WHERE s.evaluation_pending GROUP BY s.run_id
            """)
    }

    /// Evaluations not yet recorded (steps with `evaluation_pending`), by run.
    public func pendingEvaluations() async throws -> [Int: Int] {
        try await countsByRun("SELECT run_id, count(*) FROM steps WHERE evaluation_pending GROUP BY run_id")
    }

    /// Per run: accepted (applied) results, superseded and verifying copies and the units they were copies of, rejections by reason.
    public func verification() async throws -> [Int: VerificationStatus] {
        var out: [Int: VerificationStatus] = [:]
        for (run, units) in try await countsByRun("SELECT run_id, sum(units)::bigint FROM contributions GROUP BY run_id") {
            out[run, default: VerificationStatus()].acceptedResults = units
        }
        var replicatedUnits: [Int: Int] = [:]
        let superseded = try await db.query("""
            SELECT run_id, count(*), count(DISTINCT (step, unit)) FROM results WHERE status = 'superseded' GROUP BY run_id
            """, logger: logger)
        for try await (run, copies, units) in superseded.decode((Int, Int, Int).self) {
            out[run, default: VerificationStatus()].supersededResults = copies
            replicatedUnits[run] = units
        }
        let replicas = try await db.query("""
            SELECT run_id, count(*), count(DISTINCT (step, unit)) FROM results WHERE status = 'replica' GROUP BY run_id
            """, logger: logger)
        for try await (run, copies, units) in replicas.decode((Int, Int, Int).self) {
            out[run, default: VerificationStatus()].verifiedCopies = copies
            replicatedUnits[run, default: 0] += units
        }
        let rejected = try await db.query("SELECT run_id, reason, count(*) FROM rejections GROUP BY run_id, reason", logger: logger)
        for try await (run, reason, n) in rejected.decode((Int, String, Int).self) {
            out[run, default: VerificationStatus()].rejectionsByReason[reason] = n
            out[run, default: VerificationStatus()].rejectedResults += n
        }
        for (run, v) in out where v.acceptedResults > 0 {
            out[run]?.replicatedShare = Double(replicatedUnits[run] ?? 0) / Double(v.acceptedResults)
        }
        return out
    }

    /// Per run, its ten workers of most credit.
    public func topContributors(limit: Int = 10) async throws -> [Int: [Contributor]] {
        let rows = try await db.query("""
            SELECT run_id, worker_id, name, units, tokens, credit_flops FROM (
                SELECT c.run_id, c.worker_id, w.name, c.units, c.tokens, c.credit_flops,
                       row_number() OVER (PARTITION BY c.run_id ORDER BY c.credit_flops DESC, w.name) AS rank
                FROM contributions c JOIN workers w ON w.id = c.worker_id) ranked
            WHERE rank <= \(limit) ORDER BY run_id, rank
            """, logger: logger)
        var out: [Int: [Contributor]] = [:]
        for try await (run, id, name, units, tokens, credit) in rows.decode((Int, UUID, String, Int, Int, Double).self) {
            out[run, default: []].append(Contributor(workerID: id, name: name, units: units, tokens: tokens, creditFLOPs: credit))
        }
        return out
    }

    /// Workers seen in the last day, most recent first (at most `limit`), with their active leases.
    public func workers(limit: Int = 200) async throws -> [WorkerStatus] {
        var active: [UUID: Int] = [:]
        let leases = try await db.query("SELECT worker_id, count(*) FROM leases WHERE state = 'active' GROUP BY worker_id",
                                        logger: logger)
        for try await (id, n) in leases.decode((UUID, Int).self) { active[id] = n }
        let rows = try await db.query("""
            SELECT id, name, backend, threads, version, last_seen_at, last_seen_at > now() - interval '1 minute',
                   accepted_units, rejected_results, consecutive_valid, credit_flops
            FROM workers WHERE last_seen_at > now() - interval '1 day' ORDER BY last_seen_at DESC, name LIMIT \(limit)
            """, logger: logger)
        var out: [WorkerStatus] = []
        for try await row in rows.decode((UUID, String, String, Int, String, Date, Bool, Int, Int, Int, Double).self) {
            out.append(WorkerStatus(workerID: row.0, name: row.1, backend: row.2, threads: row.3, version: row.4,
                                    lastSeen: row.5, online: row.6, acceptedUnits: row.7, rejectedResults: row.8,
                                    consecutiveValid: row.9, activeLeases: active[row.0] ?? 0, creditFLOPs: row.10))
        }
        return out
    }

    /// Workers seen in the last minute, by backend kind (what a worker's
    /// backend description says before its first ':', e.g. "cpu").
    public func workersOnline() async throws -> [String: Int] {
        let rows = try await db.query("""
            SELECT trim(split_part(backend, ':', 1)), count(*) FROM workers
            WHERE last_seen_at > now() - interval '1 minute' GROUP BY 1
            """, logger: logger)
        var out: [String: Int] = [:]
        for try await (backend, n) in rows.decode((String, Int).self) { out[backend.isEmpty ? "unknown" : backend] = n }
        return out
    }

    public func recentRejections(limit: Int = 20) async throws -> [RejectionRecord] {
        let rows = try await db.query("""
            SELECT r.at, r.worker_id, w.name, r.run_id, r.step, r.unit, r.reason, r.message
            FROM rejections r JOIN workers w ON w.id = r.worker_id ORDER BY r.id DESC LIMIT \(limit)
            """, logger: logger)
        var out: [RejectionRecord] = []
        for try await row in rows.decode((Date, UUID, String, Int, Int, Int, String, String).self) {
            out.append(RejectionRecord(at: row.0, workerID: row.1, workerName: row.2, runID: row.3, step: row.4, unit: row.5,
                                       reason: ReasonCode(rawValue: row.6), message: row.7))
        }
        return out
    }

    /// This database's server connections by state (active, idle, ...): how busy the pool is.
    public func connectionsByState() async throws -> [String: Int] {
        let rows = try await db.query("""
            SELECT coalesce(state, 'unknown'), count(*) FROM pg_stat_activity
            WHERE datname = current_database() AND backend_type = 'client backend' GROUP BY 1
            """, logger: logger)
        var out: [String: Int] = [:]
        for try await (state, n) in rows.decode((String, Int).self) { out[state] = n }
        return out
    }

    /// The most recently seen worker called `name` (its record as the
    /// status has it), and its latest results and rejections, newest first.
    public func history(workerNamed name: String, limit: Int = 50) async throws -> WorkerHistory? {
        var worker: WorkerStatus?
        let found = try await db.query("""
            SELECT id, name, backend, threads, version, last_seen_at, last_seen_at > now() - interval '1 minute',
                   accepted_units, rejected_results, consecutive_valid, credit_flops
            FROM workers WHERE name = \(name) ORDER BY last_seen_at DESC LIMIT 1
            """, logger: logger)
        for try await row in found.decode((UUID, String, String, Int, String, Date, Bool, Int, Int, Int, Double).self) {
            worker = WorkerStatus(workerID: row.0, name: row.1, backend: row.2, threads: row.3, version: row.4, lastSeen: row.5,
                                  online: row.6, acceptedUnits: row.7, rejectedResults: row.8, consecutiveValid: row.9,
                                  creditFLOPs: row.10)
        }
        guard let worker else { return nil }
        let rows = try await db.query("""
            (SELECT created_at, run_id, step, unit, status, reason, loss, tokens FROM results
             WHERE worker_id = \(worker.workerID) ORDER BY id DESC LIMIT \(limit))
            UNION ALL
            (SELECT at, run_id, step, unit, 'rejected', reason, NULL, 0 FROM rejections
             WHERE worker_id = \(worker.workerID) ORDER BY id DESC LIMIT \(limit))
            ORDER BY 1 DESC LIMIT \(limit)
            """, logger: logger)
        var entries: [WorkerHistory.Entry] = []
        for try await r in rows.decode((Date, Int, Int, Int, String, String?, Double?, Int).self) {
            entries.append(WorkerHistory.Entry(at: r.0, runID: r.1, step: r.2, unit: r.3, outcome: r.4,
                                               reason: r.4 == "superseded" ? "superseded" : r.5, loss: r.6, tokens: r.7))
        }
        return WorkerHistory(worker: worker, entries: entries)
    }

    private func countsByRun(_ sql: String) async throws -> [Int: Int] {
        let rows = try await db.query(PostgresQuery(unsafeSQL: sql), logger: logger)
        var out: [Int: Int] = [:]
        for try await (run, n) in rows.decode((Int, Int).self) { out[run] = n }
        return out
    }
}
