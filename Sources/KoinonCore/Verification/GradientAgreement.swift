/// How far apart two copies of the same unit's gradient are (DESIGN §4,
/// replication). Honest copies differ only by float rounding in a different
/// summation order (thread counts, BLAS cores, machines); a wrong copy
/// differs by orders of magnitude more. Pure.
public struct GradientAgreement: Sendable, Equatable {
    /// ‖a − b‖ / max(‖a‖, ‖b‖) (0 when both are zero).
    public var relativeL2Error: Double
    /// a·b / (‖a‖‖b‖) (1 when both are zero, 0 when only one is).
    public var cosine: Double
    /// |loss(a) − loss(b)|.
    public var lossDifference: Double

    public init(relativeL2Error: Double, cosine: Double, lossDifference: Double) {
        self.relativeL2Error = relativeL2Error
        self.cosine = cosine
        self.lossDifference = lossDifference
    }

    /// Compares two gradients of the same length (in Double, so the measure
    /// itself adds no rounding worth speaking of).
    public static func measure(_ a: [Float], _ b: [Float], lossA: Double, lossB: Double) -> GradientAgreement {
        precondition(a.count == b.count, "copies of one unit have the same length")
        var aa = 0.0, bb = 0.0, ab = 0.0, dd = 0.0
        for i in a.indices {
            let x = Double(a[i]), y = Double(b[i])
            aa += x * x
            bb += y * y
            ab += x * y
            dd += (x - y) * (x - y)
        }
        let na = aa.squareRoot(), nb = bb.squareRoot()
        let scale = max(na, nb)
        let relative = scale == 0 ? 0 : dd.squareRoot() / scale
        let cosine = na == 0 && nb == 0 ? 1 : (na == 0 || nb == 0 ? 0 : ab / (na * nb))
        return GradientAgreement(relativeL2Error: relative, cosine: cosine, lossDifference: abs(lossA - lossB))
    }

    /// Whether the copies agree within `tolerance`.
    public func agrees(within tolerance: ReplicaTolerance) -> Bool {
        relativeL2Error <= tolerance.relativeL2Error && cosine >= tolerance.minimumCosine
            && lossDifference <= tolerance.lossDifference
    }
}

/// How close two honest copies of a unit must be. Measured
/// (`benchmarks/honest_disagreement.sh`; BENCHMARKS.md, "Honest disagreement
/// between replicas"): honest copies computed with 1, 2 or 16 threads, every
/// OpenBLAS core type from Prescott to Cooperlake, the generic/AVX2/AVX-512
/// kernels, on an AMD EPYC and an Intel Xeon, differ by at most 8.3e-7
/// relative L2 error on char-small (versions 0 to 300; it grows with
/// training) and 2.3e-6 on the gpt-neo-125M shape, cosine within 1e-11 of 1,
/// losses within 1e-7. The defaults leave a margin of ×400 to ×1,200 for
/// bigger models, later training and other backends, and are far below what
/// any tampering that matters produces: a sign flip is 2, a copy scaled by k
/// |k − 1| / max(k, 1) (×1.01: 0.0099), another unit's gradient 0.6 to 0.8,
/// the same unit at the previous version ~1. (A relative error ε implies
/// 1 − cosine ≤ ε²/2, so the cosine bound only binds where the L2 bound is
/// loosened; it stays as a scale-free second check.)
public struct ReplicaTolerance: Sendable, Equatable, Codable {
    public var relativeL2Error: Double
    public var minimumCosine: Double
    public var lossDifference: Double

    public init(relativeL2Error: Double = 1e-3, minimumCosine: Double = 0.9999, lossDifference: Double = 1e-3) {
        self.relativeL2Error = relativeL2Error
        self.minimumCosine = minimumCosine
        self.lossDifference = lossDifference
    }
}
