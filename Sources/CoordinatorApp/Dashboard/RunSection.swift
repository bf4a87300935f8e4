import Foundation
import Wire

/// One run's card: name and state, progress and ETA, throughput, units,
/// verification, the loss chart and the contributors. On the home page it is
/// one of several (`<h2>`, compact chart, the top five contributors); on
/// `/runs/{id}` it is the page (`<h1>`, a bigger chart, every contributor the
/// status lists).
struct RunSection {
    var run: RunStatus
    var detailed = false

    /// Contributors shown on the home page (the run's page shows them all).
    static let homeContributors = 5

    func render() -> String {
        "<section class=\"card run\" id=\"run-\(run.runID)\" data-run=\"\(run.runID)\">"
            + heading() + progress() + figures() + units() + body()
            + "</section>"
    }

    /// The chart beside verification and contributors (two columns on a
    /// desktop), or, on the run's page, the chart across the card above them.
    private func body() -> String {
        detailed
            ? chart() + "<div class=\"columns\"><div>" + verification() + "</div><div>" + contributors() + "</div></div>"
            : "<div class=\"columns\"><div>" + chart() + "</div><div>" + verification() + contributors() + "</div></div>"
    }

    // MARK: Parts

    private func heading() -> String {
        let tag = detailed ? "h1" : "h2"
        let name = detailed ? HTML.escape(run.name) : HTML.runLink(run.runID, run.name)
        let state = HTML.escape(run.state.rawValue)
        return "<\(tag) data-field=\"run-name\">\(name) <span class=\"state state-\(state)\" data-field=\"state\">\(state)</span></\(tag)>"
    }

    private func progress() -> String {
        let total = max(run.totalSteps, 0)
        let done = min(max(run.step, 0), total)
        let share = total > 0 ? Double(done) / Double(total) : 0
        let percent = HTML.figure("percent", value: DashboardFormat.raw(share), text: DashboardFormat.percent(share))
        let eta = HTML.figure("eta", value: run.etaSeconds.map(DashboardFormat.raw) ?? "",
                              text: DashboardFormat.eta(run.etaSeconds, state: run.state))
        return "<div class=\"progress-line\">"
            + "<progress data-field=\"progress\" value=\"\(done)\" max=\"\(max(total, 1))\">\(DashboardFormat.percent(share))</progress>"
            + "<div>Step \(HTML.figure("step", run.step)) of \(HTML.figure("total-steps", run.totalSteps)) · \(percent)"
            + " · ETA \(eta)</div></div>"
    }

    private func figures() -> String {
        let rate = run.tokensPerSecond
        let tiles = [
            HTML.stat("Tokens trained", HTML.figure("tokens-trained", run.tokensTrained)),
            HTML.stat("Tokens/s, last minute", HTML.figure("tokens-per-second-1m", value: DashboardFormat.raw(rate.lastMinute),
                                                           text: DashboardFormat.tokensPerSecond(rate.lastMinute))),
            HTML.stat("Tokens/s, last 10 min", HTML.figure("tokens-per-second-10m", value: DashboardFormat.raw(rate.last10Minutes),
                                                           text: DashboardFormat.tokensPerSecond(rate.last10Minutes))),
            HTML.stat("Parameter version", HTML.figure("parameter-version", run.parameterVersion)),
            HTML.stat("Evaluation units outstanding", HTML.figure("evaluation-units-outstanding", run.evaluationUnitsOutstanding)),
            HTML.stat("Created", HTML.time(run.createdAt, text: DashboardFormat.minute(run.createdAt))),
        ]
        return "<div class=\"stats\">\(tiles.joined())</div>"
    }

    private func units() -> String {
        let counts = run.units
        let tiles = [("Pending", "pending", counts.pending), ("Leased", "leased", counts.leased),
                     ("Submitted", "submitted", counts.submitted), ("Accepted", "accepted", counts.accepted)]
            .map { HTML.stat($0.0, HTML.figure("units-\($0.1)", $0.2)) }
        return "<h3>Units of the current step</h3><div class=\"stats\">\(tiles.joined())</div>"
    }

    private func chart() -> String {
        let chart = LossChart(train: run.lossHistory, validation: run.validationHistory, size: detailed ? .large : .compact)
        return "<h3>Loss</h3>" + chart.render()
    }

    private func verification() -> String {
        let v = run.verification
        let tiles = [
            HTML.stat("Accepted results", HTML.figure("accepted-results", v.acceptedResults)),
            HTML.stat("Verified copies", HTML.figure("verified-copies", v.verifiedCopies), note: "replicas that agreed"),
            HTML.stat("Superseded", HTML.figure("superseded-results", v.supersededResults)),
            HTML.stat("Rejected", HTML.figure("rejected-results", v.rejectedResults)),
            HTML.stat("Replicated", HTML.figure("replicated-share", value: DashboardFormat.raw(v.replicatedShare),
                                                text: DashboardFormat.percent(v.replicatedShare)),
                      note: "units computed more than once"),
        ]
        return "<h3>Verification</h3><div class=\"stats\">\(tiles.joined())</div>" + rejectionsByReason(v.rejectionsByReason)
    }

    private func rejectionsByReason(_ reasons: [String: Int]) -> String {
        guard !reasons.isEmpty else {
            return "<p class=\"empty\" data-field=\"rejections-by-reason\">No rejections.</p>"
        }
        let items = reasons.sorted { ($0.value, $1.key) > ($1.value, $0.key) }.map { reason, count in
            "<li data-reason=\"\(HTML.escape(reason))\" data-value=\"\(count)\"><code>\(HTML.escape(reason))</code> "
                + "× \(DashboardFormat.integer(count))</li>"
        }
        return "<ul class=\"inline\" data-field=\"rejections-by-reason\">\(items.joined())</ul>"
    }

    private func contributors() -> String {
        let title = detailed ? "Contributors" : "Top contributors"
        guard !run.topContributors.isEmpty else {
            return "<h3>\(title)</h3><p class=\"empty\" data-field=\"contributors\">No credited work yet.</p>"
        }
        let shown = detailed ? run.topContributors : Array(run.topContributors.prefix(Self.homeContributors))
        let rows = shown.enumerated().map { Self.contributorRow(rank: $0.offset + 1, $0.element) }
        let more = shown.count < run.topContributors.count
            ? "<p>\(HTML.runLink(run.runID, "All \(run.topContributors.count) contributors →"))</p>" : ""
        return "<h3>\(title)</h3>"
            + HTML.table([.number("#"), .text("Worker"), .number("Units"), .number("Tokens"), .number("Credit")],
                         rows: rows, field: "contributors")
            + more
    }

    private static func contributorRow(rank: Int, _ c: Contributor) -> String {
        "<tr data-contributor=\"\(HTML.escape(c.name))\">"
            + HTML.cell("\(rank)", numeric: true) + HTML.nameCell(HTML.workerLink(c.name))
            + HTML.cell(HTML.figure("units", c.units), numeric: true)
            + HTML.cell(HTML.figure("tokens", c.tokens), numeric: true)
            + HTML.cell(HTML.figure("credit", value: DashboardFormat.raw(c.creditFLOPs), text: DashboardFormat.flops(c.creditFLOPs)),
                        numeric: true)
            + "</tr>"
    }
}
