@testable import CoordinatorApp
import Foundation
import Testing
import Wire

/// The dashboard's HTML, rendered from hand-built status snapshots (no
/// database, no server): the figures shown are the input's, the chart has
/// the right points, user strings are escaped, and the markup is the
/// no-JavaScript, phone-friendly page the issue asks for.
@Suite struct DashboardPageTests {
    static let now = Date(timeIntervalSince1970: 1_750_000_000)
    static let hostile = "<script>alert(\"x\")</script> & 'friends'"

    static func run(id: Int = 1, name: String = "tiny", state: RunState = .active, eta: Double? = 185,
                    train: Int = 6, validation: Int = 3) -> RunStatus {
        RunStatus(
            runID: id, name: name, state: state, step: 6, parameterVersion: 6, totalSteps: 8,
            createdAt: now.addingTimeInterval(-600), tokensTrained: 1_234_567,
            tokensPerSecond: Throughput(lastMinute: 321.5, last10Minutes: 1500.25), etaSeconds: eta,
            lossHistory: (1...max(train, 1)).prefix(train).map { LossPoint(step: $0, loss: 6 - Double($0) * 0.25) },
            validationHistory: (1...max(validation, 1)).prefix(validation).map { LossPoint(step: $0 * 2, loss: 5.9 - Double($0) * 0.2) },
            units: UnitCounts(pending: 3, leased: 2, submitted: 1, accepted: 7), evaluationUnitsOutstanding: 4,
            verification: VerificationStatus(acceptedResults: 40, supersededResults: 5, rejectedResults: 2, replicatedShare: 0.125,
                                             rejectionsByReason: ["invalid_result": 2]),
            topContributors: [
                Contributor(workerID: UUID(), name: "alice", units: 30, tokens: 960, creditFLOPs: 1.23e15),
                Contributor(workerID: UUID(), name: hostile, units: 10, tokens: 320, creditFLOPs: 4.5e12),
            ])
    }

    static func worker(_ name: String = "alice", online: Bool = true) -> WorkerStatus {
        WorkerStatus(workerID: UUID(), name: name, backend: "cpu <avx2>", threads: 4, version: "0.1 \"beta\"",
                     lastSeen: now.addingTimeInterval(-12), online: online, acceptedUnits: 42, rejectedResults: 1,
                     consecutiveValid: 17, activeLeases: 2, tokensPerSecond: 88.5, creditFLOPs: 2.5e15)
    }

    static func status(runs: [RunStatus] = [run()], workers: [WorkerStatus] = [worker(), worker(hostile, online: false)])
        -> StatusResponse {
        StatusResponse(
            generatedAt: now, runs: runs, workers: workers, workersOnline: ["cpu": 1, "metal": 2],
            recentRejections: [
                RejectionRecord(at: now.addingTimeInterval(-90), workerID: UUID(), workerName: hostile, runID: 1, step: 5, unit: 2,
                                reason: "invalid_result", message: "loss </td><script>bad()</script> & \"NaN\""),
            ])
    }

    // MARK: The page frame

    @Test func pagesAreScriptFreeHTML5ThatRefreshAndFitAPhone() {
        let status = Self.status()
        let history = WorkerHistory(worker: Self.worker(), entries: [])
        for html in [DashboardPage.home(status), DashboardPage.run(Self.run(), status: status),
                     DashboardPage.worker(history, status: status)] {
            #expect(html.hasPrefix("<!doctype html>"))
            #expect(html.contains("<meta charset=\"utf-8\">"))
            #expect(html.contains("<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">"))
            #expect(html.contains("<meta http-equiv=\"refresh\" content=\"5\">"))
            #expect(html.contains("<style>"))
            #expect(!html.lowercased().contains("<script"), "no JavaScript, and user strings must be escaped")
            #expect(html.contains("snapshot of <time data-field=\"generated-at\" data-value=\"2025-06-15T15:06:40.000Z\""))
            #expect(html.hasSuffix("</html>\n"))
        }
    }

    @Test func notFoundEscapesItsMessageAndDoesNotRefresh() {
        let html = DashboardPage.notFound("no worker named <b>\"x\"</b>")
        #expect(html.contains("no worker named &lt;b&gt;&quot;x&quot;&lt;/b&gt;"))
        #expect(!html.contains("http-equiv=\"refresh\""))
        #expect(html.contains("<meta name=\"viewport\""))
    }

