import Foundation
import Testing
import Tokenizer

/// Identical ids to Hugging Face `tokenizers` (fixtures from scripts/make_tokenizer_fixtures.py:
/// ByteLevel BPE vocabularies trained by HF, the ids HF gives for 365 varied texts).
@Suite struct HuggingFaceTests {
    static let fixtures = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("Fixtures")
    static let repo = fixtures.deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()

    static func load<T: Decodable>(_ name: String, as: T.Type) throws -> T {
        try JSONDecoder().decode(T.self, from: Data(contentsOf: fixtures.appendingPathComponent(name)))
    }

    struct Case: Decodable { var name: String; var text: String }

    @Test(arguments: ["shakespeare-1k", "mixed-2k"])
    func sameIDsAsHuggingFace(vocabulary: String) throws {
        let cases = try Self.load("cases.json", as: [Case].self)
        let expected = try Self.load("expected.json", as: [String: [[Int32]]].self)
        let ids = try #require(expected[vocabulary])
        #expect(cases.count == ids.count && cases.count > 300)
        let tok = try BPETokenizer(directory: Self.fixtures.appendingPathComponent(vocabulary))
        var mismatches = 0
        for (c, want) in zip(cases, ids) {
            let got = tok.encode(c.text)
            if got != want {
                mismatches += 1
                if mismatches <= 5 { Issue.record("\(vocabulary) / \(c.name): \(got.prefix(20)) vs HF \(want.prefix(20))") }
            }
            #expect(try tok.decode(got) == c.text, "\(c.name) does not round-trip")
        }
        #expect(mismatches == 0)
    }

    /// Python with HF `tokenizers`, when installed.
    static let hasTokenizers: Bool = {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        p.arguments = ["python3", "-c", "import tokenizers"]
        p.standardOutput = FileHandle.nullDevice
        p.standardError = FileHandle.nullDevice
        guard (try? p.run()) != nil else { return false }
        p.waitUntilExit()
        return p.terminationStatus == 0
    }()

    /// The other direction: a vocabulary Koinon trains, loaded by HF, gives the same ids.
    @Test(.enabled(if: hasTokenizers, "needs pip tokenizers"))
    func koinonTrainedVocabularyEncodesAlikeInHuggingFace() throws {
        let cases = try Self.load("cases.json", as: [Case].self).map(\.text)
        let tok = try BPETrainer.train(texts: cases + Corpus.shakespeare.components(separatedBy: "\n\n"), vocabSize: 1500)
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("koinon-hf-\(UUID())")
        defer { try? FileManager.default.removeItem(at: dir) }
        try tok.save(to: dir)
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        p.arguments = ["python3", Self.repo.appendingPathComponent("scripts/hf_tokenize.py").path, dir.path]
        let input = Pipe(), output = Pipe()
        p.standardInput = input
        p.standardOutput = output
        try p.run()
        input.fileHandleForWriting.write(try JSONEncoder().encode(cases))
        try input.fileHandleForWriting.close()
        let data = output.fileHandleForReading.readDataToEndOfFile()
        p.waitUntilExit()
        #expect(p.terminationStatus == 0)
        let theirs = try JSONDecoder().decode([[Int32]].self, from: data)
        #expect(theirs.count == cases.count)
        for (text, ids) in zip(cases, theirs) { #expect(tok.encode(text) == ids, "\(text.prefix(40).debugDescription)") }
    }
}
