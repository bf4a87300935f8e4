/// Robust aggregation, the last fence (DESIGN §4): a step's update is the
/// mean of its unit gradients, but a unit whose L2 norm is more than
/// `multiple` times the median norm of the step's units is first scaled down
/// to exactly that norm. A bad result that got past verification then moves
/// the step's mean by at most `multiple × median / units` more than an honest
/// unit would (in norm); its direction still counts, its size no longer
/// dominates. Pure, shared by the coordinator (`RunEngine`) and
/// `train --local` (`LocalRun`), which must aggregate identically.
///
/// The rule, exactly:
/// - each unit's norm is `norm(_:)`: Σ x² in Double, in a fixed order, so it
///   has the same bits on every machine and thread count;
/// - the median of the step's finite norms (sorted): the middle one for an
///   odd count, the mean of the two middle ones (`(a + b) / 2`) for an even
///   count (so with 2 units it is their mean, and no unit can exceed 2×);
/// - bound = `multiple × median`; a unit with norm > bound (strictly) gets the
///   factor `bound / norm`, applied element-wise in Double and rounded once
///   to Float (`scale(_:by:)`); every other unit is added untouched, so when
///   nothing is clipped the sum is bit for bit the plain mean's;
/// - off (plain mean) when `multiple` is 0 (or not a positive finite number),
///   when the median is 0 (nothing to measure against), and for a unit with a
///   non-finite norm (the structural checks refuse those before aggregation).
/// It depends only on the multiset of norms and each unit's own norm, never
/// on arrival order.
public enum ClippedMean {
    /// What to do with each unit of a step.
    public struct Plan: Sendable, Equatable {
        /// The median of the step's finite unit norms (0 when there are none).
        public var median: Double
        /// `multiple × median`, or nil when the rule is off for this step.
        public var bound: Double?
        /// Per unit, in unit order: nil = added unchanged; else the factor
        /// (`bound / norm`, in (0, 1)) its gradient is multiplied by.
        public var scales: [Double?]

        /// How many units are scaled down.
        public var clippedUnits: Int { scales.count { $0 != nil } }
        /// True when no unit is touched: the plain mean.
        public var isUnchanged: Bool { clippedUnits == 0 }
    }

    /// The plan for a step whose units have these norms (in unit order).
    public static func plan(norms: [Double], multiple: Double) -> Plan {
        let m = median(norms)
        let unchanged = Plan(median: m, bound: nil, scales: Array(repeating: nil, count: norms.count))
        guard multiple > 0, multiple.isFinite, m > 0 else { return unchanged }
        let bound = multiple * m
        guard bound.isFinite else { return unchanged }
        let scales = norms.map { n -> Double? in n.isFinite && n > bound ? bound / n : nil }
        return Plan(median: m, bound: bound, scales: scales)
    }

    /// The median of the finite values: the middle one of an odd count, the
    /// mean of the two middle ones of an even count; 0 when there are none.
    public static func median(_ values: [Double]) -> Double {
        let sorted = values.filter(\.isFinite).sorted()
        guard !sorted.isEmpty else { return 0 }
        let mid = sorted.count / 2
        return sorted.count % 2 == 1 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2
    }

    /// The L2 norm of a gradient: Σ x² accumulated in Double over four
    /// interleaved partial sums in a fixed order (element i goes to sum i mod 4;
    /// they are combined as (s0 + s1) + (s2 + s3)). No thread split, no
    /// reassociation: the same bits on every machine.
    public static func norm(_ values: UnsafeBufferPointer<Float>) -> Double {
        var s0 = 0.0, s1 = 0.0, s2 = 0.0, s3 = 0.0
        let n = values.count, body = n - n % 4
        var i = 0
        while i < body {
            let a = Double(values[i]), b = Double(values[i + 1]), c = Double(values[i + 2]), d = Double(values[i + 3])
            s0 += a * a
            s1 += b * b
            s2 += c * c
            s3 += d * d
            i += 4
        }
        while i < n {
            let a = Double(values[i])
            s0 += a * a
            i += 1
        }
        return ((s0 + s1) + (s2 + s3)).squareRoot()
    }

    public static func norm(_ values: [Float]) -> Double {
        values.withUnsafeBufferPointer { norm($0) }
    }

    /// Multiplies every element by `factor` in Double and rounds once to Float
    /// (a Float factor could underflow for a huge gradient; this keeps the
    /// scaled norm at the bound to float precision).
    public static func scale(_ values: UnsafeMutableBufferPointer<Float>, by factor: Double) {
        for i in values.indices { values[i] = Float(Double(values[i]) * factor) }
    }
}
