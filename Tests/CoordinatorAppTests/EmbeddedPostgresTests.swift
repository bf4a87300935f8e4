import Foundation
import Logging
import PostgresNIO
import ServiceLifecycle
import Testing

@testable import CoordinatorApp

#if canImport(Glibc)
    import Glibc
#endif

/// Embedded clusters of their own (not the shared test cluster), on real PostgreSQL.
@Suite struct EmbeddedPostgresTests {
    static func configuration(_ directory: URL) -> EmbeddedPostgres.Configuration {
        var configuration = EmbeddedPostgres.Configuration(directory: directory)
        configuration.durability = .throwaway
        return configuration
    }

    /// Runs one statement on the cluster's `koinon` database; its text column as strings.
    static func query(_ endpoint: EmbeddedPostgresEndpoint, _ sql: String) async throws -> [String] {
        do { return try await runQuery(endpoint, sql) } catch let error as PSQLError {
            throw ServerError(text: String(reflecting: error))
        }
    }

    struct ServerError: Error, CustomStringConvertible {
        var text: String
        var description: String { text }
    }

    private static func runQuery(_ endpoint: EmbeddedPostgresEndpoint, _ sql: String) async throws -> [String] {
        let connection = try await PostgresConnection.connect(
            configuration: endpoint.connectionConfiguration(), id: 1, logger: TestDatabase.logger)
        do {
            var values: [String] = []
            for try await value in try await connection.query(
                PostgresQuery(unsafeSQL: sql), logger: TestDatabase.logger
            )
            .decode(String.self) {
                values.append(value)
            }
            try await connection.close()
            return values
        } catch {
            try? await connection.close()
            throw error
        }
    }

    static func postmasterPID(_ layout: EmbeddedPostgresLayout) throws -> Int32 {
        let text = try String(contentsOf: layout.postmasterPIDFile, encoding: .utf8)
        return try #require(ClusterStartPlan.postmasterPID(fromPIDFile: text))
    }

    /// Waits until `pid` has exited (and been reaped), up to 10 s.
    static func waitForExit(_ pid: Int32) async throws {
        for _ in 0..<200 where kill(pid, 0) == 0 { try await Task.sleep(for: .milliseconds(50)) }
        #expect(kill(pid, 0) != 0, "process \(pid) did not exit")
    }

    @Test func startStopAndRestartReuseTheCluster() async throws {
        let directory = try TestDatabase.scratchDirectory("cluster").appendingPathComponent("postgres")
        let postgres = EmbeddedPostgres(configuration: Self.configuration(directory), logger: TestDatabase.logger)
        let layout = postgres.layout

        let endpoint = try await postgres.start()
        #expect(endpoint.socketPath == directory.appendingPathComponent(".s.PGSQL.5432").path)
        #expect(try await postgres.start() == endpoint)  // already running: same endpoint
        #expect(try await Self.query(endpoint, "SELECT current_database()::text") == ["koinon"])
        #expect(try await Self.query(endpoint, "SELECT current_setting('listen_addresses')") == [""])
        #expect(
            try await Self.query(
                endpoint, "SELECT pg_encoding_to_char(encoding)::text FROM pg_database WHERE datname = 'koinon'") == [
                    "UTF8"
                ])
        _ = try await Self.query(endpoint, "CREATE TABLE kept (note text)")
        _ = try await Self.query(endpoint, "INSERT INTO kept VALUES ('survives restarts')")
        let created =
            try FileManager.default.attributesOfItem(atPath: layout.versionFile.path)[.modificationDate] as? Date
        #expect(FileManager.default.fileExists(atPath: layout.logFile.path))

        try await postgres.stop()
        #expect(!FileManager.default.fileExists(atPath: layout.postmasterPIDFile.path))
        #expect(!FileManager.default.fileExists(atPath: endpoint.socketPath))
        await #expect(throws: EmbeddedPostgresError.notStarted) { try await postgres.endpoint }
        try await postgres.stop()  // stopping twice is harmless

