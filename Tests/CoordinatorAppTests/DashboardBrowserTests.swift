import CoordinatorApp
import Foundation
import Hummingbird
import HummingbirdTesting
import KoinonCore
import Logging
import NIOCore
import PostgresNIO
import Testing
import Wire
import WorkerKit

#if canImport(Glibc)
    import Glibc
#endif

/// The dashboard as a browser sees it: a tiny run trained to the end by two
/// in-process workers against a live coordinator, then `/`, `/runs/1` and
/// `/workers/<name>` rendered by headless Chromium (Debian's `chromium`).
/// The DOM must show the numbers `/v1/status` gives for the same snapshot,
/// and the screenshots at desktop and phone widths are kept under
/// `.build/test-artifacts/dashboard/`.
@Suite(.serialized, .timeLimit(.minutes(5))) struct DashboardBrowserTests {
    static let logger = Logger(label: "test")
    static let steps = 4

    @Test func dashboardRendersInHeadlessChromium() async throws {
        guard let chromium = Chromium.locate() else {
            Issue.record("""
                The `chromium` browser is not installed (looked for \(Chromium.candidates.joined(separator: ", ")) and on PATH). \
                Run scripts/install-deps.sh, which installs Debian's chromium package.
                """)
            return
        }
        let artifacts = try Artifacts.directory()
        try await TestDatabase.withFresh(migrated: true, function: "dashboardBrowser") { db in
            let coordinator = Coordinator(db: db.client, blobs: try BlobStore(root: TinyRun.directory.appendingPathComponent("blobs-dash-\(UUID())")),
                                          settings: CoordinatorSettings(), logger: Self.logger)
            let run = try await coordinator.createRun(yaml: TinyRun.yaml(steps: Self.steps), baseDirectory: TinyRun.directory)
            let app = CoordinatorServer.application(coordinator: coordinator, host: "127.0.0.1", port: 0, services: [], logger: Self.logger)
            try await app.test(.live) { client in
                let base = "http://127.0.0.1:\(client.port!)"
                try await Self.train(run: run, db: db.client, url: base)
                let snapshots = Snapshots(client: client)
                let status = try await snapshots.waitFor("the finished run") {
                    $0.runs.first?.state == .finished && $0.runs.first?.lossHistory.count == Self.steps
                }
                let browser = Browser(chromium: chromium, base: base, artifacts: artifacts, snapshots: snapshots)
                try await Self.checkHome(browser)
                try await Self.checkRunPage(browser, runID: run)
                let worker = try #require(status.workers.max { $0.acceptedUnits < $1.acceptedUnits })
                try await Self.checkWorkerPage(browser, name: worker.name)
            }
        }
    }

    /// Trains the tiny run to its last step and evaluation with two workers, then stops them.
    static func train(run: Int, db: PostgresClient, url: String) async throws {
        let pool = (0..<2).map { i in
            var options = VolunteerWorker.Options(
                name: "dash-w\(i)", threads: 1,
                cacheDirectory: TinyRun.directory.appendingPathComponent("cache-dash-\(i)-\(UUID())"), maxUnits: nil)
            options.leaseWait = 0.5
            return VolunteerWorker(coordinatorURL: url, options: options, logger: logger)
        }
        try await TinyRun.train(pool, until: run, on: db, timeout: .seconds(120))
    }

    // MARK: The pages

    static func checkHome(_ browser: Browser) async throws {
        let (dom, status) = try await browser.render("/", as: "home")
        #expect(!dom.lowercased().contains("<script"))
        #expect(dom.contains("<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">"))
        #expect(dom.contains("<meta http-equiv=\"refresh\" content=\"5\">"))
        for run in status.runs {
            let section = try #require(DOM.section("run-\(run.runID)", in: dom), "no section for run \(run.runID)")
            checkRunFigures(run, in: section)
            let rows = DOM.tags(in: section, with: "data-contributor")
            #expect(rows.count == min(run.topContributors.count, 5))
        }
        for worker in status.workers {
            let row = try #require(DOM.element("tr", with: "data-worker", DOM.escape(worker.name), in: dom),
                                   "no row for worker \(worker.name)")
            #expect(DOM.value("accepted-units", in: row) == "\(worker.acceptedUnits)")
            #expect(DOM.value("active-leases", in: row) == "\(worker.activeLeases)")
            #expect(DOM.value("consecutive-valid", in: row) == "\(worker.consecutiveValid)")
            #expect(DOM.value("rejected-results", in: row) == "\(worker.rejectedResults)")
            #expect(DOM.double("tokens-per-second", in: row) == worker.tokensPerSecond)
            #expect(DOM.double("credit", in: row) == worker.creditFLOPs)
            #expect(DOM.value("online", in: row) == "\(worker.online)")
            #expect(row.contains("href=\"/workers/\(DOM.escape(worker.name))\""))
        }
        #expect(DOM.value("workers-online", in: dom) == "\(status.workersOnline.values.reduce(0, +))")
        #expect(DOM.tags(in: dom, with: "data-rejection").count == status.recentRejections.count)
    }

    /// A run's section shows the snapshot's figures, and its chart has a point per loss.
    static func checkRunFigures(_ run: RunStatus, in section: String) {
        let integers: [(String, Int)] = [
            ("step", run.step), ("total-steps", run.totalSteps), ("parameter-version", run.parameterVersion),
            ("tokens-trained", run.tokensTrained), ("evaluation-units-outstanding", run.evaluationUnitsOutstanding),
            ("units-pending", run.units.pending), ("units-leased", run.units.leased),
            ("units-submitted", run.units.submitted), ("units-accepted", run.units.accepted),
            ("accepted-results", run.verification.acceptedResults), ("superseded-results", run.verification.supersededResults),
            ("rejected-results", run.verification.rejectedResults),
        ]
        for (field, expected) in integers {
            #expect(DOM.value(field, in: section) == "\(expected)", "run \(run.runID): \(field)")
        }
        #expect(DOM.double("tokens-per-second-1m", in: section) == run.tokensPerSecond.lastMinute)
        #expect(DOM.double("tokens-per-second-10m", in: section) == run.tokensPerSecond.last10Minutes)
        #expect(DOM.double("replicated-share", in: section) == run.verification.replicatedShare)
        #expect(DOM.value("eta", in: section) == run.etaSeconds.map { "\($0)" } ?? "")
        #expect(DOM.text("state", in: section) == run.state.rawValue)
        for (reason, count) in run.verification.rejectionsByReason {
            #expect(section.contains("data-reason=\"\(DOM.escape(reason))\" data-value=\"\(count)\""))
        }
        checkChart(run, in: section)
    }

    static func checkChart(_ run: RunStatus, in section: String) {
        #expect(!run.lossHistory.isEmpty, "the finished run has a loss history")
        let svg = DOM.tags(in: section, with: "data-field", "loss-chart")
        #expect(svg.count == 1, "run \(run.runID) has one loss chart")
        let train = DOM.tags(in: section, with: "data-series", "train")
        #expect(train.count == 1)
        #expect(train.first.map { DOM.pointCount($0) } == run.lossHistory.count)
        let validation = DOM.tags(in: section, with: "data-series", "validation")
        #expect(validation.count == (run.validationHistory.isEmpty ? 0 : 1))
        if let line = validation.first { #expect(DOM.pointCount(line) == run.validationHistory.count) }
        #expect(DOM.tags(in: section, with: "data-series", "validation-point").count == run.validationHistory.count)
    }

    static func checkRunPage(_ browser: Browser, runID: Int) async throws {
        let (dom, status) = try await browser.render("/runs/\(runID)", as: "run")
        let run = try #require(status.runs.first { $0.runID == runID })
        let section = try #require(DOM.section("run-\(runID)", in: dom))
        #expect(section.contains("<h1 data-field=\"run-name\">\(DOM.escape(run.name)) "))
        checkRunFigures(run, in: section)
        let svg = try #require(DOM.tags(in: section, with: "data-field", "loss-chart").first)
        #expect(DOM.attribute("viewBox", of: svg) == "0 0 960 400", "the run page has the big chart")
        #expect(DOM.tags(in: section, with: "data-contributor").count == run.topContributors.count)
        #expect(!dom.lowercased().contains("<script"))
    }

    static func checkWorkerPage(_ browser: Browser, name: String) async throws {
        let path = "/workers/" + (name.addingPercentEncoding(withAllowedCharacters: .alphanumerics) ?? name)
        let (dom, status) = try await browser.render(path, as: "worker")
        let worker = try #require(status.workers.first { $0.name == name })
        let section = try #require(DOM.element("section", with: "data-worker", DOM.escape(name), in: dom))
        #expect(section.contains("<h1>\(DOM.escape(name)) "))
        #expect(DOM.value("accepted-units", in: section) == "\(worker.acceptedUnits)")
        #expect(DOM.value("consecutive-valid", in: section) == "\(worker.consecutiveValid)")
        #expect(DOM.value("rejected-results", in: section) == "\(worker.rejectedResults)")
        #expect(DOM.double("tokens-per-second", in: section) == worker.tokensPerSecond)
        #expect(DOM.double("credit", in: section) == worker.creditFLOPs)
        #expect(worker.acceptedUnits > 0, "the busiest worker did some units")
        let entries = DOM.tags(in: dom, with: "data-entry")
        #expect(!entries.isEmpty, "its results are listed")
        #expect(entries.allSatisfy { ["accepted", "superseded", "rejected"].contains(DOM.attribute("data-outcome", of: $0) ?? "") })
        #expect(!dom.lowercased().contains("<script"))
    }
}

