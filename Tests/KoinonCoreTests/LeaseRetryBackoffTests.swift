import Foundation
import KoinonCore
import NeoModel
import Testing

/// The worker's retry policy (exponential backoff with jitter).
@Suite struct LeaseRetryBackoffTests {
    @Test func ceilingsDoubleUpToTheCap() {
        let policy = RetryPolicy(initialDelay: 0.5, multiplier: 2, maximumDelay: 10, jitter: 0)
        #expect((0...8).map { policy.ceiling(afterFailures: $0) } == [0, 0.5, 1, 2, 4, 8, 10, 10, 10])
        #expect(policy.ceiling(afterFailures: .max) == 10)
        #expect(policy.ceiling(afterFailures: -1) == 0)
    }

    @Test func withoutJitterTheDelaysAreTheCeilings() {
        var backoff = RetryBackoff(policy: RetryPolicy(initialDelay: 1, multiplier: 3, maximumDelay: 20, jitter: 0))
        var random = RandomSource(seed: 1)
        let delays = (0..<5).map { _ in backoff.delayAfterFailure(using: &random) }
        #expect(delays == [1, 3, 9, 20, 20])
        #expect(backoff.consecutiveFailures == 5)
    }

    @Test(arguments: [0.25, 0.5, 1.0])
    func jitteredDelaysStayInTheirBand(jitter: Double) {
        let policy = RetryPolicy(initialDelay: 0.5, multiplier: 2, maximumDelay: 30, jitter: jitter)
        var random = RandomSource(seed: 42)
        for failures in 1...12 {
            var seen: Set<Double> = []
            for _ in 0..<200 {
                var backoff = RetryBackoff(policy: policy)
                var delay = 0.0
                for _ in 0..<failures { delay = backoff.delayAfterFailure(using: &random) }
                let ceiling = policy.ceiling(afterFailures: failures)
                #expect(delay <= ceiling && delay >= ceiling * (1 - jitter), "failure \(failures): \(delay)")
                seen.insert(delay)
            }
            #expect(seen.count > 100, "jitter spreads the delays")
        }
    }

    @Test func aSuccessResetsTheStreak() {
        var backoff = RetryBackoff(policy: RetryPolicy(initialDelay: 1, multiplier: 2, maximumDelay: 60, jitter: 0))
        var random = RandomSource(seed: 3)
        for _ in 0..<6 { _ = backoff.delayAfterFailure(using: &random) }
        #expect(backoff.delayAfterFailure(using: &random) == 60)
        backoff.recordSuccess()
        #expect(backoff.consecutiveFailures == 0)
        #expect(backoff.delayAfterFailure(using: &random) == 1)
    }

    @Test func theSameRandomSourceGivesTheSameDelays() {
        func run() -> [TimeInterval] {
            var backoff = RetryBackoff()
            var random = RandomSource(seed: 9)
            return (0..<10).map { _ in backoff.delayAfterFailure(using: &random) }
        }
        #expect(run() == run())
    }

    @Test func defaults() {
        let policy = RetryPolicy()
        #expect(policy.initialDelay == 0.5 && policy.multiplier == 2 && policy.maximumDelay == 60 && policy.jitter == 0.5)
    }

    @Test func settingsArePulledIntoRange() {
        let negative = RetryPolicy(initialDelay: -1, multiplier: 0.5, maximumDelay: -3, jitter: -2)
        #expect(negative == RetryPolicy(initialDelay: 0, multiplier: 1, maximumDelay: 0, jitter: 0))
        let inverted = RetryPolicy(initialDelay: 10, maximumDelay: 5, jitter: 7)
        #expect(inverted.maximumDelay == 10 && inverted.jitter == 1)
        let weird = RetryPolicy(initialDelay: .nan, multiplier: .infinity, maximumDelay: .nan, jitter: .nan)
        #expect(weird.initialDelay == 0 && weird.multiplier == 1 && weird.maximumDelay == 0 && weird.jitter == 0)
        // An unbounded cap still gives finite delays, however long the streak.
        let unbounded = RetryPolicy(initialDelay: 1, multiplier: 10, maximumDelay: .infinity, jitter: 0)
        #expect(unbounded.ceiling(afterFailures: 100_000).isFinite)
        #expect(unbounded.ceiling(afterFailures: 3) == 100)
        // A zero start never grows (and never loops forever trying).
        #expect(RetryPolicy(initialDelay: 0, maximumDelay: 10).ceiling(afterFailures: .max) == 0)
        #expect(RetryPolicy(initialDelay: 2, multiplier: 1, maximumDelay: 10).ceiling(afterFailures: .max) == 2)
    }
}
