import Foundation
import Wire

/// `koinon-coordinator status`: the figures of `/v1/status` as plain-text
/// tables for a terminal (numbers formatted as on the dashboard).
public enum StatusTable {
    public static func render(_ status: StatusResponse) -> String {
        var out = "Koinon status at \(WireTimestamp.string(from: status.generatedAt))\n\n"
        out += runs(status.runs)
        for run in status.runs {
            out += "\nRun \(run.runID) '\(printable(run.name))'\n"
            out += "  units of step \(run.step): pending \(run.units.pending) · leased \(run.units.leased)"
                + " · submitted \(run.units.submitted) · verifying \(run.units.verifying) · accepted \(run.units.accepted)"
                + " · evaluation units outstanding \(run.evaluationUnitsOutstanding)\n"
            out += "  verification: " + verification(run.verification) + "\n"
            if !run.topContributors.isEmpty {
                out += indented(table(["#", "CONTRIBUTOR", "UNITS", "TOKENS", "CREDIT"], rightAligned: [0, 2, 3, 4],
                                      run.topContributors.enumerated().map { i, c in
                                          ["\(i + 1)", c.name, DashboardFormat.integer(c.units), DashboardFormat.integer(c.tokens),
                                           DashboardFormat.flops(c.creditFLOPs)]
                                      }))
            }
        }
        let online = status.workersOnline.sorted { $0.key < $1.key }.map { "\(printable($0.key)) \($0.value)" }
            .joined(separator: ", ")
        out += "\nWorkers (online: \(online.isEmpty ? "none" : online))\n"
        out += workers(status.workers, now: status.generatedAt)
        if !status.recentRejections.isEmpty {
            out += "\nRecent rejections\n"
            out += table(["TIME", "WORKER", "RUN/STEP/UNIT", "REASON", "MESSAGE"], rightAligned: [],
                         status.recentRejections.map { r in
                             [WireTimestamp.string(from: r.at), r.workerName, "\(r.runID)/\(r.step)/\(r.unit)", r.reason.rawValue,
                              r.message]
                         })
        }
        return out
    }

    static func runs(_ runs: [RunStatus]) -> String {
        guard !runs.isEmpty else { return "No runs yet.\n" }
        return table(["RUN", "NAME", "STATE", "STEP", "DONE", "TOKENS", "TOK/S 1M", "TOK/S 10M", "ETA", "TRAIN", "VALID"],
                     rightAligned: [0, 3, 4, 5, 6, 7, 9, 10],
                     runs.map { r in
                         ["\(r.runID)", r.name, r.state.rawValue, "\(r.step)/\(r.totalSteps)",
                          DashboardFormat.percent(r.totalSteps > 0 ? Double(r.step) / Double(r.totalSteps) : 0),
                          DashboardFormat.integer(r.tokensTrained), DashboardFormat.quantity(r.tokensPerSecond.lastMinute),
                          DashboardFormat.quantity(r.tokensPerSecond.last10Minutes),
                          r.state == .finished ? "finished" : r.etaSeconds.map(DashboardFormat.duration) ?? "unknown",
                          r.lossHistory.last.map { DashboardFormat.loss($0.loss) } ?? "–",
                          r.validationHistory.last.map { DashboardFormat.loss($0.loss) } ?? "–"]
                     })
    }

    static func verification(_ v: VerificationStatus) -> String {
        let reasons = v.rejectionsByReason.sorted { $0.key < $1.key }.map { "\(printable($0.key)) \($0.value)" }
            .joined(separator: ", ")
        return "accepted \(v.acceptedResults) · verified copies \(v.verifiedCopies) · superseded \(v.supersededResults) · rejected \(v.rejectedResults)"
            + (reasons.isEmpty ? "" : " (\(reasons))") + " · replicated \(DashboardFormat.percent(v.replicatedShare))"
    }

    static func workers(_ workers: [WorkerStatus], now: Date) -> String {
        guard !workers.isEmpty else { return "No worker seen in the last day.\n" }
        return table(["NAME", "BACKEND", "ONLINE", "UNITS", "TOK/S", "IN A ROW", "REJECTED", "CREDIT", "LAST SEEN"],
                     rightAligned: [3, 4, 5, 6, 7],
                     workers.map { w in
                         [w.name, w.backend, w.online ? "yes" : "no", DashboardFormat.integer(w.acceptedUnits),
                          DashboardFormat.quantity(w.tokensPerSecond), DashboardFormat.integer(w.consecutiveValid),
                          DashboardFormat.integer(w.rejectedResults), DashboardFormat.flops(w.creditFLOPs),
                          DashboardFormat.duration(max(0, now.timeIntervalSince(w.lastSeen))) + " ago"]
                     })
    }

    /// Columns padded to their widest cell (left-aligned, or right for the
    /// given columns). Control characters in cells (names and messages come
    /// from workers) are shown as "?", so they cannot drive the terminal.
    public static func table(_ headers: [String], rightAligned: Set<Int>, _ rows: [[String]]) -> String {
        let all = [headers] + rows.map { $0.map(printable) }
        let widths = headers.indices.map { c in all.map { $0.indices.contains(c) ? $0[c].count : 0 }.max() ?? 0 }
        return all.map { row in
            headers.indices.map { c in
                let cell = row.indices.contains(c) ? row[c] : ""
                let pad = String(repeating: " ", count: widths[c] - cell.count)
                return rightAligned.contains(c) ? pad + cell : cell + pad
            }.joined(separator: "  ").replacingOccurrences(of: "\\s+$", with: "", options: .regularExpression)
        }.joined(separator: "\n") + "\n"
    }

    public static func printable(_ text: String) -> String {
        String(text.unicodeScalars.map { $0.properties.generalCategory == .control ? "?" : Character($0) })
    }

    static func indented(_ text: String) -> String {
        text.split(separator: "\n", omittingEmptySubsequences: false).map { $0.isEmpty ? "" : "  " + $0 }.joined(separator: "\n")
    }
}
