/// The norm check on results (DESIGN §4, a structural check): a gradient
/// whose L2 norm is more than `maximumRatio` times the median of the recent
/// accepted gradients of the run is turned away (a scaled or garbage result).
/// Units are deterministic, so an honest gradient spike would be rejected
/// every time its unit comes back and the step could never complete: an
/// outlier that a second, different worker reproduces (norms within 0.1%) is
/// accepted. Pure: the caller feeds it the norms of the results it accepted.
public struct GradientNormMonitor: Sendable, Equatable {
    public enum Verdict: Sendable, Equatable {
        case plausible
        /// Too large against `median`, the median of the recent accepted norms.
        case outlier(median: Double)
    }

    /// A norm above this many times the median is an outlier; 0 turns the check off.
    public var maximumRatio: Double
    /// Judging starts once this many norms are known (the first results of a run pass).
    public var minimumSamples: Int
    /// How many recent accepted norms the median is taken over.
    public var window: Int
    private(set) var recent: [Double] = []
    /// Outliers seen, by (step, unit): who sent one and its norm.
    private(set) var outliers: [UnitKey: (worker: String, norm: Double)] = [:]

    public struct UnitKey: Hashable, Sendable {
        public var step: Int
        public var unit: Int
        public init(step: Int, unit: Int) {
            self.step = step
            self.unit = unit
        }
    }

    public static func == (a: Self, b: Self) -> Bool {
        a.maximumRatio == b.maximumRatio && a.minimumSamples == b.minimumSamples && a.window == b.window && a.recent == b.recent
            && a.outliers.keys == b.outliers.keys
    }

    public init(maximumRatio: Double = 10, minimumSamples: Int = 5, window: Int = 64) {
        self.maximumRatio = maximumRatio
        self.minimumSamples = max(1, minimumSamples)
        self.window = max(1, window)
    }

    public var median: Double? {
        guard !recent.isEmpty else { return nil }
        let sorted = recent.sorted(), mid = sorted.count / 2
        return sorted.count % 2 == 1 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2
    }

    public func verdict(norm: Double) -> Verdict {
        guard maximumRatio > 0, recent.count >= minimumSamples, let median, median > 0 else { return .plausible }
        // Both ways: a scaled-up copy, or a zeroed or scaled-down one (which would slow training
        // unseen). Downwards the bound is the ratio squared: honest norms shrink as a run learns,
        // and a strike for an honest worker costs more than a small result that slips by.
        return norm.isFinite && norm <= maximumRatio * median && norm >= median / (maximumRatio * maximumRatio)
            ? .plausible : .outlier(median: median)
    }

    /// Records an outlier for `unit` from `worker`; true when another worker
    /// already sent one for the unit with the same norm (to 0.1%): the spike
    /// is the unit's own, and the result stands.
    public mutating func outlierConfirmed(unit: UnitKey, worker: String, norm: Double) -> Bool {
        if let earlier = outliers[unit], earlier.worker != worker, norm.isFinite,
           abs(earlier.norm - norm) <= 1e-3 * max(abs(earlier.norm), abs(norm)) {
            outliers[unit] = nil
            return true
        }
        if outliers.count >= 1_000 { outliers.removeAll() }  // outliers are rare; old steps' are of no use
        outliers[unit] = (worker, norm)
        return false
    }

    /// Records the norm of an accepted result.
    public mutating func accepted(norm: Double) {
        guard norm.isFinite else { return }
        recent.append(norm)
        if recent.count > window { recent.removeFirst(recent.count - window) }
    }
}
