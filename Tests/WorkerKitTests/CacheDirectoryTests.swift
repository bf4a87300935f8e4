import Foundation
import Logging
import Testing
@testable import WorkerKit

/// A time `seconds` after a fixed origin (whole seconds: any file system keeps them).
private func t(_ seconds: Int) -> Date { Date(timeIntervalSince1970: 1_700_000_000 + Double(seconds)) }

private func entry(_ path: String, _ bytes: Int64, at seconds: Int) -> CacheEntry {
    CacheEntry(path: path, bytes: bytes, lastUse: t(seconds))
}

@Suite struct EvictionPolicyTests {
    let entries = [
        entry("configs/a.json", 100, at: 30),
        entry("datasets/m/shard-0.bin", 400, at: 10),
        entry("datasets/m/shard-1.bin", 400, at: 20),
        entry("datasets/m/manifest.json", 50, at: 40),
    ]  // 950 bytes

    @Test func withinTheLimitNothingIsDeleted() {
        let plan = CacheDirectory.evictionPlan(entries, limitBytes: 1000, protected: [])
        #expect(plan.delete.isEmpty)
        #expect(plan.bytesBefore == 950 && plan.bytesAfter == 950 && plan.withinLimit)
    }

    @Test func exactlyAtTheLimitNothingIsDeleted() {
        let plan = CacheDirectory.evictionPlan(entries, limitBytes: 950, protected: [])
        #expect(plan.delete.isEmpty)
        #expect(plan.withinLimit)
    }

    @Test func oneByteOverDeletesTheLeastRecentlyUsed() {
        let plan = CacheDirectory.evictionPlan(entries, limitBytes: 949, protected: [])
        #expect(plan.delete.map(\.path) == ["datasets/m/shard-0.bin"])
        #expect(plan.bytesAfter == 550)
    }

    @Test func deletesInLeastRecentlyUsedOrderUntilWithinTheLimit() {
        let plan = CacheDirectory.evictionPlan(entries.shuffled(), limitBytes: 120, protected: [])
        #expect(plan.delete.map(\.path) == ["datasets/m/shard-0.bin", "datasets/m/shard-1.bin", "configs/a.json"])
        #expect(plan.bytesAfter == 50 && plan.withinLimit)
    }

    @Test func stopsAsSoonAsTheTotalFits() {
        // Deleting the oldest (400) brings 950 to 550; the next one is kept.
        let plan = CacheDirectory.evictionPlan(entries, limitBytes: 600, protected: [])
        #expect(plan.delete.map(\.path) == ["datasets/m/shard-0.bin"])
    }

    @Test func equalUseTimesAreBrokenByPath() {
        let same = [entry("b", 10, at: 5), entry("a", 10, at: 5), entry("c", 10, at: 5)]
        let plan = CacheDirectory.evictionPlan(same, limitBytes: 10, protected: [])
        #expect(plan.delete.map(\.path) == ["a", "b"])
    }

    @Test func protectedEntriesAreKeptAndTheNextOldestGoes() {
        let plan = CacheDirectory.evictionPlan(entries, limitBytes: 600,
                                               protected: ["datasets/m/shard-0.bin", "datasets/m/manifest.json"])
        #expect(plan.delete.map(\.path) == ["datasets/m/shard-1.bin"])
        #expect(plan.bytesAfter == 550)
    }

    @Test func tokenFilesAreNeverDeleted() {
        let withToken = entries + [entry("token-0123456789abcdef.txt", 64, at: 0)]
        let plan = CacheDirectory.evictionPlan(withToken, limitBytes: 0, protected: [])
        #expect(!plan.delete.map(\.path).contains("token-0123456789abcdef.txt"))
        #expect(plan.delete.count == entries.count)
        #expect(plan.bytesAfter == 64 && !plan.withinLimit)
        #expect(CacheDirectory.isPinned("token-abc.txt"))
        #expect(!CacheDirectory.isPinned("datasets/m/token-abc.txt"))  // only the worker's own, at the top
        #expect(!CacheDirectory.isPinned("token-abc.json"))
    }

    @Test func oneProtectedFileLargerThanTheLimitIsKept() {
        let big = [entry("datasets/m/huge.bin", 5000, at: 1), entry("configs/a.json", 100, at: 2), entry("old.bin", 10, at: 0)]
        let plan = CacheDirectory.evictionPlan(big, limitBytes: 1000, protected: ["datasets/m/huge.bin"])
        #expect(plan.delete.map(\.path) == ["old.bin", "configs/a.json"])  // everything else goes
        #expect(plan.bytesAfter == 5000)
        #expect(!plan.withinLimit)
    }

    @Test func anEmptyCacheNeedsNothing() {
        let plan = CacheDirectory.evictionPlan([], limitBytes: 0, protected: ["x"])
        #expect(plan.delete.isEmpty && plan.withinLimit)
    }
}

