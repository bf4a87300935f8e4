import Foundation

/// A token file: one sequence per line, token ids separated by spaces.
public enum TokenFile {
    public struct ParseError: Error, CustomStringConvertible {
        public var message: String
        public var description: String { message }
    }

    /// Parses the text; blank lines are skipped. Errors name the line.
    public static func parse(_ text: String, name: String = "input") throws -> [[Int32]] {
        var sequences: [[Int32]] = []
        var lineNumber = 0
        for line in text.split(separator: "\n", omittingEmptySubsequences: false) {
            lineNumber += 1
            var seq: [Int32] = []
            for word in line.split(whereSeparator: { $0 == " " || $0 == "\t" || $0 == "\r" }) {
                guard let id = Int32(word), id >= 0 else {
                    throw ParseError(message: "\(name):\(lineNumber): '\(word.prefix(40))' is not a token id (a non-negative integer)")
                }
                seq.append(id)
            }
            if !seq.isEmpty { sequences.append(seq) }
        }
        return sequences
    }

    public static func read(_ url: URL) throws -> [[Int32]] {
        guard let data = FileManager.default.contents(atPath: url.path) else {
            throw ParseError(message: "cannot read \(url.path)")
        }
        guard let text = String(data: data, encoding: .utf8) else {
            throw ParseError(message: "\(url.path) is not UTF-8 text")
        }
        return try parse(text, name: url.lastPathComponent)
    }
}
