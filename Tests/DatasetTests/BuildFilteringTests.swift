import Foundation
import Testing
import Tokenizer

@testable import Dataset

/// End-to-end builds checking what the filters drop, count and keep.
@Suite struct BuildFilteringTests {
    @Test func plantedExactAndNearDuplicatesAreRemovedAndCounted() throws {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        let distinct = (0..<20).map { Corpus.document(seed: UInt64(100 + $0), words: 150) }
        // web.jsonl: the 20 distinct documents, two too short.
        try directory.write(
            "web.jsonl", (distinct.map { jsonLine($0) } + [jsonLine("tiny"), jsonLine("  short\n")]).joined(separator: "\n"))
        // books.txt: an exact duplicate of document 0 with other whitespace, a
        // near duplicate of document 1, a near duplicate of that near
        // duplicate's original again (document 1, other edit), one new document.
        let fresh = Corpus.document(seed: 999, words: 150)
        let books = [
            distinct[0].replacingOccurrences(of: " ", with: "  \n "), Corpus.variant(of: distinct[1], changes: 2),
            Corpus.variant(of: distinct[1], changes: 1), fresh,
        ]
        // Paragraphs are separated by blank lines; the whitespace variant has no blank line inside.
        try directory.write("books.txt", books.joined(separator: "\n\n\n"))
        let result = try build(["web.jsonl", "books.txt"].map { directory.path($0).path }, in: directory)

        let web = try #require(result.datasheet.sources.first { $0.source == "web" })
        let book = try #require(result.datasheet.sources.first { $0.source == "books" })
        #expect(result.datasheet.sources.map(\.source) == ["web", "books"])
        #expect((web.documentsIn, web.tooShort, web.exactDuplicates, web.nearDuplicates, web.documentsOut) == (22, 2, 0, 0, 20))
        #expect((book.documentsIn, book.tooShort, book.exactDuplicates, book.nearDuplicates, book.documentsOut) == (4, 0, 1, 2, 1))
        #expect(result.datasheet.totals.documentsOut == 21)

        // The first occurrence survives; every kept document is in the shards once.
        let written = try splitDocuments(.train, in: result.directory) + splitDocuments(.validation, in: result.directory)
        #expect(written.sorted() == (distinct + [fresh]).sorted())
    }

    @Test func cleaningCountsReachTheDatasheetAndTheText() throws {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        let first = Corpus.document(seed: 1)
        let second = Corpus.document(seed: 2)
        // Document 1: CRLF line endings, two NULs, one invalid byte; document 2 clean.
        var bytes = Array("\(first.prefix(40))\r\n".utf8) + [0x00, 0xFF] + Array(first.dropFirst(40).utf8) + [0x00]
        bytes += Array("\r\n\r\n\(second)\n".utf8)
        try directory.write("mixed.txt", bytes)
        let result = try build([directory.path("mixed.txt").path], in: directory)
        let stats = try #require(result.datasheet.sources.first)
        #expect(stats.nulBytesDropped == 2)
        #expect(stats.invalidUTF8BytesDropped == 1)
        #expect(stats.lineEndingsNormalised == 3)
        #expect(stats.documentsOut == 2)
        let written = try splitDocuments(.train, in: result.directory) + splitDocuments(.validation, in: result.directory)
        #expect(written.sorted() == ["\(first.prefix(40))\n\(first.dropFirst(40))", second].sorted())
    }

