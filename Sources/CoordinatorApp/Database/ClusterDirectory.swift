import Foundation

#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// Creating the cluster directory and the files Koinon writes in it, with the ownership the
/// server user needs.
enum ClusterDirectory {
    /// Creates the cluster directory (mode 0700; missing parents with the default mode so the
    /// server user can pass through them) and, when the server runs as another user, hands it
    /// to that user.
    static func prepare(_ layout: EmbeddedPostgresLayout, for account: ServerAccount) throws(EmbeddedPostgresError) {
        let directory = layout.directory.path
        let fm = FileManager.default
        if !fm.fileExists(atPath: directory) {
            do {
                try fm.createDirectory(
                    at: layout.directory.deletingLastPathComponent(), withIntermediateDirectories: true)
            } catch {
                throw .fileSystem(
                    path: layout.directory.deletingLastPathComponent().path, operation: "create", message: "\(error)")
            }
            guard mkdir(directory, 0o700) == 0 || errno == EEXIST else {
                throw .fileSystem(path: directory, operation: "create", message: String(cString: strerror(errno)))
            }
        }
        // An existing cluster of another user is refused before anything changes hands.
        if fm.fileExists(atPath: layout.versionFile.path) { try checkOwner(layout, account: account) }
        try giveToServerUser(directory, account: account)
        // initdb wants PGDATA missing or empty and owned by whoever runs it.
        if fm.fileExists(atPath: layout.dataDirectory.path),
            (try? fm.contentsOfDirectory(atPath: layout.dataDirectory.path))?.isEmpty == true
        {
            try giveToServerUser(layout.dataDirectory.path, account: account)
        }
    }

    /// Fails clearly when the server user cannot write to the cluster directory (typically
    /// because a parent such as /root is closed to it).
    static func checkReachable(_ layout: EmbeddedPostgresLayout, by account: ServerAccount) async throws {
        guard account.switchesUser else { return }
        let directory = layout.directory.path
        let command = account.command(URL(fileURLWithPath: "/usr/bin/test"), ["-w", directory, "-a", "-x", directory])
        let outcome = try await ProcessRunner.run(
            command.executable, command.arguments, currentDirectory: URL(fileURLWithPath: "/"))
        guard outcome.status == 0 else {
            throw EmbeddedPostgresError.directoryNotReachable(
                path: directory, userName: account.userName,
                blockingAncestor: ClusterInspection.firstUnsearchableAncestor(of: layout.directory, for: account))
        }
    }

    /// When the socket cannot live in the cluster directory (path too long), makes sure the
    /// short directory under /tmp exists, is a real directory, belongs to the server user and
    /// is closed to others; anything else there is refused rather than trusted.
    static func prepareSocketDirectory(
        _ layout: EmbeddedPostgresLayout, for account: ServerAccount
    ) throws(EmbeddedPostgresError) {
        guard layout.usesShortSocketDirectory else { return }
        let path = layout.socketDirectory.path
        var info = stat()
        if lstat(path, &info) != 0 {
            guard errno == ENOENT else {
                throw .fileSystem(path: path, operation: "inspect", message: String(cString: strerror(errno)))
            }
            guard mkdir(path, 0o700) == 0 else {
                throw .fileSystem(path: path, operation: "create", message: String(cString: strerror(errno)))
            }
            try giveToServerUser(path, account: account)
            return
        }
        guard info.st_mode & 0o170000 == 0o040000 else {
            throw .socketDirectoryUnsafe(path: path, reason: "it is not a directory")
        }
        guard UInt32(info.st_uid) == account.uid else {
            throw .socketDirectoryUnsafe(
                path: path, reason: "it belongs to uid \(info.st_uid), not to the server user \(account.userName)")
        }
        if info.st_mode & 0o077 != 0 { _ = chmod(path, 0o700) }
    }

    /// Fails when an existing cluster belongs to another user than the server user.
    static func checkOwner(_ layout: EmbeddedPostgresLayout, account: ServerAccount) throws(EmbeddedPostgresError) {
        let path = layout.dataDirectory.path
        guard let owner = ClusterInspection.owner(of: path), owner != account.uid else { return }
        throw .clusterOwnedByAnotherUser(
            path: path, ownerUID: owner, serverUserName: account.userName, serverUID: account.uid)
    }

    /// Writes `text` to `url` (replacing it atomically), readable by the server user.
    static func write(_ text: String, to url: URL, account: ServerAccount) throws(EmbeddedPostgresError) {
        do { try Data(text.utf8).write(to: url, options: .atomic) } catch {
            throw .fileSystem(path: url.path, operation: "write", message: "\(error)")
        }
        _ = chmod(url.path, 0o600)
        try giveToServerUser(url.path, account: account)
    }

    /// Appends `line` to the text file at `url` (keeping its owner).
    static func append(line: String, to url: URL) throws(EmbeddedPostgresError) {
        do {
            let handle = try FileHandle(forWritingTo: url)
            defer { try? handle.close() }
            try handle.seekToEnd()
            try handle.write(contentsOf: Data("\n\(line)\n".utf8))
        } catch {
            throw .fileSystem(path: url.path, operation: "append to", message: "\(error)")
        }
    }

    /// The last `count` lines of the server log, for error messages.
    static func logTail(_ layout: EmbeddedPostgresLayout, lines count: Int = 20) -> String? {
        guard let text = try? String(contentsOf: layout.logFile, encoding: .utf8) else { return nil }
        return text.split(separator: "\n", omittingEmptySubsequences: true).suffix(count).joined(separator: "\n")
    }

    private static func giveToServerUser(_ path: String, account: ServerAccount) throws(EmbeddedPostgresError) {
        guard account.switchesUser, ClusterInspection.owner(of: path) != account.uid else { return }
        guard chown(path, account.uid, account.gid) == 0 else {
            throw .fileSystem(
                path: path, operation: "hand over to user \(account.userName)",
                message: String(cString: strerror(errno)))
        }
    }
}
