import CoordinatorApp
import Foundation
import Logging
import PostgresNIO

#if canImport(Glibc)
    import Glibc
#endif

/// Real PostgreSQL for tests: one embedded cluster per test process, started on first use in
/// a scratch directory, and a fresh database (CREATE DATABASE) for each test.
///
/// ```swift
/// @Test func somethingWithTheSchema() async throws {
///     try await TestDatabase.withFresh(migrated: true) { db in
///         try await db.client.query("INSERT INTO …")        // a running PostgresClient
///     }
/// }
/// ```
///
/// The cluster runs with fsync off (``EmbeddedPostgresSettings/Durability/throwaway``). At
/// process exit it gets SIGQUIT (PostgreSQL's immediate shutdown) and its directory is
/// removed; if the process dies before that (a crash, SIGKILL), the next test process finds
/// the directory of a dead process under ``scratchRoot``, stops its server and removes it.
struct TestDatabase: Sendable {
    /// The database's name, unique in the cluster.
    let name: String
    /// The shared cluster's socket and superuser.
    let endpoint: EmbeddedPostgresEndpoint
    /// A client on this database, running while the `withFresh` body runs.
    let client: PostgresClient

    /// A configuration for another client on this database (e.g. a second coordinator).
    var clientConfiguration: PostgresClient.Configuration {
        TestDatabase.clientConfiguration(endpoint, database: name)
    }

    /// Creates a database, runs `body` with a running client on it, then drops the database.
    /// With `migrated`, the repository's `migrations/` are applied first.
    static func withFresh<Result>(
        migrated: Bool = false, function: String = #function, _ body: (TestDatabase) async throws -> Result
    ) async throws -> Result {
        let endpoint = try await sharedCluster()
        let name = databaseName(for: function)
        try await admin(endpoint, "CREATE DATABASE \(quoted(name))")
        do {
            let client = PostgresClient(
                configuration: clientConfiguration(endpoint, database: name), backgroundLogger: clientLogger)
            let result = try await client.runningDuring { client in
                if migrated {
                    try await MigrationRunner(client: client, directory: repositoryMigrations, logger: logger).migrate()
                }
                return try await body(TestDatabase(name: name, endpoint: endpoint, client: client))
            }
            try await admin(endpoint, "DROP DATABASE \(quoted(name)) WITH (FORCE)")
            return result
        } catch {
            try? await admin(endpoint, "DROP DATABASE IF EXISTS \(quoted(name)) WITH (FORCE)")
            throw error
        }
    }

    /// The shared cluster's endpoint, starting the cluster on first use.
    static func sharedCluster() async throws -> EmbeddedPostgresEndpoint {
        try await shared.value
    }

    /// The repository's `migrations/` directory.
    static let repositoryMigrations = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("migrations")

    /// Per-user parent of the test processes' scratch directories. World-searchable, so that
    /// the `postgres` user can reach clusters in it when the tests run as root.
    static let scratchRoot = URL(fileURLWithPath: "/tmp/koinon-tests-\(getuid())")

    /// This process's scratch directory, `scratchRoot/PID`.
    static let processDirectory = scratchRoot.appendingPathComponent("\(getpid())")