    @Test func malformedJSONLinesAreCountedWithLineNumbersAndFatalWhenStrict() throws {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        let lines = [
            jsonLine(Corpus.document(seed: 1)), "not json at all", "[1, 2, 3]", "{\"title\": \"no text\"}",
            "{\"text\": 5}", "", jsonLine(Corpus.document(seed: 2), source: "Pile-CC"),
        ]
        let file = try directory.write("mixed.jsonl", lines.joined(separator: "\n") + "\n")
        let result = try build([file.path], in: directory)
        #expect(result.datasheet.totals.malformedLines == 4)
        #expect(result.datasheet.malformedExamples == [
            MalformedLine(file: "mixed.jsonl", line: 2, reason: "not valid JSON"),
            MalformedLine(file: "mixed.jsonl", line: 3, reason: "not a JSON object"),
            MalformedLine(file: "mixed.jsonl", line: 4, reason: "no \"text\" field"),
            MalformedLine(file: "mixed.jsonl", line: 5, reason: "\"text\" is not a string"),
        ])
        // Malformed lines count under the file's source; the named line under its own.
        #expect(result.datasheet.sources.map(\.source) == ["mixed", "Pile-CC"])
        #expect(result.datasheet.sources.map(\.malformedLines) == [4, 0])
        #expect(result.datasheet.sources.map(\.documentsOut) == [1, 1])
        #expect(try String(contentsOf: result.directory.appendingPathComponent("datasheet.md"), encoding: .utf8)
            .contains("`mixed.jsonl` line 5: \"text\" is not a string"))

        #expect(throws: DatasetError.malformedLine(file: file.path, line: 2, reason: "not valid JSON")) {
            try build([file.path], in: directory, out: "strict") { $0.strict = true }
        }
        #expect(!FileManager.default.fileExists(atPath: directory.path("strict").path))
    }

    @Test func readsZstdCompressedJSONLines() throws {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        let documents = (0..<30).map { Corpus.document(seed: UInt64(200 + $0)) }
        let jsonl = documents.enumerated().map { jsonLine($1, source: $0 % 2 == 0 ? "even" : "odd") }.joined(separator: "\n")
        try directory.write("part.jsonl.zst", ZstdTests.compress(Array(jsonl.utf8)))
        let result = try build([directory.path("part.jsonl.zst").path], in: directory)
        #expect(result.datasheet.sources.map(\.source) == ["even", "odd"])
        #expect(result.datasheet.sources.map(\.documentsOut) == [15, 15])
        #expect(result.manifest.parameters.inputs.first?.format == .zstdJSONLines)
        let written = try splitDocuments(.train, in: result.directory) + splitDocuments(.validation, in: result.directory)
        #expect(written.sorted() == documents.sorted())
    }

    @Test func textFileModeMakesOneDocumentPerFile() throws {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        let text = Corpus.document(seed: 1) + "\n\n" + Corpus.document(seed: 2) + "\n"
        try directory.write("one.txt", text)
        let paragraphs = try build([directory.path("one.txt").path], in: directory, out: "paragraphs")
        let whole = try build([directory.path("one.txt").path], in: directory, out: "whole") { $0.textDocuments = .file }
        #expect(paragraphs.datasheet.totals.documentsOut == 2)
        #expect(whole.datasheet.totals.documentsOut == 1)
        let written = try splitDocuments(.train, in: whole.directory) + splitDocuments(.validation, in: whole.directory)
        #expect(written == [Corpus.document(seed: 1) + "\n\n" + Corpus.document(seed: 2)])
    }

    @Test func mixtureWeightsScaleSourcesAndUnknownNamesFail() throws {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        var inputs: [String] = []
        for (n, name) in ["a", "b", "c"].enumerated() {
            let docs = (0..<40).map { Corpus.document(seed: UInt64(1000 * (n + 1) + $0), words: 20) }
            inputs.append(try directory.write("\(name).txt", docs.joined(separator: "\n\n")).path)
        }
        let result = try build(inputs, in: directory) { $0.weights = try MixtureWeights(parsing: "a=0,b=0.5,c=2") }
        let s = Dictionary(uniqueKeysWithValues: result.datasheet.sources.map { ($0.source, $0) })
        let copies = { (name: String) in s[name]!.trainDocuments + s[name]!.validationDocuments }
        #expect(s.values.allSatisfy { $0.documentsOut == 40 })
        #expect(copies("a") == 0 && s["a"]!.tokens == 0)
        #expect((10...30).contains(copies("b")))
        #expect(copies("c") == 80)
        #expect(s["b"]!.weight == 0.5 && result.datasheet.totals.weight == nil)
        let shares = result.datasheet.sources.map(\.shareOfTokens).reduce(0, +)
        #expect(abs(shares - 1) < 1e-9)
        // Every document of c appears exactly twice, and in one split only.
        let train = try splitDocuments(.train, in: result.directory)
        let validation = try splitDocuments(.validation, in: result.directory)
        let cDocs = (0..<40).map { Corpus.document(seed: UInt64(3000 + $0), words: 20) }
        for doc in cDocs {
            let counts = (train.filter { $0 == doc }.count, validation.filter { $0 == doc }.count)
            #expect(counts == (2, 0) || counts == (0, 2))
        }

        #expect(throws: DatasetError.unknownWeightSources(unknown: ["d"], known: ["a", "b", "c"])) {
            try build(inputs, in: directory, out: "unknown") { $0.weights = try MixtureWeights(parsing: "d=1") }
        }
    }

    @Test func emptyResultIsAClearErrorAndWritesNothing() throws {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        try directory.write("short.txt", "too short\n\nalso short\n\ntoo short\n")
        #expect {
            try build([directory.path("short.txt").path], in: directory) { $0.minChars = 32 }
        } throws: { error in
            guard case DatasetError.emptyResult(let detail) = error else { return false }
            return detail.contains("all 3 documents") && detail.contains("too short: 3")
        }
        try directory.write("fine.txt", Corpus.document(seed: 1))
        #expect {
            try build([directory.path("fine.txt").path], in: directory) { $0.weights = try MixtureWeights(parsing: "fine=0") }
        } throws: { error in
            guard case DatasetError.emptyResult(let detail) = error else { return false }
            return detail.contains("weight 0")
        }
        #expect(!FileManager.default.fileExists(atPath: directory.path("out").path))
    }

    @Test func unreadableInputIsAClearError() throws {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        let missing = directory.path("missing.jsonl").path
        #expect(throws: DatasetError.unreadableInput(path: missing, reason: "no such file")) {
            try build([missing], in: directory)
        }
        try FileManager.default.createDirectory(at: directory.path("folder.txt"), withIntermediateDirectories: true)
        #expect {
            try build([directory.path("folder.txt").path], in: directory)
        } throws: { error in
            "\(error)".contains("folder.txt") && "\(error)".contains("directory")
        }
    }
}
