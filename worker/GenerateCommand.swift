import ArgumentParser
import Foundation
import Kernels
import NeoModel
import Tokenizer

struct GenerateCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "generate", abstract: "Continue a prompt with a checkpoint; prints the text.")

    @Option(help: "Checkpoint directory (config.json, model.safetensors, and vocab.json + merges.txt).")
    var checkpoint: String
    @Option(help: "Tokenizer directory, if not the checkpoint's.") var tokenizer: String?
    @Option(help: "Text to continue.") var prompt: String
    @Option(help: "Tokens to generate.") var maxTokens = 200
    @Option(help: "Sampling temperature; 0 picks the most likely token.") var temperature = 0.8
    @Option(help: "Sample among the k most likely tokens only.") var topK: Int?
    @Option(help: "Random seed.") var seed: UInt64 = 0
    @OptionGroup var compute: ComputeOptions

    func run() throws {
        let logger = makeLogger()
        try failing {
            let model = try Checkpoint.load(from: URL(fileURLWithPath: checkpoint), backend: compute.backend(logger: logger))
            let tok = try BPETokenizer(directory: URL(fileURLWithPath: tokenizer ?? checkpoint))
            guard tok.vocabSize <= model.config.vocabSize else {
                throw ModelInputError("the tokenizer has \(tok.vocabSize) tokens but the model only \(model.config.vocabSize)")
            }
            FileHandle.standardOutput.write(Data(prompt.utf8))
            _ = try model.generate(prompt: tok.encode(prompt), maxTokens: maxTokens,
                                   options: SamplingOptions(temperature: temperature, topK: topK, seed: seed),
                                   stop: tok.endOfTextID) { id in
                // Raw bytes as they come: a character split across tokens completes on the next write.
                if let bytes = try? tok.decodeBytes([id]) { FileHandle.standardOutput.write(Data(bytes)) }
            }
            print()
        }
    }
}
