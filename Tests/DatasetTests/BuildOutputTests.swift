import Foundation
import Testing
import Tokenizer

@testable import Dataset

/// End-to-end builds checking shards, manifest, datasheet, re-runs and verification.
@Suite struct BuildOutputTests {
    static let documents = (0..<60).map { Corpus.document(seed: UInt64(500 + $0), words: 40 + $0 % 30) }

    func corpus(in directory: TemporaryDirectory) throws -> [String] {
        let half = Self.documents.count / 2
        let a = try directory.write("alpha.txt", Self.documents[..<half].joined(separator: "\n\n"))
        let b = try directory.write(
            "beta.jsonl", Self.documents[half...].map { jsonLine($0, source: "beta") }.joined(separator: "\n"))
        return [a.path, b.path]
    }

    @Test func shardsHaveExactSizesAndTheManifestAddsUp() throws {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        let tokenizerDirectory = try TestTokenizer.saved(in: directory)
        let result = try build(try corpus(in: directory), in: directory) {
            $0.tokenizer = .directory(tokenizerDirectory)
            $0.validationFraction = 0.2
        }
        let manifest = try DatasetManifest.load(fromDatasetDirectory: result.directory)
        #expect(manifest == result.manifest)
        #expect(manifest.dtype == .uint16 && manifest.bytesPerToken == 2)
        #expect(manifest.tokenizer.sha256 == TestTokenizer.shared.sha256)
        #expect(manifest.tokenizer.vocabSize == 300)
        #expect(try BPETokenizer(directory: result.directory.appendingPathComponent("tokenizer")).sha256 == TestTokenizer.shared.sha256)

        var shardFiles: Set<String> = []
        for split in DatasetSplit.allCases {
            let shards = manifest.shards(in: split)
            #expect(!shards.isEmpty)
            // Exactly shardTokens each, the last one shorter.
            #expect(shards.dropLast().allSatisfy { $0.tokens == 1000 })
            #expect((1...1000).contains(shards.last!.tokens))
            #expect(manifest.splits[split].tokens == shards.reduce(0) { $0 + $1.tokens })
            #expect(manifest.splits[split].shards == shards.count)
            for entry in shards {
                let url = result.directory.appendingPathComponent(entry.file)
                let bytes = [UInt8](try Data(contentsOf: url))
                #expect(bytes.count == entry.bytes && entry.bytes == 32 + 2 * entry.tokens)
                #expect(Array(bytes[0..<8]) == Array("KOINSHRD".utf8))
                #expect(bytes.littleEndianUInt64(at: 16) == UInt64(entry.tokens))
                shardFiles.insert(url.lastPathComponent)
            }
        }
        let onDisk = try FileManager.default.contentsOfDirectory(atPath: result.directory.appendingPathComponent("shards").path)
        #expect(Set(onDisk) == shardFiles)
        #expect(Set(try FileManager.default.contentsOfDirectory(atPath: result.directory.path))
            == ["manifest.json", "datasheet.json", "datasheet.md", "shards", "tokenizer"])

        // Documents are separated by <|endoftext|>, decode to the input, and
        // the split counts match what the manifest and datasheet say.
        let train = try splitDocuments(.train, in: result.directory)
        let validation = try splitDocuments(.validation, in: result.directory)
        #expect((train + validation).sorted() == Self.documents.sorted())
        #expect(train.count == manifest.splits.train.documents && validation.count == manifest.splits.validation.documents)
        let eot = try #require(TestTokenizer.shared.endOfTextID)
        let trainTokens = try splitTokens(.train, in: result.directory)
        #expect(trainTokens.filter { $0 == eot }.count == train.count)
        #expect(result.datasheet.splits == manifest.splits)
        #expect(result.datasheet.totals.trainTokens == manifest.splits.train.tokens)
        #expect(result.datasheet.totals.validationTokens == manifest.splits.validation.tokens)
        #expect(result.datasheet.sources.map(\.source) == ["alpha", "beta"])
        #expect(result.datasheet.sources.map(\.documentsOut) == [30, 30])
        #expect(try Datasheet.load(fromDatasetDirectory: result.directory) == result.datasheet)

