import Kernels

/// DiLoCo's outer optimizer (local-steps mode, DESIGN §2): SGD on the mean
/// pseudo-gradient Δ, with Nesterov momentum μ when μ > 0, as
/// `torch.optim.SGD(lr=η, momentum=μ, nesterov=True)`:
///
///     b ← μ·b + Δ;   θ ← θ − η·(Δ + μ·b)        (μ = 0: θ ← θ − η·Δ)
///
/// η = 1, μ = 0 is plain model averaging (every unit's end point, averaged).
public final class OuterSGD: @unchecked Sendable {
    public let learningRate: Double
    public let momentum: Double
    /// The momentum buffer `b` in the parameter layout (zero when μ = 0).
    public let velocity: FloatBuffer
    public private(set) var step = 0

    public init(learningRate: Double, momentum: Double, count: Int) {
        self.learningRate = learningRate
        self.momentum = momentum
        velocity = FloatBuffer(count: count)
    }

    /// Restores a saved state (the step count; the buffer is restored by the caller).
    public func restore(step: Int) { self.step = step }

    /// Applies one outer step; returns the pseudo-gradient's L2 norm.
    @discardableResult
    public func update(parameters: FloatBuffer, pseudoGradient: FloatBuffer, backend: any Backend) -> Double {
        precondition(parameters.count == velocity.count && pseudoGradient.count == velocity.count, "buffer sizes differ")
        let norm = backend.sumOfSquares(pseudoGradient.pointer, count: pseudoGradient.count).squareRoot()
        let eta = Float(learningRate), mu = Float(momentum)
        let p = parameters.pointer, d = pseudoGradient.pointer, b = velocity.pointer
        if mu == 0 {
            for i in 0..<velocity.count { p[i] -= eta * d[i] }
        } else {
            for i in 0..<velocity.count {
                b[i] = mu * b[i] + d[i]
                p[i] -= eta * (d[i] + mu * b[i])
            }
        }
        step += 1
        return norm
    }
}
