/// The width of the tokens in a shard.
public enum TokenDType: String, Sendable, Codable, Equatable {
    case uint16
    case uint32

    public var bytesPerToken: Int { self == .uint16 ? 2 : 4 }

    public init?(bytesPerToken: Int) {
        switch bytesPerToken {
        case 2: self = .uint16
        case 4: self = .uint32
        default: return nil
        }
    }

    /// uint16 when every id fits (vocabulary of at most 65,536), which halves
    /// the shards; uint32 otherwise.
    public static func forVocabulary(size: Int) -> TokenDType {
        size <= 1 << 16 ? .uint16 : .uint32
    }
}

/// The 32-byte header that starts every shard file, all integers little-endian:
///
///     0  magic "KOINSHRD" (8 ASCII bytes)
///     8  UInt32 version (1)
///    12  UInt32 bytes per token (2 = uint16, 4 = uint32)
///    16  UInt64 token count
///    24  UInt64 reserved (0)
///
/// followed by `token count` tokens. Pure encoding and decoding.
public struct ShardHeader: Sendable, Equatable {
    public static let magic: [UInt8] = Array("KOINSHRD".utf8)
    public static let currentVersion: UInt32 = 1
    public static let size = 32

    public var version: UInt32
    public var dtype: TokenDType
    public var tokenCount: Int

    public init(dtype: TokenDType, tokenCount: Int, version: UInt32 = ShardHeader.currentVersion) {
        self.version = version
        self.dtype = dtype
        self.tokenCount = tokenCount
    }

    /// Bytes a shard with this header must have in all.
    public var fileSize: Int { Self.size + tokenCount * dtype.bytesPerToken }

    public func encoded() -> [UInt8] {
        var bytes = Self.magic
        bytes.appendLittleEndian(version)
        bytes.appendLittleEndian(UInt32(dtype.bytesPerToken))
        bytes.appendLittleEndian(UInt64(tokenCount))
        bytes.appendLittleEndian(UInt64(0))
        return bytes
    }

    /// Decodes and checks a header; the error says what is wrong in words.
    public init(decoding bytes: some Collection<UInt8>) throws(ShardFormatError) {
        let header = Array(bytes.prefix(Self.size))
        guard header.count == Self.size else {
            throw ShardFormatError("the file is \(header.count) bytes, shorter than the \(Self.size)-byte header")
        }
        guard Array(header[0..<8]) == Self.magic else {
            throw ShardFormatError("bad magic \(header[0..<8].hexString) (expected \"KOINSHRD\"): not a Koinon shard")
        }
        let version = header.littleEndianUInt32(at: 8)
        guard version == Self.currentVersion else {
            throw ShardFormatError("unsupported shard version \(version) (this build reads version \(Self.currentVersion))")
        }
        let width = header.littleEndianUInt32(at: 12)
        guard let dtype = TokenDType(bytesPerToken: Int(width)) else {
            throw ShardFormatError("invalid bytes per token \(width) (expected 2 or 4)")
        }
        let count = header.littleEndianUInt64(at: 16)
        guard count <= UInt64(Int.max / 8) else { throw ShardFormatError("impossible token count \(count)") }
        let reserved = header.littleEndianUInt64(at: 24)
        guard reserved == 0 else { throw ShardFormatError("reserved header field is \(reserved), expected 0") }
        self.init(dtype: dtype, tokenCount: Int(count), version: version)
    }
}

/// A reason a shard's bytes are not a valid shard.
public struct ShardFormatError: Error, Equatable, CustomStringConvertible {
    public var description: String
    init(_ description: String) { self.description = description }
}

extension Array where Element == UInt8 {
    mutating func appendLittleEndian<T: FixedWidthInteger>(_ value: T) {
        Swift.withUnsafeBytes(of: value.littleEndian) { append(contentsOf: $0) }
    }

    func littleEndianUInt32(at offset: Int) -> UInt32 {
        (0..<4).reduce(UInt32(0)) { $0 | UInt32(self[offset + $1]) << (8 * UInt32($1)) }
    }

    func littleEndianUInt64(at offset: Int) -> UInt64 {
        (0..<8).reduce(UInt64(0)) { $0 | UInt64(self[offset + $1]) << (8 * UInt64($1)) }
    }
}
