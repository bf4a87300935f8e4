import ArgumentParser
import Dispatch
import Foundation
import Tokenizer

struct TokenizerCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "tokenizer", abstract: "Byte-level BPE tokenizers (GPT-2 vocab.json + merges.txt).",
        subcommands: [Train.self, Encode.self, Decode.self, Bench.self])

    struct Train: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Learn a vocabulary from text files.")
        @Option(name: .customLong("input"), parsing: .upToNextOption, help: "UTF-8 text files.") var inputs: [String]
        @Option(help: "Entries in the vocabulary, special tokens and the 256 bytes included.") var vocabSize: Int
        @Option(help: "Output directory for vocab.json and merges.txt.") var out: String
        @Option(help: "Fewest occurrences for a pair to be merged.") var minFrequency = 2
        @Option(help: "Threads (default: all cores).") var threads: Int?

        func run() throws {
            try reportingErrors {
                var texts: [String] = []
                for path in inputs { texts += try TextFile.documents(path) }
                let start = DispatchTime.now()
                let tokenizer = try BPETrainer.train(texts: texts, vocabSize: vocabSize, minFrequency: minFrequency,
                                                     threads: threads)
                try tokenizer.save(to: URL(fileURLWithPath: out))
                let seconds = Double(DispatchTime.now().uptimeNanoseconds - start.uptimeNanoseconds) / 1e9
                print("wrote \(out): \(tokenizer.vocabSize) tokens, \(tokenizer.merges.count) merges in "
                      + String(format: "%.2f s", seconds) + ", sha256 \(tokenizer.sha256)")
                if tokenizer.vocabSize < vocabSize {
                    print("note: stopped below \(vocabSize): no remaining pair occurs \(minFrequency) times")
                }
            }
        }
    }

    struct Encode: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Read UTF-8 text on stdin, print token ids separated by spaces.")
        @Option(help: "Directory with vocab.json and merges.txt.") var tokenizer: String

        func run() throws {
            try reportingErrors {
                let tok = try BPETokenizer(directory: URL(fileURLWithPath: tokenizer))
                let input = FileHandle.standardInput.readDataToEndOfFile()
                let ids = tok.encode(String(decoding: input, as: UTF8.self))
                print(ids.map(String.init).joined(separator: " "))
            }
        }
    }

    struct Decode: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Read token ids (separated by spaces or newlines) on stdin, print the text.")
        @Option(help: "Directory with vocab.json and merges.txt.") var tokenizer: String

        func run() throws {
            try reportingErrors {
                let tok = try BPETokenizer(directory: URL(fileURLWithPath: tokenizer))
                let input = String(decoding: FileHandle.standardInput.readDataToEndOfFile(), as: UTF8.self)
                var ids: [Int32] = []
                for word in input.split(whereSeparator: \.isWhitespace) {
                    guard let id = Int32(word) else { throw TokenizerError("'\(word.prefix(40))' is not a token id") }
                    ids.append(id)
                }
                FileHandle.standardOutput.write(Data(try tok.decodeBytes(ids)))
            }
        }
    }

    struct Bench: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Encoding throughput: the file repeated, split into documents at blank lines, encoded on all cores.")
        @Option(help: "Directory with vocab.json and merges.txt.") var tokenizer: String
        @Option(help: "UTF-8 text file.") var input: String
        @Option(help: "Times the file's text is repeated.") var `repeat` = 8
        @Option(help: "Threads (default: all cores).") var threads: Int?
        @Option(help: "Run at least this long.") var minSeconds = 3.0
        @Flag(help: "Print the result as one JSON object on the last line.") var json = false

        func run() throws {
            try reportingErrors {
                let tok = try BPETokenizer(directory: URL(fileURLWithPath: tokenizer))
                let text = String(repeating: try TextFile.read(input), count: self.repeat)
                let docs = text.components(separatedBy: "\n\n")
                let bytes = text.utf8.count  // the whole text, separators included (as the HF reference counts)
                let threads = self.threads ?? ProcessInfo.processInfo.activeProcessorCount
                _ = tok.encodeBatch(Array(docs.prefix(1000)), threads: threads)  // warm-up
                var passes = 0, tokens = 0
                let start = DispatchTime.now().uptimeNanoseconds
                var seconds = 0.0
                repeat {
                    tokens = tok.encodeBatch(docs, threads: threads).reduce(0) { $0 + $1.count }
                    passes += 1
                    seconds = Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9
                } while seconds < minSeconds
                let mbps = Double(bytes * passes) / seconds / 1e6
                print(String(format: "%.2f MB/s: %d documents, %d bytes, %d tokens per pass, %d passes in %.2f s, %d threads",
                             mbps, docs.count, bytes, tokens, passes, seconds, threads))
                if json {
                    let o: [String: Double] = ["mb_per_second": mbps, "tokens": Double(tokens), "bytes": Double(bytes),
                                               "seconds": seconds / Double(passes), "threads": Double(threads),
                                               "documents": Double(docs.count)]
                    let enc = JSONEncoder()
                    enc.outputFormatting = .sortedKeys
                    print(String(decoding: try enc.encode(o), as: UTF8.self))
                }
            }
        }
    }
}

/// Text files read leniently (invalid UTF-8 becomes U+FFFD).
enum TextFile {
    static func read(_ path: String) throws -> String {
        guard let data = FileManager.default.contents(atPath: path) else { throw TokenizerError("cannot read \(path)") }
        return String(decoding: data, as: UTF8.self)
    }

    /// A file's documents: its text split at blank lines.
    static func documents(_ path: String) throws -> [String] {
        try read(path).components(separatedBy: "\n\n")
    }
}
