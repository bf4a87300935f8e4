import ArgumentParser
import CoordinatorApp
import Foundation
import Logging

struct MigrateCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "migrate",
        abstract: "Apply the database migrations (migrations/NNNN_name.sql) that are not applied yet.",
        discussion: """
            Without --database-url or DATABASE_URL, starts the embedded PostgreSQL cluster in \
            DATA_DIR/postgres (creating it on first use), migrates it and stops it. Each migration \
            runs in its own transaction and is recorded in schema_migrations with its SHA-256; a \
            changed or missing applied migration is an error. See docs/database.md.
            """)

    @Flag(help: "Show what would be applied, without applying it.")
    var dryRun = false

    @Option(
        help: ArgumentHelp(
            "PostgreSQL (≥ 14) to migrate: postgres://USER[:PASSWORD]@HOST[:PORT]/DATABASE[?sslmode=disable]. "
                + "Default: $\(DatabaseSource.urlVariable), else the embedded cluster in --data-dir.",
            valueName: "url"))
    var databaseURL: String?

    @Option(
        help: ArgumentHelp("Coordinator data directory; the embedded cluster lives in DIR/postgres.", valueName: "dir"))
    var dataDir = "koinon-data"

    @Option(
        help: ArgumentHelp(
            "Migrations directory. Default: migrations/ in the current directory, else next to the executable "
                + "or above it.",
            valueName: "dir"))
    var migrations: String?

    func run() async throws {
        do {
            try await migrate()
        } catch {
            FileHandle.standardError.write(Data("error: \(error)\n".utf8))
            throw ExitCode.failure
        }
    }

    private func migrate() async throws {
        let logger = Logger(label: "koinon.migrate")
        let directory = try migrations.map { URL(fileURLWithPath: $0) } ?? MigrationDirectory.locate()
        let source = try DatabaseSource.resolve(
            databaseURL: databaseURL, environment: ProcessInfo.processInfo.environment,
            dataDirectory: URL(fileURLWithPath: dataDir))
        // Misnamed or unreadable files stop us before any database is started.
        let files = try MigrationDirectory.load(directory)
        print("database: \(source)")
        print("migrations: \(directory.path) (\(files.count) file\(files.count == 1 ? "" : "s"))")
        try await source.withClient(logger: logger) { client in
            let runner = MigrationRunner(client: client, directory: directory, logger: logger)
            if dryRun {
                let plan = try await runner.plan()
                print("applied: \(describe(plan.applied.map(\.label)))")
                if plan.isUpToDate {
                    print("up to date: nothing to apply")
                } else {
                    for migration in plan.pending {
                        print("would apply \(migration.file.label) (\(migration.statements.count) statements)")
                    }
                }
            } else {
                let report = try await runner.migrate()
                print("already applied: \(describe(report.alreadyApplied.map(\.label)))")
                for file in report.applied { print("applied \(file.label)") }
                let total = report.alreadyApplied.count + report.applied.count
                print("up to date: \(total) migration\(total == 1 ? "" : "s") applied")
            }
        }
    }

    private func describe(_ labels: [String]) -> String {
        switch labels.count {
        case 0: return "none"
        case 1...3: return labels.joined(separator: ", ")
        default: return "\(labels.count) (\(labels[0]) … \(labels[labels.count - 1]))"
        }
    }
}
