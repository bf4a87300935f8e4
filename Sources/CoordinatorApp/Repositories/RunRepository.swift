import Foundation
import Logging
import PostgresNIO

/// A run as stored.
public struct RunRecord: Sendable, Equatable {
    public var id: Int
    public var name: String
    public var state: String
    public var configYAML: String
    public var modelConfigJSON: String
    public var datasetPath: String
    public var datasetSHA256: String
    public var seed: Int64
    public var totalSteps: Int
    public var unitsPerStep: Int
    public var currentStep: Int
    public var tokenizerVocabSHA256: String
    public var tokenizerMergesSHA256: String
}

/// Runs, their parameter versions and steps.
public struct RunRepository: Sendable {
    let db: Database
    let logger: Logger

    public init(db: Database, logger: Logger) {
        self.db = db
        self.logger = logger
    }

    /// Creates a run at version 0 with its first step's units pending.
    public func create(name: String, configYAML: String, modelConfigJSON: String, datasetPath: String,
                       datasetSHA256: String, tokenizer: (vocab: String, merges: String), seed: Int64, totalSteps: Int,
                       unitsPerStep: Int, initialParametersSHA256: String) async throws -> Int {
        try await db.withTransaction(logger: logger) { conn in
            let rows = try await conn.query("""
                INSERT INTO runs (name, config_yaml, model_config, dataset_path, dataset_sha256, tokenizer_vocab_sha256,
                                  tokenizer_merges_sha256, seed, total_steps, units_per_step)
                VALUES (\(name), \(configYAML), \(modelConfigJSON)::jsonb, \(datasetPath), \(datasetSHA256), \(tokenizer.vocab),
                        \(tokenizer.merges), \(seed), \(totalSteps), \(unitsPerStep))
                RETURNING id
                """, logger: logger)
            var id = 0
            for try await (value) in rows.decode(Int.self) { id = value }
            try await conn.query("""
                INSERT INTO parameter_versions (run_id, version, parameters_sha256) VALUES (\(id), 0, \(initialParametersSHA256))
                """, logger: logger)
            try await Self.openStep(conn, run: id, step: 0, units: unitsPerStep, unitsPerStep: unitsPerStep,
                                    evaluationUnits: 0, logger: logger)
            return id
        }
    }

    /// Opens step `step`: `units` training units (0 after the last step),
    /// and `evaluationUnits` evaluation units of parameter version `step`,
    /// always numbered from `unitsPerStep` (an evaluation unit's index in its
    /// evaluation is its number minus `unitsPerStep`).
    static func openStep(_ conn: Database.Connection, run: Int, step: Int, units: Int, unitsPerStep: Int,
                         evaluationUnits: Int, logger: Logger) async throws {
        try await conn.query("""
            INSERT INTO steps (run_id, step, evaluation_pending) VALUES (\(run), \(step), \(evaluationUnits > 0))
            """, logger: logger)
        try await conn.query("""
            INSERT INTO units (run_id, step, unit, kind)
            SELECT \(run), \(step), u, 'train' FROM generate_series(0, \(units - 1)) AS u
            UNION ALL
            SELECT \(run), \(step), \(unitsPerStep) + e, 'eval' FROM generate_series(0, \(evaluationUnits - 1)) AS e
            """, logger: logger)
    }

    static let columns = """
        id, name, state, config_yaml, model_config::text, dataset_path, dataset_sha256, seed, total_steps,
        units_per_step, current_step, tokenizer_vocab_sha256, tokenizer_merges_sha256
        """

    static func records(_ rows: PostgresRowSequence) async throws -> [RunRecord] {
        var out: [RunRecord] = []
        for try await row in rows {
            let c = Array(row)
            out.append(RunRecord(
                id: try c[0].decode(Int.self), name: try c[1].decode(String.self), state: try c[2].decode(String.self),
                configYAML: try c[3].decode(String.self), modelConfigJSON: try c[4].decode(String.self),
                datasetPath: try c[5].decode(String.self), datasetSHA256: try c[6].decode(String.self),
                seed: try c[7].decode(Int64.self), totalSteps: try c[8].decode(Int.self),
                unitsPerStep: try c[9].decode(Int.self), currentStep: try c[10].decode(Int.self),
                tokenizerVocabSHA256: try c[11].decode(String.self), tokenizerMergesSHA256: try c[12].decode(String.self)))
        }
        return out
    }

    public func list() async throws -> [RunRecord] {
        try await Self.records(db.query("SELECT \(unescaped: Self.columns) FROM runs ORDER BY id", logger: logger))
    }

    public func get(_ id: Int) async throws -> RunRecord? {
        try await Self.records(db.query("SELECT \(unescaped: Self.columns) FROM runs WHERE id = \(id)", logger: logger)).first
    }

    /// Pauses or resumes a run; false when it does not exist or is finished.
    public func setState(_ id: Int, to state: String) async throws -> Bool {
        let rows = try await db.query("""
            UPDATE runs SET state = \(state) WHERE id = \(id) AND state <> 'finished' RETURNING id
            """, logger: logger)
        for try await _ in rows { return true }
        return false
    }

    /// SHA-256 of the parameters (and optimizer state, if checkpointed) of a version.
    public func parameterVersion(run: Int, version: Int) async throws -> (parameters: String, optimizer: String?)? {
        let rows = try await db.query("""
            SELECT parameters_sha256, optimizer_sha256 FROM parameter_versions WHERE run_id = \(run) AND version = \(version)
            """, logger: logger)
        for try await (p, o) in rows.decode((String, String?).self) { return (p, o) }
        return nil
    }

    /// The newest version with optimizer state (a full checkpoint), if any.
    public func latestCheckpoint(run: Int) async throws -> (version: Int, parameters: String, optimizer: String)? {
        let rows = try await db.query("""
            SELECT version, parameters_sha256, optimizer_sha256 FROM parameter_versions
            WHERE run_id = \(run) AND optimizer_sha256 IS NOT NULL ORDER BY version DESC LIMIT 1
            """, logger: logger)
        for try await (v, p, o) in rows.decode((Int, String, String).self) { return (v, p, o) }
        return nil
    }

    /// Steps' losses so far, for status.
    public func history(run: Int) async throws -> [(step: Int, trainLoss: Double?, validationLoss: Double?)] {
        let rows = try await db.query("""
            SELECT step, train_loss, validation_loss FROM steps WHERE run_id = \(run) AND state = 'applied' ORDER BY step
            """, logger: logger)
        var out: [(Int, Double?, Double?)] = []
        for try await (s, t, v) in rows.decode((Int, Double?, Double?).self) { out.append((s, t, v)) }
        return out
    }
}

