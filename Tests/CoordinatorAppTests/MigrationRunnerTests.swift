import Foundation
import PostgresNIO
import Testing

@testable import CoordinatorApp

/// MigrationRunner against real PostgreSQL (a fresh database per test).
@Suite struct MigrationRunnerTests {
    /// A directory of migration files `name → SQL`.
    static func migrations(_ files: [String: String]) throws -> URL {
        let directory = try TestDatabase.scratchDirectory("migrations")
        for (name, sql) in files { try Data(sql.utf8).write(to: directory.appendingPathComponent(name)) }
        return directory
    }

    static func rows(_ client: PostgresClient, _ sql: String) async throws -> [String] {
        var values: [String] = []
        for try await value in try await client.query(PostgresQuery(unsafeSQL: sql)).decode(String.self) {
            values.append(value)
        }
        return values
    }

    static func tableExists(_ client: PostgresClient, _ name: String) async throws -> Bool {
        try await rows(client, "SELECT coalesce(to_regclass('\(name)')::text, '')") != [""]
    }

    static let first = "CREATE TABLE runs (id bigserial PRIMARY KEY, name text NOT NULL);\n"
    static let second = """
        -- Units belong to runs.
        CREATE TABLE units (
            id bigserial PRIMARY KEY,
            run_id bigint NOT NULL REFERENCES runs (id),
            state text NOT NULL DEFAULT 'pending'
        );
        CREATE INDEX units_state ON units (state);
        CREATE FUNCTION unit_count() RETURNS bigint LANGUAGE sql AS $$ SELECT count(*) FROM units; $$;
        """

