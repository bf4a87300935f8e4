import Foundation
import Wire

/// `/workers/{name}`'s content: the worker's figures, its credit in each run
/// the status lists it among the contributors, and its recent results.
struct WorkerPage {
    var history: WorkerHistory
    var status: StatusResponse

    func render() -> String {
        let w = history.worker
        return "<section class=\"card\" id=\"worker\" data-worker=\"\(HTML.escape(w.name))\">"
            + "<h1>\(HTML.escape(w.name)) \(WorkerSections.onlineBadge(w.online))</h1>"
            + figures(w) + runs(w) + "</section>"
            + "<section class=\"card\" id=\"history\"><h2>Recent results</h2>" + entries() + "</section>"
    }

    private func figures(_ w: WorkerStatus) -> String {
        let tiles = [
            HTML.stat("Backend", WorkerSections.backend(w), wide: true),
            HTML.stat("Version", "<span data-field=\"version\">\(HTML.escape(w.version.isEmpty ? "–" : w.version))</span>"),
            HTML.stat("Last seen", HTML.time(w.lastSeen, text: DashboardFormat.ago(w.lastSeen, now: status.generatedAt))),
            HTML.stat("Accepted units", HTML.figure("accepted-units", w.acceptedUnits)),
            HTML.stat("Trust", WorkerSections.trust(w)),
            HTML.stat("Active leases", HTML.figure("active-leases", w.activeLeases)),
            HTML.stat("Tokens/s, last 10 min", HTML.figure("tokens-per-second", value: DashboardFormat.raw(w.tokensPerSecond),
                                                           text: DashboardFormat.tokensPerSecond(w.tokensPerSecond))),
            HTML.stat("Credit", HTML.figure("credit", value: DashboardFormat.raw(w.creditFLOPs),
                                            text: DashboardFormat.flops(w.creditFLOPs))),
        ]
        return "<div class=\"stats\">\(tiles.joined())</div>"
    }

    /// The runs whose top contributors include this worker.
    private func runs(_ w: WorkerStatus) -> String {
        let rows = status.runs.compactMap { run -> String? in
            guard let rank = run.topContributors.firstIndex(where: { $0.workerID == w.workerID }) else { return nil }
            let c = run.topContributors[rank]
            return "<tr data-run=\"\(run.runID)\">" + HTML.nameCell(HTML.runLink(run.runID, run.name))
                + HTML.cell("\(rank + 1)", numeric: true)
                + HTML.cell(HTML.figure("units", c.units), numeric: true)
                + HTML.cell(HTML.figure("tokens", c.tokens), numeric: true)
                + HTML.cell(HTML.figure("credit", value: DashboardFormat.raw(c.creditFLOPs), text: DashboardFormat.flops(c.creditFLOPs)),
                            numeric: true)
                + "</tr>"
        }
        guard !rows.isEmpty else { return "" }
        return "<h3>Contributions</h3>"
            + HTML.table([.text("Run"), .number("Rank"), .number("Units"), .number("Tokens"), .number("Credit")],
                         rows: rows, field: "worker-runs")
    }

    private func entries() -> String {
        guard !history.entries.isEmpty else {
            return "<p class=\"empty\" data-field=\"history\">No results yet.</p>"
        }
        return HTML.table([.text("When"), .text("Run"), .number("Step"), .number("Unit"), .text("Outcome"), .text("Reason"),
                           .number("Loss"), .number("Tokens")],
                          rows: history.entries.map(entryRow), field: "history")
    }

    /// A run's name from the snapshot, or "run N" for one it no longer lists.
    private func runName(_ id: Int) -> String {
        status.runs.first { $0.runID == id }?.name ?? "run \(id)"
    }

    private func entryRow(_ e: WorkerHistory.Entry) -> String {
        let outcome = HTML.escape(e.outcome)
        return "<tr data-entry=\"\(e.runID)-\(e.step)-\(e.unit)\" data-outcome=\"\(outcome)\">"
            + HTML.cell(HTML.time(e.at, text: DashboardFormat.ago(e.at, now: status.generatedAt)))
            + HTML.nameCell(HTML.runLink(e.runID, runName(e.runID)))
            + HTML.cell(HTML.figure("step", e.step), numeric: true)
            + HTML.cell(HTML.figure("unit", e.unit), numeric: true)
            + HTML.cell("<span class=\"\(outcome)\" data-field=\"outcome\">\(outcome)</span>")
            + HTML.cell(e.reason.map { "<code data-field=\"reason\">\(HTML.escape($0))</code>" } ?? "")
            + HTML.cell(e.loss.map { HTML.figure("loss", value: DashboardFormat.raw($0), text: DashboardFormat.loss($0)) } ?? "",
                        numeric: true)
            + HTML.cell(HTML.figure("tokens", e.tokens), numeric: true)
            + "</tr>"
    }
}
