import Foundation

/// How long a worker waits before trying the coordinator again after a
/// failure: exponential backoff, capped, with random jitter so that a crowd
/// of workers cut off together does not come back in lockstep.
///
/// The n-th consecutive failure (n ≥ 1) waits a random time in
/// `[ceiling × (1 − jitter), ceiling]`, where
/// `ceiling = min(maximumDelay, initialDelay × multiplier^(n−1))`.
/// `jitter` 1 is "full jitter" (anything from 0 to the ceiling), 0 none.
public struct RetryPolicy: Sendable, Hashable {
    public let initialDelay: TimeInterval
    public let multiplier: Double
    public let maximumDelay: TimeInterval
    public let jitter: Double

    /// Out-of-range settings are pulled into range rather than refused, so a
    /// retry loop can never be configured into spinning or stalling: delays
    /// become non-negative, `maximumDelay` at least `initialDelay`,
    /// `multiplier` at least 1 and `jitter` within 0...1.
    public init(initialDelay: TimeInterval = 0.5, multiplier: Double = 2,
                maximumDelay: TimeInterval = 60, jitter: Double = 0.5) {
        let initial = initialDelay.isFinite ? max(0, initialDelay) : 0
        self.initialDelay = initial
        self.multiplier = multiplier.isFinite ? max(1, multiplier) : 1
        self.maximumDelay = maximumDelay.isNaN ? initial : max(initial, min(maximumDelay, .greatestFiniteMagnitude))
        self.jitter = jitter.isNaN ? 0 : min(max(jitter, 0), 1)
    }

    /// The most the `failures`-th consecutive failure can wait (before jitter).
    public func ceiling(afterFailures failures: Int) -> TimeInterval {
        guard failures >= 1 else { return 0 }
        var delay = initialDelay
        var step = 1
        // Multiply step by step and stop at the cap: no overflow to infinity,
        // and no pow() rounding disagreements between platforms.
        while step < failures, delay < maximumDelay, delay > 0, multiplier > 1 {
            delay *= multiplier
            step += 1
        }
        return min(delay, maximumDelay)
    }
}

/// One retry loop's memory: how many failures in a row so far.
public struct RetryBackoff: Sendable, Hashable {
    public let policy: RetryPolicy
    public private(set) var consecutiveFailures = 0

    public init(policy: RetryPolicy = RetryPolicy()) { self.policy = policy }

    /// Records a failure and returns how long to wait before the next try.
    /// The random source is injected so tests (and simulations) are repeatable.
    public mutating func delayAfterFailure(using random: inout some RandomNumberGenerator) -> TimeInterval {
        if consecutiveFailures < Int.max { consecutiveFailures += 1 }
        let ceiling = policy.ceiling(afterFailures: consecutiveFailures)
        let fraction = Double.random(in: 0..<1, using: &random)
        return ceiling * (1 - policy.jitter * fraction)
    }

    /// A success ends the streak: the next failure starts again from `initialDelay`.
    public mutating func recordSuccess() { consecutiveFailures = 0 }
}
