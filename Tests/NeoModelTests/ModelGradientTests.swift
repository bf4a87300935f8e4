import Foundation
import Kernels
import NeoModel
import Testing

/// Whole-model finite differences: d(loss)/d(parameter) for a sample of every
/// tensor, on a tiny model with both attention kinds and ignored targets.
@Suite struct ModelGradientTests {
    @Test func backwardMatchesFiniteDifferences() throws {
        let config = GPTNeoConfig(vocabSize: 13, maxPositions: 8, hidden: 8, heads: 2,
                                  attentionLayers: [.global, .local], windowSize: 2, intermediate: 12,
                                  initializerRange: 0.3)
        let model = try GPTNeo(config: config, backend: CPUBackend(threads: 2))
        model.initializeParameters(seed: 3)
        var rng = RandomSource(seed: 4)
        for t in model.layout.tensors where t.shape.count == 1 {  // non-trivial LayerNorm and biases
            for i in 0..<t.count { model.parameters[t.offset + i] += Float(rng.unit() - 0.5) * 0.4 }
        }
        let tokens: [Int32] = [1, 5, 7, 2, 12, 0, 3, 3, 9, 4, 4, 11]
        let targets: [Int32] = [5, 7, 2, 12, -100, 3, 3, 9, 4, -100, 11, 6]
        let trainer = try Trainer(model: model, optimizer: AdamWConfig(schedule: .constant(0)), batch: 2, seqLen: 6)
        _ = try trainer.computeGradients(tokens: tokens, targets: targets)
        let analytic = trainer.gradients.array

        let eval = Activations(config: config, batch: 2, seqLen: 6, training: false)
        func loss() throws -> Double {
            try model.setBatch(tokens: tokens, targets: targets, acts: eval)
            model.forward(eval)
            let (s, n) = model.crossEntropy(eval, backward: false)
            return s / Double(n)
        }
        let h: Float = 5e-3
        for t in model.layout.tensors {
            for k in 0..<min(t.count, 6) {
                let i = t.offset + (k * 7919) % t.count
                let saved = model.parameters[i]
                model.parameters[i] = saved + h
                let up = try loss()
                model.parameters[i] = saved - h
                let down = try loss()
                model.parameters[i] = saved
                let numeric = (up - down) / Double(2 * h)
                #expect(abs(numeric - Double(analytic[i])) <= 2e-3 * max(1, abs(numeric)),
                        "\(t.name)[\(i - t.offset)]: numeric \(numeric) vs analytic \(analytic[i])")
            }
        }
    }

    @Test func rejectsBadInput() throws {
        let config = GPTNeoConfig.preset("char-small")!
        let model = try GPTNeo(config: config, backend: CPUBackend(threads: 1))
        let acts = Activations(config: config, batch: 1, seqLen: 4, training: false)
        #expect(throws: ModelInputError.self) { try model.setBatch(tokens: [1, 2, 3], acts: acts) }
        #expect(throws: ModelInputError.self) { try model.setBatch(tokens: [1, 2, 3, 65], acts: acts) }
        #expect(throws: ModelInputError.self) { try model.setBatch(tokens: [1, 2, 3, -1], acts: acts) }
        #expect(throws: ModelInputError.self) { try model.evaluate(sequences: [Array(repeating: 0, count: 65)]) }
    }
}
