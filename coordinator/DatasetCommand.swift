import ArgumentParser
import Dataset
import Foundation

struct DatasetCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "dataset",
        abstract: "Training datasets: text/JSONL(.zst) → cleaned, deduplicated, tokenized shards with a manifest.",
        subcommands: [Build.self, Inspect.self])

    struct Build: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Build a dataset: clean, deduplicate, mix, tokenize and shard the inputs.",
            discussion: """
                Inputs are .txt (documents split at blank lines), .jsonl or .jsonl.zst (Pile format: \
                {"text": ..., "meta": {"pile_set_name": ...}}). Writes OUT/shards/*.bin, OUT/manifest.json, \
                OUT/tokenizer/ and OUT/datasheet.{md,json}. See docs/dataset.md.
                """)

        @Option(
            name: .customLong("input"), parsing: .upToNextOption,
            help: "Input files, each PATH or SOURCE=PATH (SOURCE names its documents in the mixture and datasheet).")
        var inputs: [String]
        @Option(help: "Directory with vocab.json and merges.txt to encode with.") var tokenizer: String?
        @Option(help: "Instead of --tokenizer: train a BPE vocabulary of this many entries on the cleaned documents.")
        var trainTokenizer: Int?
        @Option(help: "Output directory (replaced only if empty or an earlier dataset build).") var out: String
        @Option(help: "Tokens per shard.") var shardTokens = DatasetBuildOptions.defaultShardTokens
        @Option(help: "Fraction of documents (by hash) in the validation split.")
        var valFraction = DatasetBuildOptions.defaultValidationFraction
        @Option(help: "Mixture weights, e.g. pile-cc=0.5,books=2 (copies per document; 0 drops a source; default 1).")
        var weights: String?
        @Option(help: "Drop documents with fewer characters than this after whitespace normalisation.")
        var minChars = DatasetBuildOptions.defaultMinChars
        @Option(help: "Estimated Jaccard similarity at which a later document counts as a near duplicate.")
        var nearDupThreshold = DatasetBuildOptions.defaultNearDuplicateThreshold
        @Option(help: "How .txt inputs become documents: paragraphs (split at blank lines) or file.")
        var txtDocuments = TextDocumentMode.paragraphs.rawValue
        @Flag(help: "Fail on the first malformed JSON line instead of counting and skipping it.") var strict = false
        @Option(help: "Threads (default: all cores).") var threads: Int?

        func validate() throws {
            guard (tokenizer == nil) != (trainTokenizer == nil) else {
                throw ValidationError("give exactly one of --tokenizer DIR and --train-tokenizer N")
            }
            guard TextDocumentMode(rawValue: txtDocuments) != nil else {
                throw ValidationError("--txt-documents must be paragraphs or file")
            }
        }

        func run() throws {
            try reportingErrors {
                var options = DatasetBuildOptions(
                    inputs: try inputs.map(InputSpec.init(argument:)), output: URL(fileURLWithPath: out),
                    tokenizer: tokenizer.map { .directory(URL(fileURLWithPath: $0)) } ?? .train(vocabularySize: trainTokenizer!))
                options.shardTokens = shardTokens
                options.validationFraction = valFraction
                if let weights { options.weights = try MixtureWeights(parsing: weights) }
                options.minChars = minChars
                options.nearDuplicateThreshold = nearDupThreshold
                options.textDocuments = TextDocumentMode(rawValue: txtDocuments)!
                options.strict = strict
                options.threads = threads

                let display = ProgressDisplay()
                let result = try DatasetBuilder(options: options).build(
                    observer: BuildObserver(progress: display.update, log: display.log))
                display.finish()

                let m = result.manifest
                let t = result.datasheet.totals
                print(
                    "wrote \(result.directory.path): \(m.shards.count) shards, train \(m.splits.train.tokens) tokens, "
                        + "validation \(m.splits.validation.tokens) tokens (\(m.dtype.rawValue))")
                print(
                    "documents: \(t.documentsIn) in, \(t.tooShort) too short, \(t.exactDuplicates) exact and "
                        + "\(t.nearDuplicates) near duplicates, \(t.malformedLines) malformed lines, \(t.documentsOut) out")
                print("tokenizer: \(m.tokenizer.vocabSize) tokens, sha256 \(m.tokenizer.sha256)")
                print("time: " + result.timings.map { "\($0.stage.rawValue) " + String(format: "%.2f s", $0.seconds) }.joined(separator: ", "))
                for warning in result.warnings { FileHandle.standardError.write(Data("warning: \(warning)\n".utf8)) }
            }
        }
    }

    struct Inspect: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Summarise a dataset and verify every shard (header and SHA-256); fails naming any corrupt shard.")

        @Argument(help: "Dataset directory (holding manifest.json).") var directory: String
        @Option(help: "Threads (default: all cores).") var threads: Int?

        func run() throws {
            try reportingErrors {
                let url = URL(fileURLWithPath: directory)
                let display = ProgressDisplay()
                let verification = try DatasetVerifier.verify(directory: url, threads: threads) { checked, total in
                    display.update(BuildProgress(stage: .verifying, completed: checked, total: total, unit: "shards"))
                }
                display.finish()
                print(DatasetSummary.render(manifest: verification.manifest, datasheet: verification.datasheet))
                print("")
                if verification.isValid {
                    print("verified \(verification.shardsChecked) shards: all sound")
                } else {
                    for problem in verification.problems { FileHandle.standardError.write(Data("error: \(problem)\n".utf8)) }
                    print("verified \(verification.shardsChecked) shards: \(verification.problems.count) problem(s)")
                    throw ExitCode.failure
                }
            }
        }
    }
}

