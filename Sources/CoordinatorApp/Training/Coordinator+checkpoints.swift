import Foundation
import PostgresNIO

extension Coordinator {
    /// Writes a full checkpoint (optimizer state) of every run whose engine is
    /// in memory at the run's current version, unless that version has one.
    /// Called at graceful shutdown: a restart then resumes without replaying.
    public func checkpointAll() async {
        for (id, engine) in engines {
            let version = engine.version
            do {
                // Under the run's aggregation lock, so no step is applied meanwhile (a step being
                // applied right now holds it: wait for it, a little).
                var done: Bool?
                for _ in 0..<50 where done == nil {
                    done = try await whileAggregating(id) { try await checkpoint(run: id, engine: engine, at: version) }
                    if done == nil { try await Task.sleep(for: .milliseconds(100)) }
                }
                if done == true { logger.info("run \(id): checkpoint at version \(version)") }
            } catch {
                logger.error("run \(id): checkpoint at shutdown failed (a restart replays from the last one): \(Database.describe(error))")
            }
        }
    }

    /// Stores the optimizer state of `version` if the run is still there and has none; true when written.
    private func checkpoint(run id: Int, engine: RunEngine, at version: Int) async throws -> Bool {
        guard engine.version == version, let record = try await runs.get(id), record.currentStep == version,
              let saved = try await runs.parameterVersion(run: id, version: version), saved.optimizer == nil else { return false }
        let optimizer = try blobs.put(engine.optimizerPayload())
        guard try await steps.recordCheckpoint(run: id, version: version, optimizerSHA256: optimizer) else { return false }
        try await prune(run: id, checkpoint: version)
        return true
    }

    /// After a full checkpoint at `version`, nothing before it is needed to
    /// resume: drops the result payloads of the steps since the previous
    /// checkpoint and the parameters of the versions between the two
    /// checkpoints (checkpoints themselves are kept: they are the run's history).
    func prune(run: Int, checkpoint version: Int) async throws {
        // Candidates: this run's payloads and versions the checkpoint covers; kept when
        // any run still needs the same bytes (a checkpoint, a current version, or a
        // result after its run's latest checkpoint).
        let rows = try await db.query("""
            WITH previous AS (
                SELECT coalesce(max(version), 0) AS v FROM parameter_versions
                WHERE run_id = \(run) AND optimizer_sha256 IS NOT NULL AND version < \(version)),
            candidates AS (
                SELECT payload_sha256 AS sha FROM results, previous
                WHERE run_id = \(run) AND step >= previous.v AND step < \(version)
                UNION
                SELECT p.parameters_sha256 FROM parameter_versions p, previous
                WHERE p.run_id = \(run) AND p.version > previous.v AND p.version < \(version) AND p.optimizer_sha256 IS NULL
                  -- A version whose evaluation is still out stays until its loss is recorded.
                  AND NOT EXISTS (SELECT 1 FROM steps s WHERE s.run_id = p.run_id AND s.step = p.version
                                  AND s.evaluation_pending))
            SELECT c.sha FROM candidates c
            WHERE NOT EXISTS (SELECT 1 FROM parameter_versions p JOIN runs r ON r.id = p.run_id
                              WHERE p.parameters_sha256 = c.sha
                                AND (p.optimizer_sha256 IS NOT NULL OR p.version >= r.current_step
                                     OR EXISTS (SELECT 1 FROM steps s WHERE s.run_id = p.run_id AND s.step = p.version
                                                AND s.evaluation_pending)))
              AND NOT EXISTS (SELECT 1 FROM results x
                              WHERE x.payload_sha256 = c.sha
                                AND x.step >= (SELECT coalesce(max(q.version), 0) FROM parameter_versions q
                                               WHERE q.run_id = x.run_id AND q.optimizer_sha256 IS NOT NULL))
            """, logger: logger)
        var count = 0
        for try await sha in rows.decode(String.self) {
            blobs.remove(sha)
            count += 1
        }
        if count > 0 { logger.debug("run \(run): pruned \(count) blob(s) before checkpoint \(version)") }
    }

    /// After version `version`'s evaluation is recorded: its parameters, kept
    /// for the evaluation past the checkpoint that would have pruned them, go
    /// unless something else still needs the same bytes.
    func pruneEvaluated(run: Int, version: Int) async throws {
        let rows = try await db.query("""
            SELECT p.parameters_sha256 FROM parameter_versions p JOIN runs r ON r.id = p.run_id
            WHERE p.run_id = \(run) AND p.version = \(version) AND p.optimizer_sha256 IS NULL
              AND p.version < (SELECT coalesce(max(q.version), 0) FROM parameter_versions q
                               WHERE q.run_id = p.run_id AND q.optimizer_sha256 IS NOT NULL)
              AND NOT EXISTS (SELECT 1 FROM parameter_versions o JOIN runs ro ON ro.id = o.run_id
                              WHERE o.parameters_sha256 = p.parameters_sha256
                                AND (o.optimizer_sha256 IS NOT NULL OR o.version >= ro.current_step
                                     OR EXISTS (SELECT 1 FROM steps s WHERE s.run_id = o.run_id AND s.step = o.version
                                                AND s.evaluation_pending)))
            """, logger: logger)
        for try await sha in rows.decode(String.self) { blobs.remove(sha) }
    }
}
