/// GPT-2's byte-level alphabet: every byte maps to one printable Unicode
/// scalar, so any byte string is a string of visible "characters" and BPE
/// never sees raw control bytes or spaces (space becomes "Ġ", U+0120).
enum ByteLevel {
    /// byte → scalar (GPT-2's `bytes_to_unicode`).
    static let scalarForByte: [Unicode.Scalar] = {
        var printable = Array(UInt8(ascii: "!")...UInt8(ascii: "~"))
        printable += Array(UInt8(0xA1)...UInt8(0xAC)) + Array(UInt8(0xAE)...UInt8(0xFF))
        var table = [Unicode.Scalar](repeating: " ", count: 256)
        var next: UInt32 = 256
        for b in 0..<256 {
            if printable.contains(UInt8(b)) {
                table[b] = Unicode.Scalar(UInt8(b))
            } else {
                table[b] = Unicode.Scalar(next)!
                next += 1
            }
        }
        return table
    }()

    /// scalar → byte, the inverse.
    static let byteForScalar: [UInt32: UInt8] = {
        var inverse: [UInt32: UInt8] = [:]
        for (b, s) in scalarForByte.enumerated() { inverse[s.value] = UInt8(b) }
        return inverse
    }()

    /// The byte-level string of some bytes (how vocab.json spells tokens).
    static func encode(_ bytes: some Sequence<UInt8>) -> String {
        var s = String.UnicodeScalarView()
        for b in bytes { s.append(scalarForByte[Int(b)]) }
        return String(s)
    }

    /// The bytes of a byte-level string, or nil if it has a scalar outside the alphabet.
    static func decode(_ token: String) -> [UInt8]? {
        var out: [UInt8] = []
        out.reserveCapacity(token.unicodeScalars.count)
        for s in token.unicodeScalars {
            guard let b = byteForScalar[s.value] else { return nil }
            out.append(b)
        }
        return out
    }
}
