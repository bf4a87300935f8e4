import Foundation
import Logging
import PostgresNIO

/// Applies the migrations of a directory to a database, recording each in `schema_migrations`.
///
/// Each migration runs in its own transaction, which first takes a transaction-level advisory
/// lock (``advisoryLockKey``), then re-reads `schema_migrations` and re-plans: of several
/// coordinators starting at once on one database, one applies each migration and the others
/// find it applied. A failing statement rolls its migration back and stops with the file, line
/// and PostgreSQL's message; migrations applied before it stay applied.
public struct MigrationRunner: Sendable {
    /// The advisory lock held while migrating: "KoinonMg" in ASCII.
    public static let advisoryLockKey: Int64 = 0x4B6F_696E_6F6E_4D67

    public var client: PostgresClient
    public var directory: URL
    public var logger: Logger

    public init(client: PostgresClient, directory: URL, logger: Logger) {
        self.client = client
        self.directory = directory
        self.logger = logger
    }

    /// What was done.
    public struct Report: Sendable, Equatable {
        /// Migrations that were already applied.
        public var alreadyApplied: [AppliedMigration]
        /// Migrations this run applied, in order.
        public var applied: [MigrationFile]
    }

    /// The plan against the database as it is now, changing nothing (a dry run). Fails like
    /// ``migrate()`` would for files that are misnumbered, changed or missing.
    public func plan() async throws -> MigrationPlan {
        let files = try MigrationDirectory.load(directory)
        return try await client.withConnection { connection in
            try await inTransaction(connection) {
                try await lock($0)
                let applied = try await appliedMigrations($0, createTable: false)
                return try MigrationPlan(files: files, applied: applied, directory: directory.path)
            }
        }
    }

    /// Applies the pending migrations in order.
    @discardableResult
    public func migrate() async throws -> Report {
        let files = try MigrationDirectory.load(directory)
        return try await client.withConnection { connection in
            var alreadyApplied: [AppliedMigration]?
            var applied: [MigrationFile] = []
            while true {
                let done: Bool = try await inTransaction(connection) {
                    try await lock($0)
                    let rows = try await appliedMigrations($0, createTable: true)
                    let plan = try MigrationPlan(files: files, applied: rows, directory: directory.path)
                    if alreadyApplied == nil { alreadyApplied = plan.applied }
                    guard let next = plan.pending.first else { return true }
                    try await apply(next, on: $0)
                    applied.append(next.file)
                    return false
                }
                if done { break }
            }
            return Report(alreadyApplied: alreadyApplied ?? [], applied: applied)
        }
    }

    private func apply(_ migration: MigrationPlan.PendingMigration, on connection: PostgresConnection) async throws {
        let file = migration.file
        let started = ContinuousClock.now
        for statement in migration.statements {
            do {
                try await drain(connection.query(PostgresQuery(unsafeSQL: statement.text), logger: logger))
            } catch let error as PSQLError where error.serverInfo != nil {
                throw Self.failure(error, in: file, at: statement)
            }
        }
        try await drain(
            connection.query(
                """
                INSERT INTO schema_migrations (version, name, checksum)
                VALUES (\(file.version), \(file.name), \(file.checksum))
                """, logger: logger))
        logger.info(
            "applied migration \(file.label)",
            metadata: ["statements": "\(migration.statements.count)", "duration": "\(ContinuousClock.now - started)"])
    }

    /// Runs `body` between BEGIN and COMMIT, rolling back when it throws.
    private func inTransaction<Result>(
        _ connection: PostgresConnection, _ body: (PostgresConnection) async throws -> Result
    ) async throws -> Result {
        try await drain(connection.query("BEGIN", logger: logger))
        do {
            let result = try await body(connection)
            try await drain(connection.query("COMMIT", logger: logger))
            return result
        } catch {
            try? await drain(connection.query("ROLLBACK", logger: logger))
            throw error
        }
    }

    /// Takes the migration lock for the rest of the transaction, saying so when it must wait.
    private func lock(_ connection: PostgresConnection) async throws {
        let rows = try await connection.query(
            "SELECT pg_try_advisory_xact_lock(\(Self.advisoryLockKey))", logger: logger)
        var locked = false
        for try await value in rows.decode(Bool.self) { locked = value }
        if !locked {
            logger.info("another process is migrating this database; waiting for it")
            try await drain(connection.query("SELECT pg_advisory_xact_lock(\(Self.advisoryLockKey))", logger: logger))
        }
    }

    /// The rows of `schema_migrations`; creates the table when asked and missing.
    private func appliedMigrations(_ connection: PostgresConnection, createTable: Bool) async throws
        -> [AppliedMigration]
    {
        var exists = false
        for try await value in try await connection.query(
            "SELECT to_regclass('schema_migrations') IS NOT NULL", logger: logger
        ).decode(Bool.self) {
            exists = value
        }
        if !exists {
            guard createTable else { return [] }
            try await drain(connection.query(PostgresQuery(unsafeSQL: Self.createTableSQL), logger: logger))
            return []
        }
        var result: [AppliedMigration] = []
        let rows = try await connection.query(
            "SELECT version, name, checksum, applied_at FROM schema_migrations ORDER BY version", logger: logger)
        for try await (version, name, checksum, appliedAt) in rows.decode((Int32, String, String, Date).self) {
            result.append(AppliedMigration(version: Int(version), name: name, checksum: checksum, appliedAt: appliedAt))
        }
        return result
    }

    static let createTableSQL = """
        CREATE TABLE schema_migrations (
            version    integer PRIMARY KEY,
            name       text NOT NULL,
            checksum   text NOT NULL,
            applied_at timestamptz NOT NULL DEFAULT now()
        )
        """

    private func drain(_ rows: PostgresRowSequence) async throws {
        for try await _ in rows {}
    }

    static func failure(_ error: PSQLError, in file: MigrationFile, at statement: SQLStatement) -> MigrationError {
        let info = error.serverInfo
        let position = info?[.position].flatMap(Int.init)
        let location = position.map(statement.scriptLocation(ofCharacter:)) ?? (statement.line, statement.column)
        let server = MigrationError.ServerMessage(
            sqlState: info?[.sqlState], message: info?[.message] ?? "\(error.code)", detail: info?[.detail],
            hint: info?[.hint], context: info?[.locationContext])
        return .statementFailed(fileName: file.fileName, line: location.0, column: location.1, server: server)
    }
}
