import Foundation
import Kernels
import NeoModel
import Testing

/// Local-steps mode's two optimizers (DiLoCo, DESIGN §2): a unit's inner loop
/// (`Trainer.localSteps`) and the coordinator's outer SGD (`OuterSGD`).
@Suite struct LocalStepsTests {
    static let config = GPTNeoConfig(vocabSize: 13, maxPositions: 8, hidden: 8, heads: 2,
                                     attentionLayers: [.global, .local], windowSize: 2, intermediate: 12,
                                     initializerRange: 0.3)
    static let batches: [(tokens: [Int32], targets: [Int32])] = [
        ([1, 5, 7, 2, 12, 0, 3, 3, 9, 4, 4, 11], [5, 7, 2, 12, 0, 3, 3, 9, 4, 4, 11, 6]),
        ([2, 2, 8, 1, 0, 6, 9, 10, 11, 12, 1, 3], [2, 8, 1, 0, 6, 9, 10, 11, 12, 1, 3, 5]),
        ([7, 6, 5, 4, 3, 2, 1, 0, 12, 11, 10, 9], [6, 5, 4, 3, 2, 1, 0, 12, 11, 10, 9, 8]),
    ]
    static let adamW = AdamWConfig(schedule: LearningRateSchedule(maxRate: 1e-2, minRate: 1e-3, warmupSteps: 2, decaySteps: 12),
                                   beta1: 0.9, beta2: 0.99)

    static func trainer() throws -> Trainer {
        let model = try GPTNeo(config: config, backend: CPUBackend(threads: 1))
        model.initializeParameters(seed: 3)
        return try Trainer(model: model, optimizer: adamW, batch: 2, seqLen: 6)
    }

    /// The inner loop is plain AdamW steps from a fresh state at the unit's
    /// place in the schedule: its pseudo-gradient is (start − what `Trainer.step`
    /// reaches), bit for bit, and it leaves the parameters at their start.
    @Test func innerLoopIsFreshAdamWFromTheSchedulesPlace() throws {
        let reference = try Self.trainer()
        let start = reference.model.parameters.array
        reference.optimizer.restart(scheduleStep: 6)
        var losses: [Double] = []
        for b in Self.batches { losses.append(try reference.step(tokens: b.tokens, targets: b.targets).loss) }
        let end = reference.model.parameters.array

        let unit = try Self.trainer()
        let inner = AdamW(config: Self.adamW, layout: unit.model.layout)
        // Whatever the inner optimizer did before (another unit) does not matter.
        _ = try unit.localSteps(2, batch: { Self.batches[2 - $0] }, inner: inner, firstScheduleStep: 0,
                                start: FloatBuffer(count: unit.model.layout.count))
        let scratch = FloatBuffer(count: unit.model.layout.count)
        let loss = try unit.localSteps(3, batch: { Self.batches[$0] }, inner: inner, firstScheduleStep: 6, start: scratch)
        #expect(unit.model.parameters.array == start)
        let expected = zip(start, end).map { $0 - $1 }
        #expect(unit.gradients.array == expected)
        #expect(abs(loss - losses.reduce(0, +) / 3) < 1e-12)
        #expect(inner.step == 3 && inner.scheduleOffset == 6)
        // The schedule's place matters: another start gives another result.
        _ = try unit.localSteps(3, batch: { Self.batches[$0] }, inner: inner, firstScheduleStep: 0, start: scratch)
        #expect(unit.gradients.array != expected)
    }