    /// A new, empty directory for a test's own files (its own clusters, migration files).
    static func scratchDirectory(_ label: String = "tmp") throws -> URL {
        let url = processDirectory.appendingPathComponent("\(label)-\(UUID().uuidString.prefix(8).lowercased())")
        try FileManager.default.createDirectory(
            at: url, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o755])
        return url
    }

    static let logger: Logger = {
        var logger = Logger(label: "koinon.tests.postgres")
        logger.logLevel = .warning
        return logger
    }()

    /// For `PostgresClient`s' background logging: errors only. (A client asked for a connection
    /// before its `run()` task got going warns about it, harmlessly.)
    static let clientLogger: Logger = {
        var logger = Logger(label: "koinon.tests.postgres-client")
        logger.logLevel = .error
        return logger
    }()

    // MARK: - The shared cluster

    private static let shared = Task<EmbeddedPostgresEndpoint, any Error> {
        removeAbandonedScratchDirectories()
        try FileManager.default.createDirectory(
            at: processDirectory, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o755])
        _ = chmod(scratchRoot.path, 0o755)
        var configuration = EmbeddedPostgres.Configuration(directory: processDirectory.appendingPathComponent("shared"))
        configuration.durability = .throwaway
        let postgres = EmbeddedPostgres(configuration: configuration, logger: logger)
        let endpoint = try await postgres.start()
        SharedClusterExit.register()
        return endpoint
    }

    private static func clientConfiguration(
        _ endpoint: EmbeddedPostgresEndpoint, database: String
    ) -> PostgresClient.Configuration {
        var configuration = endpoint.clientConfiguration(database: database)
        configuration.options.maximumConnections = 4
        return configuration
    }

    /// Runs one statement in the `postgres` database.
    private static func admin(_ endpoint: EmbeddedPostgresEndpoint, _ sql: String) async throws {
        let connection = try await PostgresConnection.connect(
            configuration: endpoint.connectionConfiguration(database: "postgres"), id: 0, logger: logger)
        do {
            try await connection.query(PostgresQuery(unsafeSQL: sql), logger: logger)
            try await connection.close()
        } catch {
            try? await connection.close()
            throw error
        }
    }

    /// `test_<function>_<random>`, at most 63 bytes (PostgreSQL's identifier limit).
    private static func databaseName(for function: String) -> String {
        let stem = function.prefix { $0 != "(" }.lowercased().filter { $0.isASCII && ($0.isLetter || $0.isNumber) }
        return "test_\(stem.prefix(40))_\(UUID().uuidString.prefix(8).lowercased())"
    }

    private static func quoted(_ name: String) -> String {
        "\"" + name.replacingOccurrences(of: "\"", with: "\"\"") + "\""
    }

    /// Scratch directories of test processes that are gone: SIGQUIT their servers, remove them.
    private static func removeAbandonedScratchDirectories() {
        let fm = FileManager.default
        guard let entries = try? fm.contentsOfDirectory(atPath: scratchRoot.path) else { return }
        for entry in entries {
            guard let pid = Int32(entry), pid != getpid(), kill(pid, 0) != 0, errno == ESRCH else { continue }
            let directory = scratchRoot.appendingPathComponent(entry)
            SharedClusterExit.quitClusters(under: directory)
            SharedClusterExit.remove(directory)
        }
    }
}

/// Stops the test process's clusters when it exits.
///
/// Nothing can be awaited in an exit handler, so each postmaster gets SIGQUIT (immediate
/// shutdown: fine for throw-away clusters) and the scratch directory is removed.
private enum SharedClusterExit {
    static func register() {
        atexit {
            // The shared cluster, and any a failed test left running.
            SharedClusterExit.quitClusters(under: TestDatabase.processDirectory)
            SharedClusterExit.remove(TestDatabase.processDirectory)
        }
    }

    /// SIGQUIT to the server of every cluster (a directory with `pgdata/`) under `directory`.
    static func quitClusters(under directory: URL) {
        guard let walk = FileManager.default.enumerator(at: directory, includingPropertiesForKeys: nil) else { return }
        while let url = walk.nextObject() as? URL {
            guard url.lastPathComponent == "pgdata" else { continue }
            quit(EmbeddedPostgresLayout(directory: url.deletingLastPathComponent()))
            walk.skipDescendants()
        }
    }

    /// Removes a directory tree, retrying while files vanish under it (another test process
    /// may be cleaning up the same abandoned directory).
    static func remove(_ directory: URL) {
        for _ in 0..<5 where FileManager.default.fileExists(atPath: directory.path) {
            try? FileManager.default.removeItem(at: directory)
        }
    }

    /// SIGQUIT to the cluster's postmaster, if `postmaster.pid` names a live process working
    /// in the cluster (not an unrelated process that got the number later).
    static func quit(_ layout: EmbeddedPostgresLayout) {
        guard let text = try? String(contentsOf: layout.postmasterPIDFile, encoding: .utf8),
            let line = text.split(separator: "\n").first, let pid = Int32(line), pid > 0,
            let cwd = try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/\(pid)/cwd"),
            cwd == layout.dataDirectory.resolvingSymlinksInPath().path
        else { return }
        _ = kill(pid, SIGQUIT)
        // Immediate shutdown takes a moment; its files must stop changing before removal.
        for _ in 0..<250 where FileManager.default.fileExists(atPath: "/proc/\(pid)/cwd") {
            guard (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/\(pid)/cwd")) != nil else { break }
            usleep(20_000)
        }
    }
}
