import Crypto

/// The form of a document that duplicates are judged on: whitespace runs
/// collapsed to one space and the ends trimmed, so documents that differ only
/// in layout count as the same. Pure.
struct NormalisedText {
    /// UTF-8 of the normalised text.
    let bytes: [UInt8]
    /// Unicode scalars in it: what `--min-chars` compares against.
    let scalarCount: Int

    init(_ text: String) {
        var text = text
        var output: [UInt8] = []
        var scalars = 0
        text.withUTF8 { input in
            output.reserveCapacity(input.count)
            var pendingSpace = false
            var i = 0
            while i < input.count {
                let (scalar, length) = UTF8Scanning.scalar(input, at: i)
                if UTF8Scanning.isWhitespace(scalar) {
                    pendingSpace = !output.isEmpty
                } else {
                    if pendingSpace {
                        output.append(0x20)
                        scalars += 1
                        pendingSpace = false
                    }
                    output.append(contentsOf: UnsafeBufferPointer(rebasing: input[i..<(i + length)]))
                    scalars += 1
                }
                i += length
            }
        }
        bytes = output
        scalarCount = scalars
    }

    var string: String { String(decoding: bytes, as: UTF8.self) }

    static func of(_ text: String) -> String { NormalisedText(text).string }
}

/// SHA-256 of a document's normalised text: the identity used for exact
/// deduplication, the train/validation split and the mixture draws.
public struct DocumentDigest: Hashable, Comparable, Sendable {
    /// The 32 digest bytes as four big-endian words, so `words.0` is the top 64 bits.
    public let words: (UInt64, UInt64, UInt64, UInt64)

    public init(bytes: some Sequence<UInt8>) {
        var w: [UInt64] = [0, 0, 0, 0]
        for (index, byte) in bytes.enumerated() where index < 32 {
            w[index / 8] = w[index / 8] << 8 | UInt64(byte)
        }
        words = (w[0], w[1], w[2], w[3])
    }

    public init(normalisedText: String) {
        self.init(bytes: SHA256.hash(data: Array(normalisedText.utf8)))
    }

    init(normalised: NormalisedText) {
        self.init(bytes: SHA256.hash(data: normalised.bytes))
    }

    /// The top 64 bits as a fraction of 2^64, in [0, 1).
    public var unitInterval: Double { Double(words.0 >> 11) / Double(UInt64(1) << 53) }

    public var bytes: [UInt8] {
        var result: [UInt8] = []
        result.reserveCapacity(32)
        for word in [words.0, words.1, words.2, words.3] {
            for shift in stride(from: 56, through: 0, by: -8) { result.append(UInt8(truncatingIfNeeded: word >> UInt64(shift))) }
        }
        return result
    }

    public var hex: String { bytes.hexString }

    public static func == (a: DocumentDigest, b: DocumentDigest) -> Bool {
        a.words == b.words
    }

    public func hash(into hasher: inout Hasher) {
        hasher.combine(words.0)
        hasher.combine(words.1)
    }

    public static func < (a: DocumentDigest, b: DocumentDigest) -> Bool {
        a.words < b.words
    }
}

extension Sequence<UInt8> {
    /// Lower-case hexadecimal, two digits per byte.
    var hexString: String {
        let digits = Array("0123456789abcdef".utf8)
        var out: [UInt8] = []
        for byte in self {
            out.append(digits[Int(byte >> 4)])
            out.append(digits[Int(byte & 0x0F)])
        }
        return String(decoding: out, as: UTF8.self)
    }
}
