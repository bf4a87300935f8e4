import Foundation
import Testing
import Tokenizer

@testable import Dataset

/// A fresh directory under the system temp dir, removed by `remove()`.
struct TemporaryDirectory {
    let url: URL

    init() throws {
        url = FileManager.default.temporaryDirectory.appendingPathComponent("koinon-dataset-tests-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
    }

    func path(_ name: String) -> URL { url.appendingPathComponent(name) }

    @discardableResult
    func write(_ name: String, _ text: String) throws -> URL {
        try write(name, Array(text.utf8))
    }

    @discardableResult
    func write(_ name: String, _ bytes: [UInt8]) throws -> URL {
        let file = path(name)
        try Data(bytes).write(to: file)
        return file
    }

    func remove() { try? FileManager.default.removeItem(at: url) }
}

/// Deterministic made-up prose: documents from different seeds share almost
/// no word 5-grams, so they are neither exact nor near duplicates.
enum Corpus {
    static let words: [String] = {
        var state: UInt64 = 42
        let letters = Array("abcdefghijklmnopqrstuvwxyz")
        return (0..<600).map { _ in
            let length = 2 + Int(splitMix64(&state) % 7)
            return String((0..<length).map { _ in letters[Int(splitMix64(&state) % 26)] })
        }
    }()

    static func document(seed: UInt64, words count: Int = 60) -> String {
        var state = seed &* 0x9E37_79B9 &+ 7
        var out: [String] = []
        for i in 0..<count {
            out.append(words[Int(splitMix64(&state) % UInt64(words.count))])
            if i % 12 == 11 { out[out.count - 1] += "." }
        }
        return out.joined(separator: " ")
    }

    /// A document with `changes` words replaced, spread evenly: a near duplicate when few.
    static func variant(of text: String, changes: Int) -> String {
        var words = text.split(separator: " ").map(String.init)
        for k in 0..<changes {
            let index = (k + 1) * words.count / (changes + 1)
            words[index] = "zzchanged\(k)"
        }
        return words.joined(separator: " ")
    }
}

/// A small tokenizer trained once for the tests that load one from disk.
enum TestTokenizer {
    static let shared: BPETokenizer = {
        let texts = (0..<40).map { Corpus.document(seed: UInt64($0)) } + ["Hello, world! \r\n tabs\tand ünïcödé ✓"]
        return try! BPETrainer.train(texts: texts, vocabSize: 300)
    }()

    static func saved(in directory: TemporaryDirectory) throws -> URL {
        let url = directory.path("tokenizer-in")
        try shared.save(to: url)
        return url
    }
}

/// Every token of a split's shards, in order, read through the public reader.
func splitTokens(_ split: DatasetSplit, in directory: URL) throws -> [Int32] {
    let manifest = try DatasetManifest.load(fromDatasetDirectory: directory)
    return try manifest.shards(in: split).flatMap { try Shard.open($0, in: directory, manifest: manifest).tokensInt32() }
}

/// The documents of a split: its token stream cut at <|endoftext|>, decoded.
func splitDocuments(_ split: DatasetSplit, in directory: URL) throws -> [String] {
    let tokenizer = try BPETokenizer(directory: directory.appendingPathComponent("tokenizer"))
    let endOfText = try #require(tokenizer.endOfTextID)
    let tokens = try splitTokens(split, in: directory)
    #expect(tokens.isEmpty || tokens.last == endOfText, "every document, the last included, ends with <|endoftext|>")
    return try tokens.split(separator: endOfText, omittingEmptySubsequences: false).dropLast().map {
        try tokenizer.decode(Array($0))
    }
}

/// Builds with the test defaults: small shards, a tokenizer trained on the input.
func build(
    _ inputs: [String], in directory: TemporaryDirectory, out: String = "out",
    configure: (inout DatasetBuildOptions) throws -> Void = { _ in }
) throws -> DatasetBuildResult {
    var options = DatasetBuildOptions(
        inputs: try inputs.map(InputSpec.init(argument:)), output: directory.path(out),
        tokenizer: .train(vocabularySize: 300))
    options.shardTokens = 1000
    options.minChars = 10
    try configure(&options)
    return try DatasetBuilder(options: options).build()
}

func jsonLine(_ text: String, source: String? = nil) -> String {
    var object: [String: Any] = ["text": text]
    if let source { object["meta"] = ["pile_set_name": source] }
    let data = try! JSONSerialization.data(withJSONObject: object, options: [.sortedKeys])
    return String(decoding: data, as: UTF8.self)
}