// MARK: - Status snapshots

/// `/v1/status` answers by their `generated_at`, so a page can be compared
/// with the very snapshot it was rendered from.
final class Snapshots: @unchecked Sendable {
    let client: any TestClientProtocol
    private let lock = NSLock()
    private var byTime: [String: StatusResponse] = [:]

    init(client: any TestClientProtocol) { self.client = client }

    /// Fetches `/v1/status` once and remembers it.
    @discardableResult
    func poll() async throws -> StatusResponse {
        let response = try await client.execute(uri: "/v1/status", method: .get)
        #expect(response.status == .ok)
        let status = try WireProtocol.makeDecoder().decode(StatusResponse.self, from: Data(response.body.readableBytesView))
        lock.withLock { byTime[WireTimestamp.string(from: status.generatedAt)] = status }
        return status
    }

    func at(_ time: String) -> StatusResponse? { lock.withLock { byTime[time] } }

    var times: [String] { lock.withLock { byTime.keys.sorted() } }

    /// Polls until a snapshot satisfies `condition` (30 s at most).
    func waitFor(_ what: String, _ condition: (StatusResponse) -> Bool) async throws -> StatusResponse {
        let deadline = ContinuousClock.now + .seconds(30)
        while true {
            let status = try await poll()
            if condition(status) { return status }
            guard ContinuousClock.now < deadline else { throw EngineError("/v1/status did not show \(what) within 30 s") }
            try await Task.sleep(for: .milliseconds(200))
        }
    }
}

