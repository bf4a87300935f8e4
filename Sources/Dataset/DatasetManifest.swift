import Foundation

/// The two splits a dataset is cut into.
public enum DatasetSplit: String, Sendable, Codable, CaseIterable, Comparable {
    case train
    case validation

    public static func < (a: DatasetSplit, b: DatasetSplit) -> Bool {
        allCases.firstIndex(of: a)! < allCases.firstIndex(of: b)!
    }
}

/// `OUT/manifest.json`: everything a worker needs to find, check and read a
/// dataset's shards, and everything needed to rebuild it. Holds no timestamps,
/// so the same inputs and parameters give the same bytes.
public struct DatasetManifest: Sendable, Codable, Equatable {
    public static let formatName = "koinon-dataset"
    public static let currentVersion = 1
    public static let fileName = "manifest.json"

    public var format: String
    public var version: Int
    public var dtype: TokenDType
    public var bytesPerToken: Int
    /// Tokens per shard; the last shard of a split may be shorter.
    public var shardTokens: Int
    public var tokenizer: TokenizerReference
    public var splits: SplitTotals
    public var shards: [ShardEntry]
    public var parameters: BuildParameters

    public init(
        dtype: TokenDType, shardTokens: Int, tokenizer: TokenizerReference,
        splits: SplitTotals, shards: [ShardEntry], parameters: BuildParameters
    ) {
        format = Self.formatName
        version = Self.currentVersion
        self.dtype = dtype
        bytesPerToken = dtype.bytesPerToken
        self.shardTokens = shardTokens
        self.tokenizer = tokenizer
        self.splits = splits
        self.shards = shards
        self.parameters = parameters
    }

    public func shards(in split: DatasetSplit) -> [ShardEntry] { shards.filter { $0.split == split } }

    /// Reads and checks `DIR/manifest.json`.
    public static func load(fromDatasetDirectory directory: URL) throws -> DatasetManifest {
        let url = directory.appendingPathComponent(fileName)
        let data: Data
        do { data = try Data(contentsOf: url) } catch {
            throw DatasetError.invalidManifest(path: url.path, reason: "cannot read it (\(error.localizedDescription))")
        }
        let manifest: DatasetManifest
        do { manifest = try JSONDecoder().decode(DatasetManifest.self, from: data) } catch {
            throw DatasetError.invalidManifest(path: url.path, reason: "not a Koinon dataset manifest (\(error))")
        }
        guard manifest.format == formatName else {
            throw DatasetError.invalidManifest(path: url.path, reason: "format is \"\(manifest.format)\", expected \"\(formatName)\"")
        }
        guard manifest.version == currentVersion else {
            throw DatasetError.invalidManifest(path: url.path, reason: "version \(manifest.version) is not supported (expected \(currentVersion))")
        }
        guard manifest.bytesPerToken == manifest.dtype.bytesPerToken else {
            throw DatasetError.invalidManifest(path: url.path, reason: "bytesPerToken \(manifest.bytesPerToken) contradicts dtype \(manifest.dtype.rawValue)")
        }
        return manifest
    }

    /// The manifest as written: sorted keys and fixed layout, so equal manifests are equal bytes.
    public func encoded() throws -> Data {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
        var data = try encoder.encode(self)
        data.append(0x0A)
        return data
    }
}

/// One shard in the manifest. `file` is always `shards/<sha256>.bin`.
public struct ShardEntry: Sendable, Codable, Equatable {
    public var sha256: String
    public var file: String
    public var split: DatasetSplit
    public var tokens: Int
    public var bytes: Int

    public init(sha256: String, split: DatasetSplit, tokens: Int, bytes: Int) {
        self.sha256 = sha256
        file = Self.relativePath(sha256: sha256)
        self.split = split
        self.tokens = tokens
        self.bytes = bytes
    }

    public static func relativePath(sha256: String) -> String { "shards/\(sha256).bin" }
}

public struct SplitTotals: Sendable, Codable, Equatable {
    public var train: SplitSummary
    public var validation: SplitSummary

    public init(train: SplitSummary = SplitSummary(), validation: SplitSummary = SplitSummary()) {
        self.train = train
        self.validation = validation
    }

    public subscript(split: DatasetSplit) -> SplitSummary {
        get { split == .train ? train : validation }
        set { if split == .train { train = newValue } else { validation = newValue } }
    }
}

public struct SplitSummary: Sendable, Codable, Equatable {
    public var shards: Int
    public var tokens: Int
    /// Document copies (a document with weight 2 counts twice).
    public var documents: Int

    public init(shards: Int = 0, tokens: Int = 0, documents: Int = 0) {
        self.shards = shards
        self.tokens = tokens
        self.documents = documents
    }
}

/// The tokenizer a dataset was encoded with; its files are copied into the dataset.
public struct TokenizerReference: Sendable, Codable, Equatable {
    /// `BPETokenizer.sha256`: SHA-256 of vocab.json bytes followed by merges.txt bytes.
    public var sha256: String
    public var vocabSize: Int
    public var endOfTextID: Int
    /// Relative to the dataset directory.
    public var vocab: String
    public var merges: String
    /// "trained" when built by `--train-tokenizer`, else "given".
    public var origin: String
}

/// The inputs and settings a dataset was built from (none that do not change
/// the output, such as the thread count).
public struct BuildParameters: Sendable, Codable, Equatable {
    public var inputs: [InputFileRecord]
    public var textDocuments: TextDocumentMode
    public var minChars: Int
    public var nearDuplicateThreshold: Double
    public var minHashPermutations: Int
    public var lshBands: Int
    public var lshRows: Int
    public var shingleWords: Int
    public var shingleCharacters: Int
    public var validationFraction: Double
    public var shardTokens: Int
    /// Only the weights given; other sources weigh 1.
    public var weights: [String: Double]
    public var strict: Bool
    /// Vocabulary size asked for by `--train-tokenizer`, nil when a tokenizer was given.
    public var trainedTokenizerVocabSize: Int?
}

/// One input file, identified by name, size and hash (not by its path, which
/// differs between machines).
public struct InputFileRecord: Sendable, Codable, Equatable {
    public var file: String
    public var format: InputFormat
    /// The `SOURCE=` given on the command line, if any.
    public var source: String?
    public var bytes: Int
    public var sha256: String
}
