import Foundation

/// Linear warmup to `maxRate`, then cosine decay to `minRate` at
/// `decaySteps`, then constant `minRate` (nanoGPT's schedule).
public struct LearningRateSchedule: Sendable, Equatable, Codable {
    public var maxRate: Double
    public var minRate: Double
    public var warmupSteps: Int
    public var decaySteps: Int

    public init(maxRate: Double, minRate: Double, warmupSteps: Int, decaySteps: Int) {
        self.maxRate = maxRate
        self.minRate = minRate
        self.warmupSteps = warmupSteps
        self.decaySteps = decaySteps
    }

    public static func constant(_ rate: Double) -> LearningRateSchedule {
        LearningRateSchedule(maxRate: rate, minRate: rate, warmupSteps: 0, decaySteps: 0)
    }

    /// Learning rate for 0-based optimizer step `step`.
    public func rate(at step: Int) -> Double {
        if step < warmupSteps { return maxRate * Double(step + 1) / Double(warmupSteps) }
        if step >= decaySteps { return minRate }
        let progress = Double(step - warmupSteps) / Double(decaySteps - warmupSteps)
        return minRate + 0.5 * (1 + cos(Double.pi * progress)) * (maxRate - minRate)
    }
}
