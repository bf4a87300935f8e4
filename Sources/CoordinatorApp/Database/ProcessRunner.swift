import Foundation

#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// Runs a program to completion and collects its combined stdout and stderr.
///
/// Not Foundation's `Process`: on Linux it notices a child's exit when a descriptor the child
/// inherited closes, and `pg_ctl start` leaves a daemon (the postmaster) behind that would
/// inherit that descriptor, and every other one open at the time, keeping them open forever.
/// Here the child is spawned with every descriptor above stderr closed, and reaped with
/// `waitpid` on a thread of its own. Output goes to an unlinked temporary file rather than a
/// pipe, for the same reason.
enum ProcessRunner {
    struct Outcome: Sendable {
        /// The exit status, or 128 + the signal number when killed by a signal.
        var status: Int32
        var output: String
    }

    /// A program and its arguments, as one line for error messages.
    static func commandLine(_ executable: URL, _ arguments: [String]) -> String {
        ([executable.path] + arguments).map { $0.contains(" ") || $0.isEmpty ? "'\($0)'" : $0 }.joined(separator: " ")
    }

    /// Runs `executable`, suspending (not blocking a thread of the concurrency pool) until it exits.
    static func run(
        _ executable: URL, _ arguments: [String], currentDirectory: URL? = nil, environment: [String: String]? = nil
    ) async throws -> Outcome {
        let capture = try OutputCapture()
        let pid = try spawn(
            executable, arguments, currentDirectory: currentDirectory, environment: environment,
            output: capture.descriptor)
        let status = await withCheckedContinuation { continuation in
            Thread.detachNewThread { continuation.resume(returning: reap(pid)) }
        }
        return Outcome(status: status, output: capture.read())
    }

    /// Runs `executable` on the calling thread; for short queries (`pg_ctl --version`), where
    /// nothing can be awaited. Throws on a non-zero exit.
    static func runSynchronously(
        _ executable: URL, _ arguments: [String], environment: [String: String]? = nil
    ) throws -> String {
        let capture = try OutputCapture()
        let pid = try spawn(
            executable, arguments, currentDirectory: nil, environment: environment, output: capture.descriptor)
        let status = reap(pid)
        let output = capture.read()
        guard status == 0 else {
            throw EmbeddedPostgresError.commandFailed(
                command: commandLine(executable, arguments), status: status, output: output, serverLogTail: nil)
        }
        return output
    }

    /// Waits for `pid` to exit; its exit status, or 128 + signal.
    private static func reap(_ pid: pid_t) -> Int32 {
        var status: Int32 = 0
        while waitpid(pid, &status, 0) == -1 {
            guard errno == EINTR else { return 127 }
        }
        let signal = status & 0x7F
        return signal == 0 ? (status >> 8) & 0xFF : 128 + signal
    }

    private static func spawn(
        _ executable: URL, _ arguments: [String], currentDirectory: URL?, environment: [String: String]?,
        output: Int32
    ) throws -> pid_t {
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
        posix_spawn_file_actions_adddup2(&actions, output, 1)
        posix_spawn_file_actions_adddup2(&actions, output, 2)
        try SpawnExtensions.closeDescriptorsFromThree(&actions)
        if let currentDirectory { try SpawnExtensions.changeDirectory(&actions, to: currentDirectory.path) }

        var attributes = posix_spawnattr_t()
        posix_spawnattr_init(&attributes)
        defer { posix_spawnattr_destroy(&attributes) }
        var noSignals = sigset_t()
        sigemptyset(&noSignals)
        posix_spawnattr_setsigmask(&attributes, &noSignals)
        // Dispositions this process may have changed (SIGPIPE is ignored by SwiftNIO) go back
        // to their defaults in the child.
        var defaults = sigset_t()
        sigemptyset(&defaults)
        for signal in [SIGPIPE, SIGINT, SIGTERM, SIGHUP, SIGQUIT, SIGCHLD, SIGUSR1, SIGUSR2, SIGALRM] {
            sigaddset(&defaults, signal)
        }
        posix_spawnattr_setsigdefault(&attributes, &defaults)
        // Its own process group: a Ctrl-C meant for the coordinator does not reach it.
        posix_spawnattr_setpgroup(&attributes, 0)
        posix_spawnattr_setflags(
            &attributes, Int16(POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF | POSIX_SPAWN_SETPGROUP))

        let argv = ([executable.path] + arguments).map { strdup($0) } + [nil]
        let environment = environment ?? ProcessInfo.processInfo.environment
        let envp = environment.map { strdup("\($0.key)=\($0.value)") } + [nil]
        defer { for pointer in argv + envp { free(pointer) } }

        var pid: pid_t = 0
        let result = posix_spawn(&pid, executable.path, &actions, &attributes, argv, envp)
        guard result == 0 else {
            throw EmbeddedPostgresError.fileSystem(
                path: executable.path, operation: "run", message: String(cString: strerror(result)))
        }
        return pid
    }
}

