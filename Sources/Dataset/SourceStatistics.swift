/// What happened to one source's documents, from input to shards: the rows of
/// the datasheet. Every filter counts what it drops.
public struct SourceStatistics: Sendable, Equatable, Codable {
    public var source: String
    /// Documents read (paragraphs, files or JSON lines with text), before any filter.
    public var documentsIn = 0
    /// UTF-8 bytes of these documents after cleaning.
    public var bytesIn = 0
    public var nulBytesDropped = 0
    public var invalidUTF8BytesDropped = 0
    public var lineEndingsNormalised = 0
    /// JSON lines that were not an object with a string "text".
    public var malformedLines = 0
    /// Documents dropped for being shorter than `--min-chars` after cleaning.
    public var tooShort = 0
    /// Documents whose normalised text equals an earlier document's.
    public var exactDuplicates = 0
    /// Documents whose estimated Jaccard similarity to an earlier kept document reached the threshold.
    public var nearDuplicates = 0
    /// Documents that passed every filter.
    public var documentsOut = 0
    /// UTF-8 bytes of the documents out.
    public var bytesOut = 0
    /// The mixture weight (copies per document, in expectation); nil for totals.
    public var weight: Double? = 1.0
    /// Document copies placed in each split by the mixture.
    public var trainDocuments = 0
    public var validationDocuments = 0
    /// Tokens in each split, `<|endoftext|>` separators included.
    public var trainTokens = 0
    public var validationTokens = 0
    /// This source's fraction of all tokens written.
    public var shareOfTokens = 0.0

    public init(source: String) { self.source = source }

    public var tokens: Int { trainTokens + validationTokens }

    /// The sum of several sources' counts (weight and share are not summed).
    public static func total(of sources: [SourceStatistics], named name: String = "total") -> SourceStatistics {
        var total = SourceStatistics(source: name)
        for s in sources {
            total.documentsIn += s.documentsIn
            total.bytesIn += s.bytesIn
            total.nulBytesDropped += s.nulBytesDropped
            total.invalidUTF8BytesDropped += s.invalidUTF8BytesDropped
            total.lineEndingsNormalised += s.lineEndingsNormalised
            total.malformedLines += s.malformedLines
            total.tooShort += s.tooShort
            total.exactDuplicates += s.exactDuplicates
            total.nearDuplicates += s.nearDuplicates
            total.documentsOut += s.documentsOut
            total.bytesOut += s.bytesOut
            total.trainDocuments += s.trainDocuments
            total.validationDocuments += s.validationDocuments
            total.trainTokens += s.trainTokens
            total.validationTokens += s.validationTokens
            total.shareOfTokens += s.shareOfTokens
        }
        total.weight = nil
        return total
    }
}
