import Testing
@testable import KoinonCore

@Suite struct GradientDirectionCheckTests {
    func judge(_ check: inout GradientDirectionCheck, step: Int, _ values: [Float]) -> GradientDirectionCheck.Verdict {
        values.withUnsafeBufferPointer { check.judge(step: step, values: $0, norm: ClippedMean.norm($0)) }
    }

    @Test func aStepsFirstResultHasNothingToBeJudgedBy() {
        var check = GradientDirectionCheck()
        #expect(judge(&check, step: 0, [1, 0, 0]) == .unknown)
        #expect(check.count == 1)
    }

    @Test func aResultAlongTheStepIsPlausibleAndJoinsTheSum() {
        var check = GradientDirectionCheck()
        _ = judge(&check, step: 3, [1, 1, 0])
        #expect(judge(&check, step: 3, [1, 0, 0]) == .plausible(cosine: 1 / Double(2).squareRoot()))
        #expect(check.count == 2)
        // Orthogonal to the sum [2, 1, 0]: plausible (an honest unit may be unrelated), cosine 0.
        #expect(judge(&check, step: 3, [-1, 2, 5]) == .plausible(cosine: 0))
    }

    @Test func aSignFlipIsSuspiciousAndStaysOutOfTheSum() {
        var check = GradientDirectionCheck()
        let honest: [Float] = [0.5, -1, 2, 0.25]
        _ = judge(&check, step: 7, honest)
        let flipped = honest.map { -$0 }
        guard case .suspicious(let cosine) = judge(&check, step: 7, flipped) else {
            Issue.record("a sign flip passed")
            return
        }
        #expect(abs(cosine + 1) < 1e-12)
        #expect(check.count == 1, "the suspicious result did not join the sum")
        // So the next honest result is still judged against honest ones only.
        guard case .plausible(let again) = judge(&check, step: 7, honest) else {
            Issue.record("an honest result was judged against the flipped one")
            return
        }
        #expect(abs(again - 1) < 1e-12)
    }

    @Test func theBoundIsTheMinimumCosine() {
        var check = GradientDirectionCheck(minimumCosine: -0.5)
        _ = judge(&check, step: 0, [1, 0])
        // cos = -0.6: below −0.5; cos = −0.4: above.
        #expect(judge(&check, step: 0, [-0.6, 0.8]).sameKind == .suspicious(cosine: 0))
        #expect(judge(&check, step: 0, [-0.4, Float((1 - 0.16).squareRoot())]).isPlausible)
    }

    @Test func aNewStepStartsAFreshSumAndAnOlderStepIsNotJudged() {
        var check = GradientDirectionCheck()
        _ = judge(&check, step: 1, [1, 0])
        _ = judge(&check, step: 1, [1, 0.1])
        #expect(judge(&check, step: 2, [-1, 0]) == .unknown, "the first result of step 2")
        #expect(check.step == 2 && check.count == 1)
        #expect(judge(&check, step: 1, [1, 0]) == .unknown, "a late result of step 1")
        #expect(check.count == 1)
    }

    @Test func zeroNonFiniteAndMisSizedGradientsAreNotJudged() {
        var check = GradientDirectionCheck()
        _ = judge(&check, step: 0, [1, 2])
        #expect(judge(&check, step: 0, [0, 0]) == .unknown)
        #expect(judge(&check, step: 0, [.nan, 1]) == .unknown)
        #expect(judge(&check, step: 0, [1, 2, 3]) == .unknown)
        #expect(check.count == 1)
    }

    @Test func theDotProductMatchesAPlainSumInDouble() {
        let a = (0..<1_003).map { Float(($0 * 7919) % 97) / 13 - 3 }
        let b = (0..<1_003).map { Float(($0 * 104_729) % 89) / 11 - 4 }
        let plain = zip(a, b).reduce(0.0) { $0 + Double($1.0) * Double($1.1) }
        let fast = a.withUnsafeBufferPointer { x in b.withUnsafeBufferPointer { GradientDirectionCheck.dot(x, $0) } }
        #expect(abs(fast - plain) <= 1e-9 * abs(plain))
    }
}

extension GradientDirectionCheck.Verdict {
    /// The verdict's kind, with the cosine rounded away (for comparisons at a bound).
    var sameKind: Self {
        switch self {
        case .plausible: .plausible(cosine: 0)
        case .suspicious: .suspicious(cosine: 0)
        case .unknown: .unknown
        }
    }
    var isPlausible: Bool { if case .plausible = self { true } else { false } }
}
