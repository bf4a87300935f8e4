import Foundation

#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// An exclusive `flock` on the cluster's `koinon.lock`, held while a coordinator uses the
/// cluster, so a second coordinator on the same directory stops with a clear error instead of
/// stopping or re-initialising a server that is in use.
///
/// The kernel drops the lock when the holder exits, however it exits, so a killed coordinator
/// never leaves a stale lock behind. The descriptor is close-on-exec: the PostgreSQL server
/// started through `pg_ctl` must not inherit (and keep holding) it.
final class ClusterLock: Sendable {
    private let descriptor: Int32
    let path: String

    private init(descriptor: Int32, path: String) {
        self.descriptor = descriptor
        self.path = path
    }

    /// Takes the lock without waiting, and records this process's id in the file.
    static func acquire(_ url: URL, directory: String) throws(EmbeddedPostgresError) -> ClusterLock {
        let path = url.path
        let fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0o600)
        guard fd >= 0 else {
            throw .fileSystem(path: path, operation: "open", message: String(cString: strerror(errno)))
        }
        guard flock(fd, LOCK_EX | LOCK_NB) == 0 else {
            let failure = errno
            let holder = readPID(fd)
            close(fd)
            if failure == EWOULDBLOCK { throw .directoryInUse(path: directory, holderPID: holder) }
            throw .fileSystem(path: path, operation: "lock", message: String(cString: strerror(failure)))
        }
        let text = Array("\(getpid())\n".utf8)
        _ = ftruncate(fd, 0)
        _ = text.withUnsafeBytes { pwrite(fd, $0.baseAddress, $0.count, 0) }
        return ClusterLock(descriptor: fd, path: path)
    }

    /// Releases the lock (also done by the kernel at exit).
    func release() {
        _ = flock(descriptor, LOCK_UN)
    }

    deinit { close(descriptor) }

    private static func readPID(_ fd: Int32) -> Int32? {
        var buffer = [UInt8](repeating: 0, count: 32)
        let count = buffer.withUnsafeMutableBytes { pread(fd, $0.baseAddress, $0.count, 0) }
        guard count > 0 else { return nil }
        return Int32(String(decoding: buffer[..<count], as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines))
    }
}
