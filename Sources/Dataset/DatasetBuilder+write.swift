import Foundation
import Tokenizer

extension DatasetBuilder {
    /// Writes tokenizer, shards, manifest and datasheet into `directory` (the
    /// staging directory) and fills in the per-source token figures.
    func writeDataset(
        to directory: URL, ingest: IngestResult, mixture: MixturePlan, tokens: [[Int32]], tokenizer: BPETokenizer,
        endOfText: Int32, sources: inout [SourceStatistics], warnings: inout [String], observer: BuildObserver
    ) throws -> (manifest: DatasetManifest, datasheet: Datasheet) {
        let fm = FileManager.default
        let tokenizerDirectory = directory.appendingPathComponent("tokenizer")
        do {
            try tokenizer.save(to: tokenizerDirectory)
            try fm.createDirectory(at: directory.appendingPathComponent("shards"), withIntermediateDirectories: true)
        } catch {
            throw DatasetError.outputFailure(path: directory.path, reason: "\(error)")
        }
        let dtype = TokenDType.forVocabulary(size: tokenizer.vocabSize)
        let kept = ingest.filter.kept
        for index in sources.indices { sources[index].weight = options.weights.weight(of: sources[index].source) }

        // Every copy is its document's tokens followed by <|endoftext|>.
        let totalTokens = mixture.train.reduce(0) { $0 + tokens[$1].count + 1 }
            + mixture.validation.reduce(0) { $0 + tokens[$1].count + 1 }
        var written = 0
        var reported = 0
        observer.progress(BuildProgress(stage: .writingShards, completed: 0, total: totalTokens, unit: "tokens"))
        var entries: [ShardEntry] = []
        var splits = SplitTotals()
        for split in DatasetSplit.allCases {
            var writer = ShardWriter(directory: directory, split: split, dtype: dtype, shardTokens: options.shardTokens)
            let copies = mixture.copies(in: split)
            for document in copies {
                try writer.append(tokens[document])
                try writer.append([endOfText])
                let source = kept[mixture.documents[document]].sourceIndex
                let count = tokens[document].count + 1
                if split == .train {
                    sources[source].trainDocuments += 1
                    sources[source].trainTokens += count
                } else {
                    sources[source].validationDocuments += 1
                    sources[source].validationTokens += count
                }
                written += count
                reported += 1
                if reported % 256 == 0 || written == totalTokens {
                    observer.progress(BuildProgress(stage: .writingShards, completed: written, total: totalTokens, unit: "tokens"))
                }
            }
            try writer.finish()
            entries += writer.entries
            splits[split] = SplitSummary(shards: writer.entries.count, tokens: writer.totalTokens, documents: copies.count)
            let expectsDocuments = split == .train ? options.validationFraction < 1 : options.validationFraction > 0
            if copies.isEmpty && expectsDocuments {
                warnings.append(
                    "the \(split.rawValue) split is empty: \(mixture.documents.count) documents are too few for --val-fraction \(plain(options.validationFraction))")
            }
        }
        for index in sources.indices {
            sources[index].shareOfTokens = totalTokens > 0 ? Double(sources[index].tokens) / Double(totalTokens) : 0
        }

        let lsh = ingest.filter.lshParameters
        var trainedSize: Int?
        if case .train(let size) = options.tokenizer { trainedSize = size }
        let parameters = BuildParameters(
            inputs: ingest.inputs, textDocuments: options.textDocuments, minChars: options.minChars,
            nearDuplicateThreshold: options.nearDuplicateThreshold,
            minHashPermutations: DatasetBuildOptions.minHashPermutations, lshBands: lsh.bands, lshRows: lsh.rows,
            shingleWords: MinHasher.shingleWords, shingleCharacters: MinHasher.shingleCharacters,
            validationFraction: options.validationFraction, shardTokens: options.shardTokens,
            weights: options.weights.weights, strict: options.strict, trainedTokenizerVocabSize: trainedSize)
        let reference = TokenizerReference(
            sha256: tokenizer.sha256, vocabSize: tokenizer.vocabSize, endOfTextID: Int(endOfText),
            vocab: "tokenizer/\(BPETokenizer.vocabFile)", merges: "tokenizer/\(BPETokenizer.mergesFile)",
            origin: trainedSize == nil ? "given" : "trained")
        let manifest = DatasetManifest(
            dtype: dtype, shardTokens: options.shardTokens, tokenizer: reference, splits: splits, shards: entries,
            parameters: parameters)
        let datasheet = Datasheet(
            sources: sources, splits: splits, shards: entries.count, dtype: dtype, tokenizer: reference,
            parameters: parameters, malformedExamples: ingest.filter.malformedExamples)
        try write(try manifest.encoded(), to: directory.appendingPathComponent(DatasetManifest.fileName))
        try write(try datasheet.encoded(), to: directory.appendingPathComponent(Datasheet.jsonFileName))
        try write(Data(datasheet.markdown().utf8), to: directory.appendingPathComponent(Datasheet.markdownFileName))
        return (manifest, datasheet)
    }

    private func write(_ data: Data, to url: URL) throws {
        do { try data.write(to: url) } catch {
            throw DatasetError.outputFailure(path: url.path, reason: error.localizedDescription)
        }
    }
}
