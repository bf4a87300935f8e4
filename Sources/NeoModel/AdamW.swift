import Kernels

/// AdamW settings (torch.optim.AdamW semantics, weight decay on 2-D weights only).
public struct AdamWConfig: Sendable, Equatable, Codable {
    public var schedule: LearningRateSchedule
    public var beta1: Double = 0.9
    public var beta2: Double = 0.95
    public var epsilon: Double = 1e-8
    public var weightDecay: Double = 0.1
    /// Global-norm gradient clipping threshold; nil = no clipping.
    public var maxGradNorm: Double? = 1.0

    public init(schedule: LearningRateSchedule, beta1: Double = 0.9, beta2: Double = 0.95, epsilon: Double = 1e-8,
                weightDecay: Double = 0.1, maxGradNorm: Double? = 1.0) {
        self.schedule = schedule
        self.beta1 = beta1
        self.beta2 = beta2
        self.epsilon = epsilon
        self.weightDecay = weightDecay
        self.maxGradNorm = maxGradNorm
    }
}

/// AdamW's state: first and second moments in the parameter layout, and the
/// number of steps taken.
public final class AdamW: @unchecked Sendable {
    public let config: AdamWConfig
    public let m: FloatBuffer
    public let v: FloatBuffer
    public private(set) var step = 0
    /// Schedule steps before this state's first update: 0 for a run's one
    /// optimizer; a local-steps unit's inner optimizer starts fresh (step 0,
    /// zero moments) at its outer step's place in the schedule (`restart`).
    public private(set) var scheduleOffset = 0
    private let segments: [DecaySegment]

    public init(config: AdamWConfig, layout: ParameterLayout) {
        self.config = config
        m = FloatBuffer(count: layout.count)
        v = FloatBuffer(count: layout.count)
        segments = layout.decaySegments(weightDecay: Float(config.weightDecay))
    }

    /// Restores a saved state (moments and step count).
    public func restore(step: Int) { self.step = step }

    /// A fresh state (zero moments, no steps taken) whose first update uses
    /// the schedule's rate at `scheduleStep`: the inner optimizer of a
    /// local-steps unit, which must not depend on what the worker computed before.
    public func restart(scheduleStep: Int) {
        m.zero()
        v.zero()
        step = 0
        scheduleOffset = scheduleStep
    }

    /// What one update did.
    public struct Report: Sendable {
        public var gradientNorm: Double
        public var learningRate: Double
        public var clipScale: Double
    }

    /// Clips the gradients by global norm (as torch's clip_grad_norm_) and
    /// applies one AdamW update to `parameters`.
    @discardableResult
    public func update(parameters: FloatBuffer, gradients: FloatBuffer, backend: any Backend) -> Report {
        let norm = backend.sumOfSquares(gradients.pointer, count: gradients.count).squareRoot()
        var clip = 1.0
        if let maxNorm = config.maxGradNorm { clip = min(1, maxNorm / (norm + 1e-6)) }
        let lr = config.schedule.rate(at: scheduleOffset + step)
        step += 1
        backend.adamW(parameters: parameters.pointer, gradients: gradients.pointer, m: m.pointer, v: v.pointer,
                      segments: segments,
                      step: AdamWStep(learningRate: Float(lr), beta1: Float(config.beta1), beta2: Float(config.beta2),
                                      epsilon: Float(config.epsilon), step: step, gradientScale: Float(clip)))
        return Report(gradientNorm: norm, learningRate: lr, clipScale: clip)
    }
}
