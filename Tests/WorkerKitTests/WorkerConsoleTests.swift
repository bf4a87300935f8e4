import AsyncHTTPClient
import Foundation
import Logging
import NIOCore
import Testing
import Wire
@testable import WorkerKit

private let t0 = Date(timeIntervalSince1970: 1_700_000_000)

/// A worker 41 steps in, computing unit 3 (60% of the previous unit's time).
private func busyWorker() -> WorkerActivity {
    var a = WorkerActivity()
    a.runID = 1
    a.firstUnitStarted = t0.addingTimeInterval(-120)
    a.unitsAccepted = 12
    a.finished(tokens: 36_000, at: t0.addingTimeInterval(-30))
    a.finished(tokens: 36_000, at: t0.addingTimeInterval(-5))
    a.unit = UnitProgress(runID: 1, step: 41, unit: 3, phase: .computing, phaseStarted: t0.addingTimeInterval(-6),
                          expectedSeconds: 10)
    return a
}

private let known = CoordinatorView(creditFLOPs: 3.1e12, acceptedUnits: 40, runID: 1, runName: "shakespeare-char",
                                    runState: .active, etaSeconds: 240)

@Suite struct WorkerConsoleStatusLineTests {
    @Test func showsEveryField() {
        let line = WorkerConsole.statusLine(activity: busyWorker(), coordinator: known, now: t0, width: 200)
        #expect(line == "step 41 · unit 3: computing ~60% · 1.2k tok/s · 12 units · credit 3.1 TFLOP · ETA 4 min")
    }

    @Test func unknownValuesAreDashes() {
        let line = WorkerConsole.statusLine(activity: WorkerActivity(), coordinator: nil, now: t0, width: 200)
        #expect(line == "starting · — tok/s · 0 units · credit — · ETA —")
    }

    @Test func pausedAndFinishedRunsReplaceTheETA() {
        var view = known
        view.runState = .paused
        #expect(WorkerConsole.statusLine(activity: busyWorker(), coordinator: view, now: t0, width: 200).hasSuffix(" · run paused"))
        view.runState = .finished
        #expect(WorkerConsole.statusLine(activity: busyWorker(), coordinator: view, now: t0, width: 200).hasSuffix(" · run finished"))
    }

