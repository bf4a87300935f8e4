import ArgumentParser
import Foundation
import Kernels
import NeoModel
import WorkerKit

struct BenchCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "bench", abstract: "Training-step throughput (forward + backward + AdamW, fp32).")

    @Option(help: "Model shape: \(GPTNeoConfig.presetNames.joined(separator: ", ")).") var preset = "char-small"
    @Option(help: "Timed steps (default: run for --min-seconds).") var steps: Int?
    @Option(help: "Run at least this long when --steps is not given.") var minSeconds: Double = 10
    @Flag(help: "Print the result as one JSON object on the last line.") var json = false
    @OptionGroup var compute: ComputeOptions

    func run() throws {
        let logger = makeLogger()
        try failing {
            guard let p = Benchmark.preset(preset) else {
                throw ModelInputError("unknown preset '\(preset)'; known: \(GPTNeoConfig.presetNames.joined(separator: ", "))")
            }
            let backend = compute.backend(logger: logger)
            print("bench \(p.name): batch \(p.batch) × \(p.seqLen) tokens, \(backend.summary)")
            let r = try Benchmark(preset: p, steps: steps, minSeconds: minSeconds).run(backend: backend) { step, t in
                logger.debug("step \(step) at \(t) s")
            }
            let mib = { (b: Int) in String(format: "%.1f MiB", Double(b) / 1_048_576) }
            print(String(format: "parameters      %.2fM", Double(r.parameters) / 1e6))
            print(String(format: "tokens/s        %.1f  (%d steps in %.2f s)", r.tokens_per_second, r.steps, r.seconds))
            print(String(format: "GFLOP/s         %.1f", r.gflops_per_second))
            print("peak memory     \(mib(r.peak_memory_bytes))")
            print("params+grads+moments+activations \(mib(r.expected_memory_bytes))"
                  + String(format: "  (peak is %.2f×)", Double(r.peak_memory_bytes) / Double(r.expected_memory_bytes)))
            if json {
                let encoder = JSONEncoder()
                encoder.outputFormatting = [.sortedKeys]
                print(String(decoding: try encoder.encode(r), as: UTF8.self))
            }
        }
    }
}
