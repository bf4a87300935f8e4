import Foundation
import Wire

/// The coordinator's HTML pages, rendered from a status snapshot: no
/// JavaScript at all, inline CSS, SVG charts; a `<meta>` refresh reloads them
/// every few seconds, and they lay out in one column on a phone.
///
/// Every figure carries `data-field` (and `data-value` with the exact number
/// where the text is formatted), so tests can read the page like an API.
public enum DashboardPage {
    /// Seconds between reloads (`<meta http-equiv="refresh">`).
    static let refreshSeconds = 5

    /// `GET /`: every run, the workers, the contributors, recent rejections.
    public static func home(_ status: StatusResponse) -> String {
        let runs = status.runs.isEmpty
            ? "<section class=\"card\" id=\"runs\"><p class=\"empty\">No training runs yet.</p></section>"
            : status.runs.map { RunSection(run: $0).render() }.joined(separator: "\n")
        return page(title: "Koinon", status: status,
                    body: "<h1>Training runs</h1>" + runs
                        + WorkerSections.workers(status) + WorkerSections.rejections(status))
    }

    /// `GET /runs/{id}`.
    public static func run(_ run: RunStatus, status: StatusResponse) -> String {
        page(title: "\(run.name) · Koinon", status: status,
             body: RunSection(run: run, detailed: true).render() + WorkerSections.rejections(status, runID: run.runID))
    }

    /// `GET /workers/{name}`.
    public static func worker(_ history: WorkerHistory, status: StatusResponse) -> String {
        page(title: "\(history.worker.name) · Koinon", status: status,
             body: WorkerPage(history: history, status: status).render())
    }

    /// A 404 page for an unknown run or worker (it does not refresh).
    public static func notFound(_ message: String) -> String {
        page(title: "Not found · Koinon", status: nil,
             body: "<section class=\"card\"><h1>Not found</h1><p data-field=\"message\">\(HTML.escape(message))</p>"
                 + "<p><a href=\"/\">Back to the dashboard</a></p></section>")
    }

    // MARK: The frame

    /// The document around `body`: head (viewport, refresh when there is a
    /// snapshot, style), header and the snapshot's time in the footer.
    static func page(title: String, status: StatusResponse?, body: String) -> String {
        let refresh = status == nil ? "" : "<meta http-equiv=\"refresh\" content=\"\(refreshSeconds)\">\n"
        return """
            <!doctype html>
            <html lang="en">
            <head>
            <meta charset="utf-8">
            <meta name="viewport" content="width=device-width, initial-scale=1">
            \(refresh)<title>\(HTML.escape(title))</title>
            <style>
            \(DashboardStyle.css)
            </style>
            </head>
            <body>
            \(header(status))
            <main>
            \(body)
            </main>
            \(footer(status))
            </body>
            </html>

            """
    }

    static func header(_ status: StatusResponse?) -> String {
        var summary = ""
        if let status {
            let online = status.workersOnline.values.reduce(0, +)
            summary = "<span class=\"sub\">\(status.runs.count) run\(status.runs.count == 1 ? "" : "s") · "
                + "\(online) worker\(online == 1 ? "" : "s") online</span>"
        }
        return "<header><a class=\"brand\" href=\"/\">Koinon</a>\(summary)</header>"
    }

    static func footer(_ status: StatusResponse?) -> String {
        guard let status else { return "<footer></footer>" }
        let iso = DashboardFormat.timestamp(status.generatedAt)
        return "<footer><p>snapshot of <time data-field=\"generated-at\" data-value=\"\(iso)\" datetime=\"\(iso)\">\(iso)</time>"
            + " · reloads every \(refreshSeconds) s · <a href=\"/v1/status\">JSON</a></p></footer>"
    }
}
