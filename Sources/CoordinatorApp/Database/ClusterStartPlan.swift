import Foundation

/// What an embedded cluster's directory holds.
enum ClusterContents: Sendable, Equatable {
    /// No `pgdata/` directory, or an empty one: initdb will create the cluster.
    case none
    /// A cluster created by PostgreSQL `majorVersion` (its `PG_VERSION`).
    case cluster(majorVersion: Int)
    /// Files, but no `PG_VERSION`.
    case notACluster(entries: [String])

    var majorVersion: Int? {
        if case .cluster(let version) = self { return version }
        return nil
    }
}

/// What `postmaster.pid` says, checked against the running processes.
enum PostmasterStatus: Sendable, Equatable {
    /// No `postmaster.pid`: the server was stopped cleanly (or never started).
    case stopped
    /// The named process is alive and is this cluster's postmaster: a server left running by a
    /// coordinator that was killed.
    case orphaned(pid: Int32)
    /// `postmaster.pid` names a process that is gone or is something else (the postmaster was
    /// killed, or the machine restarted and the number was reused).
    case stale(pid: Int32?)
}

/// The steps that bring an embedded cluster from what is on disk to a running server (pure).
enum ClusterStartPlan {
    enum Step: Sendable, Equatable {
        /// `initdb`, then append the include line to postgresql.conf.
        case createCluster
        /// `pg_ctl stop -m fast` a server nobody owns any more.
        case stopOrphanedServer(pid: Int32)
        /// Wait until the killed server's remaining processes exit, then delete `postmaster.pid`.
        case clearStalePIDFile(pid: Int32?)
        /// Write koinon.conf, `pg_ctl start -w`.
        case start
        /// Create the coordinator's database when missing.
        case ensureDatabase
    }

    static func steps(
        contents: ClusterContents, postmaster: PostmasterStatus, directory: String
    ) throws(EmbeddedPostgresError) -> [Step] {
        switch contents {
        case .notACluster(let entries):
            throw .notACluster(path: directory, entries: entries)
        case .none:
            return [.createCluster, .start, .ensureDatabase]
        case .cluster:
            switch postmaster {
            case .stopped: return [.start, .ensureDatabase]
            case .orphaned(let pid): return [.stopOrphanedServer(pid: pid), .start, .ensureDatabase]
            case .stale(let pid): return [.clearStalePIDFile(pid: pid), .start, .ensureDatabase]
            }
        }
    }

    /// The postmaster's process id: the first line of `postmaster.pid`.
    static func postmasterPID(fromPIDFile text: String) -> Int32? {
        guard let first = text.split(separator: "\n", omittingEmptySubsequences: false).first,
            let pid = Int32(first.trimmingCharacters(in: .whitespaces)), pid > 0
        else { return nil }
        return pid
    }
}
