import Foundation
import Wire

/// Numbers, durations and times as the dashboard shows them to people.
/// Locale-independent (the page looks the same whatever the server's locale).
enum DashboardFormat {
    /// `1234567` → `"1,234,567"`.
    static func integer(_ value: Int) -> String {
        let digits = String(value.magnitude)
        var out = ""
        for (index, digit) in digits.enumerated() {
            if index > 0, (digits.count - index) % 3 == 0 { out.append(",") }
            out.append(digit)
        }
        return value < 0 ? "-" + out : out
    }

    /// `value` with `places` decimals (`"%.*f"`), or `"–"` when not finite.
    static func decimal(_ value: Double, places: Int) -> String {
        guard value.isFinite else { return "–" }
        return String(format: "%.\(places)f", value)
    }

    /// A rate or other positive quantity: one decimal under 100, whole and grouped above.
    static func quantity(_ value: Double) -> String {
        guard value.isFinite else { return "–" }
        if abs(value) < 100 { return decimal(value, places: 1) }
        guard abs(value) < 1e15 else { return String(format: "%.3g", value) }
        return integer(Int(value.rounded()))
    }

    /// Tokens per second: `"1,234 tok/s"`, `"12.5 tok/s"`.
    static func tokensPerSecond(_ value: Double) -> String { quantity(value) + " tok/s" }

    /// A share in [0, 1] as a percentage with one decimal: `0.25` → `"25.0%"`.
    static func percent(_ share: Double) -> String { decimal(share * 100, places: 1) + "%" }

    /// A loss value: four decimals.
    static func loss(_ value: Double) -> String { decimal(value, places: 4) }

    /// FLOPs in SI units: `1.2e15` → `"1.2 PFLOP"`, `345e9` → `"345 GFLOP"`.
    static func flops(_ value: Double) -> String {
        HumanUnits.flops(value) ?? "–"
    }

    /// A duration in words, rounded to its largest units: `"45 s"`, `"3 min"`,
    /// `"2 h 5 min"`, `"3 d 4 h"`.
    static func duration(_ seconds: Double) -> String {
        HumanUnits.duration(max(0, seconds)) ?? "–"
    }

    /// Time to the end of a run: `"finished"`, `"unknown"` before a pace is
    /// known, else `"about 3 min"`.
    static func eta(_ seconds: Double?, state: RunState) -> String {
        if state == .finished { return "finished" }
        guard let seconds, seconds.isFinite else { return "unknown" }
        return "about " + duration(seconds)
    }

    /// How long before `now` `date` was: `"just now"`, `"12 s ago"`, `"3 min ago"`.
    static func ago(_ date: Date, now: Date) -> String {
        let seconds = now.timeIntervalSince(date)
        if seconds < 1 { return "just now" }
        return duration(seconds) + " ago"
    }

    /// The wire's ISO 8601 form (UTC, milliseconds).
    static func timestamp(_ date: Date) -> String { WireTimestamp.string(from: date) }

    /// A time to the minute for people: `"2025-06-15 15:06 UTC"`.
    static func minute(_ date: Date) -> String {
        timestamp(date).prefix(16).replacingOccurrences(of: "T", with: " ") + " UTC"
    }

    /// The exact number for a `data-value` attribute (Swift's shortest
    /// round-tripping form, as JSON has it).
    static func raw(_ value: Double) -> String { "\(value)" }
}
