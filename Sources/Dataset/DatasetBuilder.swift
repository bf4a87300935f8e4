import Foundation
import Tokenizer

/// How long one stage of a build took (reported, never written into the dataset).
public struct StageTiming: Sendable, Equatable {
    public var stage: BuildStage
    public var seconds: Double
}

/// What a finished build produced.
public struct DatasetBuildResult: Sendable {
    public var directory: URL
    public var manifest: DatasetManifest
    public var datasheet: Datasheet
    public var timings: [StageTiming]
    /// Things the operator should know that did not stop the build.
    public var warnings: [String]
}

/// The `dataset build` pipeline: ingest → clean and filter → mixture →
/// tokenize → shards, manifest and datasheet. The same inputs and options give
/// byte-identical shards, manifest and datasheet, whatever the thread count.
public struct DatasetBuilder {
    public let options: DatasetBuildOptions

    public init(options: DatasetBuildOptions) throws {
        try options.validate()
        self.options = options
    }

    public func build(observer: BuildObserver = .silent) throws -> DatasetBuildResult {
        let threads = options.threads ?? defaultThreadCount()
        var timings: [StageTiming] = []
        var warnings: [String] = []
        let clock = ContinuousClock()
        func timed<T>(_ stage: BuildStage, _ body: () throws -> T) rethrows -> T {
            let start = clock.now
            defer { timings.append(StageTiming(stage: stage, seconds: (clock.now - start).seconds)) }
            return try body()
        }

        // Fail fast, before reading gigabytes: the output, the given tokenizer, the weights.
        try OutputDirectory.checkReplaceable(options.output.standardizedFileURL)
        let givenTokenizer = try loadGivenTokenizer()
        if let known = sourcesKnownBeforeReading() {
            try checkWeights(against: known)
        }

        let ingest = try timed(.reading) { try self.ingest(threads: threads, observer: observer) }
        var sources = ingest.filter.sources
        try checkWeights(against: sources.map(\.source))
        let mixtureDocuments = ingest.filter.kept.filter { options.weights.weight(of: sources[$0.sourceIndex].source) > 0 }
        guard !mixtureDocuments.isEmpty else { throw DatasetError.emptyResult(emptyDetail(ingest.filter)) }

        let (tokenizer, endOfText) = try timed(.trainingTokenizer) {
            try self.tokenizer(given: givenTokenizer, texts: mixtureDocuments.map(\.text), threads: threads, observer: observer)
        }
        let mixture = MixturePlan(
            documents: ingest.filter.kept, sourceNames: sources.map(\.source), weights: options.weights,
            validationFraction: options.validationFraction)
        guard !mixture.isEmpty else {
            throw DatasetError.emptyResult("the mixture weights drew no copy of any document")
        }
        let tokens = timed(.tokenizing) {
            tokenize(mixture.documents.map { ingest.filter.kept[$0].text }, tokenizer: tokenizer, threads: threads, observer: observer)
        }

        let output = try OutputDirectory.prepare(options.output)
        do {
            let written = try timed(.writingShards) {
                try writeDataset(
                    to: output.staging, ingest: ingest, mixture: mixture, tokens: tokens, tokenizer: tokenizer,
                    endOfText: endOfText, sources: &sources, warnings: &warnings, observer: observer)
            }
            try output.commit()
            return DatasetBuildResult(
                directory: output.destination, manifest: written.manifest, datasheet: written.datasheet,
                timings: timings, warnings: warnings)
        } catch {
            output.discard()
            throw error
        }
    }

    // MARK: - Tokenizer

    private func loadGivenTokenizer() throws -> BPETokenizer? {
        guard case .directory(let directory) = options.tokenizer else { return nil }
        let tokenizer: BPETokenizer
        do { tokenizer = try BPETokenizer(directory: directory) } catch {
            throw DatasetError.invalidArgument("--tokenizer \(directory.path): \(error)")
        }
        guard tokenizer.endOfTextID != nil else { throw DatasetError.tokenizerLacksEndOfText }
        return tokenizer
    }

    private func tokenizer(
        given: BPETokenizer?, texts: [String], threads: Int, observer: BuildObserver
    ) throws -> (BPETokenizer, Int32) {
        let tokenizer: BPETokenizer
        if let given {
            tokenizer = given
        } else {
            guard case .train(let vocabularySize) = options.tokenizer else { preconditionFailure("no tokenizer choice") }
            observer.progress(BuildProgress(stage: .trainingTokenizer, completed: 0, total: 1, unit: "vocabularies"))
            observer.log("training a \(vocabularySize)-token BPE vocabulary on \(texts.count) documents")
            do {
                tokenizer = try BPETrainer.train(texts: texts, vocabSize: vocabularySize, threads: threads)
            } catch {
                throw DatasetError.invalidArgument("--train-tokenizer \(vocabularySize): \(error)")
            }
            observer.progress(BuildProgress(stage: .trainingTokenizer, completed: 1, total: 1, unit: "vocabularies"))
        }
        guard let endOfText = tokenizer.endOfTextID else { throw DatasetError.tokenizerLacksEndOfText }
        return (tokenizer, endOfText)
    }

    /// `encodeBatch` (all cores) in slices, so progress can be shown.
    private func tokenize(_ texts: [String], tokenizer: BPETokenizer, threads: Int, observer: BuildObserver) -> [[Int32]] {
        let slice = 4096
        var tokens: [[Int32]] = []
        tokens.reserveCapacity(texts.count)
        observer.progress(BuildProgress(stage: .tokenizing, completed: 0, total: texts.count, unit: "documents"))
        for start in stride(from: 0, to: texts.count, by: slice) {
            let end = min(start + slice, texts.count)
            tokens.append(contentsOf: tokenizer.encodeBatch(Array(texts[start..<end]), threads: threads))
            observer.progress(BuildProgress(stage: .tokenizing, completed: end, total: texts.count, unit: "documents"))
        }
        return tokens
    }

    // MARK: - Weights

    /// Every source name, when no input can introduce new ones while being read
    /// (a JSON Lines input without `SOURCE=` can, through `pile_set_name`).
    private func sourcesKnownBeforeReading() -> [String]? {
        var names: [String] = []
        for input in options.inputs {
            if input.explicitSource == nil && input.format != .text { return nil }
            names.append(input.defaultSource)
        }
        return names
    }

    private func checkWeights(against sources: [String]) throws {
        let unknown = options.weights.unknownSources(among: sources)
        guard unknown.isEmpty else {
            throw DatasetError.unknownWeightSources(unknown: unknown, known: Array(Set(sources)).sorted())
        }
    }

    private func emptyDetail(_ filter: CorpusFilter) -> String {
        let t = SourceStatistics.total(of: filter.sources)
        if t.documentsOut > 0 {
            return "every source with documents left has weight 0 in --weights"
        }
        return "all \(t.documentsIn) documents read were dropped (too short: \(t.tooShort), exact duplicates: "
            + "\(t.exactDuplicates), near duplicates: \(t.nearDuplicates)); malformed lines: \(t.malformedLines)"
    }
}

extension Duration {
    var seconds: Double {
        let (s, attoseconds) = components
        return Double(s) + Double(attoseconds) * 1e-18
    }
}