    @Test func appliesInOrderAndRecordsChecksums() async throws {
        let directory = try Self.migrations(["0002_units.sql": Self.second, "0001_runs.sql": Self.first])
        try await TestDatabase.withFresh { db in
            let runner = MigrationRunner(client: db.client, directory: directory, logger: TestDatabase.logger)
            let report = try await runner.migrate()
            #expect(report.alreadyApplied.isEmpty)
            #expect(report.applied.map(\.label) == ["0001_runs", "0002_units"])
            #expect(try await Self.rows(db.client, "SELECT unit_count()::text") == ["0"])
            let recorded = try await Self.rows(
                db.client, "SELECT version || ' ' || name || ' ' || checksum FROM schema_migrations ORDER BY version")
            let files = try MigrationDirectory.load(directory).sorted { $0.version < $1.version }
            #expect(recorded == files.map { "\($0.version) \($0.name) \($0.checksum)" })
            #expect(
                try await Self.rows(db.client, "SELECT count(*)::text FROM schema_migrations WHERE applied_at <= now()")
                    == ["2"])
        }
    }

    @Test func secondRunAppliesNothingAndLaterFilesAreAppliedOnTop() async throws {
        let directory = try Self.migrations(["0001_runs.sql": Self.first])
        try await TestDatabase.withFresh { db in
            let runner = MigrationRunner(client: db.client, directory: directory, logger: TestDatabase.logger)
            #expect(try await runner.migrate().applied.count == 1)
            let again = try await runner.migrate()
            #expect(again.applied.isEmpty)
            #expect(again.alreadyApplied.map(\.label) == ["0001_runs"])

            try Data(Self.second.utf8).write(to: directory.appendingPathComponent("0002_units.sql"))
            let third = try await runner.migrate()
            #expect(third.applied.map(\.label) == ["0002_units"])
            #expect(try await Self.rows(db.client, "SELECT count(*)::text FROM schema_migrations") == ["2"])
        }
    }

    @Test func dryRunReportsWithoutApplying() async throws {
        let directory = try Self.migrations(["0001_runs.sql": Self.first, "0002_units.sql": Self.second])
        try await TestDatabase.withFresh { db in
            let runner = MigrationRunner(client: db.client, directory: directory, logger: TestDatabase.logger)
            let plan = try await runner.plan()
            #expect(plan.applied.isEmpty)
            #expect(plan.pending.map(\.file.label) == ["0001_runs", "0002_units"])
            #expect(plan.pending.map(\.statements.count) == [1, 3])
            #expect(try await !Self.tableExists(db.client, "schema_migrations"))
            #expect(try await !Self.tableExists(db.client, "runs"))

            try await runner.migrate()
            #expect(try await runner.plan().isUpToDate)
        }
    }

    @Test func changedAppliedFileStopsStartUp() async throws {
        let directory = try Self.migrations(["0001_runs.sql": Self.first])
        try await TestDatabase.withFresh { db in
            let runner = MigrationRunner(client: db.client, directory: directory, logger: TestDatabase.logger)
            try await runner.migrate()
            let original = try MigrationDirectory.load(directory)[0]
            try Data((Self.first + "-- an innocent-looking comment\n").utf8).write(
                to: directory.appendingPathComponent("0001_runs.sql"))
            try Data(Self.second.utf8).write(to: directory.appendingPathComponent("0002_units.sql"))
            let edited = try MigrationDirectory.load(directory).first { $0.version == 1 }!

            let expected = MigrationError.checksumMismatch(
                fileName: "0001_runs.sql", applied: original.checksum, file: edited.checksum)
            await #expect(throws: expected) { try await runner.migrate() }
            await #expect(throws: expected) { try await runner.plan() }
            // Nothing after the changed file was applied.
            #expect(try await !Self.tableExists(db.client, "units"))

            try FileManager.default.removeItem(at: directory.appendingPathComponent("0001_runs.sql"))
            await #expect(throws: MigrationError.self) { try await runner.migrate() }
        }
    }

    @Test func missingAppliedFileStopsStartUp() async throws {
        let directory = try Self.migrations(["0001_runs.sql": Self.first, "0002_units.sql": Self.second])
        try await TestDatabase.withFresh { db in
            let runner = MigrationRunner(client: db.client, directory: directory, logger: TestDatabase.logger)
            try await runner.migrate()
            try FileManager.default.removeItem(at: directory.appendingPathComponent("0002_units.sql"))
            await #expect(
                throws: MigrationError.appliedMigrationMissing(label: "0002_units", directory: directory.path)
            ) {
                try await runner.migrate()
            }
        }
    }

    @Test func failingStatementRollsBackItsMigrationAndSaysWhere() async throws {
        let broken = """
            CREATE TABLE units (id bigserial PRIMARY KEY);
            INSERT INTO units DEFAULT VALUES;

            UPDATE units
               SET id = no_such_column;
            """
        let directory = try Self.migrations(["0001_runs.sql": Self.first, "0002_units.sql": broken])
        try await TestDatabase.withFresh { db in
            let runner = MigrationRunner(client: db.client, directory: directory, logger: TestDatabase.logger)
            let error = try await #require(throws: MigrationError.self) { try await runner.migrate() }
            guard case .statementFailed(let fileName, let line, let column, let server) = error else {
                Issue.record("unexpected \(error)")
                return
            }
            // PostgreSQL points at no_such_column: line 5, column 13 of the file.
            #expect(fileName == "0002_units.sql")
            #expect(line == 5)
            #expect(column == 13)
            #expect(server.sqlState == "42703")
            #expect(server.message == "column \"no_such_column\" does not exist")
            #expect(error.description.contains("0002_units.sql failed at line 5, column 13"))
            #expect(error.description.contains("rolled back"))

            // 0001 stays applied; everything of 0002, the first statements included, is gone.
            #expect(try await Self.tableExists(db.client, "runs"))
            #expect(try await !Self.tableExists(db.client, "units"))
            #expect(try await Self.rows(db.client, "SELECT name FROM schema_migrations") == ["runs"])

            // Fixed, the migration applies.
            try Data(Self.second.utf8).write(to: directory.appendingPathComponent("0002_units.sql"))
            #expect(try await runner.migrate().applied.map(\.label) == ["0002_units"])
        }
    }

    @Test func concurrentRunnersApplyEachMigrationOnce() async throws {
        // No IF NOT EXISTS: applying any of these twice would fail.
        let directory = try Self.migrations([
            "0001_runs.sql": Self.first,
            "0002_slow.sql": "SELECT pg_sleep(0.3);\nCREATE TABLE slow (id int);",
            "0003_units.sql": Self.second,
        ])
        try await TestDatabase.withFresh { db in
            let reports = try await withThrowingTaskGroup(of: MigrationRunner.Report.self) { group in
                for _ in 0..<3 {
                    group.addTask {
                        let client = PostgresClient(
                            configuration: db.clientConfiguration, backgroundLogger: TestDatabase.clientLogger)
                        return try await client.runningDuring { client in
                            try await MigrationRunner(client: client, directory: directory, logger: TestDatabase.logger)
                                .migrate()
                        }
                    }
                }
                return try await group.reduce(into: []) { $0.append($1) }
            }
            #expect(reports.flatMap(\.applied).map(\.version).sorted() == [1, 2, 3])
            #expect(try await Self.rows(db.client, "SELECT count(*)::text FROM schema_migrations") == ["3"])
        }
    }
}
