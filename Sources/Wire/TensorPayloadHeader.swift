/// The 48-byte header that starts every tensor payload, integers little-endian:
///
///     0  magic "KNTP" (4 ASCII bytes)
///     4  UInt16 version (1)
///     6  UInt16 dtype (1 = float32, 2 = float16, 3 = bfloat16)
///     8  UInt64 element count
///    16  32-byte SHA-256 of the data bytes
///
/// followed by `element count × bytes per element` bytes of little-endian data.
public struct TensorPayloadHeader: Sendable, Hashable {
    public static let magic: [UInt8] = Array("KNTP".utf8)
    public static let currentVersion: UInt16 = 1
    public static let size = 48

    public var version: UInt16
    public var dtype: TensorDType
    public var elementCount: Int
    /// SHA-256 of the data bytes (not of the header), as 64 lowercase hex digits.
    public var dataSHA256: String

    public init(dtype: TensorDType, elementCount: Int, dataSHA256: String, version: UInt16 = Self.currentVersion) {
        self.version = version
        self.dtype = dtype
        self.elementCount = elementCount
        self.dataSHA256 = dataSHA256
    }

    /// Bytes of data that must follow the header.
    public var dataByteCount: Int { elementCount * dtype.bytesPerElement }

    /// Decodes and checks the header at the start of `bytes`: magic, version,
    /// dtype, and that the element count's byte size is representable.
    /// Whether the data that follows fits is for `TensorPayload` to check.
    public init(decoding bytes: UnsafeRawBufferPointer) throws(TensorPayloadError) {
        guard bytes.count >= Self.size else { throw .truncatedHeader(byteCount: bytes.count) }
        let magic = Array(bytes[0..<4])
        guard magic == Self.magic else { throw .badMagic(magic) }
        let version = UInt16(littleEndian: bytes.loadUnaligned(fromByteOffset: 4, as: UInt16.self))
        guard version == Self.currentVersion else { throw .unsupportedVersion(version) }
        let dtypeCode = UInt16(littleEndian: bytes.loadUnaligned(fromByteOffset: 6, as: UInt16.self))
        guard let dtype = TensorDType(rawValue: dtypeCode) else { throw .unsupportedDType(dtypeCode) }
        let count = UInt64(littleEndian: bytes.loadUnaligned(fromByteOffset: 8, as: UInt64.self))
        // Hostile counts must fail here, before any size arithmetic can overflow.
        guard count <= UInt64(Int.max), case let (bytesNeeded, overflow) = Int(count).multipliedReportingOverflow(
            by: dtype.bytesPerElement), !overflow, !bytesNeeded.addingReportingOverflow(Self.size).overflow
        else { throw .elementCountTooLarge(count, dtype: dtype) }
        self.init(dtype: dtype, elementCount: Int(count), dataSHA256: SHA256Hex.hex(bytes[16..<48]), version: version)
    }

    /// The header's 48 bytes. `dataSHA256` must be 64 hex digits.
    public func encoded() -> [UInt8] {
        var bytes = Self.magic
        bytes.reserveCapacity(Self.size)
        Swift.withUnsafeBytes(of: version.littleEndian) { bytes.append(contentsOf: $0) }
        Swift.withUnsafeBytes(of: dtype.rawValue.littleEndian) { bytes.append(contentsOf: $0) }
        Swift.withUnsafeBytes(of: UInt64(elementCount).littleEndian) { bytes.append(contentsOf: $0) }
        bytes.append(contentsOf: Self.bytes(ofHex: dataSHA256))
        return bytes
    }

    private static func bytes(ofHex hex: String) -> [UInt8] {
        var out: [UInt8] = []
        var high: UInt8?
        for character in hex.utf8 {
            guard let nibble = Self.nibble(character) else { continue }
            if let h = high {
                out.append(h << 4 | nibble)
                high = nil
            } else {
                high = nibble
            }
        }
        // A malformed digest must still give a 48-byte header (and then a hash mismatch), never a short one.
        return Array((out + [UInt8](repeating: 0, count: 32)).prefix(32))
    }

    private static func nibble(_ character: UInt8) -> UInt8? {
        switch character {
        case UInt8(ascii: "0")...UInt8(ascii: "9"): character - UInt8(ascii: "0")
        case UInt8(ascii: "a")...UInt8(ascii: "f"): character - UInt8(ascii: "a") + 10
        case UInt8(ascii: "A")...UInt8(ascii: "F"): character - UInt8(ascii: "A") + 10
        default: nil
        }
    }
}