/// Progress on stderr: a redrawn bar when stderr is a terminal, otherwise a
/// log line when a stage starts and at every tenth of it (fit for log files).
final class ProgressDisplay {
    private let isTerminal = isatty(STDERR_FILENO) != 0
    private var stage: BuildStage?
    private var stageStart = Date()
    private var lastDraw = Date.distantPast
    private var lastTenth = -1
    private var barShown = false

    func update(_ progress: BuildProgress) {
        if progress.stage != stage {
            if barShown { write("\n") }
            barShown = false
            stage = progress.stage
            stageStart = Date()
            lastTenth = -1
            if !isTerminal { write("\(progress.stage.rawValue)…\n") }
        }
        let fraction = progress.total > 0 ? min(1, Double(progress.completed) / Double(progress.total)) : 0
        if isTerminal {
            let now = Date()
            guard now.timeIntervalSince(lastDraw) >= 0.1 || progress.completed >= progress.total else { return }
            lastDraw = now
            let width = 30
            let filled = Int(fraction * Double(width))
            let bar = String(repeating: "#", count: filled) + String(repeating: "-", count: width - filled)
            write(
                "\r\(progress.stage.rawValue.padding(toLength: 18, withPad: " ", startingAt: 0)) [\(bar)] "
                    + String(format: "%5.1f%%", fraction * 100) + "  \(progress.completed)/\(progress.total) \(progress.unit)"
                    + String(format: "  %.1fs", now.timeIntervalSince(stageStart)) + "\u{1B}[K")
            barShown = true
        } else {
            let tenth = Int(fraction * 10)
            // The stage's first line already says it started; then every tenth.
            if lastTenth < 0 { lastTenth = tenth }
            if tenth > lastTenth && progress.total > 0 {
                lastTenth = tenth
                write("  \(progress.stage.rawValue): \(tenth * 10)% (\(progress.completed)/\(progress.total) \(progress.unit))\n")
            }
        }
    }

    func log(_ line: String) {
        if barShown { write("\n") }
        barShown = false
        write(line + "\n")
    }

    func finish() {
        if barShown { write("\n") }
        barShown = false
    }

    private func write(_ text: String) { FileHandle.standardError.write(Data(text.utf8)) }
}