        // As if a coordinator had been killed between initdb and its first start: no include line.
        let conf = try String(contentsOf: layout.postgresqlConf, encoding: .utf8)
        let includeLines = { (text: String) in
            text.split(separator: "\n").filter { $0 == EmbeddedPostgresSettings.includeLine }.count
        }
        #expect(includeLines(conf) == 1)
        try conf.replacingOccurrences(of: EmbeddedPostgresSettings.includeLine, with: "")
            .write(to: layout.postgresqlConf, atomically: false, encoding: .utf8)

        // A new instance (a restarted coordinator) reuses the cluster: no initdb, data kept.
        let again = EmbeddedPostgres(configuration: Self.configuration(directory), logger: TestDatabase.logger)
        let second = try await again.start()
        #expect(try await Self.query(second, "SELECT note FROM kept") == ["survives restarts"])
        #expect(try await Self.query(second, "SELECT current_setting('listen_addresses')") == [""])
        #expect(includeLines(try String(contentsOf: layout.postgresqlConf, encoding: .utf8)) == 1)
        #expect(
            try FileManager.default.attributesOfItem(atPath: layout.versionFile.path)[.modificationDate] as? Date
                == created)
        try await again.stop()
    }

    @Test func secondInstanceOnTheSameDirectoryIsRefused() async throws {
        let directory = try TestDatabase.scratchDirectory("cluster")
        let first = EmbeddedPostgres(configuration: Self.configuration(directory), logger: TestDatabase.logger)
        let endpoint = try await first.start()
        let second = EmbeddedPostgres(configuration: Self.configuration(directory), logger: TestDatabase.logger)
        await #expect(
            throws: EmbeddedPostgresError.directoryInUse(path: directory.standardizedFileURL.path, holderPID: getpid())
        ) {
            try await second.start()
        }
        // The refused instance touched nothing: the first server still serves.
        #expect(try await Self.query(endpoint, "SELECT 'still up'") == ["still up"])
        try await second.stop()
        #expect(try await Self.query(endpoint, "SELECT 'still up'") == ["still up"])
        try await first.stop()
        // Once the first has stopped, the directory is free.
        try await second.start()
        try await second.stop()
    }

    @Test func recoversFromAKilledPostmaster() async throws {
        let directory = try TestDatabase.scratchDirectory("cluster")
        // Full durability: with fsync or synchronous_commit off, a crash may lose commits.
        let configuration = EmbeddedPostgres.Configuration(directory: directory)
        var postgres: EmbeddedPostgres? = EmbeddedPostgres(configuration: configuration, logger: TestDatabase.logger)
        let layout = postgres!.layout
        let endpoint = try await postgres!.start()
        _ = try await Self.query(endpoint, "CREATE TABLE kept (note text)")
        _ = try await Self.query(endpoint, "INSERT INTO kept VALUES ('committed')")
        let pid = try Self.postmasterPID(layout)

        // Power-cut the server and its coordinator: postmaster.pid stays behind, the lock is freed.
        #expect(kill(pid, SIGKILL) == 0)
        postgres = nil
        try await Self.waitForExit(pid)
        #expect(FileManager.default.fileExists(atPath: layout.postmasterPIDFile.path))

        let restarted = EmbeddedPostgres(configuration: configuration, logger: TestDatabase.logger)
        let again = try await restarted.start()
        #expect(try Self.postmasterPID(layout) != pid)
        #expect(try await Self.query(again, "SELECT note FROM kept") == ["committed"])
        try await restarted.stop()
    }

    @Test func stalePIDFileNamingAnUnrelatedLiveProcessIsCleared() async throws {
        let directory = try TestDatabase.scratchDirectory("cluster")
        let postgres = EmbeddedPostgres(configuration: Self.configuration(directory), logger: TestDatabase.logger)
        try await postgres.start()
        try await postgres.stop()
        // As after a reboot, when the old number now belongs to another process (here: us).
        try Data("\(getpid())\n\(postgres.layout.dataDirectory.path)\n".utf8).write(
            to: postgres.layout.postmasterPIDFile)
        let endpoint = try await postgres.start()
        #expect(try await Self.query(endpoint, "SELECT 'recovered'") == ["recovered"])
        try await postgres.stop()
    }

    @Test func restartsTheServerOfAKilledCoordinator() async throws {
        let directory = try TestDatabase.scratchDirectory("cluster")
        var postgres: EmbeddedPostgres? = EmbeddedPostgres(
            configuration: Self.configuration(directory), logger: TestDatabase.logger)
        let layout = postgres!.layout
        try await postgres!.start()
        let pid = try Self.postmasterPID(layout)
        // The coordinator dies without stopping the server: its lock goes, the server stays.
        postgres = nil
        #expect(kill(pid, 0) == 0)

        let next = EmbeddedPostgres(configuration: Self.configuration(directory), logger: TestDatabase.logger)
        let endpoint = try await next.start()
        try await Self.waitForExit(pid)
        #expect(try Self.postmasterPID(layout) != pid)
        #expect(try await Self.query(endpoint, "SELECT 'fresh server'") == ["fresh server"])
        try await next.stop()
    }

    @Test func longDirectoryGetsItsSocketUnderTmp() async throws {
        var directory = try TestDatabase.scratchDirectory("cluster")
        while directory.path.utf8.count < 120 { directory.appendPathComponent("a-rather-long-directory-name") }
        let postgres = EmbeddedPostgres(configuration: Self.configuration(directory), logger: TestDatabase.logger)
        #expect(postgres.layout.usesShortSocketDirectory)
        defer { try? FileManager.default.removeItem(at: postgres.layout.socketDirectory) }
        let endpoint = try await postgres.start()
        #expect(endpoint.socketPath.hasPrefix("/tmp/koinon-pg-"))
        #expect(try await Self.query(endpoint, "SELECT 'short socket'") == ["short socket"])
        try await postgres.stop()
    }

    @Test func directoryWithOtherFilesIsNotTakenOver() async throws {
        let directory = try TestDatabase.scratchDirectory("cluster")
        let layout = EmbeddedPostgresLayout(directory: directory)
        try FileManager.default.createDirectory(at: layout.dataDirectory, withIntermediateDirectories: true)
        try Data("keep me".utf8).write(to: layout.dataDirectory.appendingPathComponent("notes.txt"))
        let postgres = EmbeddedPostgres(configuration: Self.configuration(directory), logger: TestDatabase.logger)
        await #expect(throws: EmbeddedPostgresError.notACluster(path: layout.directory.path, entries: ["notes.txt"])) {
            try await postgres.start()
        }
        #expect(
            try String(contentsOf: layout.dataDirectory.appendingPathComponent("notes.txt"), encoding: .utf8)
                == "keep me")
        // The failed start released the directory.
        try FileManager.default.removeItem(at: layout.dataDirectory.appendingPathComponent("notes.txt"))
        try await postgres.start()
        try await postgres.stop()
    }

    @Test func runsAsAServiceAndStopsOnGracefulShutdown() async throws {
        let directory = try TestDatabase.scratchDirectory("cluster")
        let postgres = EmbeddedPostgres(configuration: Self.configuration(directory), logger: TestDatabase.logger)
        let endpoint = try await postgres.start()
        let group = ServiceGroup(services: [postgres], logger: TestDatabase.logger)
        try await withThrowingTaskGroup(of: Void.self) { tasks in
            tasks.addTask { try await group.run() }
            #expect(try await Self.query(endpoint, "SELECT 'serving'") == ["serving"])
            await group.triggerGracefulShutdown()
            try await tasks.waitForAll()
        }
        #expect(!FileManager.default.fileExists(atPath: postgres.layout.postmasterPIDFile.path))
    }
}
