import Foundation

/// The server settings Koinon owns in an embedded cluster, written to `pgdata/koinon.conf`
/// before every start and pulled in by the `include` line ``includeLine``, which each start
/// appends to `postgresql.conf` when it is missing.
///
/// Rewriting the file each start keeps the socket directory right if the cluster directory
/// moved. Settings placed in `postgresql.auto.conf` (`ALTER SYSTEM`) still override these.
public struct EmbeddedPostgresSettings: Sendable, Equatable {
    /// How much the cluster protects committed data against an operating-system crash.
    public enum Durability: Sendable, Equatable {
        /// PostgreSQL's defaults: committed data survives power loss.
        case full
        /// `fsync`, `synchronous_commit` and `full_page_writes` off: much faster, and an OS
        /// crash may corrupt the cluster. For throw-away clusters in tests only.
        case throwaway
    }

    public static let fileName = "koinon.conf"
    /// The line appended to `postgresql.conf`.
    public static let includeLine = "include '\(fileName)'\t# Koinon's settings: listen only on the unix socket"

    public var socketDirectory: String
    public var durability: Durability

    public init(socketDirectory: String, durability: Durability) {
        self.socketDirectory = socketDirectory
        self.durability = durability
    }

    /// The file's text.
    public func render() -> String {
        var lines = [
            "# Written by koinon-coordinator before every start; changes here are overwritten.",
            "# Put your own settings in postgresql.auto.conf (ALTER SYSTEM) instead.",
            "listen_addresses = ''",
            "port = \(EmbeddedPostgresLayout.port)",
            "unix_socket_directories = \(Self.quoted(Self.listEntry(socketDirectory)))",
            "unix_socket_permissions = 0700",
        ]
        if durability == .throwaway {
            lines += ["fsync = off", "synchronous_commit = off", "full_page_writes = off"]
        }
        return lines.joined(separator: "\n") + "\n"
    }

    /// One entry of a comma-separated list setting, double-quoted so that commas and spaces
    /// in the path are kept.
    static func listEntry(_ path: String) -> String {
        "\"" + path.replacingOccurrences(of: "\"", with: "\"\"") + "\""
    }

    /// A postgresql.conf string literal (backslashes and single quotes escaped).
    static func quoted(_ value: String) -> String {
        "'" + value.replacingOccurrences(of: "\\", with: "\\\\").replacingOccurrences(of: "'", with: "''") + "'"
    }
}
