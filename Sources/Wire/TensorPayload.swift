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

    /// The float32 payload of `values`, made straight from them: one copy into
    /// the result (a worker encoding its gradient through an array, the
    /// payload's bytes and `Data` copied 3.3 MB four times per unit).
    public static func encodedFloat32(_ values: UnsafeBufferPointer<Float>) -> Data {
        guard isLittleEndian else { return Data(TensorPayload(values: Array(values)).encoded()) }
        let raw = UnsafeRawBufferPointer(values)
        let header = TensorPayloadHeader(dtype: .float32, elementCount: values.count, dataSHA256: SHA256Hex.digest(of: raw))
        var data = Data(capacity: TensorPayloadHeader.size + raw.count)
        data.append(contentsOf: header.encoded())
        data.append(contentsOf: raw)
        return data
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

    /// Decodes a payload of `destination.count` elements straight into it
    /// (the same checks as `init(decoding:)`; on an error `destination` is
    /// untouched): a worker's parameters go into its model without an array
    /// in between. Returns the payload's dtype.
    @discardableResult
    public static func decode(_ bytes: some ContiguousBytes, into destination: UnsafeMutableBufferPointer<Float>,
                              verifyingChecksum: Bool = true) throws(TensorPayloadError) -> TensorDType {
        try bytes.withUnsafeBytes { raw in
            Result { () throws(TensorPayloadError) in
                let (header, data) = try validated(raw, expectedElementCount: destination.count, verifyingChecksum: verifyingChecksum)
                copyValues(header, data, into: destination)
                return header.dtype
            }
        }.get()
    }

    private static func decode(_ raw: UnsafeRawBufferPointer, expectedElementCount: Int?,
                               verifyingChecksum: Bool) throws(TensorPayloadError) -> TensorPayload {
        let (header, data) = try validated(raw, expectedElementCount: expectedElementCount, verifyingChecksum: verifyingChecksum)
        let values = [Float](unsafeUninitializedCapacity: header.elementCount) { buffer, initialized in
            copyValues(header, data, into: buffer)
            initialized = header.elementCount
        }
        return TensorPayload(values: values, dtype: header.dtype)
    }

    /// The header and data of a well-formed payload: exact length, the expected count, the checksum.
    private static func validated(_ raw: UnsafeRawBufferPointer, expectedElementCount: Int?,
                                  verifyingChecksum: Bool) throws(TensorPayloadError) -> (TensorPayloadHeader, UnsafeRawBufferPointer) {
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
        return (header, data)
    }

    /// The data's values, widened to Float, into `destination` (exactly `header.elementCount` long).
    private static func copyValues(_ header: TensorPayloadHeader, _ data: UnsafeRawBufferPointer,
                                   into destination: UnsafeMutableBufferPointer<Float>) {
        let count = header.elementCount
        precondition(destination.count == count)
        switch header.dtype {
        case .float32 where isLittleEndian:
            // The wire's byte order is the host's: one copy.
            UnsafeMutableRawBufferPointer(destination).copyMemory(from: UnsafeRawBufferPointer(rebasing: data[..<(4 * count)]))
        case .float32:
            for i in 0..<count {
                destination[i] = Float(bitPattern: UInt32(littleEndian: data.loadUnaligned(fromByteOffset: 4 * i, as: UInt32.self)))
            }
        case .float16:
            for i in 0..<count {
                destination[i] = ReducedPrecision.float(
                    fromFloat16: UInt16(littleEndian: data.loadUnaligned(fromByteOffset: 2 * i, as: UInt16.self)))
            }
        case .bfloat16:
            for i in 0..<count {
                destination[i] = ReducedPrecision.float(
                    fromBFloat16: UInt16(littleEndian: data.loadUnaligned(fromByteOffset: 2 * i, as: UInt16.self)))
            }
        }
    }
}