@Suite struct ByteSizeTests {
    @Test(arguments: [
        ("123456", 123_456), ("0", 0), ("512B", 512), ("1k", 1024), ("1K", 1024), ("1KB", 1024),
        ("500M", 500 << 20), ("500MiB", 500 << 20), ("10G", 10 << 30), ("2GiB", 2 << 30), ("2gb", 2 << 30),
        ("1T", 1 << 40), ("1.5G", 3 << 29), ("0.5k", 512), (" 10 G ", 10 << 30),
    ] as [(String, Int64)])
    func validSizes(text: String, bytes: Int64) throws {
        #expect(try ByteSize.parse(text) == bytes)
    }

    @Test(arguments: ["", "12Q", "G", "-5", "1.2.3G", "10.", ".5G", "1e9", "10 GiBs", "ten", "5 X B", "+5"])
    func invalidSizes(text: String) {
        #expect(throws: ByteSize.ParseError.self) { try ByteSize.parse(text) }
    }

    @Test func theErrorNamesTheValueAndTheSuffixes() {
        #expect(throws: ByteSize.ParseError.self) { try ByteSize.parse("12Q", what: "cache size") }
        do {
            _ = try ByteSize.parse("12Q", what: "cache size")
        } catch {
            #expect("\(error)".hasPrefix("cache size '12Q': use a number of bytes or a suffix K, M, G, T"))
        }
    }

    @Test func fractionalBytesAndOverflowAreRejected() throws {
        #expect(throws: ByteSize.ParseError.self) { try ByteSize.parse("1.5") }
        #expect(throws: ByteSize.ParseError(message: "size '9000000T' is too large")) { try ByteSize.parse("9000000T") }
        #expect(throws: ByteSize.ParseError(message: "size '99999999999999999999' is too large")) {
            try ByteSize.parse("99999999999999999999")
        }
        #expect(try ByteSize.parse("8388607T") == 8_388_607 << 40)  // the largest whole T that fits
    }

    @Test func formatting() throws {
        #expect(ByteSize.format(0) == "0 B")
        #expect(ByteSize.format(1023) == "1023 B")
        #expect(ByteSize.format(1024) == "1 KiB")
        #expect(ByteSize.format(1536) == "1.5 KiB")
        #expect(ByteSize.format(10 << 30) == "10 GiB")
        #expect(ByteSize.format(3 << 39) == "1.5 TiB")
        #expect(try ByteSize.parse(ByteSize.format(500 << 20).replacingOccurrences(of: " ", with: "")) == 500 << 20)
    }
}

@Suite struct CacheDirectoryFileTests {
    let root: URL
    let logger: Logger

    init() throws {
        root = FileManager.default.temporaryDirectory.appendingPathComponent("koinon-cache-test-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: root, withIntermediateDirectories: true)
        var l = Logger(label: "cache-test")
        l.logLevel = .critical
        logger = l
    }

    func files() throws -> Set<String> { Set(try CacheDirectory(root: root, limitBytes: 0, logger: logger).entries().map(\.path)) }

    @Test func evictsTheLeastRecentlyUsedAndTheOrderSurvivesRelisting() throws {
        defer { try? FileManager.default.removeItem(at: root) }
        let cache = CacheDirectory(root: root, limitBytes: 2500, logger: logger)
        let kilobyte = Data(repeating: 7, count: 1000)
        try cache.write(kilobyte, to: "configs/a.json", at: t(0))
        try cache.write(kilobyte, to: "datasets/m/shard-0.bin", at: t(1))
        try cache.write(kilobyte, to: "datasets/m/shard-1.bin", at: t(2))
        try cache.write(kilobyte, to: "datasets/n/shard-0.bin", at: t(3))
        try "secret".write(to: root.appendingPathComponent("token-abc.txt"), atomically: false, encoding: .utf8)
        try FileManager.default.setAttributes([.modificationDate: t(-100)], ofItemAtPath: root.appendingPathComponent("token-abc.txt").path)
        #expect(cache.contents("configs/a.json") == kilobyte)
        #expect(cache.contents("configs/missing.json") == nil)

        // Reading two of them makes the other two the least recently used.
        cache.markUsed("configs/a.json", at: t(10))
        cache.markUsed("datasets/m/shard-0.bin", at: t(11))
        let listed = try cache.entries()
        #expect(listed.map(\.path) == ["datasets/m/shard-0.bin", "configs/a.json", "datasets/n/shard-0.bin",
                                       "datasets/m/shard-1.bin", "token-abc.txt"])
        #expect(listed.first?.lastUse == t(11) && listed.first?.bytes == 1000)

        // 4006 bytes, limit 2500: two kilobyte files go; shard-1 is oldest, but protected.
        let deleted = cache.evict(protecting: ["datasets/m/shard-1.bin"], now: t(12))
        #expect(deleted.map(\.path) == ["datasets/n/shard-0.bin", "configs/a.json"])
        #expect(try files() == ["datasets/m/shard-0.bin", "datasets/m/shard-1.bin", "token-abc.txt"])
        // An emptied dataset directory goes too; the others stay.
        #expect(!FileManager.default.fileExists(atPath: root.appendingPathComponent("datasets/n").path))
        #expect(FileManager.default.fileExists(atPath: root.appendingPathComponent("datasets/m").path))

