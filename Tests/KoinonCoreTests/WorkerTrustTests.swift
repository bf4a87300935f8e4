import Foundation
import KoinonCore
import Testing

/// The trust machine, state by state, with a manual clock.
@Suite struct WorkerTrustTests {
    let policy = TrustPolicy(probationResults: 3, minimumReplicationProbability: 0.1, strikesToQuarantine: 2,
                             quarantineSeconds: 100)
    let t0 = Date(timeIntervalSince1970: 1_000_000)

    @Test func aNewWorkerIsOnProbationAndEveryResultIsReplicated() {
        let trust = WorkerTrust()
        #expect(trust.state(at: t0, policy: policy) == .probation)
        #expect(trust.mayWork(at: t0, policy: policy))
        #expect(trust.replicationProbability(at: t0, policy: policy) == 1)
        #expect(trust.replicates(draw: 0.999, at: t0, policy: policy))
    }

    @Test func validResultsInARowEarnTrustAndTheReplicaChanceFallsToItsFloor() {
        var trust = WorkerTrust()
        for _ in 0..<2 { #expect(trust.apply(.verified, at: t0, policy: policy).isEmpty) }
        #expect(trust.state(at: t0, policy: policy) == .probation)
        #expect(trust.apply(.acceptedUnreplicated, at: t0, policy: policy).isEmpty)
        #expect(trust.state(at: t0, policy: policy) == .trusted)
        #expect(abs(trust.replicationProbability(at: t0, policy: policy) - 1.0 / 3) < 1e-12)
        #expect(trust.replicates(draw: 0.3, at: t0, policy: policy))
        #expect(!trust.replicates(draw: 0.4, at: t0, policy: policy))
        for _ in 0..<100 { _ = trust.apply(.verified, at: t0, policy: policy) }
        #expect(trust.replicationProbability(at: t0, policy: policy) == 0.1)
    }

    @Test func replicationOffNeverReplicates() {
        #expect(WorkerTrust().replicationProbability(at: t0, policy: .off) == 0)
        #expect(!WorkerTrust().replicates(draw: 0, at: t0, policy: .off))
    }

    @Test func aRejectionIsAStrikeAndSendsTheWorkerBackToProbation() {
        var trust = WorkerTrust(consecutiveValid: 50)
        #expect(trust.apply(.rejected, at: t0, policy: policy).isEmpty)
        #expect(trust.consecutiveValid == 0 && trust.strikes == 1)
        #expect(trust.state(at: t0, policy: policy) == .probation)
    }

    @Test func aWorkerFoundWrongLosesItsUnappliedResults() {
        var trust = WorkerTrust(consecutiveValid: 50)
        #expect(trust.apply(.foundWrong, at: t0, policy: policy) == [.dropUnappliedResults])
        #expect(trust.consecutiveValid == 0 && trust.strikes == 1)
    }

    @Test func repeatOffendersAreQuarantinedUntilTheQuarantineEnds() {
        var trust = WorkerTrust()
        _ = trust.apply(.rejected, at: t0, policy: policy)
        #expect(trust.apply(.foundWrong, at: t0, policy: policy) == [.dropUnappliedResults, .releaseLeases])
        #expect(trust.state(at: t0, policy: policy) == .quarantined)
        #expect(!trust.mayWork(at: t0.addingTimeInterval(99), policy: policy))
        #expect(trust.state(at: t0.addingTimeInterval(100), policy: policy) == .probation)
        #expect(trust.mayWork(at: t0.addingTimeInterval(100), policy: policy))
        // The count started over: the next quarantine takes two strikes again.
        #expect(trust.strikes == 0)
    }

    @Test func aBannedWorkerGetsNoWorkUntilUnbannedAndThenStartsOver() {
        var trust = WorkerTrust(consecutiveValid: 40, strikes: 1)
        #expect(trust.apply(.banned(reason: "sends noise"), at: t0, policy: policy) == [.dropUnappliedResults, .releaseLeases])
        #expect(trust.state(at: t0, policy: policy) == .banned)
        #expect(!trust.mayWork(at: t0.addingTimeInterval(1e9), policy: policy))
        #expect(trust.banReason == "sends noise")
        #expect(trust.apply(.unbanned, at: t0, policy: policy).isEmpty)
        #expect(trust == WorkerTrust())
        #expect(trust.state(at: t0, policy: policy) == .probation)
    }

    @Test func aBanWithoutAReasonStillSaysWhy() {
        var trust = WorkerTrust()
        _ = trust.apply(.banned(reason: ""), at: t0, policy: policy)
        #expect(trust.banReason == "banned by the operator")
    }
}

@Suite struct ReplicaDecisionTests {
    /// Copies given as values: two agree when equal.
    func decide(_ copies: [Int], maximum: Int = 5) -> ReplicaDecision {
        ReplicaDecision.decide(count: copies.count, maximumCopies: maximum) { copies[$0] == copies[$1] }
    }

