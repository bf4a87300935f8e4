import Foundation

#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// Files only the coordinator's user may read (the TLS key, the operator
/// token): created with mode 0600 in one step, never over an existing file.
enum SecretFile {
    struct Failure: Error, CustomStringConvertible {
        var description: String
    }

    /// Writes `contents` to a new file at `url` with `mode`; fails if the file exists.
    static func create(_ url: URL, contents: Data, mode: mode_t = 0o600) throws {
        let fd = open(url.path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, mode)
        guard fd >= 0 else {
            throw Failure(description: "cannot create \(url.path): \(String(cString: strerror(errno)))")
        }
        defer { close(fd) }
        var failed: Int32 = 0
        contents.withUnsafeBytes { buffer in
            var offset = 0
            while offset < buffer.count {
                let n = write(fd, buffer.baseAddress! + offset, buffer.count - offset)
                if n < 0 {
                    if errno == EINTR { continue }
                    failed = errno
                    return
                }
                offset += n
            }
        }
        if failed == 0, fsync(fd) != 0 { failed = errno }
        if failed != 0 {
            unlink(url.path)
            throw Failure(description: "cannot write \(url.path): \(String(cString: strerror(failed)))")
        }
    }

    /// Creates `url` (and its parents) if missing; a new directory gets `mode`.
    static func directory(_ url: URL, mode: Int = 0o700) throws {
        guard !FileManager.default.fileExists(atPath: url.path) else { return }
        try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true,
                                                attributes: [.posixPermissions: mode])
    }

    /// The file's permission bits, if it can be looked at.
    static func permissions(_ url: URL) -> Int? {
        (try? FileManager.default.attributesOfItem(atPath: url.path))?[.posixPermissions] as? Int
    }

    /// Whether group or others may read or write `url`.
    static func isExposed(_ url: URL) -> Bool {
        guard let mode = permissions(url) else { return false }
        return mode & 0o077 != 0
    }

    /// The file's contents, or an error that names it and says why not.
    static func read(_ url: URL, what: String) throws -> Data {
        guard FileManager.default.fileExists(atPath: url.path) else {
            throw Failure(description: "\(what) \(url.path): no such file")
        }
        guard let data = FileManager.default.contents(atPath: url.path) else {
            throw Failure(description: "\(what) \(url.path): cannot read the file (permissions?)")
        }
        return data
    }
}
