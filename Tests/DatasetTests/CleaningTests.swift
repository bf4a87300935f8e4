import Testing

@testable import Dataset

@Suite struct CleaningTests {
    @Test func dropsNulBytesAndCountsThem() {
        let (text, counts) = TextCleaner.clean([0x61, 0x00, 0x62, 0x00, 0x00, 0x63])
        #expect(text == "abc")
        #expect(counts == CleaningCounts(nulBytes: 3))
    }

    @Test func normalisesCRLFAndLoneCR() {
        let (text, counts) = TextCleaner.clean(Array("one\r\ntwo\rthree\n".utf8))
        #expect(text == "one\ntwo\nthree\n")
        #expect(counts.lineEndingsNormalised == 2)
        let (kept, keptCounts) = TextCleaner.clean(Array("a\r\nb".utf8), normaliseLineEndings: false)
        #expect(kept == "a\r\nb")
        #expect(keptCounts.lineEndingsNormalised == 0)
    }

    @Test func dropsEachInvalidUTF8ByteAndKeepsValidText() {
        // 0xFF never occurs in UTF-8; 0xC3 0x28 is a lead byte with a bad continuation;
        // 0xE2 0x82 is a 3-byte sequence cut short; "é" (C3 A9) and "€" (E2 82 AC) are valid.
        let bytes: [UInt8] = [0x61, 0xFF, 0xC3, 0x28, 0xC3, 0xA9, 0xE2, 0x82, 0xAC, 0xE2, 0x82]
        let (text, counts) = TextCleaner.clean(bytes)
        #expect(text == "a(é€")
        #expect(counts.invalidUTF8Bytes == 4)
    }

    @Test func rejectsOverlongSurrogateAndOutOfRangeSequences() {
        let cases: [[UInt8]] = [
            [0xC0, 0xAF],  // overlong "/"
            [0xE0, 0x80, 0xAF],  // overlong 3-byte
            [0xED, 0xA0, 0x80],  // UTF-16 surrogate U+D800
            [0xF4, 0x90, 0x80, 0x80],  // beyond U+10FFFF
        ]
        for bytes in cases {
            let (text, counts) = TextCleaner.clean(bytes)
            #expect(text.isEmpty, "\(bytes) must be dropped")
            #expect(counts.invalidUTF8Bytes == bytes.count)
        }
        let (emoji, counts) = TextCleaner.clean(Array("🙂".utf8))
        #expect(emoji == "🙂")
        #expect(counts == CleaningCounts())
    }

    @Test func cleansDecodedStrings() {
        let (text, counts) = TextCleaner.clean("a\u{0}b\r\nc")
        #expect(text == "ab\nc")
        #expect(counts == CleaningCounts(nulBytes: 1, lineEndingsNormalised: 1))
    }

    @Test func normalisationCollapsesWhitespaceAndTrims() {
        #expect(NormalisedText.of("  Hello,\n\n\tworld \u{00A0} again  ") == "Hello, world again")
        #expect(NormalisedText.of(" \n ") == "")
        #expect(
            DocumentDigest(normalisedText: NormalisedText.of("a  b\nc"))
                == DocumentDigest(normalisedText: NormalisedText.of("a b c")))
    }

    @Test func digestExposesTopBitsAsAFraction() {
        let digest = DocumentDigest(bytes: [0x80] + [UInt8](repeating: 0, count: 31))
        #expect(digest.unitInterval == 0.5)
        #expect(digest.hex == "80" + String(repeating: "0", count: 62))
        #expect(DocumentDigest(bytes: digest.bytes) == digest)
    }

    @Test func paragraphsSplitAtBlankAndWhitespaceOnlyLines() {
        #expect(ParagraphSplitter.paragraphs(of: "a\nb\n\nc\n \t\n\n\nd\n") == ["a\nb", "c", "d"])
        #expect(ParagraphSplitter.paragraphs(of: "\n\n") == [])
        #expect(ParagraphSplitter.isBlank(rawLine: Array(" \t\r".utf8)))
        #expect(!ParagraphSplitter.isBlank(rawLine: Array(" x".utf8)))
    }
}