    @Test func narrowTerminalsDropTheLeastImportantFieldsFirst() {
        let full = WorkerConsole.statusLine(activity: busyWorker(), coordinator: known, now: t0, width: 200)
        // Credit goes first, then the unit count, then the ETA, then tokens/s.
        #expect(WorkerConsole.statusLine(activity: busyWorker(), coordinator: known, now: t0, width: full.count - 1)
                == "step 41 · unit 3: computing ~60% · 1.2k tok/s · 12 units · ETA 4 min")
        #expect(WorkerConsole.statusLine(activity: busyWorker(), coordinator: known, now: t0, width: 60)
                == "step 41 · unit 3: computing ~60% · 1.2k tok/s · ETA 4 min")
        #expect(WorkerConsole.statusLine(activity: busyWorker(), coordinator: known, now: t0, width: 50)
                == "step 41 · unit 3: computing ~60% · 1.2k tok/s")
        #expect(WorkerConsole.statusLine(activity: busyWorker(), coordinator: known, now: t0, width: 34)
                == "step 41 · unit 3: computing ~60%")
        // Then what is left is cut, and marked.
        let tiny = WorkerConsole.statusLine(activity: busyWorker(), coordinator: known, now: t0, width: 12)
        #expect(tiny == "step 41 · u…")
        #expect(tiny.count == 12)
        #expect(WorkerConsole.statusLine(activity: busyWorker(), coordinator: known, now: t0, width: 0) == "")
    }

    @Test func neverWiderThanAsked() {
        for width in 1...120 {
            #expect(WorkerConsole.statusLine(activity: busyWorker(), coordinator: known, now: t0, width: width).count <= width)
        }
    }

    @Test func phasesAndTheirProgress() {
        var a = busyWorker()
        a.unit?.phase = .downloading("parameters")
        a.unit?.bytesDone = 40
        a.unit?.bytesTotal = 100
        #expect(WorkerConsole.doing(a, now: t0) == "step 41 · unit 3: downloading parameters 40%")
        a.unit?.bytesTotal = nil
        a.unit?.bytesDone = 1536
        #expect(WorkerConsole.doing(a, now: t0) == "step 41 · unit 3: downloading parameters 1.5 KiB")
        a.unit?.bytesDone = nil
        #expect(WorkerConsole.doing(a, now: t0) == "step 41 · unit 3: downloading parameters")
        a.unit?.phase = .computing
        a.unit?.expectedSeconds = nil
        #expect(WorkerConsole.doing(a, now: t0) == "step 41 · unit 3: computing 6 s")
        a.unit?.expectedSeconds = 2  // slower than last time: an estimate never claims 100%
        #expect(WorkerConsole.doing(a, now: t0) == "step 41 · unit 3: computing ~99%")
        a.unit?.phase = .uploading
        #expect(WorkerConsole.doing(a, now: t0) == "step 41 · unit 3: uploading")
        a.unit?.phase = .preparing
        #expect(WorkerConsole.doing(a, now: t0) == "step 41 · unit 3: preparing")
        a.unit = nil
        a.idle = "no run is active (paused or finished)"
        #expect(WorkerConsole.doing(a, now: t0) == "no run is active (paused or finished)")
        a.trouble = .init(what: "coordinator unreachable (connection refused)", attempt: 3, retryAt: t0.addingTimeInterval(3.2))
        #expect(WorkerConsole.doing(a, now: t0) == "coordinator unreachable (connection refused); retrying in 4 s (attempt 3)")
        #expect(WorkerConsole.doing(a, now: t0.addingTimeInterval(5)) == "coordinator unreachable (connection refused); trying again (attempt 3)")
    }

    @Test func tokensPerSecondOverTheLastMinute() {
        var a = WorkerActivity()
        #expect(a.tokensPerSecond(now: t0) == nil)
        a.firstUnitStarted = t0
        #expect(a.tokensPerSecond(now: t0.addingTimeInterval(10)) == nil)  // nothing finished yet
        a.finished(tokens: 600, at: t0.addingTimeInterval(10))
        a.finished(tokens: 600, at: t0.addingTimeInterval(20))
        #expect(a.tokensPerSecond(now: t0.addingTimeInterval(30)) == 40)  // 1,200 tokens in the 30 s since the start
        a.finished(tokens: 600, at: t0.addingTimeInterval(75))
        #expect(a.tokensPerSecond(now: t0.addingTimeInterval(80)) == 10)  // the minute after 20 s: only the unit at 75 s
        #expect(a.tokensPerSecond(now: t0.addingTimeInterval(200)) == 0)
        #expect(a.recentUnits.count == 2)  // older ones are dropped as new ones come
    }

    @Test func formatsCredit() {
        #expect(WorkerConsole.flop(0) == "0 FLOP")
        #expect(WorkerConsole.flop(950) == "950 FLOP")
        #expect(WorkerConsole.flop(12_400) == "12.4 kFLOP")
        #expect(WorkerConsole.flop(3.1e12) == "3.1 TFLOP")
        #expect(WorkerConsole.flop(312e15) == "312 PFLOP")
        #expect(WorkerConsole.flop(999_960) == "1.0 MFLOP")
        #expect(WorkerConsole.flop(.nan) == "—")
    }

    @Test func formatsDurationsRatesAndWaits() {
        #expect(WorkerConsole.duration(45) == "45 s")
        #expect(WorkerConsole.duration(240) == "4 min")
        #expect(WorkerConsole.duration(7_500) == "2 h 5 min")
        #expect(WorkerConsole.duration(7_200) == "2 h")
        #expect(WorkerConsole.duration(3 * 86_400 + 4 * 3_600) == "3 d 4 h")
        #expect(WorkerConsole.duration(-1) == "—")
        #expect(WorkerConsole.rate(7.46) == "7.5")
        #expect(WorkerConsole.rate(840) == "840")
        #expect(WorkerConsole.rate(1_234) == "1.2k")
        #expect(WorkerConsole.rate(45_600) == "46k")
        #expect(WorkerConsole.rate(3.4e6) == "3.4M")
        #expect(WorkerConsole.seconds(4) == "4 s")
        #expect(WorkerConsole.seconds(0.5) == "0.5 s")
        #expect(WorkerConsole.seconds(1.26) == "1.3 s")
        #expect(WorkerConsole.seconds(12.3) == "12 s")
    }

    @Test func findsItselfAndItsRunInTheStatus() {
        let me = UUID(), other = UUID()
        let status = StatusResponse(
            generatedAt: t0,
            runs: [
                RunStatus(runID: 1, name: "old", state: .finished, step: 100, parameterVersion: 100, totalSteps: 100, createdAt: t0),
                RunStatus(runID: 2, name: "shakespeare-char", state: .active, step: 40, parameterVersion: 40, totalSteps: 600,
                          createdAt: t0, etaSeconds: 3_000),
            ],
            workers: [
                WorkerStatus(workerID: other, name: "laptop", backend: "cpu", lastSeen: t0, acceptedUnits: 1, creditFLOPs: 1e9),
                WorkerStatus(workerID: me, name: "box", backend: "cpu", lastSeen: t0, acceptedUnits: 9, creditFLOPs: 2e12),
            ])
        let byID = CoordinatorView(status, workerID: me, workerName: "laptop", runID: 2)
        #expect(byID == CoordinatorView(creditFLOPs: 2e12, acceptedUnits: 9, runID: 2, runName: "shakespeare-char",
                                        runState: .active, etaSeconds: 3_000))
        // Without an id: by name; without a run: the only active one.
        let byName = CoordinatorView(status, workerID: nil, workerName: "box", runID: nil)
        #expect(byName.creditFLOPs == 2e12 && byName.runID == 2)
        let stranger = CoordinatorView(status, workerID: UUID(), workerName: "box", runID: 1)
        #expect(stranger.creditFLOPs == nil && stranger.runState == .finished && stranger.etaSeconds == nil)
    }
}

