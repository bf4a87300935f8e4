#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import Foundation
import Synchronization

/// Files of removed blobs, kept to be written over by new ones. A run writes
/// blobs of the same few sizes step after step (gradients, parameters) and
/// prunes them at each checkpoint; writing into a file whose pages the
/// kernel already holds costs a fraction of filling new pages (here 5.6 GB/s
/// against 0.7–1.2 GB/s, `dd` over a cached file and into a new one), and it
/// was the largest part of the coordinator's time in a small run.
final class SpareFiles: Sendable {
    let directory: URL
    let limit: Int
    private let names: Mutex<[String]>

    init(directory: URL, limit: Int) throws {
        self.directory = directory
        self.limit = limit
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        names = Mutex((try? FileManager.default.contentsOfDirectory(atPath: directory.path)) ?? [])
    }

    /// Moves a removed blob's file here (or deletes it when enough are kept).
    func keep(_ file: URL) {
        let name = UUID().uuidString
        let kept: Bool = names.withLock { names in
            guard names.count < limit else { return false }
            names.append(name)
            return true
        }
        if kept, rename(file.path, directory.appendingPathComponent(name).path) == 0 { return }
        if kept { names.withLock { $0.removeAll { $0 == name } } }
        try? FileManager.default.removeItem(at: file)
    }

    /// Writes `data` into a spare file moved to `path` first (so no one else
    /// takes it); false when there is none, or it could not be used (then
    /// nothing is left at `path`).
    func write(_ data: Data, to path: String) -> Bool {
        guard let name = names.withLock({ $0.popLast() }) else { return false }
        guard rename(directory.appendingPathComponent(name).path, path) == 0 else { return false }
        do { try BlobFile.write(data, to: path, create: false) } catch {
            unlink(path)
            return false
        }
        return true
    }
}

/// Writing a blob's bytes into a file (not synced: `BlobStore.sync` does that).
enum BlobFile {
    /// `data` into the file at `path`: made, or an existing one written over
    /// and cut to size.
    static func write(_ data: Data, to path: String, create: Bool) throws {
        let fd = open(path, O_WRONLY | O_CLOEXEC | (create ? O_CREAT | O_EXCL : 0), 0o644)
        guard fd >= 0 else { throw BlobError.io("open \(path)", errno) }
        defer { close(fd) }
        try data.withUnsafeBytes { raw in
            var offset = 0
            while offset < raw.count {
                let n = pwrite(fd, raw.baseAddress! + offset, raw.count - offset, off_t(offset))
                if n < 0, errno == EINTR { continue }
                guard n > 0 else { throw BlobError.io("write \(path)", n < 0 ? errno : ENOSPC) }
                offset += n
            }
        }
        if !create, ftruncate(fd, off_t(data.count)) != 0 { throw BlobError.io("truncate \(path)", errno) }
    }
}
