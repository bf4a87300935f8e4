import Foundation
import Logging

/// A file kept in a cache directory, as the eviction policy sees it.
public struct CacheEntry: Sendable, Equatable {
    /// Relative to the cache directory, `/`-separated (`configs/<sha>.json`).
    public var path: String
    public var bytes: Int64
    /// When it was last written or read from the cache (the file's modification time).
    public var lastUse: Date

    public init(path: String, bytes: Int64, lastUse: Date) {
        self.path = path
        self.bytes = bytes
        self.lastUse = lastUse
    }
}

/// What eviction should delete to bring a cache within its limit.
public struct EvictionPlan: Sendable, Equatable {
    /// Least recently used first.
    public var delete: [CacheEntry]
    /// The total size of the cache before and after deleting `delete`.
    public var bytesBefore: Int64
    public var bytesAfter: Int64
    public var limitBytes: Int64
    /// False when the files that may not be deleted alone exceed the limit.
    public var withinLimit: Bool { bytesAfter <= limitBytes }
}

/// A size-limited cache over a directory: files are written atomically,
/// each read or write refreshes the file's modification time (so the
/// least-recently-used order survives restarts), and `evict` deletes the
/// least recently used files until the total is within the limit.
///
/// Never deleted: the worker's token files (`token-*.txt` at the top
/// level) and whatever the caller says is in use. An in-use file may be
/// larger than the whole limit; the cache then stays over it and says so.
public struct CacheDirectory: Sendable {
    public let root: URL
    public let limitBytes: Int64
    let logger: Logger
    /// The "limit too small" warning is given once; repeats go to the debug log.
    private let warnedTooSmall = LockedFlag()

    /// Written files start under this name, in the target's directory, and are renamed into place.
    static let temporaryPrefix = ".koinon-partial-"
    /// Temporary files older than this are left over from a process that died mid-write.
    static let orphanAge: TimeInterval = 600

    public init(root: URL, limitBytes: Int64, logger: Logger) {
        self.root = root
        self.limitBytes = limitBytes
        self.logger = logger
    }

    // MARK: Policy

    /// Files eviction never deletes: the worker's registration tokens.
    public static func isPinned(_ path: String) -> Bool {
        !path.contains("/") && path.hasPrefix("token-") && path.hasSuffix(".txt")
    }

    /// Which entries to delete, least recently used first (ties by path),
    /// until the total size is at most `limitBytes`; never a `protected`
    /// path nor a pinned one. Deletes nothing when the total is within the limit.
    public static func evictionPlan(_ entries: [CacheEntry], limitBytes: Int64, protected: Set<String>) -> EvictionPlan {
        let before = entries.reduce(Int64(0)) { $0 + $1.bytes }
        var total = before
        var delete: [CacheEntry] = []
        if total > limitBytes {
            let candidates = entries
                .filter { !protected.contains($0.path) && !isPinned($0.path) }
                .sorted { ($0.lastUse, $0.path) < ($1.lastUse, $1.path) }
            for e in candidates {
                if total <= limitBytes { break }
                delete.append(e)
                total -= e.bytes
            }
        }
        return EvictionPlan(delete: delete, bytesBefore: before, bytesAfter: total, limitBytes: limitBytes)
    }

    // MARK: Files

    public func url(_ relative: String) -> URL { root.appendingPathComponent(relative) }

    /// The file's bytes if it is in the cache (use `markUsed` once they are verified).
    public func contents(_ relative: String) -> Data? {
        FileManager.default.contents(atPath: url(relative).path)
    }

    /// Records a use of the file: its modification time becomes `now`.
    public func markUsed(_ relative: String, at now: Date = Date()) {
        do {
            try FileManager.default.setAttributes([.modificationDate: now], ofItemAtPath: url(relative).path)
        } catch {
            logger.debug("cache: cannot record use of \(relative): \(error)")
        }
    }

    /// Writes the file atomically (a temporary file renamed into place), its use time `now`.
    public func write(_ data: Data, to relative: String, at now: Date = Date()) throws {
        let target = url(relative)
        let directory = target.deletingLastPathComponent()
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        let temporary = directory.appendingPathComponent(Self.temporaryPrefix + UUID().uuidString)
        do {
            try data.write(to: temporary)
            try FileManager.default.setAttributes([.modificationDate: now], ofItemAtPath: temporary.path)
            guard rename(temporary.path, target.path) == 0 else {
                throw CocoaError(.fileWriteUnknown, userInfo: [
                    NSFilePathErrorKey: target.path,
                    NSLocalizedDescriptionKey: "cannot rename into \(target.path): \(String(cString: strerror(errno)))",
                ])
            }
        } catch {
            try? FileManager.default.removeItem(at: temporary)
            throw error
        }
    }

