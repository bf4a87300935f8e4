import Foundation
import Logging
import PostgresNIO

/// An accepted unit result, as aggregation reads it.
public struct AcceptedResult: Sendable, Equatable {
    public var unit: Int
    public var worker: UUID
    public var payloadSHA256: String
    public var loss: Double
    public var tokens: Int
}

/// What applying a step records.
public struct AppliedStep: Sendable {
    public var run: Int
    public var step: Int
    public var parametersSHA256: String
    /// Set on full checkpoints.
    public var optimizerSHA256: String?
    public var trainLoss: Double
    public var validationLoss: Double?
    public var learningRate: Double
    public var gradientNorm: Double
    public var tokens: Int
    /// Credit for the step's accepted units.
    public var contributions: [Contribution]
    /// Evaluation units of the new version (0: not evaluated).
    public var evaluationUnits: Int
    /// The payloads aggregated, in unit order: the step applies only if these
    /// are still its accepted results (a worker found wrong meanwhile loses its results).
    public var aggregated: [String] = []
}

/// What one worker's accepted units added to a run.
public struct Contribution: Sendable, Equatable {
    public var worker: UUID
    public var units: Int
    public var tokens: Int
    public var flops: Double

    /// Each worker's units and tokens in `results`, at `flopsPerToken`.
    public static func of(_ results: [AcceptedResult], flopsPerToken: Double) -> [Contribution] {
        var byWorker: [UUID: Contribution] = [:]
        for r in results {
            byWorker[r.worker, default: Contribution(worker: r.worker, units: 0, tokens: 0, flops: 0)].add(r, flopsPerToken)
        }
        // Each UUID's text is made once (Foundation formats it with snprintf): a step of thousands of units
        // from a thousand workers sorted on the text itself spent most of its time there.
        return byWorker.values.map { ($0.worker.uuidString, $0) }.sorted { $0.0 < $1.0 }.map(\.1)
    }

    mutating func add(_ r: AcceptedResult, _ flopsPerToken: Double) {
        units += 1
        tokens += r.tokens
        flops += Double(r.tokens) * flopsPerToken
    }
}

/// Steps: which are ready to aggregate, their accepted results, applying them.
public struct StepRepository: Sendable {
    let db: Database
    let logger: Logger

    public init(db: Database, logger: Logger) {
        self.db = db
        self.logger = logger
    }

    /// Active or paused runs whose current step has every training unit accepted.
    /// Scalar subqueries with LIMIT, not EXISTS: the planner turned EXISTS into
    /// a join that sorted every unit of every step (31 ms on 57,000 units,
    /// several times a second); these look up each run's step by index (0.2 ms).
    public func completeSteps() async throws -> [(run: Int, step: Int)] {
        let rows = try await db.query("""
            SELECT r.id, r.current_step FROM runs r
            WHERE r.state <> 'finished'
              AND (SELECT true FROM units u WHERE u.run_id = r.id AND u.step = r.current_step AND u.kind = 'train' LIMIT 1)
              AND (SELECT true FROM units u WHERE u.run_id = r.id AND u.step = r.current_step
                   AND u.state <> 'accepted' AND u.kind = 'train' LIMIT 1) IS NULL
            ORDER BY r.id
            """, logger: logger)
        var out: [(Int, Int)] = []
        for try await row in rows.decode((Int, Int).self) { out.append(row) }
        return out
    }

    /// The accepted results of a step's units of one kind ("train" or "eval"), in unit order.
    /// Evaluation units are numbered from `units_per_step` (RunRepository.openStep), so the
    /// kind is a bound on the unit number: no join with `units`, whose plan on young tables
    /// (no statistics yet) read the step's units once per result (3.5 s at 4,096 units).
    public func acceptedResults(run: Int, step: Int, kind: String = "train") async throws -> [AcceptedResult] {
        let evaluation = kind == "eval"
        let rows = try await db.query("""
            SELECT r.unit, r.worker_id, r.payload_sha256, r.loss, r.tokens FROM results r, runs n
            WHERE n.id = \(run) AND r.run_id = \(run) AND r.step = \(step) AND r.status = 'accepted'
              AND (r.unit >= n.units_per_step) = \(evaluation)
            ORDER BY r.unit
            """, logger: logger)
        var out: [AcceptedResult] = []
        for try await (u, worker, sha, loss, tokens) in rows.decode((Int, UUID, String, Double, Int).self) {
            out.append(AcceptedResult(unit: u, worker: worker, payloadSHA256: sha, loss: loss, tokens: tokens))
        }
        return out
    }

