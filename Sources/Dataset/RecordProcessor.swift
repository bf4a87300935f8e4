/// A document ready for filtering: cleaned text, its identity and its sketch.
struct CandidateDocument: Sendable {
    var text: String
    var digest: DocumentDigest
    /// Unicode scalars in the normalised text: what `--min-chars` compares against.
    var normalisedLength: Int
    /// MinHash signature; nil for documents too short to keep (not needed).
    var signature: [UInt32]?
}

/// A raw record after the parallel stage: cleaned, parsed, hashed, sketched.
struct ProcessedRecord: Sendable {
    var lineNumber: Int
    /// Where the record's counts go: the document's source, or for a malformed
    /// line the input's default source.
    var source: String
    var cleaning: CleaningCounts
    var outcome: Result<[CandidateDocument], PileRecord.Malformation>
}

/// The per-record work that needs no shared state, so it runs on all cores:
/// cleaning, JSON parsing, paragraph splitting, normalising, SHA-256, MinHash.
struct RecordProcessor: Sendable {
    let input: InputSpec
    let textMode: TextDocumentMode
    let minChars: Int
    let minHasher: MinHasher

    func process(_ record: RawRecord) -> ProcessedRecord {
        var cleaning = record.cleanedWhileReading
        // A record of trailing separator lines only carries their cleaning counts.
        if record.bytes.isEmpty {
            return ProcessedRecord(
                lineNumber: record.lineNumber, source: input.defaultSource, cleaning: cleaning, outcome: .success([]))
        }
        switch input.format {
        case .jsonLines, .zstdJSONLines:
            // Inside a JSON line a raw `\r` is not text, so only bad bytes go here;
            // the decoded text is cleaned (NUL, line endings) afterwards.
            let (line, byteCounts) = TextCleaner.clean(record.bytes, normaliseLineEndings: false)
            cleaning += byteCounts
            switch PileRecord.parse(Array(line.utf8)) {
            case .failure(let malformation):
                return ProcessedRecord(
                    lineNumber: record.lineNumber, source: input.defaultSource, cleaning: cleaning,
                    outcome: .failure(malformation))
            case .success(let pile):
                let (text, textCounts) = TextCleaner.clean(pile.text)
                cleaning += textCounts
                return ProcessedRecord(
                    lineNumber: record.lineNumber, source: input.source(forPileSetName: pile.pileSetName),
                    cleaning: cleaning, outcome: .success([candidate(text)]))
            }
        case .text:
            let (text, byteCounts) = TextCleaner.clean(record.bytes)
            cleaning += byteCounts
            // Cleaning can reveal more blank lines (old Mac `\r` endings,
            // Unicode spaces), so paragraphs are split again on the clean text.
            let documents = textMode == .paragraphs ? ParagraphSplitter.paragraphs(of: text) : [text]
            return ProcessedRecord(
                lineNumber: record.lineNumber, source: input.defaultSource, cleaning: cleaning,
                outcome: .success(documents.map(candidate)))
        }
    }

    private func candidate(_ text: String) -> CandidateDocument {
        let normalised = NormalisedText(text)
        let length = normalised.scalarCount
        let keepable = length > 0 && length >= minChars
        return CandidateDocument(
            text: text, digest: DocumentDigest(normalised: normalised), normalisedLength: length,
            signature: keepable ? minHasher.signature(of: normalised) : nil)
    }
}
