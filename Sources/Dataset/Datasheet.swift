import Foundation

/// `OUT/datasheet.json` (and its Markdown rendering `datasheet.md`): what went
/// into a dataset and what every filter did to each source, so a dataset
/// documents itself. Deterministic: no timestamps or timings.
public struct Datasheet: Sendable, Codable, Equatable {
    public static let formatName = "koinon-datasheet"
    public static let jsonFileName = "datasheet.json"
    public static let markdownFileName = "datasheet.md"

    public var format = Datasheet.formatName
    public var version = 1
    /// In the order sources were first met in the inputs.
    public var sources: [SourceStatistics]
    public var totals: SourceStatistics
    public var splits: SplitTotals
    public var shards: Int
    public var dtype: TokenDType
    public var tokenizer: TokenizerReference
    public var parameters: BuildParameters
    /// The first malformed JSON lines (file name and line number); `totals.malformedLines` counts all.
    public var malformedExamples: [MalformedLine]

    public init(
        sources: [SourceStatistics], splits: SplitTotals, shards: Int, dtype: TokenDType,
        tokenizer: TokenizerReference, parameters: BuildParameters, malformedExamples: [MalformedLine]
    ) {
        self.sources = sources
        totals = SourceStatistics.total(of: sources)
        self.splits = splits
        self.shards = shards
        self.dtype = dtype
        self.tokenizer = tokenizer
        self.parameters = parameters
        self.malformedExamples = malformedExamples
    }

    public static func load(fromDatasetDirectory directory: URL) throws -> Datasheet {
        let url = directory.appendingPathComponent(jsonFileName)
        do {
            return try JSONDecoder().decode(Datasheet.self, from: Data(contentsOf: url))
        } catch {
            throw DatasetError.invalidManifest(path: url.path, reason: "cannot read the datasheet (\(error))")
        }
    }

    public func encoded() throws -> Data {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
        var data = try encoder.encode(self)
        data.append(0x0A)
        return data
    }
}
