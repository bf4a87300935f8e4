import Foundation
import Hummingbird
import Logging
import PostgresNIO
import ServiceLifecycle

/// Settings of `koinon-coordinator serve`.
public struct ServerSettings: Sendable {
    public var host = "127.0.0.1"
    public var port = 8080
    public var dataDirectory: URL
    public var databaseURL: String?
    public var migrationsDirectory: URL
    public var coordinator = CoordinatorSettings()
    public init(dataDirectory: URL, migrationsDirectory: URL) {
        self.dataDirectory = dataDirectory
        self.migrationsDirectory = migrationsDirectory
    }
}

/// Expires leases and applies complete steps about once a second, until
/// shutdown; then writes a checkpoint of every run. A service group stops its
/// services in reverse order, so this runs after the HTTP server has drained
/// and before the database client and the embedded cluster stop.
struct Housekeeping: Service {
    let coordinator: Coordinator
    func run() async throws {
        while !Task.isShuttingDownGracefully && !Task.isCancelled {
            await coordinator.tick()
            try? await Task.sleep(for: .seconds(1))
        }
        await coordinator.checkpointAll()
    }
}

/// Rebuilds the status snapshot about once a second, apart from
/// housekeeping so a long aggregation does not leave the status stale.
struct StatusRefresher: Service {
    let coordinator: Coordinator
    func run() async throws {
        var failing = false
        while !Task.isShuttingDownGracefully && !Task.isCancelled {
            if await !coordinator.housekeepingPaused {
                do {
                    try await coordinator.statusBoard.refresh()
                    failing = false
                } catch {
                    if !failing { coordinator.logger.warning("refreshing the status failed (retrying every second): \(error)") }
                    failing = true
                }
            }
            try? await Task.sleep(for: .seconds(1))
        }
    }
}

public enum CoordinatorServer {
    /// Builds the application: database (embedded unless a URL is given),
    /// migrations before the server starts, the HTTP API, housekeeping.
    /// Running it serves until SIGTERM/SIGINT, then drains requests and
    /// stops the database (the embedded cluster last).
    public static func build(_ settings: ServerSettings, logger: Logger) async throws -> some ApplicationProtocol {
        let source = try DatabaseSource.resolve(databaseURL: settings.databaseURL,
                                                environment: ProcessInfo.processInfo.environment,
                                                dataDirectory: settings.dataDirectory)
        let connection = try await source.connect(logger: logger)
        let blobs = try BlobStore(root: settings.dataDirectory.appendingPathComponent("blobs"))
        let coordinator = Coordinator(db: connection.client, blobs: blobs, settings: settings.coordinator, logger: logger)
        await coordinator.pauseHousekeeping(true)  // until the schema is there
        var app = application(coordinator: coordinator, host: settings.host, port: settings.port,
                              services: connection.services, logger: logger)
        app.beforeServerStarts {
            let report = try await MigrationRunner(client: connection.client, directory: settings.migrationsDirectory,
                                                   logger: logger).migrate()
            logger.info("database \(source): \(report.alreadyApplied.count + report.applied.count) migration(s) applied")
            await coordinator.pauseHousekeeping(false)
            logger.info("serving on http://\(settings.host):\(settings.port)  (status: /v1/status)")
        }
        return app
    }

    /// The HTTP application over a coordinator (tests build it on their own database).
    public static func application(coordinator: Coordinator, host: String, port: Int, services: [any Service],
                                   logger: Logger) -> Application<RouterResponder<CoordinatorContext>> {
        _ = CoordinatorMetrics.registry  // before any metric is made (Hummingbird's included)
        let router = Router(context: CoordinatorContext.self)
        CoordinatorRoutes(coordinator: coordinator).register(on: router)
        return Application(
            router: router,
            configuration: .init(address: .hostname(host, port: port), serverName: "koinon"),
            services: services + [Housekeeping(coordinator: coordinator), StatusRefresher(coordinator: coordinator)],
            logger: logger)
    }
}
