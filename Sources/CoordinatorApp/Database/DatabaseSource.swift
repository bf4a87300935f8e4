import Foundation
import Logging
import PostgresNIO
import ServiceLifecycle

/// Which PostgreSQL the coordinator uses: an external server named by a URL, or the embedded
/// cluster in its data directory.
public enum DatabaseSource: Sendable, CustomStringConvertible {
    case external(DatabaseURL)
    case embedded(EmbeddedPostgres.Configuration)

    /// The environment variable consulted when no `--database-url` is given.
    public static let urlVariable = "DATABASE_URL"

    /// `--database-url` if given, else `DATABASE_URL` if set and not empty, else the embedded
    /// cluster in `DATA/postgres` (``EmbeddedPostgres/Configuration/inDataDirectory(_:)``).
    public static func resolve(
        databaseURL: String?, environment: [String: String], dataDirectory: URL
    ) throws(DatabaseURLError) -> DatabaseSource {
        if let text = databaseURL ?? environment[urlVariable], !text.isEmpty {
            return .external(try DatabaseURL(text))
        }
        return .embedded(.inDataDirectory(dataDirectory))
    }

    public var description: String {
        switch self {
        case .external(let url): return url.description
        case .embedded(let configuration): return "embedded PostgreSQL in \(configuration.directory.path)"
        }
    }

    /// Starts the embedded cluster (if that is the source) and builds a client for it; the
    /// client is not running yet. For a long-running process, put ``DatabaseConnection/services``
    /// in a `ServiceGroup`; for a one-off command, use ``withClient(logger:_:)``.
    /// `clientLogger` (default: `logger`) is the client's background logger.
    public func connect(logger: Logger, clientLogger: Logger? = nil) async throws -> DatabaseConnection {
        switch self {
        case .external(let url):
            return DatabaseConnection(
                client: PostgresClient(
                    configuration: url.clientConfiguration(), backgroundLogger: clientLogger ?? logger),
                embedded: nil)
        case .embedded(let configuration):
            let postgres = EmbeddedPostgres(configuration: configuration, logger: logger)
            let endpoint = try await postgres.start()
            return DatabaseConnection(
                client: PostgresClient(
                    configuration: endpoint.clientConfiguration(), backgroundLogger: clientLogger ?? logger),
                embedded: postgres)
        }
    }

    /// Runs `body` with a running client, then shuts the client down and stops the embedded
    /// cluster (if one was started), whether `body` succeeded or not.
    ///
    /// The client's background logger is `logger` at level `error` or above: the client's
    /// background warnings concern races with its own start that resolve themselves, and
    /// failures to connect reach `body` as errors anyway.
    public func withClient<Result>(
        logger: Logger, _ body: (PostgresClient) async throws -> Result
    ) async throws -> Result {
        var background = logger
        if background.logLevel < .error { background.logLevel = .error }
        let connection = try await connect(logger: logger, clientLogger: background)
        do {
            let result = try await connection.client.runningDuring(body)
            try await connection.embedded?.stop()
            return result
        } catch {
            try? await connection.embedded?.stop()
            throw error
        }
    }
}

/// A client for the chosen database and, for the embedded source, the started cluster.
public struct DatabaseConnection: Sendable {
    /// Not running yet: call `run()` in a task, or add ``services`` to a `ServiceGroup`.
    public let client: PostgresClient
    /// The started embedded cluster, or nil for an external database.
    public let embedded: EmbeddedPostgres?

    /// The services to run in this order (a `ServiceGroup` stops them in reverse, so the
    /// cluster outlives the client).
    public var services: [any Service] {
        (embedded.map { [$0] } ?? []) + [client]
    }
}
