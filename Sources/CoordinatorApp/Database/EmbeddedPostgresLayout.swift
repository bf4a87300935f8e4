import Crypto
import Foundation

/// Where the files of an embedded cluster live, computed from its directory alone (no I/O).
///
/// ```
/// DIR/                 owned by the server user, mode 0700
///   koinon.lock        held (flock) by the coordinator using the cluster
///   server.log         PostgreSQL's log (pg_ctl -l)
///   .s.PGSQL.5432      the unix socket (when DIR is short enough, see below)
///   pgdata/            the cluster itself (PGDATA, made by initdb)
///     koinon.conf      settings rewritten at every start, included from postgresql.conf
/// ```
///
/// A unix socket path may be at most 107 bytes. When `DIR/.s.PGSQL.5432` is longer, the socket
/// goes to `/tmp/koinon-pg-<16 hex digits of SHA-256(DIR)>/` instead, one directory per cluster.
public struct EmbeddedPostgresLayout: Sendable, Equatable {
    /// The cluster directory (absolute, standardized).
    public let directory: URL
    /// The directory the unix socket lives in.
    public let socketDirectory: URL

    /// TCP is off; the port only names the socket file.
    public static let port = 5432
    /// Longest unix socket path PostgreSQL accepts (`sizeof(sun_path) - 1` on Linux).
    public static let maximumSocketPathBytes = 107
    /// Parent of the fallback socket directories used when `directory` is too long.
    public static let shortSocketRoot = URL(fileURLWithPath: "/tmp")

    public init(directory: URL) {
        let directory = directory.standardizedFileURL
        self.directory = directory
        let inside = directory.appendingPathComponent(Self.socketFileName)
        if inside.path.utf8.count <= Self.maximumSocketPathBytes {
            socketDirectory = directory
        } else {
            let digest = SHA256.hash(data: Data(directory.path.utf8))
            let key = digest.prefix(8).map { String(format: "%02x", $0) }.joined()
            socketDirectory = Self.shortSocketRoot.appendingPathComponent("koinon-pg-\(key)")
        }
    }

    public static let socketFileName = ".s.PGSQL.\(port)"

    /// PGDATA.
    public var dataDirectory: URL { directory.appendingPathComponent("pgdata") }
    public var lockFile: URL { directory.appendingPathComponent("koinon.lock") }
    public var logFile: URL { directory.appendingPathComponent("server.log") }
    public var settingsFile: URL { dataDirectory.appendingPathComponent(EmbeddedPostgresSettings.fileName) }
    public var postgresqlConf: URL { dataDirectory.appendingPathComponent("postgresql.conf") }
    public var versionFile: URL { dataDirectory.appendingPathComponent("PG_VERSION") }
    public var postmasterPIDFile: URL { dataDirectory.appendingPathComponent("postmaster.pid") }
    /// Whether the socket had to move out of ``directory`` to stay under the length limit.
    public var usesShortSocketDirectory: Bool { socketDirectory != directory }
    /// The socket file clients connect to.
    public var socketPath: String { socketDirectory.appendingPathComponent(Self.socketFileName).path }
}
