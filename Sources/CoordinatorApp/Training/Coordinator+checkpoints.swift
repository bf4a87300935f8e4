import Foundation
import PostgresNIO

extension Coordinator {
    /// Writes a full checkpoint (optimizer state) of every run whose engine is
    /// in memory at the run's current version, unless that version has one.
    /// Called at graceful shutdown: a restart then resumes without replaying.
    public func checkpointAll() async {
        for (id, engine) in engines {
            do {
                guard let record = try await runs.get(id), record.currentStep == engine.version,
                      let saved = try await runs.parameterVersion(run: id, version: engine.version),
                      saved.optimizer == nil else { continue }
                let optimizer = try blobs.put(engine.optimizerPayload())
                try await steps.recordCheckpoint(run: id, version: engine.version, optimizerSHA256: optimizer)
                try await prune(run: id, checkpoint: engine.version)
                logger.info("run \(id): checkpoint at version \(engine.version)")
            } catch {
                logger.error("run \(id): checkpoint at shutdown failed (a restart replays from the last one): \(error)")
            }
        }
    }

    /// After a full checkpoint at `version`, nothing before it is needed to
    /// resume: drops the result payloads of the steps since the previous
    /// checkpoint and the parameters of the versions between the two
    /// checkpoints (checkpoints themselves are kept: they are the run's history).
    func prune(run: Int, checkpoint version: Int) async throws {
        let rows = try await db.query("""
            WITH previous AS (
                SELECT coalesce(max(version), 0) AS v FROM parameter_versions
                WHERE run_id = \(run) AND optimizer_sha256 IS NOT NULL AND version < \(version))
            SELECT payload_sha256 FROM results, previous WHERE run_id = \(run) AND step >= previous.v AND step < \(version)
            UNION ALL
            SELECT parameters_sha256 FROM parameter_versions, previous
            WHERE run_id = \(run) AND version > previous.v AND version < \(version) AND optimizer_sha256 IS NULL
            """, logger: logger)
        var count = 0
        for try await sha in rows.decode(String.self) {
            blobs.remove(sha)
            count += 1
        }
        if count > 0 { logger.debug("run \(run): pruned \(count) blob(s) before checkpoint \(version)") }
    }
}
