import Foundation
import Wire

/// The home page's worker sections: the workers table, workers online by
/// backend, and recent rejections. Times are shown relative to the
/// snapshot's `generatedAt`.
enum WorkerSections {
    static func workers(_ status: StatusResponse) -> String {
        let table = status.workers.isEmpty
            ? "<p class=\"empty\" data-field=\"workers\">No workers seen in the last 24 hours.</p>"
            : HTML.table([.text("Worker"), .text("Backend"), .text("Status"), .number("Units"), .number("Leases"),
                          .number("Tokens/s"), .text("Trust"), .number("Credit"), .text("Last seen")],
                         rows: status.workers.map { workerRow($0, now: status.generatedAt) }, field: "workers")
        return "<section class=\"card\" id=\"workers\"><h2>Workers</h2>" + online(status.workersOnline) + table + "</section>"
    }

    static func online(_ byBackend: [String: Int]) -> String {
        let total = byBackend.values.reduce(0, +)
        let items = byBackend.sorted { $0.key < $1.key }.map { backend, count in
            "<li data-backend=\"\(HTML.escape(backend))\" data-value=\"\(count)\">\(HTML.escape(backend)): "
                + "<b>\(DashboardFormat.integer(count))</b></li>"
        }
        return "<p>Online now: \(HTML.figure("workers-online", total, tag: "b"))</p>"
            + (items.isEmpty ? "" : "<ul class=\"inline\" data-field=\"workers-online-by-backend\">\(items.joined())</ul>")
    }

    static func workerRow(_ w: WorkerStatus, now: Date) -> String {
        "<tr data-worker=\"\(HTML.escape(w.name))\">"
            + HTML.nameCell(HTML.workerLink(w.name))
            + "<td class=\"backend\"><span data-field=\"backend\">\(HTML.escape(w.backend))</span></td>"
            + HTML.cell(onlineBadge(w.online))
            + HTML.cell(HTML.figure("accepted-units", w.acceptedUnits), numeric: true)
            + HTML.cell(HTML.figure("active-leases", w.activeLeases), numeric: true)
            + HTML.cell(HTML.figure("tokens-per-second", value: DashboardFormat.raw(w.tokensPerSecond),
                                    text: DashboardFormat.quantity(w.tokensPerSecond)), numeric: true)
            + HTML.cell(trust(w))
            + HTML.cell(HTML.figure("credit", value: DashboardFormat.raw(w.creditFLOPs), text: DashboardFormat.flops(w.creditFLOPs)),
                        numeric: true)
            + HTML.cell(HTML.time(w.lastSeen, text: DashboardFormat.ago(w.lastSeen, now: now)), field: "last-seen")
            + "</tr>"
    }

    static func backend(_ w: WorkerStatus) -> String {
        let threads = w.threads > 0 ? " · \(w.threads) thread\(w.threads == 1 ? "" : "s")" : ""
        return "<span data-field=\"backend\">\(HTML.escape(w.backend))</span>\(threads)"
    }

    static func onlineBadge(_ online: Bool) -> String {
        online ? "<span class=\"badge online\" data-field=\"online\" data-value=\"true\">● online</span>"
            : "<span class=\"badge offline\" data-field=\"online\" data-value=\"false\">○ offline</span>"
    }

    /// "N valid in a row · M rejected".
    static func trust(_ w: WorkerStatus) -> String {
        HTML.figure("consecutive-valid", value: String(w.consecutiveValid),
                    text: "\(DashboardFormat.integer(w.consecutiveValid)) valid in a row")
            + " · "
            + HTML.figure("rejected-results", value: String(w.rejectedResults),
                          text: "\(DashboardFormat.integer(w.rejectedResults)) rejected")
    }

    // MARK: Rejections

    /// Recent rejections, newest first; `runID` keeps one run's.
    static func rejections(_ status: StatusResponse, runID: Int? = nil) -> String {
        let records = status.recentRejections.filter { runID == nil || $0.runID == runID }
        let body = records.isEmpty
            ? "<p class=\"empty\" data-field=\"rejections\">No rejected results.</p>"
            : HTML.table([.text("When"), .text("Worker"), .text("Where"), .text("Reason"), .text("Message")],
                         rows: records.map { rejectionRow($0, now: status.generatedAt) }, field: "rejections")
        return "<section class=\"card\" id=\"rejections\"><h2>Recent rejections</h2>\(body)</section>"
    }

    static func rejectionRow(_ r: RejectionRecord, now: Date) -> String {
        "<tr data-rejection=\"\(r.runID)-\(r.step)-\(r.unit)\">"
            + HTML.cell(HTML.time(r.at, text: DashboardFormat.ago(r.at, now: now)))
            + HTML.nameCell(HTML.workerLink(r.workerName))
            + HTML.cell("\(HTML.runLink(r.runID, "run \(r.runID)")) · step \(r.step) · unit \(r.unit)")
            + HTML.cell("<code data-field=\"reason\">\(HTML.escape(r.reason.rawValue))</code>")
            + "<td class=\"message\" data-field=\"message\">\(HTML.escape(r.message))</td>"
            + "</tr>"
    }
}
