import Foundation
import Logging
import PostgresNIO

extension StepRepository {
    /// Adds accepted work to the workers' credit in this run and to their
    /// record (accepted units, credit), in the caller's transaction: credit is
    /// given exactly when the work is applied. (Valid results in a row are the
    /// trust machine's, counted when a result is accepted or verified.)
    static func credit(_ conn: Database.Connection, run: Int, _ contributions: [Contribution], logger: Logger) async throws {
        guard !contributions.isEmpty else { return }
        let workers = contributions.map(\.worker), units = contributions.map(\.units)
        let tokens = contributions.map(\.tokens), flops = contributions.map(\.flops)
        // Worker rows are locked in id order, as "last seen" does (WorkerSessions): two
        // coordinator processes updating the same workers cannot deadlock.
        try await conn.query("SELECT 1 FROM workers WHERE id = ANY(\(workers)) ORDER BY id FOR NO KEY UPDATE", logger: logger)
        try await conn.query("""
            INSERT INTO contributions AS c (run_id, worker_id, units, tokens, credit_flops)
            SELECT \(run), w, u, t, f FROM unnest(\(workers)::uuid[], \(units)::int[], \(tokens)::bigint[], \(flops)::float8[]) AS x(w, u, t, f)
            ON CONFLICT (run_id, worker_id) DO UPDATE
            SET units = c.units + EXCLUDED.units, tokens = c.tokens + EXCLUDED.tokens,
                credit_flops = c.credit_flops + EXCLUDED.credit_flops
            """, logger: logger)
        try await conn.query("""
            UPDATE workers w SET accepted_units = w.accepted_units + x.u, credit_flops = w.credit_flops + x.f
            FROM unnest(\(workers)::uuid[], \(units)::int[], \(flops)::float8[]) AS x(id, u, f) WHERE w.id = x.id
            """, logger: logger)
    }

    /// Evaluations whose units are all accepted and whose loss is not yet
    /// recorded: (run, parameter version). Reads only pending evaluations
    /// (two partial indexes), however long the runs.
    public func completeEvaluations() async throws -> [(run: Int, version: Int)] {
        let rows = try await db.query("""
            SELECT s.run_id, s.step FROM steps s
            WHERE s.evaluation_pending
              AND NOT EXISTS (SELECT 1 FROM units u WHERE u.run_id = s.run_id AND u.step = s.step
                              AND u.kind = 'eval' AND u.state <> 'accepted')
            ORDER BY s.run_id, s.step
            """, logger: logger)
        var out: [(Int, Int)] = []
        for try await row in rows.decode((Int, Int).self) { out.append(row) }
        return out
    }

    /// Records version `version`'s validation loss (the token-weighted mean
    /// of its evaluation units, which is the mean over all evaluation
    /// windows) on the step that produced it, and credits the evaluators.
    /// Returns the loss, or nil when another process recorded it first.
    public func recordEvaluation(run: Int, version: Int, flopsPerToken: Double) async throws -> Double? {
        let results = try await acceptedResults(run: run, step: version, kind: "eval")
        let tokens = results.reduce(0) { $0 + $1.tokens }
        guard tokens > 0 else { return nil }
        let loss = results.reduce(0.0) { $0 + $1.loss * Double($1.tokens) } / Double(tokens)
        return try await db.withTransaction(logger: logger) { conn in
            // Exactly once: the flag is cleared in the same transaction that records the loss and the credit.
            let rows = try await conn.query("""
                UPDATE steps SET evaluation_pending = false
                WHERE run_id = \(run) AND step = \(version) AND evaluation_pending RETURNING step
                """, logger: logger)
            var updated = false
            for try await _ in rows { updated = true }
            guard updated else { return nil }
            try await conn.query("""
                UPDATE steps SET validation_loss = \(loss) WHERE run_id = \(run) AND step = \(version - 1)
                """, logger: logger)
            try await Self.credit(conn, run: run, Contribution.of(results, flopsPerToken: flopsPerToken), logger: logger)
            return loss
        }
    }
}
