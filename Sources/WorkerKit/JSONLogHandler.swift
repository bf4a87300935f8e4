import Foundation
import Logging

/// A swift-log handler writing one JSON object per line (`--json-logs`):
///
///     {"time":"2025-01-02T03:04:05.678Z","level":"warning","label":"koinon-worker","message":"...","metadata":{"k":"v"}}
///
/// Keys in that order; `metadata` only when there is some (nested values stay
/// nested). No ANSI escapes, nothing else on the line.
public struct JSONLogHandler: LogHandler {
    public var logLevel: Logger.Level = .info
    public var metadata: Logger.Metadata = [:]
    public var metadataProvider: Logger.MetadataProvider?
    let label: String
    let write: @Sendable (String) -> Void
    let clock: @Sendable () -> Date

    /// `write` gets each line, newline included (default: standard error).
    public init(label: String, metadataProvider: Logger.MetadataProvider? = nil,
                clock: @escaping @Sendable () -> Date = { Date() },
                write: @escaping @Sendable (String) -> Void = JSONLogHandler.standardError) {
        self.label = label
        self.metadataProvider = metadataProvider
        self.clock = clock
        self.write = write
    }

    public subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    public func log(event: LogEvent) {
        var merged = metadata
        if let provided = metadataProvider?.get() { merged.merge(provided) { $1 } }
        if let explicit = event.metadata { merged.merge(explicit) { $1 } }
        if let error = event.error { merged["error"] = "\(error)" }
        write(Self.line(time: clock(), level: event.level, label: label, message: "\(event.message)", metadata: merged))
    }

    /// One log line as JSON, newline included.
    public static func line(time: Date, level: Logger.Level, label: String, message: String, metadata: Logger.Metadata) -> String {
        var out = "{\"time\":" + quote(timestamp(time))
        out += ",\"level\":" + quote(level.rawValue)
        out += ",\"label\":" + quote(label)
        out += ",\"message\":" + quote(message)
        if !metadata.isEmpty { out += ",\"metadata\":" + json(.dictionary(metadata)) }
        return out + "}\n"
    }

    /// ISO 8601 in UTC with milliseconds: 2025-01-02T03:04:05.678Z.
    public static func timestamp(_ date: Date) -> String {
        // Whole milliseconds first (nearest), so 05.678 never prints as 05.677.
        let ms = Int64((date.timeIntervalSince1970 * 1000).rounded())
        var t = time_t(ms >= 0 ? ms / 1000 : (ms - 999) / 1000)
        let millis = Int(ms - Int64(t) * 1000)
        var parts = tm()
        gmtime_r(&t, &parts)
        return String(format: "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", Int(parts.tm_year) + 1900, Int(parts.tm_mon) + 1,
                      Int(parts.tm_mday), Int(parts.tm_hour), Int(parts.tm_min), Int(parts.tm_sec), millis)
    }

    static func json(_ value: Logger.Metadata.Value) -> String {
        switch value {
        case .string(let s): return quote(s)
        case .stringConvertible(let c): return quote(c.description)
        case .array(let items): return "[" + items.map(json).joined(separator: ",") + "]"
        case .dictionary(let d):
            return "{" + d.keys.sorted().map { quote($0) + ":" + json(d[$0]!) }.joined(separator: ",") + "}"
        }
    }

    /// A JSON string literal: quotes, backslashes and control characters escaped.
    public static func quote(_ s: String) -> String {
        var out = "\""
        out.reserveCapacity(s.utf8.count + 2)
        for scalar in s.unicodeScalars {
            switch scalar {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            case "\n": out += "\\n"
            case "\r": out += "\\r"
            case "\t": out += "\\t"
            case "\u{2028}": out += "\\u2028"
            case "\u{2029}": out += "\\u2029"
            default:
                if scalar.value < 0x20 || scalar.value == 0x7F {
                    out += String(format: "\\u%04x", scalar.value)
                } else {
                    out.unicodeScalars.append(scalar)
                }
            }
        }
        return out + "\""
    }

    /// Writes a whole line to standard error in one `write(2)`.
    public static let standardError: @Sendable (String) -> Void = { line in
        TerminalOutput.write(line, to: STDERR_FILENO)
    }
}
