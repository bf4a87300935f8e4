/// The SHA-256 of a submitted result's payload, as 64 lowercase hex digits.
///
/// It is the identity of a result: submitting the same lease with the same
/// digest again is a replay and gets the first answer back, while a different
/// digest is a conflict. Normalising the case here means `ABC…` and `abc…`
/// are the same result rather than a spurious conflict.
public struct ResultDigest: Hashable, Sendable, Codable, CustomStringConvertible {
    public let hex: String

    /// Nil unless `hex` is exactly 64 hexadecimal digits (either case).
    public init?(hex: String) {
        let lowered = hex.lowercased()
        guard lowered.utf8.count == 64,
              lowered.utf8.allSatisfy({ (UInt8(ascii: "0")...UInt8(ascii: "9")).contains($0)
                  || (UInt8(ascii: "a")...UInt8(ascii: "f")).contains($0) })
        else { return nil }
        self.hex = lowered
    }

    public init(from decoder: any Decoder) throws {
        let text = try decoder.singleValueContainer().decode(String.self)
        guard let digest = ResultDigest(hex: text) else {
            throw DecodingError.dataCorrupted(.init(
                codingPath: decoder.codingPath,
                debugDescription: "expected a SHA-256 as 64 hex digits, got \"\(text.prefix(80))\""))
        }
        self = digest
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        try container.encode(hex)
    }

    public var description: String { hex }
}
