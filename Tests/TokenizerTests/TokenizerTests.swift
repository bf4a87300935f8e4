import Foundation
import Testing
@testable import Tokenizer

/// Shared small corpus and a vocabulary trained on it.
enum Corpus {
    static var hasShakespeare: Bool { shakespeare.count > 1_000_000 }

    static let shakespeare: String = {
        let candidates = ["../shared/data/tinyshakespeare.txt", "../../shared/data/tinyshakespeare.txt"]
        let repo = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        for c in candidates {
            let url = repo.appendingPathComponent(c)
            if let d = FileManager.default.contents(atPath: url.path) { return String(decoding: d, as: UTF8.self) }
        }
        // Without the shared data, a built-in sample (the tests still exercise every path).
        return String(repeating: "First Citizen:\nBefore we proceed any further, hear me speak.\n\nAll:\nSpeak, speak.\n\n", count: 50)
    }()

    static let varied = [
        "Hello world! It's a test: don't, we'll, I've, they're, she'd, I'm.",
        "DON'T SHOUT — it'S ''s x.'s rock 'n' roll",
        "  leading spaces,\ttabs\t\tand\n\n\nnewlines   \n trailing   ",
        "Числа 12345 и 3.14; ٣٤٥ Ⅻ ½ 𝐀𝐁𝐂 𝟏𝟐",
        "日本語のテキスト、中文文本，한국어 텍스트. ภาษาไทย العربية עברית हिन्दी",
        "emoji 👩‍👩‍👧‍👦 👍🏽 🇫🇷 ✨",
        "func f(x: Int) -> Int { return x * 2 } // code\n\tif (a && b) { printf(\"%d\\n\", a); }",
        "a<|endoftext|>b<|endoftext|><|endoftext|>c <|endoftext",
        "\u{00A0}nbsp\u{3000}ideographic\u{2028}ls\u{0085}nel \r\n crlf",
        "", " ", "\n", "x",
    ]
}

@Suite struct TokenizerTests {
    static let trained: BPETokenizer = try! BPETrainer.train(
        texts: Corpus.shakespeare.components(separatedBy: "\n\n") + Corpus.varied, vocabSize: 600)

    func pieces(_ s: String) -> [String] {
        var s = s
        var out: [String] = []
        s.withUTF8 { b in PreTokenizer.split(b) { out.append(String(decoding: b[$0], as: UTF8.self)) } }
        return out
    }

    @Test func preTokenizesLikeGPT2() {
        #expect(pieces("Hello world") == ["Hello", " world"])
        #expect(pieces("don't DON'T") == ["don", "'t", " DON", "'", "T"])
        #expect(pieces("we'll I've 're") == ["we", "'ll", " I", "'ve", " '", "re"])
        #expect(pieces("x.'s") == ["x", ".'", "s"])
        #expect(pieces("a   b") == ["a", "  ", " b"])
        #expect(pieces("a \n\nb") == ["a", " \n", "\n", "b"])
        #expect(pieces("end  ") == ["end", "  "])
        #expect(pieces("12345 678 3.14") == ["12345", " 678", " 3", ".", "14"])
        #expect(pieces("ab12cd") == ["ab", "12", "cd"])
        #expect(pieces(" !!? ok") == [" !!?", " ok"])
        #expect(pieces("\u{00A0}x") == ["\u{00A0}", "x"])  // ` ?` is only U+0020; NBSP is \s
        #expect(pieces("") == [])
    }

    @Test func roundTripsVariedText() throws {
        let tok = Self.trained
        for text in Corpus.varied {
            #expect(try tok.decode(tok.encode(text)) == text)
            #expect(try tok.decode(tok.encodeOrdinary(text)) == text)
        }
    }

    /// Property: decode(encode(x)) == x for random strings of random scalars.
    @Test func roundTripsRandomStrings() throws {
        let tok = Self.trained
        var state: UInt64 = 42
        func next() -> UInt64 {
            state = state &* 6364136223846793005 &+ 1442695040888963407
            return state >> 11
        }
        for _ in 0..<2000 {
            var s = String.UnicodeScalarView()
            for _ in 0..<(1 + Int(next() % 30)) {
                let pick = next() % 4
                let v: UInt32 = pick == 0 ? UInt32(next() % 0x80) : pick == 1 ? UInt32(next() % 0x800)
                    : pick == 2 ? UInt32(next() % 0x10000) : UInt32(next() % 0x110000)
                if let u = Unicode.Scalar(v) { s.append(u) }
            }
            let text = String(s)
            #expect(try tok.decode(tok.encode(text)) == text)
        }
    }