    /// A batch the model cannot take fails the unit and leaves the parameters as they were.
    @Test func aBadBatchLeavesTheParametersAlone() throws {
        let unit = try Self.trainer()
        let start = unit.model.parameters.array
        let inner = AdamW(config: Self.adamW, layout: unit.model.layout)
        let bad: [(tokens: [Int32], targets: [Int32])] = [Self.batches[0], ([1, 2, 3, 99, 4, 5, 6, 7, 8, 9, 10, 11], Self.batches[0].targets)]
        #expect(throws: (any Error).self) {
            _ = try unit.localSteps(2, batch: { bad[$0] }, inner: inner, firstScheduleStep: 0, start: FloatBuffer(count: start.count))
        }
        #expect(unit.model.parameters.array == start)
        #expect(throws: (any Error).self) {
            _ = try unit.localSteps(0, batch: { Self.batches[$0] }, inner: inner, firstScheduleStep: 0, start: FloatBuffer(count: start.count))
        }
    }

    /// torch.optim.SGD(lr=0.5, momentum=0.9, nesterov=True) on θ = [1, -2, 3]
    /// with gradients [0.2, 0.4, -1] then [0.1, 0, 0.5] (worked by hand:
    /// b₁ = g₁, θ₁ = θ₀ − 0.5·(g₁ + 0.9·b₁); b₂ = 0.9·b₁ + g₂, θ₂ = θ₁ − 0.5·(g₂ + 0.9·b₂)).
    @Test func outerSGDIsTorchsNesterovSGD() {
        let theta = FloatBuffer([1, -2, 3])
        let sgd = OuterSGD(learningRate: 0.5, momentum: 0.9, count: 3)
        let norm = sgd.update(parameters: theta, pseudoGradient: FloatBuffer([0.2, 0.4, -1]), backend: CPUBackend(threads: 1))
        #expect(abs(norm - (0.04 + 0.16 + 1.0).squareRoot()) < 1e-6)
        let after1: [Float] = [1 - 0.5 * 0.38, -2 - 0.5 * 0.76, 3 + 0.5 * 1.9]
        for (a, e) in zip(theta.array, after1) { #expect(abs(a - e) < 1e-6) }
        sgd.update(parameters: theta, pseudoGradient: FloatBuffer([0.1, 0, 0.5]), backend: CPUBackend(threads: 1))
        let b2: [Float] = [0.9 * 0.2 + 0.1, 0.9 * 0.4, 0.9 * -1 + 0.5]
        let after2 = zip(after1, zip([0.1, 0, 0.5] as [Float], b2)).map { $0 - 0.5 * ($1.0 + 0.9 * $1.1) }
        for (a, e) in zip(theta.array, after2) { #expect(abs(a - e) < 1e-6) }
        for (a, e) in zip(sgd.velocity.array, b2) { #expect(abs(a - e) < 1e-6) }
        #expect(sgd.step == 2)
    }

    /// Without momentum, learning rate 1: the parameters move by exactly the
    /// mean pseudo-gradient, i.e. to the average of the units' end points.
    @Test func outerSGDWithoutMomentumAveragesEndPoints() {
        let theta = FloatBuffer([1, -2, 3])
        let sgd = OuterSGD(learningRate: 1, momentum: 0, count: 3)
        sgd.update(parameters: theta, pseudoGradient: FloatBuffer([0.25, -0.5, 1]), backend: CPUBackend(threads: 1))
        #expect(theta.array == [0.75, -1.5, 2])
        #expect(sgd.velocity.array == [0, 0, 0])
    }
}

/// The CPU backend's reductions are cut by the shape, not the thread count,
/// so a unit's result is the same bits on 1, 2 or 3 threads: honest copies
/// computed by volunteers who chose different `--threads` agree exactly, even
/// after many local steps (where any difference grows exponentially).
@Suite struct ThreadCountIndependenceTests {
    // Large enough that every reduction is cut into several partial sums:
    // 512 rows of 64 channels (layer norm, cross-entropy), ~100k parameters (Σx²).
    static let config = GPTNeoConfig(vocabSize: 50, maxPositions: 128, hidden: 64, heads: 4,
                                     attentionLayers: [.global, .local], windowSize: 16, intermediate: 256,
                                     initializerRange: 0.05)

    static func result(threads: Int) throws -> (gradient: [Float], pseudoGradient: [Float], loss: Double, layout: ParameterLayout) {
        let model = try GPTNeo(config: config, backend: CPUBackend(threads: threads))
        model.initializeParameters(seed: 11)
        let trainer = try Trainer(model: model, optimizer: AdamWConfig(schedule: .constant(1e-2)), batch: 4, seqLen: 128)
        var rng = RandomSource(seed: 5)
        let batches: [(tokens: [Int32], targets: [Int32])] = (0..<2).map { _ in
            let t = (0..<512).map { _ in Int32(rng.unit() * 50) }
            return (t, Array(t.dropFirst()) + [1])
        }
        let loss = try trainer.computeGradients(tokens: batches[0].tokens, targets: batches[0].targets)
        let gradient = trainer.gradients.array
        _ = try trainer.localSteps(2, batch: { batches[$0] }, inner: trainer.optimizer, firstScheduleStep: 0,
                                   start: FloatBuffer(count: model.layout.count))
        return (gradient, trainer.gradients.array, loss, model.layout)
    }

    /// The tensors whose values differ (an empty list when none do).
    static func differing(_ a: [Float], _ b: [Float], _ layout: ParameterLayout) -> [String] {
        layout.tensors.filter { t in (t.offset..<t.offset + t.count).contains { a[$0] != b[$0] } }.map(\.name)
    }

    @Test func aUnitIsTheSameBitsOnAnyThreadCount() throws {
        #expect(Self.config.hidden * 512 >= 2 * 16_384)  // several layer-norm partials, not one
        let one = try Self.result(threads: 1)
        #expect(one.pseudoGradient.contains { $0 != 0 })
        for threads in [2, 3] {
            let other = try Self.result(threads: threads)
            #expect(other.loss == one.loss, "\(threads) threads: loss")
            #expect(Self.differing(other.gradient, one.gradient, one.layout) == [], "\(threads) threads: gradient")
            #expect(Self.differing(other.pseudoGradient, one.pseudoGradient, one.layout) == [],
                    "\(threads) threads: pseudo-gradient after 2 local steps")
        }
    }
}
