import Foundation
import Wire

/// The figures of a run's progress computed from its applied steps: pure,
/// so the arithmetic is tested without a database or a clock.
public enum RunProgress {
    /// Tokens per second over the last minute and ten minutes. A window is
    /// cut to the run's age, so a young run's pace is not diluted by time
    /// before it existed.
    public static func throughput(_ steps: [StatusRepository.StepRow], createdAt: Date, now: Date) -> Throughput {
        func rate(_ window: TimeInterval) -> Double {
            let span = min(window, now.timeIntervalSince(createdAt))
            guard span > 0 else { return 0 }
            let since = now.addingTimeInterval(-window)
            let tokens = steps.reversed().prefix { $0.appliedAt > since }.reduce(0) { $0 + $1.tokens }
            return Double(tokens) / span
        }
        return Throughput(lastMinute: rate(60), last10Minutes: rate(600))
    }

    /// Seconds to the last step at the pace of the steps applied in the last
    /// ten minutes; nil until two steps are in that window, and for runs that
    /// are not active.
    public static func eta(_ steps: [StatusRepository.StepRow], state: String, currentStep: Int, totalSteps: Int,
                           now: Date) -> Double? {
        guard state == "active", currentStep < totalSteps else { return nil }
        let since = now.addingTimeInterval(-600)
        let recent = steps.reversed().prefix { $0.appliedAt > since }
        guard recent.count >= 2, let newest = recent.first, let oldest = recent.last else { return nil }
        let perStep = newest.appliedAt.timeIntervalSince(oldest.appliedAt) / Double(recent.count - 1)
        // Time already spent on the step in progress counts towards it.
        let sinceLast = max(0, now.timeIntervalSince(newest.appliedAt))
        return max(0, Double(totalSteps - currentStep) * perStep - min(sinceLast, perStep))
    }

    /// At most `limit` points, evenly thinned, the newest always kept.
    public static func thinned(_ points: [LossPoint], limit: Int = 1000) -> [LossPoint] {
        guard points.count > limit, limit > 1 else { return points }
        let stride = (points.count + limit - 2) / (limit - 1)
        var out = Swift.stride(from: 0, to: points.count - 1, by: stride).map { points[$0] }
        out.append(points[points.count - 1])
        return out
    }

    /// The training and validation curves of the applied steps.
    public static func curves(_ steps: [StatusRepository.StepRow]) -> (train: [LossPoint], validation: [LossPoint]) {
        let train = steps.map { LossPoint(step: $0.step + 1, loss: $0.trainLoss) }
        let validation = steps.compactMap { s in s.validationLoss.map { LossPoint(step: s.step + 1, loss: $0) } }
        return (thinned(train), thinned(validation))
    }
}
