/// GPT-2's pre-tokenisation, the regex
/// `'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+`,
/// as a hand-written scanner over UTF-8 bytes (same pieces as Hugging Face's
/// ByteLevel pre-tokenizer with add_prefix_space = false, without a regex engine).
enum PreTokenizer {
    enum Class: UInt8 { case letter, number, space, other }

    /// Calls `emit` with the byte range of each piece of valid UTF-8 `text`, in order.
    static func split(_ text: UnsafeBufferPointer<UInt8>, _ emit: (Range<Int>) -> Void) {
        let n = text.count
        var i = 0
        while i < n {
            let (scalar, length) = decode(text, at: i)
            // Contractions: ASCII apostrophe + lowercase suffix.
            if scalar == 0x27, let l = contractionLength(text, at: i) {
                emit(i..<(i + l))
                i += l
                continue
            }
            var start = i, cls = classify(scalar), j = i + length
            if scalar == 0x20, j < n {  // " ?X": an optional space before a letter, number or symbol run
                let (next, nextLength) = decode(text, at: j)
                let nextClass = classify(next)
                if nextClass != .space {
                    cls = nextClass
                    start = i
                    j += nextLength
                }
            }
            if cls != .space {
                while j < n {
                    let (s, l) = decode(text, at: j)
                    guard classify(s) == cls else { break }
                    j += l
                }
                emit(start..<j)
                i = j
                continue
            }
            // Whitespace: the run, except its last scalar when a non-space follows
            // (`\s+(?!\S)`), which then prefixes the next piece or stands alone (`\s+`).
            var lastStart = i
            j = i + length
            while j < n {
                let (s, l) = decode(text, at: j)
                guard classify(s) == .space else { break }
                lastStart = j
                j += l
            }
            if j < n, lastStart > i { j = lastStart }
            emit(i..<j)
            i = j
        }
    }

    /// Length of "'s", "'t", "'re", "'ve", "'m", "'ll", "'d" at `i`, if one starts there.
    @inline(__always)
    static func contractionLength(_ t: UnsafeBufferPointer<UInt8>, at i: Int) -> Int? {
        guard i + 1 < t.count else { return nil }
        switch t[i + 1] {
        case UInt8(ascii: "s"), UInt8(ascii: "t"), UInt8(ascii: "m"), UInt8(ascii: "d"): return 2
        case UInt8(ascii: "r"), UInt8(ascii: "v"):
            return i + 2 < t.count && t[i + 2] == UInt8(ascii: "e") ? 3 : nil
        case UInt8(ascii: "l"):
            return i + 2 < t.count && t[i + 2] == UInt8(ascii: "l") ? 3 : nil
        default: return nil
        }
    }

    /// The scalar at byte `i` of valid UTF-8 and its length in bytes.
    @inline(__always)
    static func decode(_ t: UnsafeBufferPointer<UInt8>, at i: Int) -> (UInt32, Int) {
        let b0 = UInt32(t[i])
        if b0 < 0x80 { return (b0, 1) }
        if b0 < 0xE0 { return ((b0 & 0x1F) << 6 | UInt32(t[i + 1] & 0x3F), 2) }
        if b0 < 0xF0 {
            return ((b0 & 0x0F) << 12 | UInt32(t[i + 1] & 0x3F) << 6 | UInt32(t[i + 2] & 0x3F), 3)
        }
        return ((b0 & 0x07) << 18 | UInt32(t[i + 1] & 0x3F) << 12 | UInt32(t[i + 2] & 0x3F) << 6
                | UInt32(t[i + 3] & 0x3F), 4)
    }

    @inline(__always)
    static func classify(_ v: UInt32) -> Class {
        v < 0x1_0000 ? Class(rawValue: bmp[Int(v)])! : classifySlow(v)
    }

    /// Classes of the Basic Multilingual Plane, computed once.
    static let bmp: [UInt8] = (0..<0x1_0000).map { classifySlow(UInt32($0)).rawValue }

    static func classifySlow(_ v: UInt32) -> Class {
        guard let s = Unicode.Scalar(v) else { return .other }  // surrogates never reach here
        let p = s.properties
        if p.isWhitespace { return .space }  // \s is Unicode White_Space
        switch p.generalCategory {
        case .uppercaseLetter, .lowercaseLetter, .titlecaseLetter, .modifierLetter, .otherLetter: return .letter
        case .decimalNumber, .letterNumber, .otherNumber: return .number
        default: return .other
        }
    }
}
