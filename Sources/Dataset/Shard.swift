import Crypto
import Foundation

/// A shard read from disk and verified: header (magic, version, dtype, token
/// count against file size) and SHA-256 against the expected hash. A shard
/// that fails any check is refused with an error naming the file, so corrupt
/// data never reaches training.
public struct Shard: Sendable {
    public let path: String
    public let header: ShardHeader
    public let sha256: String
    /// The token bytes after the header, little-endian.
    private let payload: [UInt8]

    public var dtype: TokenDType { header.dtype }
    public var tokenCount: Int { header.tokenCount }

    /// Reads and verifies a shard file. With `expectedSHA256` (lower-case hex)
    /// the content must hash to it; a shard is named by its hash, so a missing
    /// expectation still checks the file against its own name when it has one.
    public init(contentsOf url: URL, expectedSHA256: String? = nil) throws {
        let path = url.path
        let data: Data
        do { data = try Data(contentsOf: url) } catch {
            let reason = FileManager.default.fileExists(atPath: path) ? "cannot read it (\(error.localizedDescription))" : "the file is missing"
            throw DatasetError.corruptShard(file: path, reason: reason)
        }
        try self.init(bytes: [UInt8](data), path: path, expectedSHA256: expectedSHA256 ?? Self.hashInName(url))
    }

    /// Verifies shard bytes already in memory; `path` is only used in errors.
    public init(bytes: [UInt8], path: String, expectedSHA256: String?) throws {
        let header: ShardHeader
        do { header = try ShardHeader(decoding: bytes) } catch {
            throw DatasetError.corruptShard(file: path, reason: error.description)
        }
        guard bytes.count == header.fileSize else {
            let what = bytes.count < header.fileSize ? "truncated" : "has trailing bytes"
            throw DatasetError.corruptShard(
                file: path,
                reason: "\(what): the header promises \(header.tokenCount) \(header.dtype.rawValue) tokens "
                    + "(\(header.fileSize) bytes) but the file is \(bytes.count) bytes")
        }
        let sha256 = SHA256.hash(data: bytes).hexString
        if let expectedSHA256, sha256 != expectedSHA256.lowercased() {
            throw DatasetError.corruptShard(
                file: path, reason: "its SHA-256 is \(sha256) but \(expectedSHA256) was expected (the file is damaged or was replaced)")
        }
        self.path = path
        self.header = header
        self.sha256 = sha256
        payload = Array(bytes[ShardHeader.size...])
    }

    /// Opens the shard a manifest entry names, checking it against the entry
    /// (hash, token count, size) and the manifest's dtype.
    public static func open(_ entry: ShardEntry, in datasetDirectory: URL, manifest: DatasetManifest) throws -> Shard {
        guard entry.sha256.count == 64, entry.sha256.allSatisfy(\.isHexDigit),
            entry.file == ShardEntry.relativePath(sha256: entry.sha256)
        else {
            throw DatasetError.invalidManifest(
                path: datasetDirectory.appendingPathComponent(DatasetManifest.fileName).path,
                reason: "shard entry \"\(entry.file)\" is not shards/<sha256>.bin for its sha256 \(entry.sha256)")
        }
        let url = datasetDirectory.appendingPathComponent(entry.file)
        let shard = try Shard(contentsOf: url, expectedSHA256: entry.sha256)
        guard shard.dtype == manifest.dtype else {
            throw DatasetError.corruptShard(file: url.path, reason: "holds \(shard.dtype.rawValue) tokens but the manifest says \(manifest.dtype.rawValue)")
        }
        guard shard.tokenCount == entry.tokens, shard.header.fileSize == entry.bytes else {
            throw DatasetError.corruptShard(
                file: url.path,
                reason: "holds \(shard.tokenCount) tokens in \(shard.header.fileSize) bytes but the manifest lists \(entry.tokens) tokens in \(entry.bytes) bytes")
        }
        return shard
    }

    public func tokensUInt32() -> [UInt32] {
        var tokens = [UInt32](repeating: 0, count: tokenCount)
        payload.withUnsafeBytes { raw in
            switch dtype {
            case .uint16:
                for i in 0..<tokenCount { tokens[i] = UInt32(UInt16(littleEndian: raw.loadUnaligned(fromByteOffset: 2 * i, as: UInt16.self))) }
            case .uint32:
                for i in 0..<tokenCount { tokens[i] = UInt32(littleEndian: raw.loadUnaligned(fromByteOffset: 4 * i, as: UInt32.self)) }
            }
        }
        return tokens
    }

    /// Token ids as the tokenizer uses them. Ids come from a vocabulary that
    /// fits Int32, so the conversion cannot overflow for a verified shard.
    public func tokensInt32() -> [Int32] {
        tokensUInt32().map { Int32(truncatingIfNeeded: $0) }
    }

    /// The hash in a `<sha256>.bin` file name, if the name is one.
    private static func hashInName(_ url: URL) -> String? {
        let name = url.deletingPathExtension().lastPathComponent
        guard url.pathExtension == "bin", name.count == 64, name.allSatisfy(\.isHexDigit) else { return nil }
        return name.lowercased()
    }
}
