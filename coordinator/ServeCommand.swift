import ArgumentParser
import CoordinatorApp
import Foundation
import Hummingbird
import Logging

struct ServeCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "serve", abstract: "Run the coordinator: HTTP API, PostgreSQL (embedded unless a URL is given), aggregation.")

    @Option(help: "Address to listen on.") var host = "127.0.0.1"
    @Option(help: "Port to listen on.") var port = 8080
    @Option(help: "Data directory (embedded PostgreSQL, blob store, TLS certificate, operator token).") var dataDir = "koinon-data"
    @Option(help: "PostgreSQL URL (default: $DATABASE_URL, else the embedded cluster).") var databaseURL: String?
    @Option(help: "Migrations directory (default: ./migrations or next to the executable).") var migrations: String?
    @Option(help: "Seconds a lease lasts without a heartbeat.") var leaseSeconds = 60.0
    @Option(help: "Full checkpoint every N steps (for runs whose run.yaml sets no checkpoint_interval).")
    var checkpointEvery = 25
    @Option(help: "Copies of a unit out at once (1 turns backup copies off).") var maxCopies = 2
    @Option(help: "Seconds a unit's lease must be old before an idle worker gets a backup copy.") var backupAfter = 10.0
    @Option(help: "Reject a gradient whose L2 norm exceeds this many times the median of the run's recent results (0: off).")
    var maxNormRatio = 10.0
    @Option(help: "Threads for aggregation (default: all cores).") var threads: Int?
    @OptionGroup(title: "Verification") var trust: TrustOptions
    @Option(help: ArgumentHelp("PEM certificate chain to serve HTTPS with (with --tls-key). Default: a self-signed certificate made in <data-dir>/tls at the first start.",
                               valueName: "file"))
    var tlsCert: String?
    @Option(help: ArgumentHelp("PEM private key of --tls-cert.", valueName: "file")) var tlsKey: String?
    @Option(help: ArgumentHelp("Another host name or address the self-signed certificate names (repeatable; it always names localhost, 127.0.0.1, ::1 and --host).",
                               valueName: "name"))
    var tlsName: [String] = []
    @Flag(help: "Serve plain HTTP instead of HTTPS (unencrypted: for a trusted network or behind a TLS proxy).")
    var insecureHTTP = false

    func validate() throws {
        if (tlsCert == nil) != (tlsKey == nil) { throw ValidationError("give --tls-cert and --tls-key together") }
        if insecureHTTP && (tlsCert != nil || !tlsName.isEmpty) {
            throw ValidationError("--insecure-http serves plain HTTP: it takes no --tls-cert, --tls-key or --tls-name")
        }
        if tlsCert != nil && !tlsName.isEmpty {
            throw ValidationError("--tls-name adds names to the coordinator's own certificate; a --tls-cert names its hosts itself")
        }
        guard databaseTimeout >= 0.001, databaseTimeout <= 86_400 else {
            throw ValidationError("--database-timeout must be a number of seconds from 0.001 to 86400")
        }
    }

    var transport: ServerTransport {
        if insecureHTTP { return .insecureHTTP }
        if let tlsCert, let tlsKey {
            return .files(certificate: URL(fileURLWithPath: tlsCert).standardizedFileURL,
                          key: URL(fileURLWithPath: tlsKey).standardizedFileURL)
        }
        return .selfSigned(names: tlsName)
    }
    @Option(help: "Worker registrations a client address may make per minute (0: no limit).")
    var registrationsPerMinute = CoordinatorSettings().registrationsPerMinute
    @Option(help: "Worker registrations a client address may make at once (0: no limit).")
    var registrationBurst = CoordinatorSettings().registrationBurst
    @Option(help: "Requests a worker may make per second (0: no limit).")
    var workerRequestsPerSecond = CoordinatorSettings().workerRequestsPerSecond
    @Option(help: "Requests a worker may make at once (0: no limit).")
    var workerRequestBurst = CoordinatorSettings().workerRequestBurst
    @Option(help: "Seconds a request body may stall before it is answered 408 (0: no limit).")
    var uploadIdleTimeout = CoordinatorSettings().uploadIdleSeconds
    @Option(help: "Seconds a whole request body may take to arrive (0: no limit).")
    var uploadTimeout = CoordinatorSettings().uploadTotalSeconds
    @Option(help: "Seconds a database statement may take before its request is answered 503 (a statement lost when PostgreSQL restarts ends then).")
    var databaseTimeout = Double(CoordinatorSettings().databaseTimeLimit.components.seconds)

    func run() async throws {
        LoggingSystem.bootstrap { StreamLogHandler.standardError(label: $0) }
        let logger = Logger(label: "koinon-coordinator")
        do {
            var settings = ServerSettings(
                dataDirectory: URL(fileURLWithPath: dataDir).standardizedFileURL,
                migrationsDirectory: try migrations.map { URL(fileURLWithPath: $0) } ?? MigrationDirectory.locate())
            settings.host = host
            settings.port = port
            settings.databaseURL = databaseURL
            settings.coordinator.leaseSeconds = leaseSeconds
            settings.coordinator.checkpointEvery = checkpointEvery
            settings.coordinator.maxCopies = maxCopies
            settings.coordinator.backupAfterSeconds = backupAfter
            settings.coordinator.threads = threads
            settings.coordinator.maxNormRatio = maxNormRatio
            trust.apply(to: &settings.coordinator)
            settings.transport = transport
            settings.coordinator.registrationsPerMinute = registrationsPerMinute
            settings.coordinator.registrationBurst = registrationBurst
            settings.coordinator.workerRequestsPerSecond = workerRequestsPerSecond
            settings.coordinator.workerRequestBurst = workerRequestBurst
            settings.coordinator.uploadIdleSeconds = uploadIdleTimeout
            settings.coordinator.uploadTotalSeconds = uploadTimeout
            settings.coordinator.databaseTimeLimit = .milliseconds(Int64(databaseTimeout * 1000))
            let app = try await CoordinatorServer.build(settings, logger: logger)
            try await app.runService()
        } catch {
            FileHandle.standardError.write(Data("error: \(error)\n".utf8))
            throw ExitCode.failure
        }
    }
}
