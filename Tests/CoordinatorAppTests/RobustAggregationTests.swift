import CoordinatorApp
import Foundation
import Kernels
import KoinonCore
import Testing
import Wire
import WorkerKit

/// Robust aggregation (DESIGN §4, the last fence): the coordinator's
/// `RunEngine` clips a unit whose gradient norm is above the run's
/// `aggregation.clip_multiple` × the step's median unit norm, exactly as
/// `train --local` does, and a ×100 result moves a step no further than the bound.
@Suite struct RobustAggregationTests {
    /// TinyRun's data and model (3 units a step), with `extra` appended to the YAML.
    static func config(steps: Int = 4, _ extra: String = "") throws -> RunConfig {
        try RunConfig(yaml: TinyRun.yaml(steps: steps) + "\n" + extra)
    }

    static func local(_ config: RunConfig) throws -> LocalRun {
        try LocalRun(config: config, runDirectory: TinyRun.directory, backend: CPUBackend(threads: 1))
    }

    static func engine(_ config: RunConfig, like local: LocalRun) throws -> RunEngine {
        try RunEngine(runConfig: config, modelConfig: local.model.config, backend: CPUBackend(threads: 1))
    }

    static func norm(_ a: [Float], minus b: [Float]) -> Double {
        ClippedMean.norm(zip(a, b).map { $0 - $1 })
    }

    /// The default multiple never clips TinyRun's honest units, so the
    /// distributed-equals-local and chaos tests compute the plain mean as before.
    @Test func defaultLeavesHonestUnitsAlone() throws {
        let run = try Self.local(Self.config(steps: 6))
        for step in 0..<6 { try run.runStep(step) }
        #expect(run.config.aggregation.clipMultiple == RunConfig.Aggregation.defaultClipMultiple)
        #expect(run.history.allSatisfy { $0.clippedUnits == 0 })
    }

    /// With clipping that bites every step (multiple 1: every unit above the
    /// median), the coordinator's engine and `train --local` still agree bit for bit.
    @Test func engineEqualsLocalRunWhileClipping() throws {
        let config = try Self.config(steps: 4, "aggregation:\n  clip_multiple: 1.0")
        let local = try Self.local(config)
        let engine = try Self.engine(config, like: local)
        #expect(engine.model.parameters.array == local.model.parameters.array)
        var clipped = 0
        for step in 0..<config.steps {
            // The units as workers compute them, at the version the step starts from.
            let payloads = try (0..<config.batch.unitsPerStep).map { try local.unitGradientPayload(step: step, unit: $0).payload }
            let outcome = try engine.apply(unitGradients: payloads)
            let record = try local.runStep(step)
            #expect(outcome.clippedUnits == record.clippedUnits)
            #expect(outcome.gradientNorm == record.gradientNorm)
            #expect(engine.model.parameters.array == local.model.parameters.array, "step \(step)")
            clipped += record.clippedUnits
        }
        #expect(clipped >= config.steps)  // at least one unit a step was clipped
        // And unclipped, the plain mean differs: the clipping really changed the update.
        let plain = try Self.local(Self.config(steps: 4, "aggregation:\n  clip_multiple: 0"))
        for step in 0..<config.steps { try plain.runStep(step) }
        #expect(plain.model.parameters.array != local.model.parameters.array)
    }

