import Foundation
import Logging
import PostgresNIO

/// An accepted unit result, as aggregation reads it.
public struct AcceptedResult: Sendable, Equatable {
    public var unit: Int
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
}

/// Steps: which are ready to aggregate, their accepted results, applying them.
public struct StepRepository: Sendable {
    let db: PostgresClient
    let logger: Logger

    public init(db: PostgresClient, logger: Logger) {
        self.db = db
        self.logger = logger
    }

    /// Active or paused runs whose current step has every unit accepted.
    public func completeSteps() async throws -> [(run: Int, step: Int)] {
        let rows = try await db.query("""
            SELECT r.id, r.current_step FROM runs r
            WHERE r.state <> 'finished'
              AND NOT EXISTS (SELECT 1 FROM units u WHERE u.run_id = r.id AND u.step = r.current_step AND u.state <> 'accepted')
              AND EXISTS (SELECT 1 FROM units u WHERE u.run_id = r.id AND u.step = r.current_step)
            ORDER BY r.id
            """, logger: logger)
        var out: [(Int, Int)] = []
        for try await row in rows.decode((Int, Int).self) { out.append(row) }
        return out
    }

    public func acceptedResults(run: Int, step: Int) async throws -> [AcceptedResult] {
        let rows = try await db.query("""
            SELECT unit, payload_sha256, loss, tokens FROM results
            WHERE run_id = \(run) AND step = \(step) AND status = 'accepted' ORDER BY unit
            """, logger: logger)
        var out: [AcceptedResult] = []
        for try await (u, sha, loss, tokens) in rows.decode((Int, String, Double, Int).self) {
            out.append(AcceptedResult(unit: u, payloadSHA256: sha, loss: loss, tokens: tokens))
        }
        return out
    }

    /// Records version step+1, closes the step and opens the next (or finishes the run), atomically.
    public func apply(_ a: AppliedStep, unitsPerStep: Int, totalSteps: Int) async throws {
        try await db.withTransaction(logger: logger) { conn in
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
            let next = a.step + 1
            if next >= totalSteps {
                try await conn.query("""
                    UPDATE runs SET current_step = \(next), state = 'finished', finished_at = now() WHERE id = \(a.run)
                    """, logger: logger)
            } else {
                try await conn.query("UPDATE runs SET current_step = \(next) WHERE id = \(a.run)", logger: logger)
                try await RunRepository.openStep(conn, run: a.run, step: next, units: unitsPerStep, logger: logger)
            }
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

    /// Units by state for a run's current step, for status.
    public func unitCounts(run: Int) async throws -> [String: Int] {
        let rows = try await db.query("""
            SELECT u.state, count(*) FROM units u JOIN runs r ON r.id = u.run_id AND u.step = r.current_step
            WHERE r.id = \(run) GROUP BY u.state
            """, logger: logger)
        var out: [String: Int] = [:]
        for try await (s, n) in rows.decode((String, Int).self) { out[s] = n }
        return out
    }
}
