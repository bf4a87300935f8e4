import Foundation
import Logging
import PostgresNIO

/// The I/O behind each ``ClusterStartPlan/Step``.
extension EmbeddedPostgres {
    func perform(
        _ step: ClusterStartPlan.Step, account: ServerAccount, installation: PostgresInstallation,
        endpoint: EmbeddedPostgresEndpoint
    ) async throws {
        switch step {
        case .createCluster:
            try await createCluster(account: account, installation: installation)
        case .stopOrphanedServer(let pid):
            logger.warning(
                "stopping the PostgreSQL server (pid \(pid)) left running by an earlier coordinator",
                metadata: ["directory": "\(layout.directory.path)"])
            try await stopServer(account: account, installation: installation)
        case .clearStalePIDFile(let pid):
            try await clearStalePIDFile(pid: pid)
        case .start:
            try writeSettings(account: account)
            try await runServerProgram(
                installation.pgCtl,
                [
                    "start", "--wait", "--timeout=\(seconds(configuration.serverTimeout))", "--silent",
                    "--pgdata=\(layout.dataDirectory.path)", "--log=\(layout.logFile.path)",
                ], account: account, includeLog: true)
        case .ensureDatabase:
            try await ensureDatabase(endpoint)
        }
    }

    func createCluster(account: ServerAccount, installation: PostgresInstallation) async throws {
        logger.info(
            "creating a PostgreSQL \(installation.majorVersion) cluster",
            metadata: ["directory": "\(layout.directory.path)"])
        var arguments = [
            "--pgdata=\(layout.dataDirectory.path)", "--username=\(configuration.superuser)", "--encoding=UTF8",
            "--locale=C", "--auth-local=trust", "--auth-host=reject",
        ]
        if configuration.durability == .throwaway { arguments.append("--no-sync") }
        try await runServerProgram(installation.initdb, arguments, account: account, includeLog: false)
    }

    /// Writes koinon.conf and makes sure postgresql.conf includes it (checked at every start, so
    /// a coordinator killed right after initdb cannot leave a cluster listening on TCP).
    func writeSettings(account: ServerAccount) throws {
        let settings = EmbeddedPostgresSettings(
            socketDirectory: layout.socketDirectory.path, durability: configuration.durability)
        try ClusterDirectory.write(settings.render(), to: layout.settingsFile, account: account)
        let conf = (try? String(contentsOf: layout.postgresqlConf, encoding: .utf8)) ?? ""
        if !conf.split(separator: "\n").contains(where: { $0 == EmbeddedPostgresSettings.includeLine }) {
            try ClusterDirectory.append(line: EmbeddedPostgresSettings.includeLine, to: layout.postgresqlConf)
        }
    }

    func stopServer(account: ServerAccount, installation: PostgresInstallation) async throws {
        guard case .orphaned = ClusterInspection.postmaster(of: layout) else { return }
        try await runServerProgram(
            installation.pgCtl,
            [
                "stop", "--wait", "--timeout=\(seconds(configuration.serverTimeout))", "--silent", "--mode=fast",
                "--pgdata=\(layout.dataDirectory.path)",
            ], account: account, includeLog: true)
    }

    /// The postmaster was killed: wait for its backends to notice and exit (they hold its
    /// shared memory, which a new server refuses to share), then remove the lock files that
    /// still name it, in case its process id now belongs to an unrelated process.
    func clearStalePIDFile(pid: Int32?) async throws {
        let named = pid.map { "process \($0)" } ?? "no valid process"
        logger.warning(
            "PostgreSQL was not shut down cleanly (postmaster.pid names \(named)); recovering",
            metadata: ["directory": "\(layout.directory.path)"])
        let leftovers = try await waitForExit(of: layout.dataDirectory, timeout: configuration.leftoverProcessTimeout)
        guard leftovers.isEmpty else {
            throw EmbeddedPostgresError.leftoverServerProcesses(
                dataDirectory: layout.dataDirectory.path, pids: leftovers)
        }
        for file in [layout.postmasterPIDFile.path, layout.socketPath + ".lock"]
        where unlink(file) != 0 && errno != ENOENT {
            throw EmbeddedPostgresError.fileSystem(
                path: file, operation: "remove", message: String(cString: strerror(errno)))
        }
    }

    /// Polls until no process works in `directory`, or `timeout` passes; returns those left.
    private func waitForExit(of directory: URL, timeout: Duration) async throws -> [Int32] {
        let interval = Duration.milliseconds(50)
        var waited = Duration.zero
        var left = ClusterInspection.processes(workingIn: directory)
        while !left.isEmpty && waited < timeout {
            try await clock.sleep(for: interval)
            waited += interval
            left = ClusterInspection.processes(workingIn: directory)
        }
        return left
    }

    /// Creates the coordinator's database if it does not exist yet.
    func ensureDatabase(_ endpoint: EmbeddedPostgresEndpoint) async throws {
        let connection = try await PostgresConnection.connect(
            configuration: endpoint.connectionConfiguration(database: "postgres"), id: 0, logger: logger)
        do {
            let rows = try await connection.query(
                "SELECT 1 FROM pg_database WHERE datname = \(configuration.database)", logger: logger)
            var exists = false
            for try await _ in rows { exists = true }
            if !exists {
                try await connection.query(
                    PostgresQuery(unsafeSQL: "CREATE DATABASE \(SQLIdentifier.quoted(configuration.database))"),
                    logger: logger)
                logger.info("created database \(configuration.database)")
            }
            try await connection.close()
        } catch {
            try? await connection.close()
            throw error
        }
    }

    /// Runs initdb or pg_ctl as the server user; throws with its output (and the server log's
    /// tail) when it fails.
    func runServerProgram(
        _ program: URL, _ arguments: [String], account: ServerAccount, includeLog: Bool
    ) async throws {
        let command = account.command(program, arguments)
        let environment = configuration.environment.filter { !$0.key.hasPrefix("PG") }
        let outcome = try await ProcessRunner.run(
            command.executable, command.arguments, currentDirectory: layout.directory, environment: environment)
        guard outcome.status == 0 else {
            throw EmbeddedPostgresError.commandFailed(
                command: ProcessRunner.commandLine(program, arguments), status: outcome.status, output: outcome.output,
                serverLogTail: includeLog ? ClusterDirectory.logTail(layout) : nil)
        }
    }

    private func seconds(_ duration: Duration) -> Int {
        max(1, Int(duration.components.seconds))
    }
}
