/// Why bytes are not an acceptable tensor payload. The messages go to
/// workers and into the database, so each says what was found and what was
/// expected.
public enum TensorPayloadError: Error, Hashable, CustomStringConvertible {
    case truncatedHeader(byteCount: Int)
    case badMagic([UInt8])
    case unsupportedVersion(UInt16)
    case unsupportedDType(UInt16)
    case elementCountTooLarge(UInt64, dtype: TensorDType)
    /// The data after the header is not `elementCount × bytesPerElement` bytes.
    case lengthMismatch(elementCount: Int, dtype: TensorDType, dataByteCount: Int)
    case unexpectedElementCount(expected: Int, actual: Int)
    case checksumMismatch(header: String, actual: String)

    /// Stable machine-readable name, for the `error` of an error body and for the database.
    public var code: String {
        switch self {
        case .truncatedHeader: "payload_truncated"
        case .badMagic: "payload_bad_magic"
        case .unsupportedVersion: "payload_unsupported_version"
        case .unsupportedDType: "payload_unsupported_dtype"
        case .elementCountTooLarge: "payload_too_large"
        case .lengthMismatch: "payload_length_mismatch"
        case .unexpectedElementCount: "payload_wrong_element_count"
        case .checksumMismatch: "payload_checksum_mismatch"
        }
    }

    public var description: String {
        switch self {
        case .truncatedHeader(let count):
            return "tensor payload is \(count) bytes, shorter than its \(TensorPayloadHeader.size)-byte header"
        case .badMagic(let magic):
            let shown = magic.allSatisfy { (0x20..<0x7F).contains($0) }
                ? "\"\(String(decoding: magic, as: UTF8.self))\"" : "0x" + SHA256Hex.hex(magic)
            return "tensor payload starts with \(shown), not \"KNTP\": not a Koinon tensor payload"
        case .unsupportedVersion(let version):
            return "tensor payload version \(version) is not supported (this build reads version \(TensorPayloadHeader.currentVersion))"
        case .unsupportedDType(let code):
            return "tensor payload dtype \(code) is not supported (1 = float32, 2 = float16, 3 = bfloat16)"
        case .elementCountTooLarge(let count, let dtype):
            return "tensor payload claims \(count) \(dtype) elements, more than any payload can hold"
        case .lengthMismatch(let count, let dtype, let actual):
            let expected = count * dtype.bytesPerElement
            let detail = actual < expected
                ? "\(expected - actual) bytes are missing (truncated upload?)"
                : "\(actual - expected) bytes follow the data"
            return "tensor payload header says \(count) \(dtype) elements (\(expected) data bytes) "
                + "but \(actual) data bytes follow the header: \(detail)"
        case .unexpectedElementCount(let expected, let actual):
            return "tensor payload has \(actual) elements, expected \(expected) (does the worker have the right model?)"
        case .checksumMismatch(let header, let actual):
            return "tensor payload data hashes to SHA-256 \(actual), but its header says \(header): corrupted in transit?"
        }
    }
}
