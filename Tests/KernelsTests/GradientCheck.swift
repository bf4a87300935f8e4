import Kernels

/// Deterministic test data.
struct TestRandom {
    var state: UInt64
    init(_ seed: UInt64) { state = seed &+ 0x9E37_79B9_7F4A_7C15 }
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
    /// Uniform in [-scale, scale).
    mutating func float(_ scale: Float = 1) -> Float {
        (Float(next() >> 40) / Float(1 << 24) * 2 - 1) * scale
    }
    mutating func buffer(_ n: Int, scale: Float = 1) -> FloatBuffer {
        let b = FloatBuffer(count: n)
        for i in 0..<n { b[i] = float(scale) }
        return b
    }
}

/// Central finite difference of `loss` with respect to every element of `x`,
/// compared with `analytic`. Returns the worst |numeric − analytic| relative
/// to max(1, |analytic|) — so small gradients are judged absolutely.
func worstGradientError(of x: FloatBuffer, analytic: FloatBuffer, step: Float = 1e-2, loss: () -> Double) -> Double {
    var worst = 0.0
    for i in 0..<x.count {
        let saved = x[i]
        x[i] = saved + step
        let up = loss()
        x[i] = saved - step
        let down = loss()
        x[i] = saved
        let numeric = (up - down) / Double(2 * step)
        let err = abs(numeric - Double(analytic[i])) / max(1, abs(Double(analytic[i])))
        worst = max(worst, err)
    }
    return worst
}

/// Σ out·weights in double: a scalar loss whose gradient wrt `out` is `weights`.
func dot(_ a: FloatBuffer, _ b: FloatBuffer) -> Double {
    var s = 0.0
    for i in 0..<a.count { s += Double(a[i]) * Double(b[i]) }
    return s
}