    @Test func tablesScrollAndChartsScaleOnAPhone() {
        let html = DashboardPage.home(Self.status())
        #expect(html.contains(".table-wrap{overflow-x:auto"))
        #expect(html.contains("svg.chart{display:block;width:100%"))
        let tables = html.components(separatedBy: "<table").count - 1
        let wrapped = html.components(separatedBy: "<div class=\"table-wrap\"><table").count - 1
        #expect(tables == 3 && wrapped == tables, "every table (contributors, workers, rejections) is in a scroll wrapper")
        let svg = DOM.tags(in: html, with: "data-field", "loss-chart")
        #expect(svg.count == 1)
        #expect(svg.first.flatMap { DOM.attribute("viewBox", of: $0) } == "0 0 640 260")
    }

    // MARK: Home

    @Test func homeShowsTheRunsFiguresAsGiven() {
        let html = DashboardPage.home(Self.status())
        #expect(html.contains("<section class=\"card run\" id=\"run-1\""))
        #expect(html.contains("<a href=\"/runs/1\">tiny</a>"))
        let expected: [(String, String, String)] = [
            ("step", "6", "6"), ("total-steps", "8", "8"), ("percent", "0.75", "75.0%"),
            ("eta", "185.0", "about 3 min"), ("tokens-trained", "1234567", "1,234,567"),
            ("tokens-per-second-1m", "321.5", "322 tok/s"), ("tokens-per-second-10m", "1500.25", "1,500 tok/s"),
            ("parameter-version", "6", "6"), ("evaluation-units-outstanding", "4", "4"),
            ("units-pending", "3", "3"), ("units-leased", "2", "2"), ("units-submitted", "1", "1"), ("units-accepted", "7", "7"),
            ("accepted-results", "40", "40"), ("superseded-results", "5", "5"), ("rejected-results", "2", "2"),
            ("replicated-share", "0.125", "12.5%"),
        ]
        for (field, value, text) in expected {
            #expect(DOM.value(field, in: html) == value, "data-value of \(field)")
            #expect(DOM.text(field, in: html) == text, "text of \(field)")
        }
        #expect(html.contains("<progress data-field=\"progress\" value=\"6\" max=\"8\">"))
        #expect(html.contains("data-field=\"state\">active</span>"))
        #expect(html.contains("<li data-reason=\"invalid_result\" data-value=\"2\">"))
    }

    @Test func contributorsAreRankedWithLinksAndHumanCredit() {
        let html = DashboardPage.home(Self.status())
        let rows = DOM.tags(in: html, with: "data-contributor", "alice")
        #expect(rows.count == 1)
        #expect(html.contains("<a href=\"/workers/alice\">alice</a>"))
        #expect(html.contains("data-field=\"credit\" data-value=\"\(1.23e15)\">1.2 PFLOP</span>"))
        #expect(html.contains("data-field=\"credit\" data-value=\"\(4.5e12)\">4.5 TFLOP</span>"))
        #expect(html.contains("data-field=\"tokens\" data-value=\"960\">960</span>"))
    }

    @Test func homeListsOnlyTheTopFiveContributorsAndTheRunPageAll() {
        var run = Self.run()
        run.topContributors = (1...8).map { Contributor(workerID: UUID(), name: "w\($0)", units: 9 - $0, tokens: 1, creditFLOPs: 1) }
        let status = Self.status(runs: [run])
        let home = DashboardPage.home(status)
        let page = DashboardPage.run(run, status: status)
        #expect(home.components(separatedBy: "<tr data-contributor=").count - 1 == 5)
        #expect(home.contains("All 8 contributors →"))
        #expect(page.components(separatedBy: "<tr data-contributor=").count - 1 == 8)
    }

