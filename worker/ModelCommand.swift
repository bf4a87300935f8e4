import ArgumentParser
import Foundation
import Kernels
import NeoModel
import WorkerKit

struct ModelCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "model", abstract: "Create and evaluate GPT-Neo checkpoints (Hugging Face format).",
        subcommands: [Init.self, Eval.self])

    struct Init: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Write a randomly initialised checkpoint.")

        @Option(help: "A Hugging Face GPT-Neo config.json.") var config: String?
        @Option(help: "A named shape: \(GPTNeoConfig.presetNames.joined(separator: ", ")).") var preset: String?
        @Option(help: "Output directory.") var out: String
        @Option(help: "Random seed.") var seed: UInt64 = 0
        @OptionGroup var compute: ComputeOptions

        func validate() throws {
            guard (config == nil) != (preset == nil) else { throw ValidationError("give exactly one of --config or --preset") }
        }

        func run() throws {
            let logger = makeLogger()
            try failing {
                let cfg: GPTNeoConfig
                if let preset {
                    guard let p = GPTNeoConfig.preset(preset) else {
                        throw ModelInputError("unknown preset '\(preset)'; known: \(GPTNeoConfig.presetNames.joined(separator: ", "))")
                    }
                    cfg = p
                } else {
                    cfg = try GPTNeoConfig(contentsOf: URL(fileURLWithPath: config!))
                }
                let model = try GPTNeo(config: cfg, backend: compute.backend(logger: logger))
                model.initializeParameters(seed: seed)
                try Checkpoint.save(model, to: URL(fileURLWithPath: out))
                print("wrote \(out) (\(model.layout.count) parameters, seed \(seed))")
            }
        }
    }

    struct Eval: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Mean next-token cross-entropy of a checkpoint on a token file; prints JSON.")

        @Option(help: "Checkpoint directory (config.json + model.safetensors).") var checkpoint: String
        @Option(help: "File with one sequence of token ids per line, separated by spaces.") var tokens: String
        @OptionGroup var compute: ComputeOptions

        func run() throws {
            let logger = makeLogger()
            try failing {
                let model = try Checkpoint.load(from: URL(fileURLWithPath: checkpoint), backend: compute.backend(logger: logger))
                let sequences = try TokenFile.read(URL(fileURLWithPath: tokens))
                let (sum, count) = try model.evaluate(sequences: sequences)
                guard count > 0 else { throw ModelInputError("\(tokens) has no sequence with two or more tokens") }
                let result: [String: Double] = ["loss": sum / Double(count), "tokens": Double(count),
                                                "sequences": Double(sequences.count)]
                let encoder = JSONEncoder()
                encoder.outputFormatting = [.sortedKeys]
                print(String(decoding: try encoder.encode(result.mapValues { JSONValue.number($0) }), as: UTF8.self))
            }
        }
    }
}