    @Test func specialTokenIsOneIDOnlyWhenAskedFor() throws {
        let tok = Self.trained
        let eot = try #require(tok.endOfTextID)
        #expect(tok.encode("<|endoftext|>") == [eot])
        #expect(tok.encode("a<|endoftext|>b").contains(eot))
        #expect(!tok.encodeOrdinary("a<|endoftext|>b").contains(eot))
        #expect(tok.encodeBatch(["a<|endoftext|>b", "x"]) == [tok.encodeOrdinary("a<|endoftext|>b"), tok.encodeOrdinary("x")])
    }

    @Test func longWordsUseTheHeapAndAgree() throws {
        let tok = Self.trained
        // A 5,000-letter word (heap path) round-trips, and both merge paths agree with
        // GPT-2's reference algorithm on words either side of the 48-symbol switch.
        let long = String(repeating: "thee and thou ", count: 400).replacingOccurrences(of: " ", with: "")
        #expect(try tok.decode(tok.encode(long)) == long)
        for n in [40, 48, 49, 60, 200] {
            let word = String(long.prefix(n))
            var ids = Array(word.utf8).map { tok.idForByte[Int($0)] }
            var reference = ids
            tok.mergeTable.merge(&ids)
            referenceMerge(&reference, tok)
            #expect(ids == reference, "length \(n)")
        }
    }

    /// GPT-2's original algorithm: repeatedly merge every occurrence of the lowest-ranked pair.
    func referenceMerge(_ s: inout [Int32], _ tok: BPETokenizer) {
        while s.count > 1 {
            let candidates = (0..<(s.count - 1)).compactMap { k in tok.mergeTable.lookup(s[k], s[k + 1]).map { ($0.rank, k) } }
            guard let (_, k) = candidates.min(by: { $0.0 < $1.0 }) else { return }
            let (a, b) = (s[k], s[k + 1]), merged = tok.mergeTable.lookup(a, b)!.merged
            var out: [Int32] = []
            var i = 0
            while i < s.count {
                if i + 1 < s.count && s[i] == a && s[i + 1] == b { out.append(merged); i += 2 } else { out.append(s[i]); i += 1 }
            }
            s = out
        }
    }

    @Test func savesAndLoadsTheSameFiles() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("koinon-tok-\(UUID())")
        defer { try? FileManager.default.removeItem(at: dir) }
        try Self.trained.save(to: dir)
        let again = try BPETokenizer(directory: dir)
        #expect(again.tokens == Self.trained.tokens)
        #expect(again.sha256 == Self.trained.sha256)
        for text in Corpus.varied { #expect(again.encode(text) == Self.trained.encode(text)) }
        let merges = try String(contentsOf: dir.appendingPathComponent("merges.txt"), encoding: .utf8)
        #expect(merges.hasPrefix("#version: 0.2\n"))
    }

    @Test func trainingIsDeterministicAcrossThreadCounts() throws {
        let texts = Array(Corpus.shakespeare.components(separatedBy: "\n\n").prefix(400))
        let one = try BPETrainer.train(texts: texts, vocabSize: 400, threads: 1)
        let two = try BPETrainer.train(texts: texts, vocabSize: 400, threads: 2)
        #expect(one.sha256 == two.sha256)
        #expect(one.vocabSize == 400 || !Corpus.hasShakespeare)
        #expect(one.tokens[0] == BPETokenizer.endOfText)
    }

    @Test func rejectsBadFiles() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("koinon-tok-\(UUID())")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        try Self.trained.save(to: dir)
        try "#version: 0.2\nĠ t\nnot-a-pair\n".write(to: dir.appendingPathComponent("merges.txt"), atomically: true, encoding: .utf8)
        #expect(throws: TokenizerError.self) { try BPETokenizer(directory: dir) }
        try "{\"a\": 0}".write(to: dir.appendingPathComponent("vocab.json"), atomically: true, encoding: .utf8)
        #expect(throws: TokenizerError.self) { try BPETokenizer(directory: dir) }
        #expect(throws: TokenizerError.self) { try Self.trained.decode([Int32(Self.trained.vocabSize)]) }
        #expect(throws: TokenizerError.self) { try BPETrainer.train(texts: ["x"], vocabSize: 100) }
    }
}
