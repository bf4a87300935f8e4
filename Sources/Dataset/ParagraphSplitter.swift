/// Splits cleaned text into paragraphs at blank lines (empty or
/// whitespace-only), the way plain-text corpora separate documents. Pure.
enum ParagraphSplitter {
    static func paragraphs(of text: String) -> [String] {
        var text = text
        return text.withUTF8 { bytes in
            var paragraphs: [String] = []
            var paragraphStart: Int?  // first byte of the current paragraph
            var paragraphEnd = 0  // end of its last non-blank line
            var lineStart = 0
            while lineStart <= bytes.count {
                var lineEnd = lineStart
                while lineEnd < bytes.count && bytes[lineEnd] != 0x0A { lineEnd += 1 }
                if isBlank(UnsafeBufferPointer(rebasing: bytes[lineStart..<lineEnd])) {
                    if let start = paragraphStart {
                        paragraphs.append(String(decoding: UnsafeBufferPointer(rebasing: bytes[start..<paragraphEnd]), as: UTF8.self))
                        paragraphStart = nil
                    }
                } else {
                    if paragraphStart == nil { paragraphStart = lineStart }
                    paragraphEnd = lineEnd
                }
                lineStart = lineEnd + 1
            }
            if let start = paragraphStart {
                paragraphs.append(String(decoding: UnsafeBufferPointer(rebasing: bytes[start..<paragraphEnd]), as: UTF8.self))
            }
            return paragraphs
        }
    }

    /// Whether a line of valid UTF-8 is only Unicode whitespace (or empty).
    static func isBlank(_ line: UnsafeBufferPointer<UInt8>) -> Bool {
        var i = 0
        while i < line.count {
            let (scalar, length) = UTF8Scanning.scalar(line, at: i)
            if !UTF8Scanning.isWhitespace(scalar) { return false }
            i += length
        }
        return true
    }

    /// Whether a raw line is blank: only ASCII whitespace or NUL bytes. Used
    /// to group raw lines into paragraphs while streaming; the exact split is
    /// redone on the cleaned text by `paragraphs(of:)`.
    static func isBlank(rawLine: [UInt8]) -> Bool {
        rawLine.allSatisfy { $0 == 0x20 || ($0 >= 0x09 && $0 <= 0x0D) || $0 == 0 }
    }
}
