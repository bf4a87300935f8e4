import Crypto
import Foundation
import Synchronization
import Wire

/// Content-addressed storage for large immutable data (parameter versions,
/// optimizer state, accepted gradients, dataset shards): a directory of files
/// named by the SHA-256 of their bytes, fanned out by the first two hex digits.
/// Writes go to a temporary file and are renamed into place, so a crash of
/// the process never leaves a partial blob under a valid name; any static
/// HTTP server can serve it.
///
/// What the run cannot do without (optimizer state, datasets, checkpoints'
/// parameters) is synced to the disk, bytes and name, before `put` returns,
/// so the database never names one a power loss could take. Workers'
/// results and each step's new version are put with `synced: false` (an
/// fsync per result was a seventh of the coordinator's time under load):
/// one `sync` before the step commits covers them all. A result lost with
/// the machine before that is found when its step is applied (`get` says
/// missing or corrupt) and its unit computed again.
///
/// The newest blobs (up to `memoryBytes`) are also kept in memory: the
/// parameters every worker downloads at each step and the gradients the step
/// is about to sum are then served without a disk read or a second hash.
public struct BlobStore: Sendable {
    public let root: URL
    /// `root`'s path: blob paths are made by joining strings (`URL.appendingPathComponent`
    /// was a visible part of every result's cost under load).
    let rootPath: String
    let recent: RecentBlobs
    let spares: SpareFiles

    public init(root: URL, memoryBytes: Int = 256 << 20, spareFiles: Int = 512) throws {
        self.root = root
        rootPath = root.path
        recent = RecentBlobs(limit: memoryBytes)
        try FileManager.default.createDirectory(at: root.appendingPathComponent("tmp"), withIntermediateDirectories: true)
        spares = try SpareFiles(directory: root.appendingPathComponent("spare"), limit: spareFiles)
    }

    public static func sha256(_ data: Data) -> String {
        data.withUnsafeBytes { SHA256Hex.digest(of: $0) }
    }

    static func isHash(_ s: String) -> Bool {
        s.count == 64 && s.utf8.allSatisfy { (0x30...0x39).contains($0) || (0x61...0x66).contains($0) }
    }

    public func url(for sha256: String) -> URL {
        URL(fileURLWithPath: path(for: sha256))
    }

    func path(for sha256: String) -> String {
        rootPath + "/" + sha256.prefix(2) + "/" + sha256
    }

    public func contains(_ sha256: String) -> Bool {
        Self.isHash(sha256) && FileManager.default.fileExists(atPath: path(for: sha256))
    }

    /// Stores `data`, returning its SHA-256 (storing the same bytes twice is a no-op).
    @discardableResult
    public func put(_ data: Data) throws -> String {
        let hash = Self.sha256(data)
        try put(data, sha256: hash)
        return hash
    }

    /// Stores `data` whose SHA-256 the caller has just computed; `synced`:
    /// on the disk, under its name, before this returns (see the type's comment).
    public func put(_ data: Data, sha256 hash: String, synced: Bool = true) throws {
        let target = path(for: hash)
        if !holds(hash, at: target) {
            try FileManager.default.createDirectory(atPath: rootPath + "/" + hash.prefix(2), withIntermediateDirectories: true)
            let temp = rootPath + "/tmp/" + UUID().uuidString
            // Into a spare file if there is one, else a new file; then renamed over whatever has the name.
            if !spares.write(data, to: temp) { try BlobFile.write(data, to: temp, create: true) }
            guard rename(temp, target) == 0 else {
                let code = errno
                unlink(temp)
                throw BlobError.io("rename to \(target)", code)
            }
        }
        if synced { try sync() }  // the data and the name (also of a file an unsynced put left)
        recent.insert(hash, data)  // only once it is on disk
    }

    /// Whether the store already has the blob: in memory, or a file with the
    /// right bytes (a file a power loss cut short, or a spare's old bytes
    /// under a new name, is written again).
    private func holds(_ hash: String, at target: String) -> Bool {
        if recent.get(hash) != nil { return true }
        guard let bytes = FileManager.default.contents(atPath: target) else { return false }
        return Self.sha256(bytes) == hash
    }

    /// Everything written to the store's file system so far reaches the disk
    /// (one `syncfs`: a step's results and its new version at once).
    public func sync() throws {
        let fd = open(rootPath, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        guard fd >= 0 else { throw BlobError.io("open \(rootPath)", errno) }
        defer { close(fd) }
        guard linuxSyncfs(fd) == 0 else { throw BlobError.io("syncfs \(rootPath)", errno) }
    }

    /// The blob's bytes, verified against its name.
    public func get(_ sha256: String) throws -> Data {
        guard Self.isHash(sha256) else { throw BlobError.badHash(sha256) }
        if let data = recent.get(sha256) { return data }
        guard let data = FileManager.default.contents(atPath: path(for: sha256)) else { throw BlobError.missing(sha256) }
        guard Self.sha256(data) == sha256 else { throw BlobError.corrupt(sha256) }
        recent.insert(sha256, data)
        return data
    }

    public func remove(_ sha256: String) {
        guard Self.isHash(sha256) else { return }
        recent.remove(sha256)
        spares.keep(url(for: sha256))
    }
}

/// The most recently stored or read blobs, up to a byte limit (oldest dropped first).
final class RecentBlobs: Sendable {
    private struct State {
        var blobs: [String: Data] = [:]
        var order: [String] = []  // oldest first
        var bytes = 0
    }
    private let state = Mutex(State())
    let limit: Int

    init(limit: Int) { self.limit = limit }

    func get(_ sha: String) -> Data? { state.withLock { $0.blobs[sha] } }

    func insert(_ sha: String, _ data: Data) {
        guard data.count <= limit / 4 else { return }  // huge blobs (shards) are read from disk
        state.withLock { s in
            if s.blobs[sha] != nil { return }
            s.blobs[sha] = data
            s.order.append(sha)
            s.bytes += data.count
            while s.bytes > limit, !s.order.isEmpty {
                let old = s.order.removeFirst()
                s.bytes -= s.blobs.removeValue(forKey: old)?.count ?? 0
            }
        }
    }

    func remove(_ sha: String) {
        state.withLock { s in
            guard let data = s.blobs.removeValue(forKey: sha) else { return }
            s.bytes -= data.count
            s.order.removeAll { $0 == sha }
        }
    }
}

public enum BlobError: Error, CustomStringConvertible, Equatable {
    case badHash(String), missing(String), corrupt(String)
    /// A file operation failed: what, and errno.
    case io(String, Int32)
    /// The blob this error found missing or corrupt.
    public var lostBlob: String? {
        switch self {
        case .missing(let sha), .corrupt(let sha): sha
        case .badHash, .io: nil
        }
    }
    public var description: String {
        switch self {
        case .io(let what, let code): "\(what): \(String(cString: strerror(code)))"
        case .badHash(let h): "'\(h.prefix(80))' is not a SHA-256 hex digest"
        case .missing(let h): "blob \(h) is not in the store"
        case .corrupt(let h): "blob \(h) does not match its hash (corrupt file)"
        }
    }
}

#if os(Linux)
/// glibc's `syncfs(2)`, which the Glibc module does not import (it is declared
/// under `_GNU_SOURCE` only). One `int` in and out: the C and Swift calling
/// conventions agree for it on x86-64 and arm64.
@_silgen_name("syncfs")
private func linuxSyncfs(_ fd: Int32) -> Int32
#else
/// No `syncfs` elsewhere: everything is synced.
private func linuxSyncfs(_ fd: Int32) -> Int32 {
    sync()
    return 0
}
#endif
