import Foundation
import Kernels
import NeoModel

/// Training-step throughput of one model shape: forward + backward + AdamW in fp32.
public struct Benchmark: Sendable {
    public struct Preset: Sendable {
        public var name: String
        public var config: GPTNeoConfig
        public var batch: Int
        public var seqLen: Int
    }

    public static func preset(_ name: String) -> Preset? {
        guard let config = GPTNeoConfig.preset(name) else { return nil }
        return name == "char-small"
            ? Preset(name: name, config: config, batch: 12, seqLen: 64)
            : Preset(name: name, config: config, batch: 4, seqLen: 64)
    }

    public struct Result: Sendable, Codable {
        public var preset: String
        public var parameters: Int
        public var batch: Int
        public var seq_len: Int
        public var steps: Int
        public var seconds: Double
        public var tokens_per_second: Double
        public var gflops_per_second: Double
        public var peak_memory_bytes: Int
        public var expected_memory_bytes: Int
        public var final_loss: Double
        public var backend: String
    }

    public var preset: Preset
    /// Fixed number of timed steps, or nil to run until `minSeconds`.
    public var steps: Int?
    public var minSeconds: Double = 10
    public var warmupSteps = 1

    public init(preset: Preset, steps: Int? = nil, minSeconds: Double = 10) {
        self.preset = preset
        self.steps = steps
        self.minSeconds = minSeconds
    }

    /// Runs the benchmark; `progress` is told about each timed step.
    public func run(backend: any Backend, progress: (Int, Double) -> Void = { _, _ in }) throws -> Result {
        let model = try GPTNeo(config: preset.config, backend: backend)
        model.initializeParameters(seed: 1)
        let trainer = try Trainer(model: model,
                                  optimizer: AdamWConfig(schedule: .constant(1e-4), weightDecay: 0.1, maxGradNorm: nil),
                                  batch: preset.batch, seqLen: preset.seqLen)
        var rng = RandomSource(seed: 2)
        let n = preset.batch * preset.seqLen
        let tokens = (0..<n).map { _ in Int32(rng.next() % UInt64(preset.config.vocabSize)) }
        let targets = (0..<n).map { _ in Int32(rng.next() % UInt64(preset.config.vocabSize)) }
        for _ in 0..<warmupSteps { try trainer.step(tokens: tokens, targets: targets) }
        var done = 0
        var loss = 0.0
        let start = DispatchTime.now().uptimeNanoseconds
        var elapsed = 0.0
        while steps.map({ done < $0 }) ?? (done < 3 || elapsed < minSeconds) {
            loss = try trainer.step(tokens: tokens, targets: targets).loss
            done += 1
            elapsed = Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9
            progress(done, elapsed)
        }
        let flops = model.trainingFLOPs(batch: preset.batch, seqLen: preset.seqLen) * Double(done)
        return Result(preset: preset.name, parameters: model.layout.count, batch: preset.batch, seq_len: preset.seqLen,
                      steps: done, seconds: elapsed, tokens_per_second: Double(n * done) / elapsed,
                      gflops_per_second: flops / elapsed / 1e9, peak_memory_bytes: peakResidentBytes(),
                      expected_memory_bytes: trainer.trainingStateBytes, final_loss: loss, backend: backend.summary)
    }
}