        // A fresh instance (as after a restart) sees the same order, from the files alone.
        let again = CacheDirectory(root: root, limitBytes: 1500, logger: logger)
        #expect(try again.entries().map(\.path) == ["datasets/m/shard-0.bin", "datasets/m/shard-1.bin", "token-abc.txt"])
        #expect(again.evict(now: t(13)).map(\.path) == ["datasets/m/shard-1.bin"])
        #expect(try files() == ["datasets/m/shard-0.bin", "token-abc.txt"])
    }

    @Test func rewritingAFileReplacesItAndRefreshesItsUse() throws {
        defer { try? FileManager.default.removeItem(at: root) }
        let cache = CacheDirectory(root: root, limitBytes: 1 << 20, logger: logger)
        try cache.write(Data("old".utf8), to: "configs/a.json", at: t(0))
        try cache.write(Data("new!".utf8), to: "configs/a.json", at: t(5))
        #expect(cache.contents("configs/a.json") == Data("new!".utf8))
        #expect(try cache.entries() == [CacheEntry(path: "configs/a.json", bytes: 4, lastUse: t(5))])
    }

    @Test func anInUseFileOverTheWholeLimitStays() throws {
        defer { try? FileManager.default.removeItem(at: root) }
        let cache = CacheDirectory(root: root, limitBytes: 100, logger: logger)
        try cache.write(Data(count: 50), to: "configs/a.json", at: t(0))
        try cache.write(Data(count: 1000), to: "datasets/m/huge.bin", at: t(1))
        #expect(cache.evict(protecting: ["datasets/m/huge.bin"], now: t(2)).map(\.path) == ["configs/a.json"])
        #expect(try files() == ["datasets/m/huge.bin"])
        // Once nothing needs it, it goes.
        #expect(cache.evict(now: t(3)).map(\.path) == ["datasets/m/huge.bin"])
        #expect(try files().isEmpty)
    }

    @Test func aTooSmallLimitIsReportedOnce() throws {
        defer { try? FileManager.default.removeItem(at: root) }
        let log = CapturedLog()
        let cache = CacheDirectory(root: root, limitBytes: 100, logger: Logger(label: "cache-test") { _ in log })
        try cache.write(Data(count: 1000), to: "datasets/m/huge.bin", at: t(1))
        cache.evict(protecting: ["datasets/m/huge.bin"], now: t(2))
        cache.evict(protecting: ["datasets/m/huge.bin"], now: t(3))
        let warnings = log.messages.filter { $0.level == .warning }.map(\.message)
        #expect(warnings == ["cache limit 100 B is too small: datasets/m/huge.bin alone is 1000 B; keeping it while it is in use (raise --cache-size)"])
        #expect(log.messages.filter { $0.level == .debug && $0.message.contains("too small") }.count == 1)
    }

    @Test func orphanedTemporaryFilesAreRemovedAndNeverListed() throws {
        defer { try? FileManager.default.removeItem(at: root) }
        let cache = CacheDirectory(root: root, limitBytes: 1 << 20, logger: logger)
        try cache.write(Data("x".utf8), to: "datasets/m/manifest.json", at: t(0))
        let dir = root.appendingPathComponent("datasets/m")
        let orphan = dir.appendingPathComponent(CacheDirectory.temporaryPrefix + "dead")
        let fresh = dir.appendingPathComponent(CacheDirectory.temporaryPrefix + "writing")
        try Data(count: 10).write(to: orphan)
        try Data(count: 10).write(to: fresh)
        try FileManager.default.setAttributes([.modificationDate: t(0)], ofItemAtPath: orphan.path)
        try FileManager.default.setAttributes([.modificationDate: t(3590)], ofItemAtPath: fresh.path)
        #expect(try files() == ["datasets/m/manifest.json"])

        #expect(cache.evict(now: t(3600)).isEmpty)  // within the limit: nothing cached goes
        #expect(!FileManager.default.fileExists(atPath: orphan.path))  // an hour old: a dead writer's
        #expect(FileManager.default.fileExists(atPath: fresh.path))  // ten seconds old: perhaps still being written
        #expect(try files() == ["datasets/m/manifest.json"])
    }
}

/// A log handler that keeps every message (all levels), for tests to read.
final class CapturedLog: LogHandler, @unchecked Sendable {
    private let lock = NSLock()
    private var stored: [(level: Logger.Level, message: String)] = []
    var messages: [(level: Logger.Level, message: String)] { lock.withLock { stored } }
    var metadata: Logger.Metadata = [:]
    var logLevel: Logger.Level = .trace
    subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }
    func log(event: LogEvent) {
        lock.withLock { stored.append((event.level, event.message.description)) }
    }
}
