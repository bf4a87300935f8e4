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
    @Option(help: "Data directory (embedded PostgreSQL, blob store).") var dataDir = "koinon-data"
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
            let app = try await CoordinatorServer.build(settings, logger: logger)
            try await app.runService()
        } catch {
            FileHandle.standardError.write(Data("error: \(error)\n".utf8))
            throw ExitCode.failure
        }
    }
}