    @Test func oneCopyNeedsAnother() { #expect(decide([1]) == .needAnotherCopy) }
    @Test func twoAgreeingCopiesSettleTheUnit() { #expect(decide([1, 1]) == .agreed(group: [0, 1], wrong: [])) }
    @Test func twoDisagreeingCopiesCallForAThird() { #expect(decide([1, 2]) == .needAnotherCopy) }
    @Test func theThirdCopyDecides() {
        #expect(decide([1, 2, 2]) == .agreed(group: [1, 2], wrong: [0]))
        #expect(decide([1, 2, 1]) == .agreed(group: [0, 2], wrong: [1]))
    }
    @Test func threeDifferentCopiesCallForAFourth() { #expect(decide([1, 2, 3]) == .needAnotherCopy) }
    @Test func aTieIsNoMajority() { #expect(decide([1, 2, 1, 2]) == .needAnotherCopy) }
    @Test func atTheMaximumNothingSettledIsUndecidable() {
        #expect(decide([1, 2, 3], maximum: 3) == .undecidable)
        #expect(decide([1], maximum: 1) == .undecidable)
    }
    @Test func aCopyCloseToTwoOthersJoinsThemAll() {
        // Agreement with a tolerance is not transitive: 0~2 and 1~2 but not 0~1.
        let d = ReplicaDecision.decide(count: 3, maximumCopies: 5) { i, j in i == j || i == 2 || j == 2 }
        #expect(d == .agreed(group: [0, 1, 2], wrong: []))
    }
}

@Suite struct GradientAgreementTests {
    @Test func identicalCopiesAgree() {
        let g: [Float] = [1, -2, 3]
        let a = GradientAgreement.measure(g, g, lossA: 2, lossB: 2)
        #expect(a.relativeL2Error == 0 && abs(a.cosine - 1) < 1e-12 && a.lossDifference == 0)
        #expect(a.agrees(within: ReplicaTolerance()))
    }

    @Test func tamperedCopiesDisagree() {
        let g: [Float] = [1, -2, 3, 0.5]
        let tolerance = ReplicaTolerance()
        #expect(!GradientAgreement.measure(g, g.map { -$0 }, lossA: 2, lossB: 2).agrees(within: tolerance))
        #expect(!GradientAgreement.measure(g, g.map { $0 * 100 }, lossA: 2, lossB: 2).agrees(within: tolerance))
        #expect(!GradientAgreement.measure(g, [0, 0, 0, 0], lossA: 2, lossB: 2).agrees(within: tolerance))
        #expect(!GradientAgreement.measure(g, g, lossA: 2, lossB: 2.5).agrees(within: tolerance))
        #expect(GradientAgreement.measure([0, 0], [0, 0], lossA: 1, lossB: 1).agrees(within: tolerance))
    }

    @Test func roundingSizedDifferencesAgree() {
        let g: [Float] = (0..<1000).map { Float($0 % 17) - 8 }
        let h = g.map { $0 * (1 + 1e-6) }
        #expect(GradientAgreement.measure(g, h, lossA: 2, lossB: 2 + 1e-6).agrees(within: ReplicaTolerance()))
    }
}