// MARK: - Chromium

/// Debian's `chromium`, run headless as a child process with a throwaway
/// `HOME` and profile, killed if it runs over a minute.
struct Chromium: Sendable {
    static let candidates = ["/usr/bin/chromium", "/usr/bin/chromium-browser", "/usr/bin/google-chrome"]
    static let timeout: Duration = .seconds(60)

    let executable: URL

    static func locate() -> Chromium? {
        let path = (ProcessInfo.processInfo.environment["PATH"] ?? "").split(separator: ":").map { "\($0)/chromium" }
        return (candidates + path).first { FileManager.default.isExecutableFile(atPath: $0) }
            .map { Chromium(executable: URL(fileURLWithPath: $0)) }
    }

    /// Runs chromium headless with `arguments` (after the common flags),
    /// calling `meanwhile` every ~150 ms while it runs; its standard output.
    func run(_ arguments: [String], meanwhile: () async throws -> Void) async throws -> String {
        let scratch = FileManager.default.temporaryDirectory.appendingPathComponent("koinon-chromium-\(UUID())")
        try FileManager.default.createDirectory(at: scratch, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: scratch) }
        let stdout = scratch.appendingPathComponent("stdout"), stderr = scratch.appendingPathComponent("stderr")
        _ = FileManager.default.createFile(atPath: stdout.path, contents: nil)
        _ = FileManager.default.createFile(atPath: stderr.path, contents: nil)
        let process = Process()
        process.executableURL = executable
        process.arguments = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--no-first-run",
                             "--hide-scrollbars", "--user-data-dir=\(scratch.appendingPathComponent("profile").path)"] + arguments
        var environment = ProcessInfo.processInfo.environment
        environment["HOME"] = scratch.path
        process.environment = environment
        process.standardOutput = try FileHandle(forWritingTo: stdout)
        process.standardError = try FileHandle(forWritingTo: stderr)
        try process.run()
        let deadline = ContinuousClock.now + Self.timeout
        while process.isRunning {
            guard ContinuousClock.now < deadline else {
                kill(process.processIdentifier, SIGKILL)
                throw EngineError("chromium \(arguments.joined(separator: " ")) ran over \(Self.timeout); killed it")
            }
            try await meanwhile()
            try await Task.sleep(for: .milliseconds(150))
        }
        process.waitUntilExit()
        guard process.terminationStatus == 0 else {
            let log = (try? String(contentsOf: stderr, encoding: .utf8)) ?? ""
            throw EngineError("chromium exited with \(process.terminationStatus): \(log.suffix(2000))")
        }
        return (try? String(contentsOf: stdout, encoding: .utf8)) ?? ""
    }
}

