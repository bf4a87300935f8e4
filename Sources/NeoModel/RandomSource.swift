import Foundation

/// Deterministic random numbers (xoshiro256**, seeded by SplitMix64), so
/// `model init --seed N` gives the same weights on every machine.
public struct RandomSource: RandomNumberGenerator, Sendable {
    private var s: (UInt64, UInt64, UInt64, UInt64)

    public init(seed: UInt64) {
        var x = seed
        func splitMix() -> UInt64 {
            x &+= 0x9E37_79B9_7F4A_7C15
            var z = x
            z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
            z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
            return z ^ (z >> 31)
        }
        s = (splitMix(), splitMix(), splitMix(), splitMix())
    }

    public mutating func next() -> UInt64 {
        let result = ((s.1 &* 5) << 7 | (s.1 &* 5) >> 57) &* 9
        let t = s.1 << 17
        s.2 ^= s.0
        s.3 ^= s.1
        s.1 ^= s.2
        s.0 ^= s.3
        s.2 ^= t
        s.3 = (s.3 << 45) | (s.3 >> 19)
        return result
    }

    /// Uniform in (0, 1], never 0 (safe for log).
    public mutating func unit() -> Double {
        Double((next() >> 11) + 1) * 0x1.0p-53
    }

    /// Fills `count` floats with normal(0, std) samples (Box–Muller).
    public mutating func fillNormal(_ out: UnsafeMutablePointer<Float>, count: Int, std: Double) {
        var i = 0
        while i < count {
            let r = (-2 * log(unit())).squareRoot() * std
            let a = 2 * Double.pi * unit()
            out[i] = Float(r * cos(a))
            if i + 1 < count { out[i + 1] = Float(r * sin(a)) }
            i += 2
        }
    }
}
