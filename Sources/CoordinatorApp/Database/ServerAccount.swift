import Foundation

#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// The operating-system user the embedded PostgreSQL server runs as, and how to run a program
/// as that user.
///
/// PostgreSQL refuses to run as root. A coordinator started by an unprivileged user runs the
/// server as itself; one started as root runs it as the `postgres` system user (created by the
/// Debian `postgresql` package) through `runuser` (or `setpriv`), both from util-linux.
struct ServerAccount: Sendable, Equatable {
    var userName: String
    var uid: UInt32
    var gid: UInt32
    /// Prefix that runs the following program as this user; empty when it is the current user.
    var launcher: [String]

    /// Whether programs run as another user than the current process.
    var switchesUser: Bool { !launcher.isEmpty }

    /// The name of the system user a root coordinator runs the server as.
    static let systemUserName = "postgres"

    /// A user database entry.
    struct UserEntry: Sendable, Equatable {
        var name: String
        var uid: UInt32
        var gid: UInt32
    }

    /// The facts about the current process that decide the account.
    struct Environment: Sendable, Equatable {
        var effectiveUID: UInt32
        var currentUser: UserEntry
        /// The `postgres` system user, if it exists.
        var systemUser: UserEntry?
        var runuserPath: String?
        var setprivPath: String?
    }

    /// Decides who runs the server (pure).
    static func decide(_ env: Environment) throws(EmbeddedPostgresError) -> ServerAccount {
        guard env.effectiveUID == 0 else {
            return ServerAccount(
                userName: env.currentUser.name, uid: env.effectiveUID, gid: env.currentUser.gid, launcher: [])
        }
        guard let user = env.systemUser else { throw .rootWithoutServerUser(userName: systemUserName) }
        let launcher: [String]
        if let runuser = env.runuserPath {
            launcher = [runuser, "-u", systemUserName, "--"]
        } else if let setpriv = env.setprivPath {
            launcher = [setpriv, "--reuid=\(user.uid)", "--regid=\(user.gid)", "--init-groups", "--"]
        } else {
            throw .noPrivilegeDropTool(userName: systemUserName)
        }
        return ServerAccount(userName: systemUserName, uid: user.uid, gid: user.gid, launcher: launcher)
    }

    /// The account for this process.
    static func current() throws(EmbeddedPostgresError) -> ServerAccount {
        let uid = geteuid()
        let environment = Environment(
            effectiveUID: uid,
            currentUser: passwordEntry(uid: uid) ?? UserEntry(name: "uid \(uid)", uid: uid, gid: getegid()),
            systemUser: passwordEntry(name: systemUserName),
            runuserPath: firstExecutable(["/usr/sbin/runuser", "/sbin/runuser", "/usr/bin/runuser"]),
            setprivPath: firstExecutable(["/usr/bin/setpriv", "/bin/setpriv"]))
        return try decide(environment)
    }

    /// `program arguments`, run as this account: the executable and arguments to hand to `Process`.
    func command(_ program: URL, _ arguments: [String]) -> (executable: URL, arguments: [String]) {
        guard let first = launcher.first else { return (program, arguments) }
        return (URL(fileURLWithPath: first), Array(launcher.dropFirst()) + [program.path] + arguments)
    }

    private static func firstExecutable(_ paths: [String]) -> String? {
        paths.first { FileManager.default.isExecutableFile(atPath: $0) }
    }

    private static func passwordEntry(uid: uid_t) -> UserEntry? {
        lookup { getpwuid_r(uid, &$0, $1, $2, &$3) }
    }

    private static func passwordEntry(name: String) -> UserEntry? {
        lookup { getpwnam_r(name, &$0, $1, $2, &$3) }
    }

    private static func lookup(
        _ call: (inout passwd, UnsafeMutablePointer<CChar>, Int, inout UnsafeMutablePointer<passwd>?) -> Int32
    ) -> UserEntry? {
        var buffer = [CChar](repeating: 0, count: 16_384)
        return buffer.withUnsafeMutableBufferPointer { storage in
            var entry = passwd()
            var result: UnsafeMutablePointer<passwd>?
            guard call(&entry, storage.baseAddress!, storage.count, &result) == 0, result != nil,
                let name = entry.pw_name
            else { return nil }
            return UserEntry(name: String(cString: name), uid: UInt32(entry.pw_uid), gid: UInt32(entry.pw_gid))
        }
    }
}
