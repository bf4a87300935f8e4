import KoinonCore
import Testing

/// The norm check: plausible until enough history, then anything more than
/// the ratio times the recent median, or less than the median over the ratio
/// squared, is an outlier; off at ratio 0.
@Suite struct GradientNormMonitorTests {
    @Test func judgesAgainstTheRecentMedianOnceItHasEnoughHistory() {
        var monitor = GradientNormMonitor(maximumRatio: 10, minimumSamples: 3, window: 4)
        #expect(monitor.verdict(norm: 1e9) == .plausible)  // nothing known yet
        for n in [1.0, 2.0] { monitor.accepted(norm: n) }
        #expect(monitor.verdict(norm: 1e9) == .plausible)  // still fewer than 3
        monitor.accepted(norm: 3)
        #expect(monitor.median == 2)
        #expect(monitor.verdict(norm: 20) == .plausible)
        #expect(monitor.verdict(norm: 20.5) == .outlier(median: 2))
        #expect(monitor.verdict(norm: .nan) == .outlier(median: 2))
        #expect(monitor.verdict(norm: .infinity) == .outlier(median: 2))
        // Too small is as suspect as too large: a zeroed or scaled-down copy.
        #expect(monitor.verdict(norm: 0.02) == .plausible)  // down to the median over the ratio squared
        #expect(monitor.verdict(norm: 0.019) == .outlier(median: 2))
        #expect(monitor.verdict(norm: 0) == .outlier(median: 2))
        // The window keeps the last 4: [2, 3, 4, 5] → median 3.5.
        for n in [4.0, 5.0] { monitor.accepted(norm: n) }
        #expect(monitor.median == 3.5)
        #expect(monitor.verdict(norm: 35) == .plausible && monitor.verdict(norm: 36) == .outlier(median: 3.5))
    }

    @Test func offAtRatioZeroAndForAllZeroGradients() {
        var off = GradientNormMonitor(maximumRatio: 0, minimumSamples: 1)
        off.accepted(norm: 1)
        #expect(off.verdict(norm: 1e30) == .plausible)
        var zeros = GradientNormMonitor(minimumSamples: 1)
        zeros.accepted(norm: 0)
        zeros.accepted(norm: .nan)  // not recorded
        #expect(zeros.median == 0)
        #expect(zeros.verdict(norm: 5) == .plausible)  // no scale to judge against
    }

    @Test func anOutlierReproducedByAnotherWorkerStands() {
        var monitor = GradientNormMonitor(minimumSamples: 1)
        monitor.accepted(norm: 1)
        let unit = GradientNormMonitor.UnitKey(step: 7, unit: 2)
        #expect(monitor.verdict(norm: 50) == .outlier(median: 1))
        var answers: [Bool] = []
        answers.append(monitor.outlierConfirmed(unit: unit, worker: "a", norm: 50))
        answers.append(monitor.outlierConfirmed(unit: unit, worker: "a", norm: 50))  // the same worker again proves nothing
        answers.append(monitor.outlierConfirmed(unit: unit, worker: "b", norm: 60))  // another worker, another gradient
        answers.append(monitor.outlierConfirmed(unit: unit, worker: "c", norm: 60.03))  // reproduced (0.05%)
        answers.append(monitor.outlierConfirmed(unit: GradientNormMonitor.UnitKey(step: 7, unit: 3), worker: "d", norm: 60))
        #expect(answers == [false, false, false, true, false])
    }
}
