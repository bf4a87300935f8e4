import CoordinatorApp
import Foundation
import Testing
import Wire

/// The status figures computed without a database: throughput, ETA, curve
/// thinning, per-worker rates and the terminal tables.
@Suite struct StatusFiguresTests {
    let t0 = Date(timeIntervalSince1970: 1_800_000_000)

    /// Steps applied every `every` seconds from `t0 + every`, `tokens` each.
    func steps(_ count: Int, every: TimeInterval, tokens: Int = 768) -> [StatusRepository.StepRow] {
        (0..<count).map { (i: Int) -> StatusRepository.StepRow in
            let validation: Double? = i % 10 == 9 ? 3.5 : nil
            let at = t0.addingTimeInterval(Double(i + 1) * every)
            return StatusRepository.StepRow(step: i, trainLoss: 4 - Double(i) / 100, validationLoss: validation, tokens: tokens,
                                            appliedAt: at)
        }
    }

    @Test func throughputCountsTheWindowAndIsCutToTheRunsAge() {
        let s = steps(100, every: 2)  // 100 steps in 200 s
        let now = t0.addingTimeInterval(200)
        let rate = RunProgress.throughput(s, createdAt: t0, now: now)
        // Last minute: steps applied after t0+140 → 30 steps (t0+142 … t0+200).
        #expect(rate.lastMinute == Double(30 * 768) / 60)
        // Ten minutes reach back before the run: divided by its 200 s of life, not 600.
        #expect(rate.last10Minutes == Double(100 * 768) / 200)
        #expect(RunProgress.throughput([], createdAt: t0, now: t0).lastMinute == 0)
    }

    @Test func etaFollowsTheRecentPace() throws {
        let s = steps(100, every: 2)
        let now = t0.addingTimeInterval(200)  // step 100 just applied
        let eta = try #require(RunProgress.eta(s, state: "active", currentStep: 100, totalSteps: 400, now: now))
        #expect(abs(eta - 600) < 1e-9)  // 300 steps × 2 s
        // Half a step into the next one: a second less.
        let later = try #require(RunProgress.eta(s, state: "active", currentStep: 100, totalSteps: 400, now: now.addingTimeInterval(1)))
        #expect(abs(later - 599) < 1e-9)
        #expect(RunProgress.eta(s, state: "paused", currentStep: 100, totalSteps: 400, now: now) == nil)
        #expect(RunProgress.eta(s, state: "finished", currentStep: 400, totalSteps: 400, now: now) == nil)
        #expect(RunProgress.eta(Array(s.prefix(1)), state: "active", currentStep: 1, totalSteps: 400, now: now) == nil)
        // Nothing in the last ten minutes: no pace, no ETA.
        #expect(RunProgress.eta(s, state: "active", currentStep: 100, totalSteps: 400, now: now.addingTimeInterval(3600)) == nil)
    }

    @Test func curvesNumberPointsByAppliedStepsAndThinLongRuns() {
        let (train, validation) = RunProgress.curves(steps(30, every: 1))
        #expect(train.map(\.step) == Array(1...30))
        #expect(validation.map(\.step) == [10, 20, 30])
        let long = (1...2500).map { LossPoint(step: $0, loss: 1) }
        let thinned = RunProgress.thinned(long)
        #expect(thinned.count <= 1000 && thinned.count > 500)
        #expect(thinned.first?.step == 1 && thinned.last?.step == 2500)
        #expect(zip(thinned, thinned.dropFirst()).allSatisfy { $0.step < $1.step })
        #expect(RunProgress.thinned(Array(long.prefix(1000))).count == 1000)
    }

    @Test func workerActivityForgetsOldMinutes() {
        let activity = WorkerActivity()
        let a = UUID(), b = UUID()
        activity.record(worker: a, tokens: 600, at: t0)
        activity.record(worker: a, tokens: 1200, at: t0.addingTimeInterval(300))
        activity.record(worker: b, tokens: 60, at: t0.addingTimeInterval(300))
        let soon = activity.tokensPerSecond(now: t0.addingTimeInterval(301))
        #expect(soon[a] == 1800.0 / 600)
        #expect(soon[b] == 60.0 / 600)
        // Eleven minutes on, the first bucket is out of the window.
        #expect(activity.tokensPerSecond(now: t0.addingTimeInterval(660))[a] == 1200.0 / 600)
        #expect(activity.tokensPerSecond(now: t0.addingTimeInterval(3600)).isEmpty)
    }

    @Test func terminalTablesShowTheStatusFigures() {
        let worker = WorkerStatus(workerID: UUID(), name: "alice", backend: "cpu", lastSeen: t0.addingTimeInterval(-12),
                                  online: true, acceptedUnits: 1234, rejectedResults: 2, consecutiveValid: 40,
                                  tokensPerSecond: 512, creditFLOPs: 1.5e12)
        let run = RunStatus(runID: 1, name: "char-small", state: .active, step: 120, parameterVersion: 120, totalSteps: 2000,
                            createdAt: t0, tokensTrained: 92_160, tokensPerSecond: Throughput(lastMinute: 700, last10Minutes: 650),
                            etaSeconds: 185, lossHistory: [LossPoint(step: 120, loss: 2.4)],
                            validationHistory: [LossPoint(step: 100, loss: 2.5)],
                            units: UnitCounts(pending: 1, leased: 2, submitted: 0, accepted: 5), evaluationUnitsOutstanding: 3,
                            verification: VerificationStatus(acceptedResults: 240, supersededResults: 2, rejectedResults: 1,
                                                             replicatedShare: 0.01, rejectionsByReason: ["invalid_result": 1]),
                            topContributors: [Contributor(workerID: worker.workerID, name: "alice", units: 88, tokens: 67_584,
                                                          creditFLOPs: 1.5e12)])
        let text = StatusTable.render(StatusResponse(
            generatedAt: t0, runs: [run], workers: [worker], workersOnline: ["cpu": 1],
            recentRejections: [RejectionRecord(at: t0, workerID: worker.workerID, workerName: "alice", runID: 1, step: 7, unit: 0,
                                               reason: "invalid_result", message: "the gradient has NaN or infinite values")]))
        for expected in ["char-small", "120/2000", "6.0%", "92,160", "700", "650", "2.4000", "2.5000", "pending 1", "leased 2",
                         "evaluation units outstanding 3", "superseded 2", "rejected 1 (invalid_result 1)", "replicated 1.0%",
                         "1.5 TFLOP", "1,234", "12 s ago", "online: cpu 1", "the gradient has NaN", "1/7/0"] {
            #expect(text.contains(expected), "missing \(expected) in:\n\(text)")
        }
        // Columns line up: every row of the runs table is as wide as its header or narrower.
        let lines = text.split(separator: "\n")
        #expect(lines[1].hasPrefix("RUN") && lines[2].hasPrefix("  1"))
        #expect(StatusTable.render(StatusResponse(generatedAt: t0, runs: [])).contains("No runs yet."))
    }
}
