/// What cleaning removed or rewrote in some text; summed per source for the datasheet.
public struct CleaningCounts: Sendable, Equatable, Codable {
    /// NUL bytes dropped.
    public var nulBytes = 0
    /// Bytes dropped because they were not part of a valid UTF-8 sequence.
    public var invalidUTF8Bytes = 0
    /// `\r\n` and lone `\r` rewritten to `\n`.
    public var lineEndingsNormalised = 0

    public init(nulBytes: Int = 0, invalidUTF8Bytes: Int = 0, lineEndingsNormalised: Int = 0) {
        self.nulBytes = nulBytes
        self.invalidUTF8Bytes = invalidUTF8Bytes
        self.lineEndingsNormalised = lineEndingsNormalised
    }

    public static func += (lhs: inout CleaningCounts, rhs: CleaningCounts) {
        lhs.nulBytes += rhs.nulBytes
        lhs.invalidUTF8Bytes += rhs.invalidUTF8Bytes
        lhs.lineEndingsNormalised += rhs.lineEndingsNormalised
    }
}

/// Byte-level cleaning: drops NUL bytes and bytes that are not valid UTF-8
/// (each such byte on its own, so one bad byte costs one byte, not the
/// document), and optionally rewrites `\r\n` and `\r` to `\n`. Pure.
enum TextCleaner {
    static func clean(_ bytes: [UInt8], normaliseLineEndings: Bool = true) -> (text: String, counts: CleaningCounts) {
        var counts = CleaningCounts()
        var output: [UInt8] = []
        output.reserveCapacity(bytes.count)
        bytes.withUnsafeBufferPointer { input in
            let n = input.count
            var i = 0
            while i < n {
                let byte = input[i]
                if byte < 0x80 {
                    if byte == 0 {
                        counts.nulBytes += 1
                    } else if byte == 0x0D && normaliseLineEndings {
                        counts.lineEndingsNormalised += 1
                        output.append(0x0A)
                        if i + 1 < n && input[i + 1] == 0x0A { i += 1 }
                    } else {
                        output.append(byte)
                    }
                    i += 1
                    continue
                }
                let length = validSequenceLength(input, at: i)
                if length == 0 {
                    counts.invalidUTF8Bytes += 1
                    i += 1
                } else {
                    output.append(contentsOf: input[i..<(i + length)])
                    i += length
                }
            }
        }
        // Every byte sequence kept is valid UTF-8, so this decodes without repair.
        return (String(decoding: output, as: UTF8.self), counts)
    }

    /// Cleans text that is already a Swift string (decoded from JSON): it can
    /// still hold NUL (`\u0000`) and carriage returns.
    static func clean(_ text: String) -> (text: String, counts: CleaningCounts) {
        var needsWork = false
        for byte in text.utf8 where byte == 0 || byte == 0x0D {
            needsWork = true
            break
        }
        guard needsWork else { return (text, CleaningCounts()) }
        return clean(Array(text.utf8))
    }

    /// Length of the valid UTF-8 sequence that starts at `i` with a non-ASCII
    /// lead byte, or 0 when it is invalid (bad lead, missing or bad
    /// continuation, overlong form, surrogate, or beyond U+10FFFF).
    static func validSequenceLength(_ bytes: UnsafeBufferPointer<UInt8>, at i: Int) -> Int {
        let lead = bytes[i]
        let n = bytes.count
        func continuation(_ k: Int, _ low: UInt8 = 0x80, _ high: UInt8 = 0xBF) -> Bool {
            i + k < n && bytes[i + k] >= low && bytes[i + k] <= high
        }
        switch lead {
        case 0xC2...0xDF:
            return continuation(1) ? 2 : 0
        case 0xE0:
            return continuation(1, 0xA0) && continuation(2) ? 3 : 0
        case 0xE1...0xEC, 0xEE...0xEF:
            return continuation(1) && continuation(2) ? 3 : 0
        case 0xED:
            return continuation(1, 0x80, 0x9F) && continuation(2) ? 3 : 0
        case 0xF0:
            return continuation(1, 0x90) && continuation(2) && continuation(3) ? 4 : 0
        case 0xF1...0xF3:
            return continuation(1) && continuation(2) && continuation(3) ? 4 : 0
        case 0xF4:
            return continuation(1, 0x80, 0x8F) && continuation(2) && continuation(3) ? 4 : 0
        default:
            return 0
        }
    }
}