/// glibc's `posix_spawn_file_actions_addclosefrom_np` (2.34) and `…_addchdir_np` (2.29),
/// looked up at run time because Swift's Glibc module does not declare GNU extensions.
private enum SpawnExtensions {
    typealias CloseFrom = @convention(c) (UnsafeMutablePointer<posix_spawn_file_actions_t>, Int32) -> Int32
    typealias ChangeDirectory =
        @convention(c) (UnsafeMutablePointer<posix_spawn_file_actions_t>, UnsafePointer<CChar>) -> Int32

    static let closeFrom: CloseFrom? = symbol("posix_spawn_file_actions_addclosefrom_np")
    static let changeDirectory: ChangeDirectory? = symbol("posix_spawn_file_actions_addchdir_np")

    static func closeDescriptorsFromThree(_ actions: inout posix_spawn_file_actions_t) throws {
        if let closeFrom {
            guard closeFrom(&actions, 3) == 0 else { throw failure("close descriptors for") }
            return
        }
        // Older C libraries: close what is open now.
        let open =
            (try? FileManager.default.contentsOfDirectory(atPath: "/proc/self/fd"))?.compactMap { Int32($0) } ?? []
        for descriptor in open where descriptor > 2 { posix_spawn_file_actions_addclose(&actions, descriptor) }
    }

    static func changeDirectory(_ actions: inout posix_spawn_file_actions_t, to path: String) throws {
        guard let changeDirectory else { return }  // the child keeps our working directory
        guard changeDirectory(&actions, path) == 0 else { throw failure("change directory for") }
    }

    private static func symbol<T>(_ name: String) -> T? {
        guard let address = dlsym(UnsafeMutableRawPointer(bitPattern: 0), name) else { return nil }
        return unsafeBitCast(address, to: T.self)
    }

    private static func failure(_ what: String) -> EmbeddedPostgresError {
        .fileSystem(path: "posix_spawn", operation: what, message: String(cString: strerror(errno)))
    }
}

/// An anonymous temporary file collecting a child's output.
private final class OutputCapture {
    let descriptor: Int32

    init() throws {
        var template = Array((NSTemporaryDirectory() + "/koinon-output-XXXXXX").utf8CString)
        let fd = template.withUnsafeMutableBufferPointer { mkstemp($0.baseAddress!) }
        guard fd >= 0 else {
            throw EmbeddedPostgresError.fileSystem(
                path: NSTemporaryDirectory(), operation: "create a temporary file in",
                message: String(cString: strerror(errno)))
        }
        template.withUnsafeBufferPointer { _ = unlink($0.baseAddress!) }
        // Children get it as stdout/stderr only (dup2 clears the flag on the copies).
        _ = fcntl(fd, F_SETFD, FD_CLOEXEC)
        descriptor = fd
    }

    deinit { close(descriptor) }

    func read() -> String {
        var data = Data()
        var buffer = [UInt8](repeating: 0, count: 65_536)
        var offset: off_t = 0
        while true {
            let count = buffer.withUnsafeMutableBytes { pread(descriptor, $0.baseAddress, $0.count, offset) }
            if count <= 0 { break }
            data.append(contentsOf: buffer[..<count])
            offset += off_t(count)
        }
        return String(decoding: data, as: UTF8.self)
    }
}
