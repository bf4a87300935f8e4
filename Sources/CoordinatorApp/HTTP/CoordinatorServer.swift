import Foundation
import Hummingbird
import HummingbirdCore
import HummingbirdTLS
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
    /// HTTPS with the coordinator's own self-signed certificate unless told otherwise.
    public var transport = ServerTransport.selfSigned(names: [])
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
                    if !failing { coordinator.logger.warning("refreshing the status failed (retrying every second): \(Database.describe(error))") }
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
        // The certificate and the operator token first: a problem with them stops the start before the database.
        try SecretFile.directory(settings.dataDirectory, mode: 0o755)
        let tls = try prepareTLS(settings, logger: logger)
        let tokenFile = settings.dataDirectory.appendingPathComponent(OperatorToken.fileName)
        let (operatorToken, madeToken) = try OperatorToken.loadOrCreate(tokenFile)
        logger.info("operator token \(madeToken ? "made in" : "in") \(tokenFile.path) (the run, status and worker commands read it with --data-dir \(settings.dataDirectory.path), or take --operator-token / $KOINON_OPERATOR_TOKEN)")
        if SecretFile.isExposed(tokenFile) {
            logger.warning("the operator token \(tokenFile.path) is readable by other users: chmod 600 it")
        }
        let source = try DatabaseSource.resolve(databaseURL: settings.databaseURL,
                                                environment: ProcessInfo.processInfo.environment,
                                                dataDirectory: settings.dataDirectory)
        let connection = try await source.connect(logger: logger)
        let blobs = try BlobStore(root: settings.dataDirectory.appendingPathComponent("blobs"))
        let coordinator = Coordinator(db: connection.client, blobs: blobs, settings: settings.coordinator, logger: logger)
        await coordinator.pauseHousekeeping(true)  // until the schema is there
        let server = try Self.server(tls: tls?.configuration)
        var app = application(coordinator: coordinator, host: settings.host, port: settings.port,
                              services: connection.services, logger: logger, server: server, operatorToken: operatorToken)
        let url = baseURL(secure: tls != nil, host: settings.host, port: settings.port)
        app.beforeServerStarts {
            let report = try await MigrationRunner(client: connection.client, directory: settings.migrationsDirectory,
                                                   logger: logger).migrate()
            logger.info("database \(source): \(report.alreadyApplied.count + report.applied.count) migration(s) applied")
            await coordinator.pauseHousekeeping(false)
            logger.info("serving on \(url)  (status: /v1/status)")
        }
        return app
    }

    /// The HTTP application over a coordinator (tests build it on their own
    /// database). `server` is `.http1()` or `.tls(...)`; the operator
    /// endpoints accept `operatorToken` only (none: they refuse everyone).
    public static func application(coordinator: Coordinator, host: String, port: Int, services: [any Service],
                                   logger: Logger, server: HTTPServerBuilder = .http1(),
                                   operatorToken: OperatorToken? = nil) -> Application<RouterResponder<CoordinatorContext>> {
        _ = CoordinatorMetrics.registry  // before any metric is made (Hummingbird's included)
        let router = Router(context: CoordinatorContext.self)
        // Before every route, so that each request's context carries the token.
        if let operatorToken { router.add(middleware: OperatorTokenProvider(token: operatorToken)) }
        CoordinatorRoutes(coordinator: coordinator).register(on: router)
        return Application(
            router: router,
            server: server,
            configuration: .init(address: .hostname(host, port: port), serverName: "koinon"),
            services: services + [Housekeeping(coordinator: coordinator), StatusRefresher(coordinator: coordinator)],
            logger: logger)
    }

    /// HTTP/1.1, over TLS when `tls` is given.
    public static func server(tls: TLSConfiguration?) throws -> HTTPServerBuilder {
        guard let tls else { return .http1() }
        return try .tls(.http1(), tlsConfiguration: tls)
    }

    /// The certificate to serve with (made or reused, or the given files),
    /// logged with its fingerprint and how workers trust it; nil for plain HTTP.
    static func prepareTLS(_ settings: ServerSettings, logger: Logger) throws -> ServerTLSIdentity? {
        let identity: ServerTLSIdentity
        switch settings.transport {
        case .insecureHTTP:
            logger.warning("""
                serving plain HTTP (--insecure-http): worker and operator tokens, parameters and results cross the \
                network unencrypted; use it only on a trusted network or behind a TLS proxy
                """)
            return nil
        case .files(let certificate, let key):
            identity = try ServerTLSIdentity.load(certificate: certificate, key: key)
        case .selfSigned(let names):
            identity = try ServerTLSIdentity.selfSigned(in: settings.dataDirectory.appendingPathComponent("tls"),
                                                        names: names + [settings.host])
        }
        let origin = switch identity.origin {
        case .created: "self-signed, made now"
        case .reused: "self-signed, made at an earlier start"
        case .given: identity.isSelfSigned ? "given, self-signed" : "given"
        }
        logger.info("TLS certificate \(identity.certificateFile.path): \(origin); names \(identity.names.joined(separator: ", "))")
        for warning in identity.warnings { logger.warning("\(warning)") }
        logger.info("TLS certificate SHA-256 fingerprint: \(identity.fingerprint)")
        let url = baseURL(secure: true, host: settings.host, port: settings.port)
        if identity.isSelfSigned {
            logger.info("""
                workers trust it with: koinon-worker --coordinator \(url) --pin-sha256 \(identity.fingerprint) \
                (or --ca \(identity.certificateFile.path) with a copy of the certificate)
                """)
        }
        return identity
    }

    /// `https://host:port` (IPv6 addresses in brackets).
    static func baseURL(secure: Bool, host: String, port: Int) -> String {
        let shown = host.contains(":") && !host.hasPrefix("[") ? "[\(host)]" : host
        return "\(secure ? "https" : "http")://\(shown):\(port)"
    }
}