@Suite struct JSONLogHandlerTests {
    final class Lines: @unchecked Sendable {
        private var lines: [String] = []
        private let lock = NSLock()
        func append(_ s: String) { lock.withLock { lines.append(s) } }
        var all: [String] { lock.withLock { lines } }
    }

    func object(_ line: String) throws -> [String: Any] {
        #expect(line.hasSuffix("\n"))
        #expect(line.dropLast().contains("\n") == false)  // one object per line
        return try #require(try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any])
    }

    @Test func writesOneObjectPerLineWithEveryField() throws {
        let lines = Lines()
        var logger = Logger(label: "koinon-worker") { label in
            JSONLogHandler(label: label, clock: { t0.addingTimeInterval(0.25) }, write: { lines.append($0) })
        }
        logger[metadataKey: "worker"] = "box"
        logger.info("leased run 1 step 2 unit 3")
        logger.warning("result rejected", metadata: ["reason": "invalid_result", "counts": ["a": "1", "b": .array(["x", "y"])]])
        logger.debug("not shown at the default level")
        #expect(lines.all.count == 2)
        let first = try object(lines.all[0])
        #expect(first["time"] as? String == "2023-11-14T22:13:20.250Z")
        #expect(first["level"] as? String == "info")
        #expect(first["label"] as? String == "koinon-worker")
        #expect(first["message"] as? String == "leased run 1 step 2 unit 3")
        #expect((first["metadata"] as? [String: Any])?["worker"] as? String == "box")
        let second = try object(lines.all[1])
        #expect(second["level"] as? String == "warning")
        let metadata = try #require(second["metadata"] as? [String: Any])
        #expect(metadata["reason"] as? String == "invalid_result")
        #expect((metadata["counts"] as? [String: Any])?["b"] as? [String] == ["x", "y"])
        // Fixed key order, no escapes for a terminal.
        #expect(lines.all[0].hasPrefix("{\"time\":\"2023-11-14T22:13:20.250Z\",\"level\":\"info\",\"label\":\"koinon-worker\",\"message\":"))
        #expect(!lines.all.joined().contains("\u{1B}"))
    }

    @Test func escapesWhatJSONNeedsEscaped() throws {
        let tricky = "quote \" backslash \\ newline \n tab \t bell \u{07} del \u{7F} é 🚀 \u{2028}"
        let line = JSONLogHandler.line(time: t0, level: .error, label: "l", message: tricky, metadata: ["k\"ey": "v\nv"])
        let parsed = try object(line)
        #expect(parsed["message"] as? String == tricky)
        #expect((parsed["metadata"] as? [String: Any])?["k\"ey"] as? String == "v\nv")
        #expect(JSONLogHandler.quote("a\"b\\c\n\u{01}") == #""a\"b\\c\n\u0001""#)
        #expect(!line.contains("\u{2028}"))
    }

