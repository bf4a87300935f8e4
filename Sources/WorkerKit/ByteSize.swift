import Foundation

/// Human byte sizes on the command line (`10G`, `500M`, `2GiB`, `123456`)
/// and in log messages (`10 GiB`). Suffixes are binary: K = 1024 bytes.
public enum ByteSize {
    public static let kibibyte: Int64 = 1 << 10
    public static let mebibyte: Int64 = 1 << 20
    public static let gibibyte: Int64 = 1 << 30
    public static let tebibyte: Int64 = 1 << 40

    public struct ParseError: Error, Equatable, CustomStringConvertible {
        public var message: String
        public var description: String { message }
    }

    /// Parses a size: a whole number of bytes (`123456`, `123456B`), or a
    /// number, possibly with a fraction, and a suffix K, M, G or T
    /// (case-insensitive, optionally followed by `B` or `iB`: `2G`, `2GB`,
    /// `2GiB`, `1.5t`, `500 M`). All suffixes are powers of 1024.
    /// `what` names the value in error messages ("cache size '12Q': ...").
    public static func parse(_ text: String, what: String = "size") throws -> Int64 {
        let trimmed = text.trimmingCharacters(in: .whitespaces)
        let bad = ParseError(message: "\(what) '\(text)': use a number of bytes or a suffix K, M, G, T (e.g. 500M, 10G)")
        let numberEnd = trimmed.firstIndex { !($0.isASCII && ($0.isNumber || $0 == ".")) } ?? trimmed.endIndex
        let number = trimmed[..<numberEnd]
        let suffix = trimmed[numberEnd...].trimmingCharacters(in: .whitespaces).lowercased()

        let parts = number.split(separator: ".", omittingEmptySubsequences: false)
        guard parts.count <= 2, let wholeDigits = parts.first, !wholeDigits.isEmpty else { throw bad }
        let fractionDigits = parts.count == 2 ? parts[1] : ""
        if parts.count == 2, fractionDigits.isEmpty { throw bad }  // "10."

        let unit: Int64
        switch suffix {
        case "", "b": unit = 1
        case "k", "kb", "kib": unit = kibibyte
        case "m", "mb", "mib": unit = mebibyte
        case "g", "gb", "gib": unit = gibibyte
        case "t", "tb", "tib": unit = tebibyte
        default: throw bad
        }
        if unit == 1, !fractionDigits.isEmpty {
            throw ParseError(message: "\(what) '\(text)': a number of bytes must be whole (or use a suffix K, M, G, T)")
        }
        let tooLarge = ParseError(message: "\(what) '\(text)' is too large")
        guard let whole = Int64(wholeDigits) else { throw tooLarge }  // only digits remain, so it overflowed
        let (scaled, overflow) = whole.multipliedReportingOverflow(by: unit)
        guard !overflow else { throw tooLarge }
        guard !fractionDigits.isEmpty, let fraction = Double("0.\(fractionDigits)") else { return scaled }
        let (total, overflow2) = scaled.addingReportingOverflow(Int64((fraction * Double(unit)).rounded(.down)))
        guard !overflow2 else { throw tooLarge }
        return total
    }

    /// `512 B`, `1.5 KiB`, `10 GiB`: one decimal at most, none when whole.
    public static func format(_ bytes: Int64) -> String {
        let units: [(Int64, String)] = [(tebibyte, "TiB"), (gibibyte, "GiB"), (mebibyte, "MiB"), (kibibyte, "KiB")]
        for (size, name) in units where bytes.magnitude >= size.magnitude {
            let tenths = (Double(bytes) / Double(size) * 10).rounded()
            return tenths.truncatingRemainder(dividingBy: 10) == 0
                ? "\(Int64(tenths / 10)) \(name)" : "\(tenths / 10) \(name)"
        }
        return "\(bytes) B"
    }
}
