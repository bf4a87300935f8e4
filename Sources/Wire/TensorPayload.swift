import Foundation

/// A tensor (gradient, parameters) in Koinon's binary payload format: a
/// `TensorPayloadHeader`, then the elements, little-endian. Payloads are
/// flat; which parameter is where is the model layout's business.
public struct TensorPayload: Sendable, Hashable {
    public var dtype: TensorDType
    /// The elements as float32. Encoding as float16/bfloat16 rounds them;
    /// decoded values are exactly what the payload held.
    public var values: [Float]

    public init(values: [Float], dtype: TensorDType = .float32) {
        self.values = values
        self.dtype = dtype
    }

    static let isLittleEndian = 1.littleEndian == 1

    /// Bytes of a payload of `elementCount` elements of `dtype`, header included.
    public static func encodedByteCount(elementCount: Int, dtype: TensorDType) -> Int {
        TensorPayloadHeader.size + elementCount * dtype.bytesPerElement
    }

    /// The payload's bytes; float16/bfloat16 round to nearest, ties to even.
    public func encoded() -> [UInt8] {
        let dataCount = values.count * dtype.bytesPerElement
        var bytes = [UInt8](repeating: 0, count: TensorPayloadHeader.size + dataCount)
        bytes.withUnsafeMutableBytes { raw in
            let data = UnsafeMutableRawBufferPointer(rebasing: raw[TensorPayloadHeader.size...])
            switch dtype {
            case .float32 where Self.isLittleEndian:
                values.withUnsafeBytes { data.copyMemory(from: $0) }
            case .float32:
                for (i, value) in values.enumerated() {
                    data.storeBytes(of: value.bitPattern.littleEndian, toByteOffset: 4 * i, as: UInt32.self)
                }
            case .float16:
                for (i, value) in values.enumerated() {
                    data.storeBytes(of: ReducedPrecision.float16Bits(value).littleEndian, toByteOffset: 2 * i, as: UInt16.self)
                }
            case .bfloat16:
                for (i, value) in values.enumerated() {
                    data.storeBytes(of: ReducedPrecision.bfloat16Bits(value).littleEndian, toByteOffset: 2 * i, as: UInt16.self)
                }
            }
            let header = TensorPayloadHeader(
                dtype: dtype, elementCount: values.count, dataSHA256: SHA256Hex.digest(of: UnsafeRawBufferPointer(data)))
            raw.copyBytes(from: header.encoded())
        }
        return bytes
    }

    /// Decodes and checks a payload: header, exact length, the optional
    /// expected element count, and the data's SHA-256 (checked last, as it is
    /// the expensive one). Any input, however hostile, gives a payload or a
    /// `TensorPayloadError`, never a crash.
    ///
    /// `verifyingChecksum: false` skips the data's SHA-256 for bytes already
    /// known to be a payload someone encoded: ones whose SHA-256 as a whole
    /// was just checked against the hash they were fetched or stored by (the
    /// header's hash is part of those bytes; hashing megabytes twice is what
    /// a step's aggregation spent most of its time on).
    public init(decoding bytes: some ContiguousBytes, expectedElementCount: Int? = nil,
                verifyingChecksum: Bool = true) throws(TensorPayloadError) {
        let decoded = bytes.withUnsafeBytes { raw in
            Result { () throws(TensorPayloadError) in
                try Self.decode(raw, expectedElementCount: expectedElementCount, verifyingChecksum: verifyingChecksum)
            }
        }
        self = try decoded.get()
    }

    /// Reads and checks only the header, e.g. to refuse a wrong-sized upload
    /// before reading its body.
    public static func header(of bytes: some ContiguousBytes) throws(TensorPayloadError) -> TensorPayloadHeader {
        try bytes.withUnsafeBytes { raw in
            Result { () throws(TensorPayloadError) in try TensorPayloadHeader(decoding: raw) }
        }.get()
    }

    private static func decode(_ raw: UnsafeRawBufferPointer, expectedElementCount: Int?,
                               verifyingChecksum: Bool) throws(TensorPayloadError) -> TensorPayload {
        let header = try TensorPayloadHeader(decoding: raw)
        let data = UnsafeRawBufferPointer(rebasing: raw[TensorPayloadHeader.size...])
        guard data.count == header.dataByteCount else {
            throw .lengthMismatch(elementCount: header.elementCount, dtype: header.dtype, dataByteCount: data.count)
        }
        if let expected = expectedElementCount, expected != header.elementCount {
            throw .unexpectedElementCount(expected: expected, actual: header.elementCount)
        }
        if verifyingChecksum {
            let actual = SHA256Hex.digest(of: data)
            guard actual == header.dataSHA256 else { throw .checksumMismatch(header: header.dataSHA256, actual: actual) }
        }

        let count = header.elementCount
        let values: [Float]
        switch header.dtype {
        case .float32 where isLittleEndian:
            // The wire's byte order is the host's: one copy.
            values = [Float](unsafeUninitializedCapacity: count) { buffer, initialized in
                UnsafeMutableRawBufferPointer(buffer).copyMemory(from: UnsafeRawBufferPointer(rebasing: data[..<(4 * count)]))
                initialized = count
            }
        case .float32:
            values = (0..<count).map {
                Float(bitPattern: UInt32(littleEndian: data.loadUnaligned(fromByteOffset: 4 * $0, as: UInt32.self)))
            }
        case .float16:
            values = (0..<count).map {
                ReducedPrecision.float(fromFloat16: UInt16(littleEndian: data.loadUnaligned(fromByteOffset: 2 * $0, as: UInt16.self)))
            }
        case .bfloat16:
            values = (0..<count).map {
                ReducedPrecision.float(fromBFloat16: UInt16(littleEndian: data.loadUnaligned(fromByteOffset: 2 * $0, as: UInt16.self)))
            }
        }
        return TensorPayload(values: values, dtype: header.dtype)
    }
}