    /// One unit is an honest gradient ×100. With the default multiple (5) the
    /// step's mean moves from the clean step's by at most (bound + ‖g‖) / units,
    /// and the applied change is the clean one's plus exactly that; without
    /// clipping it moves ~33× the unit's norm. The optimizer is made linear
    /// (ε ≫ |g|, no weight decay, no global clip), so the parameter change is
    /// −(lr/ε) × the mean gradient and can be compared directly.
    @Test func aTimesHundredUnitStaysWithinTheBound() throws {
        let linear = """
            optimizer:
              learning_rate: 1.0e3
              min_learning_rate: 1.0e3
              warmup_steps: 0
              epsilon: 1.0e3
              weight_decay: 0
              grad_clip: 0
            """
        let yaml = TinyRun.yaml(steps: 4).replacingOccurrences(
            of: "optimizer:\n  learning_rate: 3.0e-3\n  warmup_steps: 1", with: linear)
        let clipping = try RunConfig(yaml: yaml)
        let plain = try RunConfig(yaml: yaml + "\naggregation: { clip_multiple: 0 }")
        let multiple = clipping.aggregation.clipMultiple
        #expect(multiple == RunConfig.Aggregation.defaultClipMultiple && clipping.optimizer.epsilon == 1e3)

        let local = try Self.local(clipping)
        let units = clipping.batch.unitsPerStep
        let honest = try (0..<units).map { try local.unitGradientPayload(step: 0, unit: $0) }
        let values = try honest.map { try TensorPayload(decoding: $0.payload).values }
        let norms = honest.map(\.norm)
        let bad = 1
        let attacked = honest.enumerated().map { u, h in
            u == bad ? Data(TensorPayload(values: values[u].map { $0 * 100 }).encoded()) : h.payload
        }
        let initial = local.model.parameters.array

        func change(_ config: RunConfig, _ payloads: [Data]) throws -> (delta: [Float], outcome: RunEngine.StepOutcome) {
            let engine = try Self.engine(config, like: local)
            let outcome = try engine.apply(unitGradients: payloads)
            return (zip(engine.model.parameters.array, initial).map { $0 - $1 }, outcome)
        }
        let clean = try change(clipping, honest.map(\.payload))
        let clipped = try change(clipping, attacked)
        let unclipped = try change(plain, attacked)
        #expect(clean.outcome.clippedUnits == 0 && unclipped.outcome.clippedUnits == 0)
        #expect(clipped.outcome.clippedUnits == 1)

        // The bound: multiple × the median of the step's norms (the ×100 unit is the largest).
        let bound = multiple * ClippedMean.median(norms.enumerated().map { $0 == bad ? 100 * $1 : $1 })
        #expect(bound < 100 * norms[bad])
        // Mean gradients (what the optimizer got; no global clip): clean ± (bound + ‖g‖) / units.
        let meanShift = (bound + norms[bad]) / Double(units)
        #expect(abs(clipped.outcome.gradientNorm - clean.outcome.gradientNorm) <= meanShift * 1.0001)
        #expect(unclipped.outcome.gradientNorm > 99 * norms[bad] / Double(units) - clean.outcome.gradientNorm)
        // Parameter changes: Δ = −(lr/ε) · mean (to the optimizer's nonlinearity |g|/ε, ≤ 1e-3 here).
        let k = clipping.optimizer.learningRate / clipping.optimizer.epsilon
        let cleanStep = ClippedMean.norm(clean.delta)
        #expect(abs(cleanStep - k * clean.outcome.gradientNorm) < 1e-2 * cleanStep)
        let moved = Self.norm(clipped.delta, minus: clean.delta)
        let movedUnclipped = Self.norm(unclipped.delta, minus: clean.delta)
        #expect(moved <= k * meanShift * 1.01, "clipped step moved \(moved); bound \(k * meanShift)")
        // (Exactly: the bad unit counts as its honest direction at norm `bound`, so the step moves (bound − ‖g‖) / units.)
        #expect(abs(moved - k * (bound - norms[bad]) / Double(units)) < 1e-3 * moved)
        #expect(movedUnclipped > 10 * moved, "unclipped \(movedUnclipped) vs clipped \(moved)")
        // Exactly the bound: the step equals one where the bad unit is its honest gradient scaled to norm `bound`.
        let rescaled = honest.enumerated().map { u, h in
            u == bad ? Data(TensorPayload(values: values[u].map { Float(Double($0) * bound / norms[bad]) }).encoded()) : h.payload
        }
        let expected = try change(plain, rescaled)
        #expect(Self.norm(clipped.delta, minus: expected.delta) <= 1e-4 * moved)
    }
}
