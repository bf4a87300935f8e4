import Foundation

/// Token windows from one split of a dataset, read from its shards (each
/// verified against the manifest's SHA-256 when first opened, then kept).
public final class SplitReader: @unchecked Sendable {
    public let split: DatasetSplit
    public let index: ShardIndex
    public let entries: [ShardEntry]
    private let directory: URL
    private let manifest: DatasetManifest
    private var loaded: [Int: [Int32]] = [:]
    private let lock = NSLock()

    public init(datasetDirectory: URL, manifest: DatasetManifest, split: DatasetSplit) throws {
        self.split = split
        self.directory = datasetDirectory
        self.manifest = manifest
        entries = manifest.shards(in: split)
        index = ShardIndex(tokenCounts: entries.map(\.tokens))
        guard index.totalTokens > 0 else {
            throw DatasetReadError("the dataset at \(datasetDirectory.path) has no \(split.rawValue) tokens")
        }
    }

    public var totalTokens: Int { index.totalTokens }
    /// SHA-256 of the manifest's file bytes, if known (set by whoever fetched it).
    public var manifestSHA256: String { directory.lastPathComponent }

    private func shardTokens(_ i: Int) throws -> [Int32] {
        lock.lock()
        defer { lock.unlock() }
        if let t = loaded[i] { return t }
        let tokens = try Shard.open(entries[i], in: directory, manifest: manifest).tokensInt32()
        loaded[i] = tokens
        return tokens
    }

    /// `length` tokens starting at global offset `offset` (may span shards).
    public func window(at offset: Int, length: Int) throws -> [Int32] {
        guard offset >= 0, offset + length <= totalTokens else {
            throw DatasetReadError("window \(offset)..<\(offset + length) is outside the \(split.rawValue) split (\(totalTokens) tokens)")
        }
        var out: [Int32] = []
        out.reserveCapacity(length)
        var (shard, local) = index.locate(offset)
        while out.count < length {
            let tokens = try shardTokens(shard)
            let take = min(length - out.count, tokens.count - local)
            out += tokens[local..<(local + take)]
            shard += 1
            local = 0
        }
        return out
    }

    /// Inputs and next-token targets of windows of `sequenceLength + 1` tokens, flattened [B, T].
    public func batch(offsets: [Int], sequenceLength: Int) throws -> (tokens: [Int32], targets: [Int32]) {
        var tokens: [Int32] = [], targets: [Int32] = []
        for o in offsets {
            let w = try window(at: o, length: sequenceLength + 1)
            tokens += w.dropLast()
            targets += w.dropFirst()
        }
        return (tokens, targets)
    }
}

extension SplitReader {
    /// `offsets` grouped into batches of `batchSize` windows (a remainder smaller than a batch is dropped).
    public func batches(offsets: [Int], sequenceLength: Int, batchSize: Int) throws -> [(tokens: [Int32], targets: [Int32])] {
        try stride(from: 0, to: offsets.count - batchSize + 1, by: batchSize).map {
            try batch(offsets: Array(offsets[$0..<($0 + batchSize)]), sequenceLength: sequenceLength)
        }
    }
}

public struct DatasetReadError: Error, CustomStringConvertible {
    public var message: String
    public init(_ message: String) { self.message = message }
    public var description: String { message }
}