    @Test func workersTableShowsEveryWorkerWithTrustAndLastSeen() throws {
        let html = DashboardPage.home(Self.status())
        let row = DOM.tags(in: html, with: "data-worker", "alice")
        #expect(row.count == 1)
        let start = try #require(html.range(of: row[0])).lowerBound
        let alice = String(html[start...]).components(separatedBy: "</tr>")[0]
        #expect(alice.contains("<a href=\"/workers/alice\">alice</a>"))
        #expect(alice.contains("<td class=\"backend\"><span data-field=\"backend\">cpu &lt;avx2&gt;</span></td>"))
        #expect(alice.contains("● online"))
        #expect(alice.contains("data-field=\"accepted-units\" data-value=\"42\">42<"))
        #expect(alice.contains("data-field=\"tokens-per-second\" data-value=\"88.5\">88.5<"))
        #expect(alice.contains(">17 valid in a row</span> · <span data-field=\"rejected-results\" data-value=\"1\">1 rejected<"))
        #expect(alice.contains(">12 s ago</time>"))
        #expect(alice.contains("data-value=\"\(2.5e15)\">2.5 PFLOP<"))
        #expect(html.contains("○ offline"))
        #expect(DOM.value("workers-online", in: html) == "3")
        #expect(html.contains("<li data-backend=\"cpu\" data-value=\"1\">"))
        #expect(html.contains("<li data-backend=\"metal\" data-value=\"2\">"))
    }

    @Test func recentRejectionsShowWhereWhoAndWhy() {
        let html = DashboardPage.home(Self.status())
        #expect(html.contains("<tr data-rejection=\"1-5-2\">"))
        #expect(html.contains(">2 min ago</time>"))
        #expect(html.contains("<a href=\"/runs/1\">run 1</a> · step 5 · unit 2"))
        #expect(html.contains("<code data-field=\"reason\">invalid_result</code>"))
        #expect(html.contains("loss &lt;/td&gt;&lt;script&gt;bad()&lt;/script&gt; &amp; &quot;NaN&quot;"))
    }

    @Test func emptySnapshotSaysSo() {
        let html = DashboardPage.home(StatusResponse(generatedAt: Self.now, runs: []))
        #expect(html.contains("No training runs yet."))
        #expect(html.contains("No workers seen in the last 24 hours."))
        #expect(html.contains("No rejected results."))
        #expect(!html.contains("<svg"))
    }

    // MARK: The chart

    @Test(arguments: [(6, 3), (1, 0), (250, 12)])
    func chartHasAPolylinePerSeriesWithEveryPoint(train: Int, validation: Int) {
        let html = DashboardPage.home(Self.status(runs: [Self.run(train: train, validation: validation)]))
        let trainLines = DOM.tags(in: html, with: "data-series", "train")
        #expect(trainLines.count == 1)
        let points = trainLines.first.flatMap { DOM.attribute("points", of: $0) } ?? ""
        #expect(points.split(separator: " ").count == train)
        #expect(trainLines.first.flatMap { DOM.attribute("data-points", of: $0) } == "\(train)")
        let validationLines = DOM.tags(in: html, with: "data-series", "validation")
        #expect(validationLines.count == (validation > 0 ? 1 : 0))
        #expect(DOM.tags(in: html, with: "data-series", "validation-point").count == validation)
        if let line = validationLines.first {
            #expect((DOM.attribute("points", of: line) ?? "").split(separator: " ").count == validation)
        }
        // Every coordinate lies inside the viewBox.
        for pair in points.split(separator: " ") {
            let xy = pair.split(separator: ",").compactMap { Double($0) }
            #expect(xy.count == 2 && (0...640).contains(xy[0]) && (0...260).contains(xy[1]), "\(pair)")
        }
        #expect(html.contains("<ul class=\"legend\">"))
    }

    @Test func chartAxesAreLabelledWithTheExtremes() {
        let html = DashboardPage.home(Self.status())
        // Training losses 5.75 ... 4.5 at steps 1...6, validation 5.7 ... 5.3 at steps 2, 4, 6.
        #expect(DOM.text("y-max", in: html) == "5.750")
        #expect(DOM.text("y-min", in: html) == "4.500")
        #expect(DOM.text("x-min", in: html) == "step 1")
        #expect(DOM.text("x-max", in: html) == "step 6")
        // The highest loss is drawn at the top of the plot area, the lowest at the bottom.
        let points = DOM.tags(in: html, with: "data-series", "train").first.flatMap { DOM.attribute("points", of: $0) } ?? ""
        let ys = points.split(separator: " ").map { Double($0.split(separator: ",")[1])! }
        #expect(ys.first == 16 && ys.last == 220)
    }

