/// A document that passed every filter.
struct KeptDocument: Sendable {
    var text: String
    var digest: DocumentDigest
    /// Index into `CorpusFilter.sources`.
    var sourceIndex: Int
}

/// A JSON line that could not be used, for the report and the datasheet.
public struct MalformedLine: Sendable, Equatable, Codable, CustomStringConvertible {
    public var file: String
    public var line: Int
    public var reason: String

    public var description: String { "\(file):\(line): \(reason)" }
}

/// The sequential part of ingest: sees processed records in input order and
/// decides, for each document, too short / exact duplicate / near duplicate /
/// kept, counting every decision under the document's source. Input order
/// alone decides which copy of a duplicate survives (the first).
struct CorpusFilter {
    /// How many malformed lines are kept as examples; the rest are only counted.
    static let malformedExamplesKept = 10

    let minChars: Int
    let strict: Bool
    private(set) var sources: [SourceStatistics] = []
    private var sourceIndex: [String: Int] = [:]
    private var seenDigests: Set<DocumentDigest> = []
    private var nearDuplicates: NearDuplicateIndex
    private(set) var kept: [KeptDocument] = []
    private(set) var malformedExamples: [MalformedLine] = []
    private(set) var malformedCount = 0

    init(minChars: Int, strict: Bool, nearDuplicateThreshold: Double, permutations: Int) {
        self.minChars = minChars
        self.strict = strict
        nearDuplicates = NearDuplicateIndex(threshold: nearDuplicateThreshold, permutations: permutations)
    }

    var lshParameters: LSHParameters { nearDuplicates.parameters }

    /// Registers a source name so sources appear in the order they are first met,
    /// even when all their documents are dropped.
    @discardableResult
    mutating func index(ofSource name: String) -> Int {
        if let index = sourceIndex[name] { return index }
        sources.append(SourceStatistics(source: name))
        sourceIndex[name] = sources.count - 1
        return sources.count - 1
    }

    /// Takes one record; returns the malformed line it was, if any (already counted).
    /// Throws on a malformed line when strict.
    @discardableResult
    /// `fileName` goes into the examples (the datasheet names files, not paths);
    /// `path` into the strict-mode error.
    mutating func add(_ record: ProcessedRecord, fileName: String, path: String) throws -> MalformedLine? {
        let s = index(ofSource: record.source)
        sources[s].nulBytesDropped += record.cleaning.nulBytes
        sources[s].invalidUTF8BytesDropped += record.cleaning.invalidUTF8Bytes
        sources[s].lineEndingsNormalised += record.cleaning.lineEndingsNormalised
        switch record.outcome {
        case .failure(let malformation):
            if strict {
                throw DatasetError.malformedLine(file: path, line: record.lineNumber, reason: malformation.description)
            }
            let malformed = MalformedLine(file: fileName, line: record.lineNumber, reason: malformation.description)
            sources[s].malformedLines += 1
            malformedCount += 1
            if malformedExamples.count < Self.malformedExamplesKept { malformedExamples.append(malformed) }
            return malformed
        case .success(let documents):
            for document in documents { add(document, sourceIndex: s) }
            return nil
        }
    }

    private mutating func add(_ document: CandidateDocument, sourceIndex s: Int) {
        sources[s].documentsIn += 1
        sources[s].bytesIn += document.text.utf8.count
        guard let signature = document.signature, document.normalisedLength >= minChars else {
            sources[s].tooShort += 1
            return
        }
        guard seenDigests.insert(document.digest).inserted else {
            sources[s].exactDuplicates += 1
            return
        }
        if nearDuplicates.duplicate(of: signature) != nil {
            sources[s].nearDuplicates += 1
            return
        }
        nearDuplicates.insert(signature)
        sources[s].documentsOut += 1
        sources[s].bytesOut += document.text.utf8.count
        kept.append(KeptDocument(text: document.text, digest: document.digest, sourceIndex: s))
    }
}