    @Test func noMetadataMeansNoMetadataKey() throws {
        let parsed = try object(JSONLogHandler.line(time: t0, level: .info, label: "l", message: "m", metadata: [:]))
        #expect(parsed["metadata"] == nil)
        #expect(Set(parsed.keys) == ["time", "level", "label", "message"])
    }

    @Test func timestampsAreUTCWithMilliseconds() {
        #expect(JSONLogHandler.timestamp(Date(timeIntervalSince1970: 0)) == "1970-01-01T00:00:00.000Z")
        #expect(JSONLogHandler.timestamp(Date(timeIntervalSince1970: 1_735_787_045.678)) == "2025-01-02T03:04:05.678Z")
    }
}

@Suite struct StartupBannerTests {
    let banner = StartupBanner(version: "0.1.0", backend: "cpu, avx512 kernels", blasCore: "OpenBLAS SkylakeX", threads: 16,
                               coordinator: "https://koinon.example.org", name: "box", cacheDirectory: "/home/me/.cache/koinon",
                               cacheLimitBytes: 10 * ByteSize.gibibyte)

    @Test func saysEverythingOnce() {
        #expect(banner.text == """
            Koinon worker 0.1.0
              backend      cpu, avx512 kernels
              BLAS core    OpenBLAS SkylakeX
              threads      16
              coordinator  https://koinon.example.org
              name         box
              cache        /home/me/.cache/koinon (limit 10 GiB)

            """)
        #expect(banner.logLines == [
            "Koinon worker 0.1.0", "backend: cpu, avx512 kernels", "BLAS core: OpenBLAS SkylakeX", "threads: 16",
            "coordinator: https://koinon.example.org", "name: box", "cache: /home/me/.cache/koinon (limit 10 GiB)",
        ])
        #expect(!banner.text.contains("\u{1B}"))
    }

    @Test func theRealBackendIsDescribed() {
        let real = StartupBanner(backend: .init(threads: 3), coordinator: "http://c", name: "n",
                                 cacheDirectory: URL(fileURLWithPath: "/tmp/c"), cacheLimitBytes: 1 << 20)
        #expect(real.version == WorkerVersion.current)
        #expect(real.threads == 3)
        #expect(real.blasCore.hasPrefix("OpenBLAS "))
        #expect(real.backend.hasPrefix("cpu, ") && real.backend.hasSuffix(" kernels") && !real.backend.contains("unknown"))
        #expect(StartupBanner.simdLevel(fromBLASSummary: "OpenBLAS core Haswell, kernels avx2") == "avx2")
        #expect(StartupBanner.simdLevel(fromBLASSummary: "something else") == nil)
    }
}

@Suite struct WorkerFailureSentenceTests {
    let label = WorkerMessages.unitLabel(run: 1, step: 12, unit: 3)

    @Test func coordinatorUnreachableOrUnavailable() {
        #expect(WorkerMessages.unreachable(coordinator: "https://k.example", cause: "connection refused", retryIn: 4, attempt: 3)
                == "coordinator https://k.example unreachable (connection refused); retrying in 4 s (attempt 3)")
        #expect(WorkerMessages.unreachable(coordinator: "https://k.example", cause: "HTTP 503: shutting down", retryIn: 0.5,
                                           attempt: 2, answered: true)
                == "coordinator https://k.example unavailable (HTTP 503: shutting down); retrying in 0.5 s (attempt 2)")
        #expect(WorkerMessages.reachableAgain(coordinator: "https://k.example", after: 3)
                == "coordinator https://k.example reachable again after 3 failed attempts")
    }

    @Test func causesInAFewWords() {
        #expect(WorkerMessages.cause(of: IOError(errnoCode: ECONNREFUSED, reason: "connect")) == "connection refused")
        #expect(WorkerMessages.cause(of: HTTPClientError.connectTimeout) == "connection timed out")
        #expect(WorkerMessages.cause(of: HTTPClientError.remoteConnectionClosed) == "the connection was closed")
        #expect(WorkerMessages.cause(of: CoordinatorError(message: "HTTP 502", transient: true, httpStatus: 502)) == "HTTP 502")
        // Wrapped (as NIO wraps each connection attempt's error): found inside.
        struct Wrapper: Error { var attempts: [any Error] }
        #expect(WorkerMessages.cause(of: Wrapper(attempts: [IOError(errnoCode: ECONNRESET, reason: "read")]))
                == "connection reset by peer")
    }

    @Test func resultRejectedSupersededLeaseLost() {
        #expect(WorkerMessages.rejected(label, reason: .invalidResult, message: "gradient norm 1e9 is out of bounds")
                == "result for run 1 step 12 unit 3 rejected: invalid_result — gradient norm 1e9 is out of bounds; "
                + "no credit for it, asking for new work")
        #expect(WorkerMessages.rejected(label, reason: nil, message: nil)
                == "result for run 1 step 12 unit 3 rejected: no reason given; no credit for it, asking for new work")
        #expect(WorkerMessages.superseded(label)
                == "result for run 1 step 12 unit 3 superseded: another copy was accepted first; no credit for this one, asking for new work")
        #expect(WorkerMessages.leaseLost(label, reason: .leaseExpired, message: "the deadline passed")
                == "lease on run 1 step 12 unit 3 expired (the deadline passed); its result will not count, "
                + "asking for new work after this unit")
        #expect(WorkerMessages.leaseLost(label, reason: .unitFinished, message: "").contains("another copy of the unit was accepted"))
        #expect(WorkerMessages.leaseLost(label, reason: "new_reason", message: "m").contains("ended (new_reason) (m)"))
    }

    @Test func noWorkSaysWhyAndWhen() {
        #expect(WorkerMessages.noWork(RetryLater(retryAfterSeconds: 5, reason: .noActiveRun, message: "run 1 is paused"))
                == "no run is active right now (paused or finished): run 1 is paused; asking again in 5 s")
        // The coordinator's own words when they say the same, not the same thing twice.
        #expect(WorkerMessages.noWork(RetryLater(retryAfterSeconds: 5, reason: .noActiveRun,
                                                 message: "no run is active right now (paused, finished or not created yet)"))
                == "no run is active right now (paused, finished or not created yet); asking again in 5 s")
        #expect(WorkerMessages.noWork(RetryLater(retryAfterSeconds: 1, reason: .unitsOutstanding, message: ""))
                == "no unit is free right now (all are being computed); asking again in 1 s")
        #expect(WorkerMessages.noWork(RetryLater(retryAfterSeconds: 2, reason: "later", message: "x"))
                == "no work right now (later): x; asking again in 2 s")
        #expect(WorkerMessages.noWorkFor(61, RetryLater(retryAfterSeconds: 1, reason: .unitsOutstanding, message: "busy"))
                == "no work for 1 min: no unit is free right now (all are being computed): busy; still asking every 1 s")
    }

    @Test func registrationAndRuns() {
        #expect(WorkerMessages.unknownToken("the coordinator does not know this worker's token", name: "box")
                == "the coordinator does not know this worker's token; registering again as 'box'")
        #expect(WorkerMessages.joinedRun(id: 1, name: "shakespeare-char", step: 40) == "joined run 1 'shakespeare-char' at step 40")
        #expect(WorkerMessages.joinedRun(id: 2, name: nil, step: 0) == "joined run 2 at step 0")
        #expect(WorkerMessages.unitFailed(label, error: CoordinatorError(message: "disk full", transient: false))
                == "run 1 step 12 unit 3 failed: disk full; releasing it and asking for other work")
    }
}

@Suite struct StatusLineDrawingTests {
    @Test func modes() {
        #expect(WorkerTerminal.mode(jsonLogs: true, isTerminal: true) == .json)
        #expect(WorkerTerminal.mode(jsonLogs: false, isTerminal: true) == .statusLine)
        #expect(WorkerTerminal.mode(jsonLogs: false, isTerminal: false) == .plain)
        #expect(WorkerTerminal.mode(jsonLogs: true, isTerminal: false) == .json)
    }

    @Test func logLinesClearTheLineAndPutItBack() throws {
        var fds: [Int32] = [0, 0]
        #expect(pipe(&fds) == 0)
        defer { close(fds[0]) }
        let line = StatusLine(fd: fds[1], interval: 3600)
        line.printAbove("before\n")  // not started: plain
        line.start { width in "status \(width)" }
        line.redraw()  // unchanged text: nothing more drawn
        line.printAbove("a log line\n")
        line.stop()
        line.printAbove("after\n")
        close(fds[1])
        let out = String(decoding: FileHandle(fileDescriptor: fds[0]).readDataToEndOfFile(), as: UTF8.self)
        let clear = "\r\u{1B}[2K"
        // A pipe has no width: 80 columns, one kept spare.
        #expect(out == "before\n" + clear + "status 79" + clear + "a log line\nstatus 79" + clear + "after\n")
    }
}
