import Foundation

/// Figures as people read them, shared by the worker's terminal, the
/// dashboard and `koinon-coordinator status` (one wording everywhere).
/// Every input is a number from the network: none of them can trap.
public enum HumanUnits {
    /// A time span: "45 s", "4 min", "2 h 5 min", "3 d 4 h"; nil when not a
    /// finite non-negative number. Spans over 10,000 days say so.
    public static func duration(_ s: Double) -> String? {
        guard s.isFinite, s >= 0 else { return nil }
        guard s < 864_000_000 else { return "over 10,000 d" }
        if s < 59.5 { return "\(Int(s.rounded())) s" }
        let minutes = Int((s / 60).rounded())
        if minutes < 60 { return "\(minutes) min" }
        let hours = minutes / 60, restMinutes = minutes % 60
        if hours < 24 { return restMinutes == 0 ? "\(hours) h" : "\(hours) h \(restMinutes) min" }
        let days = hours / 24, restHours = hours % 24
        return restHours == 0 ? "\(days) d" : "\(days) d \(restHours) h"
    }

    /// FLOPs with an SI prefix: "950 FLOP", "12.4 kFLOP", "3.1 TFLOP", "312 PFLOP";
    /// nil when not a finite non-negative number.
    public static func flops(_ x: Double) -> String? {
        guard x.isFinite, x >= 0 else { return nil }
        let prefixes = ["", "k", "M", "G", "T", "P", "E", "Z", "Y"]
        var value = x, i = 0
        while value >= 999.95, i < prefixes.count - 1 {
            value /= 1000
            i += 1
        }
        if i == 0 { return "\(Int(value.rounded())) FLOP" }
        return (value < 99.95 ? String(format: "%.1f", value) : String(format: "%.0f", value)) + " \(prefixes[i])FLOP"
    }
}