/// The browser's view of the coordinator: DOM dumps and screenshots, saved
/// as artifacts, each paired with the `/v1/status` snapshot it was rendered from.
struct Browser {
    let chromium: Chromium
    let base: String
    let artifacts: URL
    let snapshots: Snapshots

    static let widths: [(name: String, width: Int, height: Int)] = [("desktop", 1280, 900), ("phone", 390, 844)]

    /// Dumps `path`'s DOM (saved as `<name>.html`) and takes its screenshots
    /// (`<name>-desktop.png`, `<name>-phone.png`); the DOM and its snapshot.
    func render(_ path: String, as name: String) async throws -> (dom: String, status: StatusResponse) {
        try await snapshots.poll()
        let dom = try await chromium.run(["--dump-dom", base + path]) { try await snapshots.poll() }
        try dom.write(to: artifacts.appendingPathComponent("\(name).html"), atomically: true, encoding: .utf8)
        #expect(dom.contains("</html>"), "\(path): chromium dumped a whole document")
        let time = try #require(DOM.value("generated-at", in: dom), "\(path) shows no snapshot time")
        let status = try #require(snapshots.at(time),
                                  "\(path) shows snapshot \(time), which /v1/status did not give while chromium ran (saw \(snapshots.times))")
        for size in Self.widths {
            let png = artifacts.appendingPathComponent("\(name)-\(size.name).png")
            try? FileManager.default.removeItem(at: png)
            _ = try await chromium.run(["--screenshot=\(png.path)", "--window-size=\(size.width),\(size.height)", base + path]) {}
            let data = try #require(FileManager.default.contents(atPath: png.path), "no screenshot \(png.path)")
            #expect(data.count > 10_000, "\(png.lastPathComponent) is only \(data.count) bytes")
            #expect(PNG.size(data).map { [$0.width, $0.height] } == [size.width, size.height], "\(png.lastPathComponent)'s size")
        }
        return (dom, status)
    }
}

/// `.build/test-artifacts/dashboard/` in the package root.
enum Artifacts {
    static func directory() throws -> URL {
        let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        let dir = root.appendingPathComponent(".build/test-artifacts/dashboard")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        return dir
    }
}

enum PNG {
    /// Width and height from the IHDR chunk, nil if `data` is not a PNG.
    static func size(_ data: Data) -> (width: Int, height: Int)? {
        let bytes = [UInt8](data.prefix(24))
        guard bytes.count == 24, bytes[0..<8] == [0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A] else { return nil }
        func int(_ at: Int) -> Int { bytes[at..<at + 4].reduce(0) { $0 << 8 | Int($1) } }
        return (int(16), int(20))
    }
}
