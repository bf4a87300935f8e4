/// Byte-level helpers for text already known to be valid UTF-8 (every Swift
/// `String`, and everything `TextCleaner` returns). Working on bytes instead
/// of `Character`s avoids grapheme breaking, which dominated ingest time.
enum UTF8Scanning {
    /// The scalar starting at `i` and its length in bytes. Valid UTF-8 only.
    @inline(__always)
    static func scalar(_ bytes: UnsafeBufferPointer<UInt8>, at i: Int) -> (value: UInt32, length: Int) {
        let lead = UInt32(bytes[i])
        if lead < 0x80 { return (lead, 1) }
        if lead < 0xE0 { return ((lead & 0x1F) << 6 | UInt32(bytes[i + 1] & 0x3F), 2) }
        if lead < 0xF0 {
            return ((lead & 0x0F) << 12 | UInt32(bytes[i + 1] & 0x3F) << 6 | UInt32(bytes[i + 2] & 0x3F), 3)
        }
        return (
            (lead & 0x07) << 18 | UInt32(bytes[i + 1] & 0x3F) << 12 | UInt32(bytes[i + 2] & 0x3F) << 6
                | UInt32(bytes[i + 3] & 0x3F), 4
        )
    }

    /// Unicode's White_Space property (what `Unicode.Scalar.Properties.isWhitespace`
    /// reports), spelled out: it has been this fixed list since Unicode 6.3.
    @inline(__always)
    static func isWhitespace(_ scalar: UInt32) -> Bool {
        switch scalar {
        case 0x09...0x0D, 0x20, 0x85, 0xA0, 0x1680, 0x2000...0x200A, 0x2028, 0x2029, 0x202F, 0x205F, 0x3000:
            return true
        default:
            return false
        }
    }
}
