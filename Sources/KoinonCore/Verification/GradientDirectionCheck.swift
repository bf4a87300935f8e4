/// The direction check on results (DESIGN §4, between the structural checks
/// and replication): the unit gradients of one step point, roughly, the same
/// way (they are gradients of one loss at one version, on different data). A
/// result that points against the sum of its step's earlier results (a sign
/// flip, a gradient ascent) is not rejected, since an honest unit can do that
/// now and then; it is *replicated*, whatever its worker's trust, and the
/// replica decides. So a trusted worker that starts lying by flipping signs
/// is caught at its first such lie that is not its step's first result, not
/// when its small replication probability happens to come up; an honest
/// unit that points away costs one extra copy and no strike.
///
/// Pure: the caller keeps one per run and hands it each training result of
/// the run as it comes. It holds the sum of the current step's plausible
/// results (a result judged suspicious stays out of it).
public struct GradientDirectionCheck: Sendable, Equatable {
    /// Honest units of the measured runs stay above this against their step's
    /// others (BENCHMARKS.md, "Direction of honest results").
    public static let defaultMinimumCosine = -0.1

    /// A result whose cosine with the step's sum so far is below this is replicated.
    public var minimumCosine: Double
    /// The step being summed (results of older steps are not judged).
    public private(set) var step = -1
    /// How many results `sum` holds.
    public private(set) var count = 0
    private var sum: [Float] = []

    public init(minimumCosine: Double = defaultMinimumCosine) {
        self.minimumCosine = minimumCosine
    }

    public enum Verdict: Sendable, Equatable {
        /// Points the way the step's other results do, or at least not against them.
        case plausible(cosine: Double)
        /// Points against them: replicate it.
        case suspicious(cosine: Double)
        /// Nothing to judge by: the step's first result (here), an older
        /// step's, a zero or non-finite gradient.
        case unknown
    }

    /// The verdict on a gradient of `step` with L2 norm `norm`; a result that
    /// is not suspicious joins the step's sum.
    public mutating func judge(step: Int, values: UnsafeBufferPointer<Float>, norm: Double) -> Verdict {
        if step > self.step {
            self.step = step
            count = 0
            sum = []
        }
        guard step == self.step, norm > 0, norm.isFinite, sum.isEmpty || sum.count == values.count else { return .unknown }
        var verdict = Verdict.unknown
        if count > 0 {
            let reference = sum.withUnsafeBufferPointer { ClippedMean.norm($0) }
            guard reference > 0, reference.isFinite else { return .unknown }
            let cosine = sum.withUnsafeBufferPointer { Self.dot($0, values) } / (reference * norm)
            verdict = cosine < minimumCosine ? .suspicious(cosine: cosine) : .plausible(cosine: cosine)
        }
        if case .suspicious = verdict { return verdict }
        if sum.isEmpty {
            sum = Array(values)
        } else {
            sum.withUnsafeMutableBufferPointer { s in for i in s.indices { s[i] += values[i] } }
        }
        count += 1
        return verdict
    }

    /// Σ aᵢbᵢ in Double, four lanes (as `ClippedMean.norm`).
    static func dot(_ a: UnsafeBufferPointer<Float>, _ b: UnsafeBufferPointer<Float>) -> Double {
        var s0 = 0.0, s1 = 0.0, s2 = 0.0, s3 = 0.0
        let n = min(a.count, b.count), body = n - n % 4
        var i = 0
        while i < body {
            s0 += Double(a[i]) * Double(b[i])
            s1 += Double(a[i + 1]) * Double(b[i + 1])
            s2 += Double(a[i + 2]) * Double(b[i + 2])
            s3 += Double(a[i + 3]) * Double(b[i + 3])
            i += 4
        }
        while i < n {
            s0 += Double(a[i]) * Double(b[i])
            i += 1
        }
        return (s0 + s1) + (s2 + s3)
    }
}
