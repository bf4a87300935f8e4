import Foundation
import Metrics
import Prometheus
import Wire

/// The coordinator's metrics: recorded through swift-metrics (Hummingbird's
/// request metrics included), kept in a swift-prometheus registry, served at
/// `GET /metrics` in Prometheus text format.
public enum CoordinatorMetrics {
    /// The process's registry. swift-metrics is bootstrapped into it on first
    /// use (once per process: tests build many applications).
    public static let registry: PrometheusCollectorRegistry = {
        let registry = PrometheusCollectorRegistry()
        var factory = PrometheusMetricsFactory(registry: registry)
        factory.nameAndLabelSanitizer = { name, labels in
            (renamed[name] ?? name, labels.map { (sanitized($0.0), $0.1) })
        }
        MetricsSystem.bootstrap(factory)
        return registry
    }()

    /// Hummingbird's metric names in Prometheus' conventions (counters end in
    /// `_total`, durations in `_seconds`) under the `koinon_` prefix.
    static let renamed: [String: String] = [
        "hb.requests": "koinon_http_requests_total",
        "hb.request.errors": "koinon_http_request_errors_total",
        "http.server.request.duration": "koinon_http_request_duration_seconds",
        "http.server.active_requests": "koinon_http_active_requests",
    ]

    /// One line of help per metric family (`promtool check metrics` wants one;
    /// swift-metrics has no place for it, so it is added when serving).
    static let help: [String: String] = [
        "koinon_http_requests_total": "HTTP requests answered, by route, method and status.",
        "koinon_http_request_errors_total": "HTTP requests that ended in an error, by route and status.",
        "koinon_http_request_duration_seconds": "HTTP request latency, by route, method and status.",
        "koinon_http_active_requests": "HTTP requests being served now, by method.",
        "koinon_results_total": "Results received, by outcome (accepted, superseded, rejected).",
        "koinon_rejections_total": "Results rejected by verification, by reason.",
        "koinon_direction_suspects_total": "Training results replicated because they pointed against their step's earlier results.",
        "koinon_step_duration_seconds": "Wall time between a run's consecutive applied steps.",
        "koinon_tokens_trained_total": "Tokens in applied steps, by run.",
        "koinon_units": "The current step's training units by state, by run.",
        "koinon_evaluation_units_outstanding": "Evaluation units not yet accepted, by run.",
        "koinon_run_step": "The step each run is computing.",
        "koinon_tokens_per_second": "Tokens trained per second by run, over the last minute or ten minutes.",
        "koinon_workers_online": "Workers seen in the last minute, by backend.",
        "koinon_database_connections": "This database's client connections by state (active = in use).",
        "koinon_status_refresh_seconds": "Time to build the status snapshot.",
    ]

    static let knownBackends: Set<String> = ["cpu", "cuda", "metal", "other"]
    /// pg_stat_activity's states.
    static let connectionStates: Set<String> = [
        "active", "idle", "idle in transaction", "idle in transaction (aborted)", "fastpath function call", "disabled", "other",
    ]

    static func sanitized(_ label: String) -> String {
        String(label.map { $0.isLetter || $0.isNumber || $0 == "_" ? $0 : "_" })
    }

    /// The exposition text, with a `# HELP` line before every family's `# TYPE`.
    public static func exposition() -> String {
        _ = registry
        var out = ""
        for line in registry.emitToString().split(separator: "\n", omittingEmptySubsequences: false) {
            if line.hasPrefix("# TYPE ") {
                let name = line.dropFirst(7).split(separator: " ").first.map(String.init) ?? ""
                out += "# HELP \(name) \(help[name] ?? "Koinon metric \(name).")\n"
            }
            out += line + "\n"
        }
        return out.hasSuffix("\n\n") ? String(out.dropLast()) : out
    }

    // MARK: Recording

    static func resultReceived(outcome: String) {
        Counter(label: "koinon_results_total", dimensions: [("outcome", outcome)]).increment()
    }

    static func rejected(reason: String) {
        resultReceived(outcome: "rejected")
        Counter(label: "koinon_rejections_total", dimensions: [("reason", reason)]).increment()
    }

    static func directionSuspect() {
        Counter(label: "koinon_direction_suspects_total").increment()
    }

    static func stepApplied(run: Int, tokens: Int, sincePrevious: Duration?) {
        Counter(label: "koinon_tokens_trained_total", dimensions: [("run", String(run))]).increment(by: tokens)
        if let sincePrevious {
            Metrics.Timer(label: "koinon_step_duration_seconds", dimensions: [("run", String(run))],
                          preferredDisplayUnit: .seconds).record(duration: sincePrevious)
        }
    }

    /// The gauges that describe a snapshot.
    static func record(_ status: StatusResponse, connections: [String: Int], refresh: Duration) {
        for run in status.runs {
            let id = String(run.runID)
            for (state, n) in [("pending", run.units.pending), ("leased", run.units.leased),
                               ("submitted", run.units.submitted), ("verifying", run.units.verifying),
                               ("accepted", run.units.accepted)] {
                Gauge(label: "koinon_units", dimensions: [("run", id), ("state", state)]).record(n)
            }
            Gauge(label: "koinon_evaluation_units_outstanding", dimensions: [("run", id)]).record(run.evaluationUnitsOutstanding)
            Gauge(label: "koinon_run_step", dimensions: [("run", id)]).record(run.step)
            Gauge(label: "koinon_tokens_per_second", dimensions: [("run", id), ("window", "1m")])
                .record(run.tokensPerSecond.lastMinute)
            Gauge(label: "koinon_tokens_per_second", dimensions: [("run", id), ("window", "10m")])
                .record(run.tokensPerSecond.last10Minutes)
        }
        // Label values from a fixed set (backends come from workers, so any other is "other"), every
        // one recorded each time: a backend whose last worker left reads 0, not its last count.
        var online = Dictionary(uniqueKeysWithValues: knownBackends.map { ($0, 0) })
        for (backend, n) in status.workersOnline { online[knownBackends.contains(backend) ? backend : "other", default: 0] += n }
        for (backend, n) in online { Gauge(label: "koinon_workers_online", dimensions: [("backend", backend)]).record(n) }
        var byState = Dictionary(uniqueKeysWithValues: connectionStates.map { ($0, 0) })
        for (state, n) in connections { byState[connectionStates.contains(state) ? state : "other", default: 0] += n }
        for (state, n) in byState { Gauge(label: "koinon_database_connections", dimensions: [("state", state)]).record(n) }
        Metrics.Timer(label: "koinon_status_refresh_seconds", preferredDisplayUnit: .seconds).record(duration: refresh)
    }
}
