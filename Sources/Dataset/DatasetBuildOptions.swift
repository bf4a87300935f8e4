import Foundation

/// Where the tokenizer for a build comes from.
public enum TokenizerChoice: Sendable, Equatable {
    /// Load `vocab.json` + `merges.txt` from a directory.
    case directory(URL)
    /// Train a byte-level BPE vocabulary of this many entries on the cleaned,
    /// deduplicated documents.
    case train(vocabularySize: Int)
}

/// Everything `dataset build` takes. The defaults are the documented ones
/// (docs/dataset.md explains each choice).
public struct DatasetBuildOptions: Sendable {
    public static let defaultShardTokens = 1 << 20
    public static let defaultValidationFraction = 0.05
    public static let defaultMinChars = 32
    public static let defaultNearDuplicateThreshold = 0.8
    public static let minHashPermutations = 128

    public var inputs: [InputSpec]
    public var output: URL
    public var tokenizer: TokenizerChoice
    public var shardTokens = defaultShardTokens
    public var validationFraction = defaultValidationFraction
    public var weights = MixtureWeights()
    public var minChars = defaultMinChars
    public var nearDuplicateThreshold = defaultNearDuplicateThreshold
    public var textDocuments = TextDocumentMode.paragraphs
    /// Stop at the first malformed JSON line instead of counting and skipping it.
    public var strict = false
    /// Threads for the parallel stages; nil uses every core. Does not change the output.
    public var threads: Int?

    public init(inputs: [InputSpec], output: URL, tokenizer: TokenizerChoice) {
        self.inputs = inputs
        self.output = output
        self.tokenizer = tokenizer
    }

    /// Rejects settings that cannot produce a dataset, naming the option.
    public func validate() throws {
        guard !inputs.isEmpty else { throw DatasetError.invalidArgument("no --input given") }
        guard shardTokens > 0 else { throw DatasetError.invalidArgument("--shard-tokens must be at least 1 (got \(shardTokens))") }
        guard validationFraction >= 0, validationFraction <= 1 else {
            throw DatasetError.invalidArgument("--val-fraction must be between 0 and 1 (got \(validationFraction))")
        }
        guard minChars >= 0 else { throw DatasetError.invalidArgument("--min-chars must be ≥ 0 (got \(minChars))") }
        guard nearDuplicateThreshold > 0, nearDuplicateThreshold <= 1 else {
            throw DatasetError.invalidArgument("--near-dup-threshold must be in (0, 1] (got \(nearDuplicateThreshold))")
        }
        if let threads, threads < 1 { throw DatasetError.invalidArgument("--threads must be at least 1 (got \(threads))") }
        if case .train(let size) = tokenizer, size < 1 {
            throw DatasetError.invalidArgument("--train-tokenizer must be a positive vocabulary size (got \(size))")
        }
    }
}
