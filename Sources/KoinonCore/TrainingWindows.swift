import NeoModel

/// Which token windows a unit trains on: a pure function of (run seed, step,
/// unit), so any worker computes any unit and gets the same inputs, and the
/// local reference trainer sees exactly what the distributed run sees.
public struct TrainingWindows: Sendable, Equatable {
    public var seed: UInt64
    public var sequenceLength: Int
    public var sequencesPerUnit: Int
    /// Tokens in the split sampled from.
    public var totalTokens: Int

    public init(seed: UInt64, sequenceLength: Int, sequencesPerUnit: Int, totalTokens: Int) {
        self.seed = seed
        self.sequenceLength = sequenceLength
        self.sequencesPerUnit = sequencesPerUnit
        self.totalTokens = totalTokens
    }

    /// Each window is `sequenceLength + 1` tokens: inputs and the next-token targets.
    public var windowLength: Int { sequenceLength + 1 }

    /// Start offsets (in the split's token stream) of the windows of `unit` at `step`.
    public func offsets(step: Int, unit: Int) -> [Int] {
        precondition(totalTokens >= windowLength, "the split is shorter than one window")
        var rng = RandomSource(seed: Self.mix(seed, UInt64(step), UInt64(unit)))
        let choices = UInt64(totalTokens - windowLength + 1)
        return (0..<sequencesPerUnit).map { _ in Int(Self.uniform(&rng, below: choices)) }
    }

    /// Offsets for evaluation: `count` windows drawn once from a seed of their
    /// own, so every evaluation of a run measures the same text.
    public func evaluationOffsets(count: Int) -> [Int] {
        precondition(totalTokens >= windowLength, "the split is shorter than one window")
        var rng = RandomSource(seed: Self.mix(seed, 0x6576_616C, 0))  // "eval"
        let choices = UInt64(totalTokens - windowLength + 1)
        return (0..<count).map { _ in Int(Self.uniform(&rng, below: choices)) }
    }

    /// Unbiased uniform integer in 0..<n (rejection sampling).
    static func uniform(_ rng: inout RandomSource, below n: UInt64) -> UInt64 {
        let limit = UInt64.max - UInt64.max % n
        while true {
            let x = rng.next()
            if x < limit { return x % n }
        }
    }

    /// A stable (platform- and run-independent) mix of three words.
    static func mix(_ a: UInt64, _ b: UInt64, _ c: UInt64) -> UInt64 {
        var h: UInt64 = 0x9E37_79B9_7F4A_7C15
        for v in [a, b, c] {
            h ^= v &+ 0x9E37_79B9_7F4A_7C15 &+ (h << 6) &+ (h >> 2)
            h = (h ^ (h >> 31)) &* 0xBF58_476D_1CE4_E5B9
        }
        return h
    }
}