    /// Copies of the step's training units that agreed with the accepted ones
    /// (replicas): credited like them.
    public func replicaResults(run: Int, step: Int) async throws -> [AcceptedResult] {
        let rows = try await db.query("""
            SELECT r.unit, r.worker_id, r.payload_sha256, r.loss, r.tokens FROM results r
            WHERE r.run_id = \(run) AND r.step = \(step) AND r.status = 'replica'
            ORDER BY r.unit, r.id
            """, logger: logger)
        var out: [AcceptedResult] = []
        for try await (u, worker, sha, loss, tokens) in rows.decode((Int, UUID, String, Double, Int).self) {
            out.append(AcceptedResult(unit: u, worker: worker, payloadSHA256: sha, loss: loss, tokens: tokens))
        }
        return out
    }

    /// Records version step+1, closes the step and opens the next (or finishes the run), atomically.
    /// `beforeCommit` runs last inside the transaction (the caller's blobs reach the disk
    /// while PostgreSQL works, and before anything names them).
    public func apply(_ a: AppliedStep, unitsPerStep: Int, totalSteps: Int,
                      beforeCommit: @Sendable () async throws -> Void = {}) async throws {
        try await db.withTransaction(logger: logger) { conn in
            // Steps before units, as dropping a worker's results locks them: either the
            // drop waits for this step, or this sees the step's results as they are after it.
            let check = try await conn.query("""
                SELECT s.state, (SELECT coalesce(array_agg(r.payload_sha256 ORDER BY r.unit), '{}') FROM results r
                                 WHERE r.run_id = s.run_id AND r.step = s.step AND r.status = 'accepted'
                                   AND r.unit < \(unitsPerStep))
                FROM steps s WHERE s.run_id = \(a.run) AND s.step = \(a.step) FOR UPDATE
                """, logger: logger)
            for try await (state, accepted) in check.decode((String, [String]).self) {
                guard state == "open", accepted == a.aggregated || a.aggregated.isEmpty else {
                    throw EngineError("run \(a.run) step \(a.step) changed while it was being applied (a worker's results were dropped); applying it again")
                }
            }
            try await conn.query("""
                INSERT INTO parameter_versions (run_id, version, parameters_sha256, optimizer_sha256)
                VALUES (\(a.run), \(a.step + 1), \(a.parametersSHA256), \(a.optimizerSHA256))
                """, logger: logger)
            try await conn.query("""
                UPDATE steps SET state = 'applied', train_loss = \(a.trainLoss), validation_loss = \(a.validationLoss),
                       learning_rate = \(a.learningRate), gradient_norm = \(a.gradientNorm), tokens = \(a.tokens),
                       applied_at = now()
                WHERE run_id = \(a.run) AND step = \(a.step)
                """, logger: logger)
            try await Self.credit(conn, run: a.run, a.contributions, logger: logger)
            let next = a.step + 1
            if next >= totalSteps {
                try await conn.query("""
                    UPDATE runs SET current_step = \(next), state = 'finished', finished_at = now() WHERE id = \(a.run)
                    """, logger: logger)
                if a.evaluationUnits > 0 {
                    try await RunRepository.openStep(conn, run: a.run, step: next, units: 0, unitsPerStep: unitsPerStep,
                                                     evaluationUnits: a.evaluationUnits, logger: logger)
                }
            } else {
                try await conn.query("UPDATE runs SET current_step = \(next) WHERE id = \(a.run)", logger: logger)
                try await RunRepository.openStep(conn, run: a.run, step: next, units: unitsPerStep, unitsPerStep: unitsPerStep,
                                                 evaluationUnits: a.evaluationUnits, logger: logger)
            }
            try await beforeCommit()
        }
    }

    /// Records a full checkpoint (optimizer state) for an existing version.
    /// Whether the version exists (and now has its optimizer state).
    @discardableResult
    public func recordCheckpoint(run: Int, version: Int, optimizerSHA256: String) async throws -> Bool {
        let rows = try await db.query("""
            UPDATE parameter_versions SET optimizer_sha256 = \(optimizerSHA256) WHERE run_id = \(run) AND version = \(version)
            RETURNING version
            """, logger: logger)
        for try await _ in rows { return true }
        return false
    }

}
