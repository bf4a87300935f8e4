import Foundation

#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// Reads the state of an embedded cluster from the file system and the process table.
///
/// Processes are recognised through `/proc/PID/cwd`: a PostgreSQL server and all its backends
/// run with the data directory as their working directory.
enum ClusterInspection {
    static func contents(of layout: EmbeddedPostgresLayout) throws(EmbeddedPostgresError) -> ClusterContents {
        let path = layout.dataDirectory.path
        let entries: [String]
        do { entries = try FileManager.default.contentsOfDirectory(atPath: path) } catch {
            if !FileManager.default.fileExists(atPath: path) { return .none }
            throw .fileSystem(path: path, operation: "list", message: "\(error)")
        }
        if entries.isEmpty { return .none }
        guard let text = try? String(contentsOf: layout.versionFile, encoding: .utf8) else {
            return .notACluster(entries: entries.sorted())
        }
        // "15" (since PostgreSQL 10), "9.6" before.
        let major = text.trimmingCharacters(in: .whitespacesAndNewlines).prefix { $0.isNumber }
        guard let version = Int(major) else { return .notACluster(entries: entries.sorted()) }
        return .cluster(majorVersion: version)
    }

    static func postmaster(of layout: EmbeddedPostgresLayout) -> PostmasterStatus {
        guard let text = try? String(contentsOf: layout.postmasterPIDFile, encoding: .utf8) else {
            return FileManager.default.fileExists(atPath: layout.postmasterPIDFile.path) ? .stale(pid: nil) : .stopped
        }
        guard let pid = ClusterStartPlan.postmasterPID(fromPIDFile: text) else { return .stale(pid: nil) }
        return processes(workingIn: layout.dataDirectory, among: [pid]).isEmpty ? .stale(pid: pid) : .orphaned(pid: pid)
    }

    /// The live processes (not zombies) whose working directory is `directory`, among
    /// `candidates`, or among all processes when `candidates` is nil.
    static func processes(workingIn directory: URL, among candidates: [Int32]? = nil) -> [Int32] {
        #if os(Linux)
            let target = directory.resolvingSymlinksInPath().path
            let pids =
                candidates
                ?? ((try? FileManager.default.contentsOfDirectory(atPath: "/proc")) ?? []).compactMap { Int32($0) }
            return pids.filter { pid in
                // A zombie's cwd cannot be read, so exited processes drop out here.
                (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/\(pid)/cwd")) == target
            }.sorted()
        #else
            // Without /proc: trust a live pid from postmaster.pid, know nothing about backends.
            return (candidates ?? []).filter { kill($0, 0) == 0 || errno == EPERM }
        #endif
    }

    /// The owner of `path`, or nil if it does not exist.
    static func owner(of path: String) -> UInt32? {
        var info = stat()
        guard lstat(path, &info) == 0 else { return nil }
        return UInt32(info.st_uid)
    }

    /// The first ancestor of `path` (from the root down) that `account` cannot search, judged
    /// from permission bits (supplementary groups are not considered); for error messages.
    static func firstUnsearchableAncestor(of path: URL, for account: ServerAccount) -> String? {
        var ancestors: [URL] = []
        var current = path.deletingLastPathComponent()
        while current.path != "/" && !current.path.isEmpty {
            ancestors.append(current)
            current = current.deletingLastPathComponent()
        }
        for ancestor in ancestors.reversed() {
            var info = stat()
            guard stat(ancestor.path, &info) == 0 else { continue }
            let mode = info.st_mode
            let searchable: Bool
            if UInt32(info.st_uid) == account.uid {
                searchable = mode & 0o100 != 0
            } else if UInt32(info.st_gid) == account.gid {
                searchable = mode & 0o010 != 0
            } else {
                searchable = mode & 0o001 != 0
            }
            if !searchable { return ancestor.path }
        }
        return nil
    }
}