        // The Markdown datasheet shows the same figures.
        let markdown = try String(contentsOf: result.directory.appendingPathComponent("datasheet.md"), encoding: .utf8)
        let t = result.datasheet.totals
        #expect(markdown.contains("| **total** | \(t.documentsIn) | 0 | 0 | 0 | 0 | \(t.documentsOut) |"))
        #expect(markdown.contains(group(manifest.splits.train.tokens)))
        #expect(markdown.contains(manifest.tokenizer.sha256))
    }

    @Test func largeVocabulariesGetUInt32Shards() throws {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        // 70,000 tokens with the byte-level alphabet at the top, so every
        // encoded id is above 65,535 and must survive as uint32.
        var vocab: [String: Int] = [BPETokenizer.endOfText: 0]
        for i in 1..<(70_000 - 256) { vocab["<|unused\(i)|>"] = i }
        // The byte-level alphabet: the single-character tokens of any byte-level vocabulary.
        let alphabet = TestTokenizer.shared.tokens.filter { $0.unicodeScalars.count == 1 }
        #expect(alphabet.count == 256)
        for (offset, symbol) in alphabet.enumerated() { vocab[symbol] = 70_000 - 256 + offset }
        let big = try BPETokenizer(vocab: vocab, merges: [])
        #expect(big.vocabSize == 70_000)
        let tokenizerDirectory = directory.path("big-tokenizer")
        try big.save(to: tokenizerDirectory)
        let documents = Self.documents.prefix(5).map { String($0.prefix(120)) }
        try directory.write("few.txt", documents.joined(separator: "\n\n"))
        let result = try build([directory.path("few.txt").path], in: directory) {
            $0.tokenizer = .directory(tokenizerDirectory)
            $0.shardTokens = 100_000
            $0.validationFraction = 0
        }
        #expect(result.manifest.dtype == .uint32 && result.manifest.bytesPerToken == 4)
        let entry = try #require(result.manifest.shards.first)
        #expect(entry.bytes == 32 + 4 * entry.tokens)
        let tokens = try splitTokens(.train, in: result.directory)
        #expect(tokens.contains { $0 > 65_535 })
        #expect(try splitDocuments(.train, in: result.directory).sorted() == documents.sorted())
    }

    @Test func rebuildingGivesByteIdenticalOutputWhateverTheThreads() throws {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        let inputs = try corpus(in: directory)
        let one = try build(inputs, in: directory, out: "one") { $0.threads = 1 }
        let two = try build(inputs, in: directory, out: "two") { $0.threads = 2 }
        func files(_ root: URL) throws -> [String: Data] {
            var out: [String: Data] = [:]
            let enumerator = FileManager.default.enumerator(at: root, includingPropertiesForKeys: nil)!
            for case let url as URL in enumerator where !url.hasDirectoryPath {
                out[String(url.path.dropFirst(root.path.count))] = try Data(contentsOf: url)
            }
            return out
        }
        let first = try files(one.directory)
        #expect(first.count >= 7)
        #expect(first == (try files(two.directory)))

        // Building again into the same directory replaces the earlier build in place.
        let again = try build(inputs, in: directory, out: "one") { $0.threads = 2 }
        #expect(try files(again.directory) == first)
    }

    @Test func existingDirectoriesThatAreNotDatasetsAreNotClobbered() throws {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        let inputs = try corpus(in: directory)
        let precious = directory.path("out/notes.txt")
        try FileManager.default.createDirectory(at: directory.path("out"), withIntermediateDirectories: true)
        try Data("keep me".utf8).write(to: precious)
        #expect(throws: DatasetError.outputNotADataset(path: directory.path("out").path)) {
            try build(inputs, in: directory)
        }
        #expect(try String(contentsOf: precious, encoding: .utf8) == "keep me")

        // An earlier build with a file added to it is no longer only a dataset.
        let built = try build(inputs, in: directory, out: "built")
        try Data("added".utf8).write(to: built.directory.appendingPathComponent("extra.txt"))
        #expect(throws: DatasetError.outputNotADataset(path: built.directory.path)) {
            try build(inputs, in: directory, out: "built")
        }
        // An empty directory is fine.
        try FileManager.default.createDirectory(at: directory.path("empty"), withIntermediateDirectories: true)
        _ = try build(inputs, in: directory, out: "empty")
    }

    @Test func tokenizerWithoutEndOfTextIsRefused() throws {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        let inputs = try corpus(in: directory)
        let plain = try BPETrainer.train(texts: Self.documents, vocabSize: 280, specialTokens: [])
        try plain.save(to: directory.path("plain"))
        #expect(throws: DatasetError.tokenizerLacksEndOfText) {
            try build(inputs, in: directory) { $0.tokenizer = .directory(directory.path("plain")) }
        }
    }

    @Test func verificationPassesSoundDatasetsAndNamesCorruptShards() throws {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        let result = try build(try corpus(in: directory), in: directory) { $0.shardTokens = 500 }
        let sound = try DatasetVerifier.verify(directory: result.directory)
        #expect(sound.isValid, "\(sound.problems)")
        #expect(sound.shardsChecked == result.manifest.shards.count)
        #expect(DatasetSummary.render(manifest: sound.manifest, datasheet: sound.datasheet).contains("alpha"))

        let entries = result.manifest.shards
        let flipped = result.directory.appendingPathComponent(entries[0].file)
        var bytes = [UInt8](try Data(contentsOf: flipped))
        bytes[40] ^= 0x01
        try Data(bytes).write(to: flipped)
        let truncated = result.directory.appendingPathComponent(entries[1].file)
        try Data([UInt8](try Data(contentsOf: truncated)).dropLast(2)).write(to: truncated)
        let missing = result.directory.appendingPathComponent(entries[2].file)
        try FileManager.default.removeItem(at: missing)

        let broken = try DatasetVerifier.verify(directory: result.directory)
        #expect(!broken.isValid)
        #expect(broken.problems.count == 3)
        #expect(broken.problems.contains { $0.contains(flipped.lastPathComponent) && $0.contains("SHA-256") })
        #expect(broken.problems.contains { $0.contains(truncated.lastPathComponent) && $0.contains("truncated") })
        #expect(broken.problems.contains { $0.contains(missing.lastPathComponent) && $0.contains("missing") })
        #expect(throws: DatasetError.self) { try Shard.open(entries[0], in: result.directory, manifest: result.manifest) }

        // A datasheet from another build does not pass for this one.
        let other = try build(try corpus(in: directory), in: directory, out: "other") { $0.validationFraction = 0.5 }
        let datasheet = result.directory.appendingPathComponent("datasheet.json")
        try FileManager.default.removeItem(at: datasheet)
        try FileManager.default.copyItem(at: other.directory.appendingPathComponent("datasheet.json"), to: datasheet)
        let mixed = try DatasetVerifier.verify(directory: result.directory)
        #expect(mixed.problems.count == 4)
        #expect(mixed.problems.contains { $0.contains("datasheet.json") && $0.contains("different builds") })
    }
}