    @Test func runWithoutLossSaysNoDataYet() {
        let html = DashboardPage.home(Self.status(runs: [Self.run(train: 0, validation: 0)]))
        #expect(html.contains("no data yet"))
        #expect(!html.contains("<svg"))
    }

    @Test func runPageHasTheBiggerChart() {
        let status = Self.status()
        let html = DashboardPage.run(Self.run(), status: status)
        let svg = DOM.tags(in: html, with: "data-field", "loss-chart")
        #expect(svg.first.flatMap { DOM.attribute("viewBox", of: $0) } == "0 0 960 400")
        #expect(html.contains("<h1 data-field=\"run-name\">tiny <span"))
        #expect(html.contains("<tr data-rejection=\"1-5-2\">"))
    }

    @Test func runPageKeepsOnlyItsOwnRejections() {
        let status = Self.status(runs: [Self.run(), Self.run(id: 2, name: "other")])
        let html = DashboardPage.run(status.runs[1], status: status)
        #expect(!html.contains("data-rejection="))
        #expect(html.contains("No rejected results."))
    }

    // MARK: Escaping

    @Test func escapingHelper() {
        #expect(HTML.escape("<script>alert(\"x\")</script> & 'y'")
            == "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt; &amp; &#39;y&#39;")
        #expect(HTML.escape("plain ünïcode ✓") == "plain ünïcode ✓")
        #expect(HTML.escape("&amp;") == "&amp;amp;")
        #expect(HTML.escape("a\u{0}b\u{7F}c\td\n") == "a\u{FFFD}b\u{FFFD}c\td\n")
        #expect(HTML.pathSegment("a b/c?d#e%f") == "a%20b%2Fc%3Fd%23e%25f")
        #expect(HTML.pathSegment("w-1_x.y~") == "w-1_x.y~")
    }

    @Test func hostileNamesAndMessagesAreEscapedEverywhere() {
        let hostileRun = Self.run(name: Self.hostile)
        var worker = Self.worker(Self.hostile)
        worker.backend = "<img src=x onerror=alert(1)>"
        worker.version = "\"><script>"
        let status = Self.status(runs: [hostileRun], workers: [worker])
        let history = WorkerHistory(worker: worker, entries: [
            .init(at: Self.now, runID: 1, step: 2, unit: 0, outcome: "rejected", reason: "<b>why</b>", loss: 3, tokens: 32),
        ])
        let pages = [DashboardPage.home(status), DashboardPage.run(hostileRun, status: status),
                     DashboardPage.worker(history, status: status)]
        let escapedName = "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt; &amp; &#39;friends&#39;"
        for html in pages {
            #expect(!html.lowercased().contains("<script"))
            #expect(!html.contains("<img"))
            #expect(!html.contains("<b>why"))
            #expect(html.contains(escapedName))
        }
        let encoded = "%3Cscript%3Ealert%28%22x%22%29%3C%2Fscript%3E%20%26%20%27friends%27"
        #expect(pages[0].contains("<a href=\"/workers/\(encoded)\">\(escapedName)</a>"))
        #expect(pages[0].contains("<tr data-worker=\"\(escapedName)\">"))
        #expect(pages[2].contains("&quot;&gt;&lt;script&gt;"))
        #expect(pages[2].contains("<title>\(escapedName) · Koinon</title>"))
    }

    // MARK: Formatting

    @Test func etaIsFinishedUnknownOrAbout() {
        #expect(DashboardFormat.eta(185, state: .active) == "about 3 min")
        #expect(DashboardFormat.eta(42, state: .active) == "about 42 s")
        #expect(DashboardFormat.eta(3 * 3600 + 20 * 60, state: .paused) == "about 3 h 20 min")
        #expect(DashboardFormat.eta(2 * 86_400 + 5 * 3600, state: .active) == "about 2 d 5 h")
        #expect(DashboardFormat.eta(nil, state: .active) == "unknown")
        #expect(DashboardFormat.eta(.infinity, state: .active) == "unknown")
        #expect(DashboardFormat.eta(30, state: .finished) == "finished")
        #expect(DashboardFormat.eta(nil, state: .finished) == "finished")

        let finished = DashboardPage.home(Self.status(runs: [Self.run(state: .finished, eta: nil)]))
        #expect(DOM.text("eta", in: finished) == "finished")
        #expect(DOM.value("eta", in: finished) == "")
        let unknown = DashboardPage.home(Self.status(runs: [Self.run(eta: nil)]))
        #expect(DOM.text("eta", in: unknown) == "unknown")
    }

    @Test func durationsRoundToTheirLargestUnits() {
        #expect(DashboardFormat.duration(0) == "0 s")
        #expect(DashboardFormat.duration(59.4) == "59 s")
        #expect(DashboardFormat.duration(89) == "1 min")
        #expect(DashboardFormat.duration(3599) == "1 h")
        #expect(DashboardFormat.duration(7200) == "2 h")
        #expect(DashboardFormat.duration(86_399) == "1 d")
        #expect(DashboardFormat.ago(Self.now.addingTimeInterval(-12), now: Self.now) == "12 s ago")
        #expect(DashboardFormat.ago(Self.now.addingTimeInterval(0.3), now: Self.now) == "just now")
        #expect(DashboardFormat.minute(Self.now) == "2025-06-15 15:06 UTC")
    }

    @Test func numbersAndCredit() {
        #expect(DashboardFormat.integer(0) == "0")
        #expect(DashboardFormat.integer(999) == "999")
        #expect(DashboardFormat.integer(1000) == "1,000")
        #expect(DashboardFormat.integer(-1_234_567) == "-1,234,567")
        #expect(DashboardFormat.flops(0) == "0 FLOP")
        #expect(DashboardFormat.flops(950) == "950 FLOP")
        #expect(DashboardFormat.flops(1.2e15) == "1.2 PFLOP")
        #expect(DashboardFormat.flops(345e9) == "345 GFLOP")
        #expect(DashboardFormat.flops(99.99e6) == "100 MFLOP")
        #expect(DashboardFormat.flops(999.99e6) == "1.0 GFLOP")
        #expect(DashboardFormat.percent(0.125) == "12.5%")
        #expect(DashboardFormat.tokensPerSecond(12.34) == "12.3 tok/s")
        #expect(DashboardFormat.tokensPerSecond(12_345.6) == "12,346 tok/s")
        #expect(DashboardFormat.quantity(.nan) == "–")
    }

    // MARK: Worker page

    @Test func workerPageShowsItsFiguresAndHistory() {
        let w = Self.worker()
        var run = Self.run()
        run.topContributors[0].workerID = w.workerID
        let status = Self.status(runs: [run], workers: [w])
        let history = WorkerHistory(worker: w, entries: [
            .init(at: Self.now.addingTimeInterval(-5), runID: 1, step: 5, unit: 2, outcome: "accepted", loss: 4.56789, tokens: 32),
            .init(at: Self.now.addingTimeInterval(-65), runID: 1, step: 4, unit: 1, outcome: "rejected", reason: "invalid_result",
                  tokens: 32),
        ])
        let html = DashboardPage.worker(history, status: status)
        #expect(html.contains("<h1>alice <span class=\"badge online\""))
        #expect(html.contains("<a href=\"/runs/1\">tiny</a>"))
        #expect(DOM.value("accepted-units", in: html) == "42")
        #expect(DOM.value("consecutive-valid", in: html) == "17")
        #expect(DOM.value("rejected-results", in: html) == "1")
        #expect(DOM.value("tokens-per-second", in: html) == "88.5")
        #expect(html.contains("<span data-field=\"version\">0.1 &quot;beta&quot;</span>"))
        #expect(html.contains("<span data-field=\"backend\">cpu &lt;avx2&gt;</span> · 4 threads"))
        #expect(html.contains("<tr data-entry=\"1-5-2\" data-outcome=\"accepted\">"))
        #expect(html.contains("<tr data-entry=\"1-4-1\" data-outcome=\"rejected\">"))
        #expect(html.contains("data-field=\"loss\" data-value=\"4.56789\">4.5679<"))
        #expect(html.contains("<code data-field=\"reason\">invalid_result</code>"))
        #expect(html.contains(">1 min ago</time>"))
        #expect(html.contains("<tr data-run=\"1\">"), "its contribution to run 1")
        let empty = DashboardPage.worker(WorkerHistory(worker: w, entries: []), status: status)
        #expect(empty.contains("No results yet."))
    }
}
