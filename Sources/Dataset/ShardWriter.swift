import Crypto
import Foundation

/// Cuts one split's token stream into shards of exactly `shardTokens` tokens
/// (the last one shorter) and writes each as `<sha256 of the file>.bin`.
struct ShardWriter {
    let directory: URL
    let split: DatasetSplit
    let dtype: TokenDType
    let shardTokens: Int
    private var buffer: [UInt8] = []
    private var bufferedTokens = 0
    private(set) var entries: [ShardEntry] = []
    private(set) var totalTokens = 0

    init(directory: URL, split: DatasetSplit, dtype: TokenDType, shardTokens: Int) {
        precondition(shardTokens > 0)
        self.directory = directory
        self.split = split
        self.dtype = dtype
        self.shardTokens = shardTokens
        startShard()
    }

    mutating func append(_ tokens: [Int32]) throws {
        var start = 0
        while start < tokens.count {
            // Up to the end of the current shard, converted in one pass.
            let end = min(tokens.count, start + shardTokens - bufferedTokens)
            switch dtype {
            case .uint16: appendBytes(tokens[start..<end].map { UInt16(truncatingIfNeeded: $0).littleEndian })
            case .uint32: appendBytes(tokens[start..<end].map { UInt32(truncatingIfNeeded: $0).littleEndian })
            }
            bufferedTokens += end - start
            start = end
            if bufferedTokens == shardTokens { try writeShard() }
        }
    }

    private mutating func appendBytes<T>(_ values: [T]) {
        values.withUnsafeBytes { buffer.append(contentsOf: $0) }
    }

    /// Writes the last, shorter shard if any tokens are left.
    mutating func finish() throws {
        if bufferedTokens > 0 { try writeShard() }
    }

    private mutating func startShard() {
        buffer.removeAll(keepingCapacity: true)
        buffer.reserveCapacity(ShardHeader.size + shardTokens * dtype.bytesPerToken)
        buffer.append(contentsOf: [UInt8](repeating: 0, count: ShardHeader.size))
        bufferedTokens = 0
    }

    private mutating func writeShard() throws {
        let header = ShardHeader(dtype: dtype, tokenCount: bufferedTokens).encoded()
        buffer.replaceSubrange(0..<ShardHeader.size, with: header)
        let sha256 = SHA256.hash(data: buffer).hexString
        let entry = ShardEntry(sha256: sha256, split: split, tokens: bufferedTokens, bytes: buffer.count)
        let url = directory.appendingPathComponent(entry.file)
        do { try Data(buffer).write(to: url) } catch {
            throw DatasetError.outputFailure(path: url.path, reason: error.localizedDescription)
        }
        entries.append(entry)
        totalTokens += bufferedTokens
        startShard()
    }
}
