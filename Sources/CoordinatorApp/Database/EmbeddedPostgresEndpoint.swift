import PostgresNIO

/// How to reach a running embedded cluster: its unix socket, as its superuser (trust
/// authentication, so no password).
public struct EmbeddedPostgresEndpoint: Sendable, Equatable {
    /// Full path of the socket file (`…/.s.PGSQL.5432`).
    public var socketPath: String
    /// The cluster's superuser (initdb `-U`).
    public var username: String
    /// The database the coordinator uses.
    public var database: String

    public init(socketPath: String, username: String, database: String) {
        self.socketPath = socketPath
        self.username = username
        self.database = database
    }

    /// A `PostgresClient` configuration for `database` (default: the coordinator's).
    public func clientConfiguration(database: String? = nil) -> PostgresClient.Configuration {
        PostgresClient.Configuration(
            unixSocketPath: socketPath, username: username, password: nil, database: database ?? self.database)
    }

    /// A single-connection configuration for `database` (default: the coordinator's).
    public func connectionConfiguration(database: String? = nil) -> PostgresConnection.Configuration {
        PostgresConnection.Configuration(
            unixSocketPath: socketPath, username: username, password: nil, database: database ?? self.database)
    }
}
