import Foundation
import Wire

/// What `/v1/status` said about this worker and its run (decoration for the
/// status line; fetched now and then, may be missing or stale).
public struct CoordinatorView: Sendable, Equatable {
    public var creditFLOPs: Double?
    public var acceptedUnits: Int?
    public var runID: Int?
    public var runName: String?
    public var runState: RunState?
    public var etaSeconds: Double?

    public init(creditFLOPs: Double? = nil, acceptedUnits: Int? = nil, runID: Int? = nil, runName: String? = nil,
                runState: RunState? = nil, etaSeconds: Double? = nil) {
        self.creditFLOPs = creditFLOPs
        self.acceptedUnits = acceptedUnits
        self.runID = runID
        self.runName = runName
        self.runState = runState
        self.etaSeconds = etaSeconds
    }

    /// Picks this worker (by id, else by a name no other worker has) and the
    /// run: `runID`, else the only active run.
    public init(_ status: StatusResponse, workerID: UUID?, workerName: String, runID: Int?) {
        let me: WorkerStatus?
        if let workerID {
            me = status.workers.first { $0.workerID == workerID }
        } else {
            let named = status.workers.filter { $0.name == workerName }
            me = named.count == 1 ? named[0] : nil
        }
        let run: RunStatus?
        if let runID {
            run = status.runs.first { $0.runID == runID }
        } else {
            let active = status.runs.filter { $0.state == .active }
            run = active.count == 1 ? active[0] : nil
        }
        self.init(creditFLOPs: me?.creditFLOPs, acceptedUnits: me?.acceptedUnits, runID: run?.runID,
                  runName: run?.name, runState: run?.state, etaSeconds: run?.etaSeconds)
    }
}

/// The live status line's text: pure, from the worker's activity and what
/// the coordinator last said, fitted to a width.
///
///     step 41 · unit 3: computing ~60% · 1.2k tok/s · 12 units · credit 3.1 TFLOP · ETA 4 min
public enum WorkerConsole {
    /// Shown for a value not known (yet).
    public static let unknown = "—"
    static let separator = " · "

    public static func statusLine(activity: WorkerActivity, coordinator: CoordinatorView?, now: Date, width: Int) -> String {
        let fields = statusFields(activity: activity, coordinator: coordinator, now: now)
        return fit(fields, width: width, dropOrder: dropOrder)
    }

    /// Which fields go first when the line is too wide (indices into
    /// `statusFields`): credit, units, ETA, tokens/s; what the worker is doing stays.
    static let dropOrder = [3, 2, 4, 1]

    /// The fields, most important first: what the worker is doing, tokens/s,
    /// units, credit, ETA.
    public static func statusFields(activity a: WorkerActivity, coordinator c: CoordinatorView?, now: Date) -> [String] {
        var fields = [doing(a, now: now)]
        fields.append("\(a.tokensPerSecond(now: now).map(rate) ?? unknown) tok/s")
        fields.append("\(a.unitsAccepted) unit\(a.unitsAccepted == 1 ? "" : "s")")
        fields.append("credit \(c?.creditFLOPs.map(flop) ?? unknown)")
        switch c?.runState {
        case .paused?: fields.append("run paused")
        case .finished?: fields.append("run finished")
        default: fields.append("ETA \(c?.etaSeconds.map(duration) ?? unknown)")
        }
        return fields
    }

    /// The unit in hand and its phase, or why there is none.
    static func doing(_ a: WorkerActivity, now: Date) -> String {
        if let t = a.trouble {
            let wait = t.retryAt.timeIntervalSince(now)
            return "\(t.what); " + (wait > 0 ? "retrying in \(seconds(wait.rounded(.up)))" : "trying again") + " (attempt \(t.attempt))"
        }
        guard let u = a.unit else { return a.idle ?? "starting" }
        let head = "step \(u.step) · unit \(u.unit): "
        let fraction = u.fraction(now: now).map { "\(Int(($0 * 100 + 1e-9).rounded(.down)))%" }
        switch u.phase {
        case .preparing:
            return head + "preparing"
        case .downloading(let what):
            if let fraction { return head + "downloading \(what) \(fraction)" }
            if let done = u.bytesDone { return head + "downloading \(what) \(ByteSize.format(done))" }
            return head + "downloading \(what)"
        case .computing:
            if let fraction { return head + "computing ~\(fraction)" }
            return head + "computing \(seconds(now.timeIntervalSince(u.phaseStarted).rounded(.down)))"
        case .uploading:
            return head + "uploading"
        }
    }

    /// Joins the fields; while too wide, drops fields in `dropOrder` (indices;
    /// default: from the end), then cuts what is left with "…".
    public static func fit(_ fields: [String], width: Int, dropOrder: [Int]? = nil) -> String {
        guard width > 0 else { return "" }
        var kept = Array(fields.indices)
        var order = (dropOrder ?? Array(fields.indices.dropFirst().reversed()))[...]
        let text = { kept.map { fields[$0] }.joined(separator: separator) }
        while text().count > width, let next = order.popFirst() { kept.removeAll { $0 == next } }
        return truncate(text(), width: width)
    }

    /// At most `width` characters, "…" marking a cut.
    public static func truncate(_ text: String, width: Int) -> String {
        guard width > 0 else { return "" }
        guard text.count > width else { return text }
        return String(text.prefix(width - 1)) + "…"
    }

    // MARK: Formatting

    /// FLOPs with an SI prefix: "950 FLOP", "3.1 TFLOP", "312 PFLOP".
    public static func flop(_ x: Double) -> String {
        HumanUnits.flops(x) ?? unknown
    }

    /// Tokens per second: "7.5", "840", "1.2k", "3.4M".
    public static func rate(_ x: Double) -> String {
        guard x.isFinite, x >= 0 else { return unknown }
        if x < 10 { return String(format: "%.1f", x) }
        if x < 999.5 { return String(format: "%.0f", x) }
        if x < 999_500 { return String(format: x < 9_995 ? "%.1fk" : "%.0fk", x / 1e3) }
        return String(format: x < 9_995_000 ? "%.1fM" : "%.0fM", x / 1e6)
    }

    /// A time span for people: "45 s", "4 min", "2 h 5 min", "3 d 4 h".
    public static func duration(_ s: Double) -> String {
        HumanUnits.duration(s) ?? unknown
    }

    /// A short wait: "0.5 s", "4 s", "12 s" (one decimal below 10 s, when not whole).
    public static func seconds(_ s: Double) -> String {
        guard s.isFinite, s >= 0 else { return unknown }
        guard s < 3_600 else { return duration(s) }
        if s < 9.95 {
            let tenths = (s * 10).rounded()
            return tenths.truncatingRemainder(dividingBy: 10) == 0 ? "\(Int(tenths / 10)) s" : String(format: "%.1f s", s)
        }
        return "\(Int(s.rounded())) s"
    }
}
