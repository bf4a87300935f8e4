import KoinonCore
import Testing

/// The per-unit clipping rule of robust aggregation: a unit whose norm is
/// above `multiple` × the step's median unit norm is scaled to exactly that
/// norm; everything else is left alone; 0 turns it off.
@Suite struct ClippedMeanTests {
    @Test func medianOfOddAndEvenCounts() {
        #expect(ClippedMean.median([3, 1, 2]) == 2)
        #expect(ClippedMean.median([4, 1, 3, 2]) == 2.5)  // mean of the two middle values
        #expect(ClippedMean.median([5, 1]) == 3)
        #expect(ClippedMean.median([7]) == 7)
        #expect(ClippedMean.median([]) == 0)
        #expect(ClippedMean.median([2, 2, 9, 2]) == 2)  // ties
        #expect(ClippedMean.median([1, .nan, 3, .infinity]) == 2)  // only finite norms count
    }

    @Test func clipsOnlyAboveTheBoundToExactlyTheBound() {
        let plan = ClippedMean.plan(norms: [1, 2, 3, 100, 2.5], multiple: 4)
        #expect(plan.median == 2.5 && plan.bound == 10)
        #expect(plan.clippedUnits == 1)
        #expect(plan.scales == [nil, nil, nil, 0.1, nil])
        // At the bound exactly: not clipped (strictly above only).
        #expect(ClippedMean.plan(norms: [1, 2, 8], multiple: 4).isUnchanged)
        #expect(ClippedMean.plan(norms: [1, 2, 8.000001], multiple: 4).clippedUnits == 1)
    }

    @Test func evenCountsUseTheMeanOfTheMiddleTwo() {
        // Norms 1, 2, 4, 40: median 3, bound 12 at multiple 4.
        let plan = ClippedMean.plan(norms: [40, 1, 4, 2], multiple: 4)
        #expect(plan.median == 3 && plan.bound == 12)
        #expect(plan.scales == [0.3, nil, nil, nil])
        // Two units: the median is their mean, so neither can exceed 2× it.
        for pair in [[1.0, 1e6], [0.001, 5], [3, 3]] {
            #expect(ClippedMean.plan(norms: pair, multiple: 2).isUnchanged)
        }
        #expect(ClippedMean.plan(norms: [1, 3], multiple: 1).scales == [nil, 2.0 / 3.0])
    }

    @Test func tiesAreClippedAlike() {
        let plan = ClippedMean.plan(norms: [1, 50, 1, 50, 1], multiple: 2)
        #expect(plan.median == 1 && plan.scales == [nil, 0.04, nil, 0.04, nil])
        // A majority of equal large norms moves the median with it: nothing is clipped.
        #expect(ClippedMean.plan(norms: [1, 50, 50, 50, 1], multiple: 2).isUnchanged)
    }

    @Test func offForMultipleZeroZeroMedianAndNonFiniteNorms() {
        #expect(ClippedMean.plan(norms: [1, 2, 1e9], multiple: 0).isUnchanged)
        #expect(ClippedMean.plan(norms: [1, 2, 1e9], multiple: -1).isUnchanged)
        #expect(ClippedMean.plan(norms: [1, 2, 1e9], multiple: .infinity).isUnchanged)
        #expect(ClippedMean.plan(norms: [0, 0, 5], multiple: 4).isUnchanged)  // median 0: nothing to measure against
        #expect(ClippedMean.plan(norms: [0, 0, 0], multiple: 4).isUnchanged)
        #expect(ClippedMean.plan(norms: [], multiple: 4).scales.isEmpty)
        // A zero norm is never clipped; a non-finite one is not scaled (structural checks refuse it earlier).
        let plan = ClippedMean.plan(norms: [0, 1, 2, .infinity, 100], multiple: 4)
        #expect(plan.median == 1.5 && plan.scales == [nil, nil, nil, nil, 0.06])
    }

    @Test func dependsOnlyOnTheNormsNotTheirOrder() {
        let norms = [3.0, 0.5, 90, 2, 2, 7]
        let plan = ClippedMean.plan(norms: norms, multiple: 3)
        for shift in 1..<norms.count {
            let rotated = Array(norms[shift...] + norms[..<shift])
            let other = ClippedMean.plan(norms: rotated, multiple: 3)
            #expect(other.median == plan.median && other.bound == plan.bound)
            #expect(Array(other.scales[(norms.count - shift)...] + other.scales[..<(norms.count - shift)]) == plan.scales)
        }
    }

    @Test func normAndScale() {
        #expect(ClippedMean.norm([3, 4]) == 5)
        #expect(ClippedMean.norm([]) == 0)
        #expect(ClippedMean.norm([2, 3, 0, 0, 0, 0, 0, 0, 6]) == 7)  // the tail after the last group of four
        // Huge floats square without overflow (Double), and a tiny factor does not underflow in Float.
        var big: [Float] = [3e38, -2e38, 1e38]
        let n = ClippedMean.norm(big)
        #expect(abs(n / (14e76).squareRoot() - 1) < 1e-6)
        big.withUnsafeMutableBufferPointer { ClippedMean.scale($0, by: 2 / n) }
        #expect(abs(ClippedMean.norm(big) - 2) < 1e-6)
        // The same bits for the same values, whatever the buffer.
        let values = (0..<1001).map { Float(($0 * 7919) % 613) * 1e-3 - 0.3 }
        #expect(ClippedMean.norm(values) == ClippedMean.norm(Array(values)))
    }
}

/// `aggregation:` in run.yaml.
@Suite struct AggregationConfigTests {
    let yaml = """
    model:
      preset: char-small
    dataset: data
    batch:
      sequence_length: 64
      global_sequences: 12
      sequences_per_unit: 4
    steps: 10
    """

    func parse(_ extra: String) throws(RunConfigError) -> RunConfig { try RunConfig(yaml: yaml + "\n" + extra) }

    func field(_ extra: String) -> RunConfigError? {
        do { _ = try parse(extra); return nil } catch { return error }
    }

    @Test func onByDefaultAndConfigurable() throws {
        #expect(try parse("").aggregation.clipMultiple == 5)
        #expect(try parse("aggregation: {}").aggregation.clipMultiple == 5)
        #expect(RunConfig.Aggregation.defaultClipMultiple == 5)
        #expect(try parse("aggregation:\n  clip_multiple: 2.5").aggregation.clipMultiple == 2.5)
        #expect(try parse("aggregation: { clip_multiple: 0 }").aggregation.clipMultiple == 0)
        #expect(try parse("aggregation: { clip_multiple: null }").aggregation.clipMultiple == 0)  // null = off, as grad_clip
    }

    @Test func refusesNegativeNonFiniteAndBelowOne() {
        for bad in ["-1", ".nan", ".inf", "0.5", "many"] {
            let error = field("aggregation: { clip_multiple: \(bad) }")
            #expect(error?.field == "aggregation.clip_multiple", "clip_multiple \(bad): \(String(describing: error))")
        }
        #expect(field("aggregation: { clip_multiple: -1 }")?.message.contains("≥ 0") == true)
        #expect(field("aggregation: { clip_multiple: 1 }") == nil)
    }
}
