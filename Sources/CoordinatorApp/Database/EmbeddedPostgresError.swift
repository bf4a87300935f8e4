import Foundation

/// Why the embedded PostgreSQL cluster could not be created, started or stopped.
/// Each description says what happened and what to do about it.
public enum EmbeddedPostgresError: Error, Sendable, Equatable, CustomStringConvertible {
    /// No `initdb` / `pg_ctl` found.
    case serverNotInstalled(searched: String)
    /// The cluster was created by a major version that is not installed.
    case clusterVersionNotInstalled(required: Int, installed: [Int], searched: String)
    /// Running as root, and there is no `postgres` system user to run the server as.
    case rootWithoutServerUser(userName: String)
    /// Running as root, and neither `runuser` nor `setpriv` is installed.
    case noPrivilegeDropTool(userName: String)
    /// The server user cannot reach the cluster directory (a parent is not searchable for it).
    case directoryNotReachable(path: String, userName: String, blockingAncestor: String?)
    /// The directory holds files but no PostgreSQL cluster.
    case notACluster(path: String, entries: [String])
    /// The cluster's files belong to another user than the one the server runs as.
    case clusterOwnedByAnotherUser(path: String, ownerUID: UInt32, serverUserName: String, serverUID: UInt32)
    /// Another process (normally another coordinator) holds the cluster's lock file.
    case directoryInUse(path: String, holderPID: Int32?)
    /// The short socket directory under /tmp exists and is not ours.
    case socketDirectoryUnsafe(path: String, reason: String)
    /// Processes of an earlier, killed server of this cluster did not exit.
    case leftoverServerProcesses(dataDirectory: String, pids: [Int32])
    /// A PostgreSQL program failed.
    case commandFailed(command: String, status: Int32, output: String, serverLogTail: String?)
    /// A file system operation on the cluster directory failed.
    case fileSystem(path: String, operation: String, message: String)
    /// ``EmbeddedPostgres/endpoint`` was asked for before ``EmbeddedPostgres/start()``.
    case notStarted

    public var description: String {
        switch self {
        case .serverNotInstalled(let searched):
            return """
                PostgreSQL server programs (initdb, pg_ctl) not found (looked in \(searched)). \
                Install them (Debian/Ubuntu: `apt-get install postgresql`, or run scripts/install-deps.sh), \
                set \(PostgresInstallation.binDirectoryVariable) to the directory holding initdb and pg_ctl, \
                or pass --database-url to use an existing PostgreSQL ≥ 14.
                """
        case .clusterVersionNotInstalled(let required, let installed, let searched):
            let have = installed.isEmpty ? "none" : installed.map(String.init).joined(separator: ", ")
            return """
                the embedded cluster was created by PostgreSQL \(required), but that version's server \
                programs are not installed (installed: \(have); looked in \(searched)). Install \
                postgresql-\(required), or upgrade the cluster with pg_upgrade, or move the cluster \
                directory away to start a fresh one.
                """
        case .rootWithoutServerUser(let userName):
            return """
                running as root, but PostgreSQL refuses to run as root and there is no `\(userName)` \
                system user to run it as. Create one (`useradd --system \(userName)`; the Debian \
                `postgresql` package does this), run the coordinator as an unprivileged user, or pass \
                --database-url to use an existing PostgreSQL.
                """
        case .noPrivilegeDropTool(let userName):
            return """
                running as root, PostgreSQL must run as `\(userName)`, but neither runuser nor setpriv \
                (package util-linux) is installed to switch to it. Install util-linux or run the \
                coordinator as an unprivileged user.
                """
        case .directoryNotReachable(let path, let userName, let blocking):
            let why =
                blocking.map { "\($0) is not searchable by `\(userName)`" }
                ?? "a parent directory is not searchable by `\(userName)`"
            return """
                the PostgreSQL server user `\(userName)` cannot write to \(path): \(why). Choose a data \
                directory it can reach (e.g. under /var/lib or /srv, not under /root), or make the \
                parents searchable (`chmod o+x DIR`).
                """
        case .notACluster(let path, let entries):
            let shown = entries.prefix(5).joined(separator: ", ") + (entries.count > 5 ? ", …" : "")
            return """
                \(path) is not empty (\(shown)) but holds no PostgreSQL cluster (no PG_VERSION). \
                Remove it or choose another data directory.
                """
        case .clusterOwnedByAnotherUser(let path, let owner, let userName, let uid):
            return """
                the cluster in \(path) belongs to uid \(owner), but the server would run as `\(userName)` \
                (uid \(uid)). Run the coordinator as the cluster's owner (or as root when the owner is \
                the postgres user), or hand the cluster over: `chown -R \(userName): \(path)`.
                """
        case .directoryInUse(let path, let pid):
            let holder = pid.map { "process \($0)" } ?? "another process"
            return """
                \(path) is in use by \(holder) (another koinon-coordinator on the same data directory?). \
                Stop it first, or give this coordinator its own --data-dir or a --database-url.
                """
        case .socketDirectoryUnsafe(let path, let reason):
            return """
                cannot use \(path) for the PostgreSQL socket: \(reason). Remove it, or use a data \
                directory with a shorter path so the socket can live inside it.
                """
        case .leftoverServerProcesses(let dataDirectory, let pids):
            let list = pids.map(String.init).joined(separator: " ")
            return """
                processes of an earlier PostgreSQL server on \(dataDirectory) are still running (pids \
                \(list)) although its postmaster is gone. Stop them (`kill \(list)`) and start again.
                """
        case .commandFailed(let command, let status, let output, let logTail):
            var text = "\(command) failed (exit status \(status))"
            let trimmed = output.trimmingCharacters(in: .whitespacesAndNewlines)
            if !trimmed.isEmpty { text += ":\n\(trimmed)" }
            if let logTail, !logTail.isEmpty { text += "\nserver log (last lines):\n\(logTail)" }
            return text
        case .fileSystem(let path, let operation, let message):
            return "cannot \(operation) \(path): \(message)"
        case .notStarted:
            return "the embedded PostgreSQL cluster is not started; call start() first"
        }
    }
}
