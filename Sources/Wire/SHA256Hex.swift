import Crypto

/// SHA-256 digests as the protocol writes them: 64 lowercase hex digits.
public enum SHA256Hex {
    public static func digest(of bytes: UnsafeRawBufferPointer) -> String {
        var hasher = SHA256()
        hasher.update(bufferPointer: bytes)
        return hex(hasher.finalize())
    }

    public static func digest(of bytes: [UInt8]) -> String {
        bytes.withUnsafeBytes { digest(of: $0) }
    }

    /// True for exactly 64 lowercase hex digits: the only spelling the
    /// protocol accepts, so one digest has one string and string equality works.
    public static func isValid(_ text: String) -> Bool {
        text.utf8.count == 64 && text.utf8.allSatisfy {
            (UInt8(ascii: "0")...UInt8(ascii: "9")).contains($0) || (UInt8(ascii: "a")...UInt8(ascii: "f")).contains($0)
        }
    }

    static func hex(_ bytes: some Sequence<UInt8>) -> String {
        let digits = Array("0123456789abcdef".utf8)
        var text: [UInt8] = []
        for byte in bytes {
            text.append(digits[Int(byte >> 4)])
            text.append(digits[Int(byte & 0x0F)])
        }
        return String(decoding: text, as: UTF8.self)
    }
}