    /// The cached files (regular files, temporaries excluded), and the
    /// temporary files, each with its size and last use.
    func scan() throws -> (entries: [CacheEntry], temporaries: [CacheEntry]) {
        guard let walker = FileManager.default.enumerator(atPath: root.path) else {
            throw CocoaError(.fileReadNoSuchFile, userInfo: [NSFilePathErrorKey: root.path])
        }
        var entries: [CacheEntry] = [], temporaries: [CacheEntry] = []
        while let relative = walker.nextObject() as? String {
            let values = try? url(relative).resourceValues(forKeys: [.isRegularFileKey, .fileSizeKey, .contentModificationDateKey])
            guard let values, values.isRegularFile == true else { continue }
            let entry = CacheEntry(path: relative, bytes: Int64(values.fileSize ?? 0),
                                   lastUse: values.contentModificationDate ?? .distantPast)
            if (relative as NSString).lastPathComponent.hasPrefix(Self.temporaryPrefix) {
                temporaries.append(entry)
            } else {
                entries.append(entry)
            }
        }
        return (entries, temporaries)
    }

    /// The cached files, most recently used first.
    public func entries() throws -> [CacheEntry] {
        try scan().entries.sorted { ($0.lastUse, $0.path) > ($1.lastUse, $1.path) }
    }

    /// Deletes least recently used files until the cache is within its
    /// limit, keeping `protected` (relative paths) and the token files;
    /// also deletes temporary files orphaned by an interrupted write.
    /// Returns what it deleted. Failures are logged, never thrown.
    @discardableResult
    public func evict(protecting protected: Set<String> = [], now: Date = Date()) -> [CacheEntry] {
        let listing: (entries: [CacheEntry], temporaries: [CacheEntry])
        do { listing = try scan() } catch {
            logger.warning("cache: cannot list \(root.path): \(error)")
            return []
        }
        for t in listing.temporaries where now.timeIntervalSince(t.lastUse) > Self.orphanAge {
            if remove(t.path) { logger.debug("cache: removed the leftover temporary file \(t.path)") }
        }
        let plan = Self.evictionPlan(listing.entries, limitBytes: limitBytes, protected: protected)
        var deleted: [CacheEntry] = []
        for e in plan.delete where remove(e.path) { deleted.append(e) }
        if !deleted.isEmpty {
            let freed = deleted.reduce(Int64(0)) { $0 + $1.bytes }
            logger.info("cache: evicted \(deleted.count) file(s), \(ByteSize.format(freed)), to stay within \(ByteSize.format(limitBytes))")
        }
        if !plan.withinLimit {
            let level: Logger.Level = warnedTooSmall.isSet ? .debug : .warning
            warnedTooSmall.set()
            let kept = listing.entries.filter { protected.contains($0.path) }
            if let largest = kept.max(by: { $0.bytes < $1.bytes }), largest.bytes > limitBytes {
                logger.log(level: level, "cache limit \(ByteSize.format(limitBytes)) is too small: \(largest.path) alone is \(ByteSize.format(largest.bytes)); keeping it while it is in use (raise --cache-size)")
            } else {
                logger.log(level: level, "cache limit \(ByteSize.format(limitBytes)) is too small: the files in use now total \(ByteSize.format(plan.bytesAfter)); keeping them (raise --cache-size)")
            }
        }
        return deleted
    }

    /// Startup housekeeping: orphaned temporaries go, and the cache is brought within its (perhaps lowered) limit.
    public func prepare() {
        evict(protecting: [])
    }

    /// Deletes one file, then its directories up to the root while they are empty.
    private func remove(_ relative: String) -> Bool {
        do { try FileManager.default.removeItem(at: url(relative)) } catch {
            logger.warning("cache: cannot delete \(relative): \(error)")
            return false
        }
        var dir = (relative as NSString).deletingLastPathComponent
        while !dir.isEmpty, rmdir(url(dir).path) == 0 {  // rmdir fails on a non-empty directory
            dir = (dir as NSString).deletingLastPathComponent
        }
        return true
    }
}
