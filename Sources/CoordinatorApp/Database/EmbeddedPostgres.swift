import Foundation
import Logging

/// A private PostgreSQL cluster in a directory, owned by this process: created with the
/// installed server's `initdb` on first use, started with `pg_ctl`, reachable only through a
/// unix socket (no TCP), stopped with ``stop()``, and reused on the next start.
///
/// ```swift
/// let postgres = EmbeddedPostgres(configuration: .inDataDirectory(URL(fileURLWithPath: "koinon-data")))
/// let endpoint = try await postgres.start()
/// let client = PostgresClient(configuration: endpoint.clientConfiguration())
/// …
/// try await postgres.stop()
/// ```
///
/// Run as root, the server runs as the `postgres` system user (PostgreSQL refuses root). A
/// second `EmbeddedPostgres` on the same directory, in this or another process, fails to start
/// with ``EmbeddedPostgresError/directoryInUse(path:holderPID:)``. A server left running by a
/// killed coordinator is stopped and restarted; a killed server's stale `postmaster.pid` is
/// cleared. See ``EmbeddedPostgresLayout`` for the files, `docs/database.md` for the rest.
public actor EmbeddedPostgres {
    public struct Configuration: Sendable {
        /// The cluster directory (see ``EmbeddedPostgresLayout``).
        public var directory: URL
        public var durability: EmbeddedPostgresSettings.Durability = .full
        /// The superuser initdb creates; clients connect as it over the socket (trust).
        public var superuser = "koinon"
        /// The database ``start()`` creates when missing and the endpoint names.
        public var database = "koinon"
        /// How long `pg_ctl` may take to start or stop the server (crash recovery included).
        public var serverTimeout: Duration = .seconds(300)
        /// How long to wait for a killed server's remaining processes to exit.
        public var leftoverProcessTimeout: Duration = .seconds(30)
        /// Environment for finding the installation (``PostgresInstallation/binDirectoryVariable``)
        /// and for the server's programs (variables starting with `PG` are removed).
        public var environment: [String: String] = ProcessInfo.processInfo.environment

        public init(directory: URL) {
            self.directory = directory
        }

        /// The cluster of a coordinator data directory: `DATA/postgres`.
        public static func inDataDirectory(_ dataDirectory: URL) -> Configuration {
            Configuration(directory: dataDirectory.appendingPathComponent("postgres"))
        }
    }

    /// A started server and what this process holds for it.
    struct Running: Sendable {
        var lock: ClusterLock
        var account: ServerAccount
        var installation: PostgresInstallation
        var endpoint: EmbeddedPostgresEndpoint
    }

    public nonisolated let configuration: Configuration
    public nonisolated let layout: EmbeddedPostgresLayout
    let logger: Logger
    let clock: any Clock<Duration>
    private var starting: Task<Running, any Error>?
    private var running: Running?

    public init(
        configuration: Configuration, logger: Logger = Logger(label: "koinon.postgres"),
        clock: any Clock<Duration> = ContinuousClock()
    ) {
        var configuration = configuration
        configuration.directory = configuration.directory.standardizedFileURL
        self.configuration = configuration
        self.layout = EmbeddedPostgresLayout(directory: configuration.directory)
        self.logger = logger
        self.clock = clock
    }

    /// The running server's endpoint; throws ``EmbeddedPostgresError/notStarted`` before ``start()``.
    public var endpoint: EmbeddedPostgresEndpoint {
        get throws(EmbeddedPostgresError) {
            guard let running else { throw .notStarted }
            return running.endpoint
        }
    }

    /// Creates the cluster if needed, starts the server and returns how to connect to it.
    /// Returns at once when already started; concurrent calls share one start.
    @discardableResult
    public func start() async throws -> EmbeddedPostgresEndpoint {
        if let running { return running.endpoint }
        let task: Task<Running, any Error> = starting ?? Task { try await self.performStart() }
        starting = task
        do {
            let started = try await task.value
            starting = nil
            return started.endpoint
        } catch {
            starting = nil
            throw error
        }
    }

    /// Stops the server (`pg_ctl stop -m fast`: sessions are disconnected, committed data is
    /// kept) and releases the directory. Does nothing when not started.
    public func stop() async throws {
        if let starting { _ = try? await starting.value }
        guard let current = running else { return }
        running = nil
        defer { current.lock.release() }
        try await stopServer(account: current.account, installation: current.installation)
        logger.info("stopped PostgreSQL", metadata: ["directory": "\(layout.directory.path)"])
    }

    private func performStart() async throws -> Running {
        let account = try ServerAccount.current()
        try ClusterDirectory.prepare(layout, for: account)
        let lock = try ClusterLock.acquire(layout.lockFile, directory: layout.directory.path)
        do {
            try await ClusterDirectory.checkReachable(layout, by: account)
            try ClusterDirectory.prepareSocketDirectory(layout, for: account)
            let contents = try ClusterInspection.contents(of: layout)
            let installation = try PostgresInstallation.find(
                forClusterVersion: contents.majorVersion, environment: configuration.environment)
            let steps = try ClusterStartPlan.steps(
                contents: contents, postmaster: ClusterInspection.postmaster(of: layout),
                directory: layout.directory.path)
            let endpoint = EmbeddedPostgresEndpoint(
                socketPath: layout.socketPath, username: configuration.superuser, database: configuration.database)
            for step in steps {
                try await perform(step, account: account, installation: installation, endpoint: endpoint)
            }
            logger.info(
                "PostgreSQL \(installation.majorVersion) running",
                metadata: ["directory": "\(layout.directory.path)", "socket": "\(layout.socketPath)"])
            let started = Running(lock: lock, account: account, installation: installation, endpoint: endpoint)
            running = started
            return started
        } catch {
            lock.release()
            throw error
        }
    }
}
