import Dataset
import Foundation
import Kernels
import KoinonCore
import NeoModel
import Wire

/// The coordinator's copy of one run's model and optimizer: it applies a
/// step from the accepted unit gradients exactly as `train --local` does (clip
/// outlying units to a multiple of the step's median norm, sum in unit order,
/// divide by the unit count, clip, AdamW), so a distributed
/// run reproduces the local one whatever order results arrive in. In
/// local-steps mode the results are pseudo-gradients and the mean goes to the
/// outer SGD instead of AdamW, as `train --local` does too.
public final class RunEngine: @unchecked Sendable {
    public let runConfig: RunConfig
    public let model: GPTNeo
    /// Gradient-step mode's optimizer (nil in local-steps mode: its moments would be twice the model, unused).
    public let optimizer: AdamW?
    /// Local-steps mode: the outer optimizer the step's mean pseudo-gradient goes to.
    public let outer: OuterSGD?
    private let sum: FloatBuffer

    /// Version 0: GPT-Neo initialisation from the run's seed.
    public init(runConfig: RunConfig, modelConfig: GPTNeoConfig, backend: any Backend) throws {
        self.runConfig = runConfig
        model = try GPTNeo(config: modelConfig, backend: backend)
        model.initializeParameters(seed: runConfig.seed)
        let count = model.layout.count, layout = model.layout
        let outer = runConfig.localSteps.map {
            OuterSGD(learningRate: $0.outerLearningRate, momentum: $0.outerMomentum, count: count)
        }
        self.outer = outer
        optimizer = outer == nil ? AdamW(config: runConfig.adamW, layout: layout) : nil
        sum = FloatBuffer(count: count)
    }

    public var parameterCount: Int { model.layout.count }
    /// Optimizer steps applied so far = the parameter version.
    public var version: Int { outer?.step ?? adamW.step }

    /// Gradient-step mode's AdamW: `init` sets exactly one of `optimizer` and `outer`.
    private var adamW: AdamW { optimizer! }

    public struct StepOutcome: Sendable {
        public var gradientNorm: Double
        public var learningRate: Double
        /// Units whose gradient was scaled down to `aggregation.clip_multiple`
        /// × the step's median unit norm before the mean (`ClippedMean`); 0
        /// when nothing was clipped or the rule is off.
        public var clippedUnits: Int = 0
    }

    /// Applies one step from the unit gradients (TensorPayload bytes) in unit
    /// order: their mean, each unit first clipped to the run's
    /// `aggregation.clip_multiple` × the step's median unit norm (`ClippedMean`),
    /// then global-norm clipping and AdamW (in local-steps mode: the units'
    /// pseudo-gradients, and the outer SGD instead of clipping and AdamW).
    /// When no unit is clipped the sum is the plain one, bit for bit (one
    /// pass); otherwise the sum is redone with the clipped units scaled (the payloads are decoded again, so no second
    /// copy of every unit's gradient is ever held). `verifyingChecksums:
    /// false` for payloads fetched from the blob store by their SHA-256, which
    /// the store checked (see `TensorPayload.init(decoding:verifyingChecksum:)`).
    public func apply(unitGradients: [Data], verifyingChecksums: Bool = true) throws -> StepOutcome {
        guard !unitGradients.isEmpty else { throw EngineError("a step needs at least one unit gradient") }
        let be = model.backend, n = sum.count
        let multiple = runConfig.aggregation.clipMultiple
        var norms: [Double] = []
        be.zero(sum.pointer, count: n)
        for (unit, bytes) in unitGradients.enumerated() {
            let payload = try decode(unit: unit, bytes, verifying: verifyingChecksums)
            payload.values.withUnsafeBufferPointer { g in
                if multiple > 0 { norms.append(ClippedMean.norm(g)) }
                be.add(out: sum.pointer, sum.pointer, g.baseAddress!, count: n)
            }
        }
        let plan = ClippedMean.plan(norms: norms, multiple: multiple)
        if !plan.isUnchanged {
            be.zero(sum.pointer, count: n)
            for (unit, bytes) in unitGradients.enumerated() {
                var values = try decode(unit: unit, bytes, verifying: verifyingChecksums).values
                values.withUnsafeMutableBufferPointer { g in
                    if let factor = plan.scales[unit] { ClippedMean.scale(g, by: factor) }
                    be.add(out: sum.pointer, sum.pointer, g.baseAddress!, count: n)
                }
            }
        }
        be.scale(sum.pointer, by: 1 / Float(unitGradients.count), count: n)  // now the mean
        if let outer {
            // The learning rate shown for a local-steps step is its units' first inner one.
            let firstInner = outer.step * runConfig.innerStepsPerUnit
            let norm = outer.update(parameters: model.parameters, pseudoGradient: sum, backend: be)
            return StepOutcome(gradientNorm: norm, learningRate: runConfig.adamW.schedule.rate(at: firstInner),
                               clippedUnits: plan.clippedUnits)
        }
        let report = adamW.update(parameters: model.parameters, gradients: sum, backend: be)
        return StepOutcome(gradientNorm: report.gradientNorm, learningRate: report.learningRate,
                           clippedUnits: plan.clippedUnits)
    }

    private func decode(unit: Int, _ bytes: Data, verifying: Bool) throws -> TensorPayload {
        do { return try TensorPayload(decoding: bytes, expectedElementCount: sum.count, verifyingChecksum: verifying) } catch {
            throw EngineError("unit \(unit)'s gradient: \(error)")
        }
    }

    /// The current parameters as a TensorPayload (what workers download).
    /// (Encoded straight from the model's buffer: every worker waits for this at each step.)
    public func parametersPayload() -> Data { TensorPayload.encodedFloat32(UnsafeBufferPointer(model.parameters.buffer)) }

    /// AdamW's moments (m then v) as one TensorPayload, or in local-steps
    /// mode the outer momentum buffer; the step count is the version.
    public func optimizerPayload() -> Data {
        if let outer { return Data(TensorPayload(values: outer.velocity.array).encoded()) }
        return Data(TensorPayload(values: adamW.m.array + adamW.v.array).encoded())
    }

    /// Restores a saved version (parameters, and the moments when checkpointed).
    public func restore(version: Int, parameters: Data, optimizerState: Data?) throws {
        let n = parameterCount
        let p = try TensorPayload(decoding: parameters, expectedElementCount: n)
        _ = p.values.withUnsafeBufferPointer { model.parameters.buffer.update(fromContentsOf: $0) }
        if let outer {
            if let optimizerState {
                let b = try TensorPayload(decoding: optimizerState, expectedElementCount: n)
                _ = b.values.withUnsafeBufferPointer { outer.velocity.buffer.update(fromContentsOf: $0) }
            } else {
                outer.velocity.zero()
            }
            outer.restore(step: version)
            return
        }
        if let optimizerState {
            let mv = try TensorPayload(decoding: optimizerState, expectedElementCount: 2 * n)
            mv.values.withUnsafeBufferPointer { b in
                _ = adamW.m.buffer.update(fromContentsOf: UnsafeBufferPointer(rebasing: b[0..<n]))
                _ = adamW.v.buffer.update(fromContentsOf: UnsafeBufferPointer(rebasing: b[n...]))
            }
        } else {
            adamW.m.zero()
            adamW.v.zero()
        }
        adamW.restore(step: version)
    }
}

public struct EngineError: Error, CustomStringConvertible {
    public var message: String
    public init(_ message: String) { self.message = message }
    public var description: String { message }
}
