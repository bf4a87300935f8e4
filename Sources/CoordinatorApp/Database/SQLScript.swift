/// One statement of a SQL script.
public struct SQLStatement: Sendable, Equatable {
    /// The statement without its terminating semicolon, from its first token on.
    public var text: String
    /// Line (1-based) of the script where the statement starts.
    public var line: Int
    /// Column (1-based, in characters) of that line where it starts.
    public var column: Int
    /// Its first few words (unquoted identifiers and keywords), lower-cased: ["create", "table", …].
    public var leadingWords: [String]

    /// Line and column in the script of the statement's `position`-th character (1-based, as
    /// in PostgreSQL's error position).
    public func scriptLocation(ofCharacter position: Int) -> (line: Int, column: Int) {
        var line = self.line
        var column = self.column
        for scalar in text.unicodeScalars.prefix(max(0, position - 1)) {
            if scalar == "\n" {
                line += 1
                column = 1
            } else {
                column += 1
            }
        }
        return (line, column)
    }
}

/// A script that cannot be split into statements (an unterminated quote or comment).
public struct SQLScriptError: Error, Sendable, Equatable {
    public var line: Int
    public var problem: String
}

/// Splits a SQL script into statements at top-level semicolons (pure).
///
/// PostgresNIO speaks PostgreSQL's extended query protocol, which takes one statement at a
/// time, so a migration file is sent statement by statement. The splitting follows psql's
/// lexer: semicolons inside quotes ('…', E'…', "…"), dollar quotes ($$…$$, $tag$…$tag$),
/// comments (--, nested /* */) and parentheses do not end a statement, nor do those inside
/// the `BEGIN ATOMIC … END` body of `CREATE [OR REPLACE] FUNCTION|PROCEDURE`.
public enum SQLScript {
    public static func statements(in script: String) throws(SQLScriptError) -> [SQLStatement] {
        var lexer = Lexer(Array(script.utf8))
        return try lexer.run()
    }
}

private struct Lexer {
    let bytes: [UInt8]
    var index = 0
    var line = 1
    var lineStart = 0
    var statements: [SQLStatement] = []

    // The statement being read.
    var start: (offset: Int, line: Int, column: Int)?
    var words: [String] = []
    var parenDepth = 0
    var beginDepth = 0

    init(_ bytes: [UInt8]) { self.bytes = bytes }

    mutating func run() throws(SQLScriptError) -> [SQLStatement] {
        while index < bytes.count {
            let byte = bytes[index]
            switch byte {
            case UInt8(ascii: "\n"):
                newline(at: index)
                index += 1
            case UInt8(ascii: " "), UInt8(ascii: "\t"), UInt8(ascii: "\r"), 0x0C:
                index += 1
            case UInt8(ascii: "-") where peek(1) == UInt8(ascii: "-"):
                while index < bytes.count && bytes[index] != UInt8(ascii: "\n") { index += 1 }
            case UInt8(ascii: "/") where peek(1) == UInt8(ascii: "*"):
                try skipBlockComment()
            case UInt8(ascii: "'"):
                markStart()
                try skipQuoted(UInt8(ascii: "'"), backslashEscapes: false, what: "quoted string")
            case UInt8(ascii: "\""):
                markStart()
                try skipQuoted(UInt8(ascii: "\""), backslashEscapes: false, what: "quoted identifier")
            case UInt8(ascii: "$"):
                markStart()
                try skipDollar()
            case UInt8(ascii: "("):
                markStart()
                parenDepth += 1
                index += 1
            case UInt8(ascii: ")"):
                markStart()
                parenDepth = max(0, parenDepth - 1)
                index += 1
            case UInt8(ascii: ";"):
                if parenDepth == 0 && beginDepth == 0 {
                    finishStatement(end: index)
                } else {
                    markStart()
                }
                index += 1
            default:
                markStart()
                if Self.isIdentifierStart(byte) {
                    try identifier()
                } else if Self.isDigit(byte) {
                    while index < bytes.count
                        && (Self.isIdentifierPart(bytes[index]) || bytes[index] == UInt8(ascii: "."))
                    {
                        index += 1
                    }
                } else {
                    index += 1
                }
            }
        }
        finishStatement(end: bytes.count)
        return statements
    }

    func peek(_ offset: Int) -> UInt8? {
        index + offset < bytes.count ? bytes[index + offset] : nil
    }

    mutating func newline(at offset: Int) {
        line += 1
        lineStart = offset + 1
    }

    mutating func markStart() {
        guard start == nil else { return }
        let column = String(decoding: bytes[lineStart..<index], as: UTF8.self).unicodeScalars.count + 1
        start = (index, line, column)
    }

    mutating func finishStatement(end: Int) {
        if let start {
            var endIndex = end
            while endIndex > start.offset && Self.isSpace(bytes[endIndex - 1]) { endIndex -= 1 }
            statements.append(
                SQLStatement(
                    text: String(decoding: bytes[start.offset..<endIndex], as: UTF8.self), line: start.line,
                    column: start.column, leadingWords: words))
        }
        start = nil
        words = []
        parenDepth = 0
        beginDepth = 0
    }

    mutating func identifier() throws(SQLScriptError) {
        let first = index
        while index < bytes.count && Self.isIdentifierPart(bytes[index]) { index += 1 }
        let word = String(decoding: bytes[first..<index], as: UTF8.self).lowercased()
        // E'…' is a string with backslash escapes.
        if word == "e" && peek(0) == UInt8(ascii: "'") {
            try skipQuoted(UInt8(ascii: "'"), backslashEscapes: true, what: "quoted string")
            return
        }
        if words.count < 4 { words.append(word) }
        guard definesRoutine && parenDepth == 0 else { return }
        switch word {
        case "begin": beginDepth += 1
        case "case": if beginDepth >= 1 { beginDepth += 1 }
        case "end": if beginDepth > 0 { beginDepth -= 1 }
        default: break
        }
    }

    /// CREATE [OR REPLACE] FUNCTION|PROCEDURE, whose SQL-standard body may hold semicolons.
    var definesRoutine: Bool {
        guard words.first == "create", words.count >= 2 else { return false }
        let routine: Set = ["function", "procedure"]
        if routine.contains(words[1]) { return true }
        return words.count >= 4 && words[1] == "or" && words[2] == "replace" && routine.contains(words[3])
    }

    mutating func skipQuoted(_ quote: UInt8, backslashEscapes: Bool, what: String) throws(SQLScriptError) {
        let openLine = line
        index += 1
        while index < bytes.count {
            let byte = bytes[index]
            if byte == UInt8(ascii: "\n") { newline(at: index) }
            if backslashEscapes && byte == UInt8(ascii: "\\") {
                if peek(1) == UInt8(ascii: "\n") { newline(at: index + 1) }
                index += 2
                continue
            }
            if byte == quote {
                if peek(1) == quote {
                    index += 2
                    continue
                }
                index += 1
                return
            }
            index += 1
        }
        throw SQLScriptError(line: openLine, problem: "unterminated \(what) starting at line \(openLine)")
    }

    mutating func skipBlockComment() throws(SQLScriptError) {
        let openLine = line
        var depth = 0
        while index < bytes.count {
            if bytes[index] == UInt8(ascii: "/") && peek(1) == UInt8(ascii: "*") {
                depth += 1
                index += 2
            } else if bytes[index] == UInt8(ascii: "*") && peek(1) == UInt8(ascii: "/") {
                depth -= 1
                index += 2
                if depth == 0 { return }
            } else {
                if bytes[index] == UInt8(ascii: "\n") { newline(at: index) }
                index += 1
            }
        }
        throw SQLScriptError(line: openLine, problem: "unterminated /* comment starting at line \(openLine)")
    }

    /// `$tag$ … $tag$` (tag possibly empty), or `$1` and other lone dollars.
    mutating func skipDollar() throws(SQLScriptError) {
        var end = index + 1
        if end < bytes.count && Self.isIdentifierStart(bytes[end]) {
            while end < bytes.count && Self.isIdentifierPart(bytes[end]) && bytes[end] != UInt8(ascii: "$") { end += 1 }
        }
        guard end < bytes.count && bytes[end] == UInt8(ascii: "$") else {
            // A parameter ($1) or a stray dollar: not a quote.
            index += 1
            while index < bytes.count && Self.isDigit(bytes[index]) { index += 1 }
            return
        }
        let delimiter = Array(bytes[index...end])
        let openLine = line
        index = end + 1
        while index < bytes.count {
            if bytes[index] == UInt8(ascii: "$") && bytes[index...].starts(with: delimiter) {
                index += delimiter.count
                return
            }
            if bytes[index] == UInt8(ascii: "\n") { newline(at: index) }
            index += 1
        }
        let tag = String(decoding: delimiter, as: UTF8.self)
        throw SQLScriptError(
            line: openLine, problem: "unterminated dollar-quoted string \(tag) starting at line \(openLine)")
    }

    static func isSpace(_ byte: UInt8) -> Bool {
        byte == UInt8(ascii: " ") || byte == UInt8(ascii: "\t") || byte == UInt8(ascii: "\n")
            || byte == UInt8(ascii: "\r")
            || byte == 0x0C
    }

    static func isDigit(_ byte: UInt8) -> Bool { byte >= UInt8(ascii: "0") && byte <= UInt8(ascii: "9") }

    static func isIdentifierStart(_ byte: UInt8) -> Bool {
        (byte >= UInt8(ascii: "a") && byte <= UInt8(ascii: "z"))
            || (byte >= UInt8(ascii: "A") && byte <= UInt8(ascii: "Z"))
            || byte == UInt8(ascii: "_") || byte >= 0x80
    }

    static func isIdentifierPart(_ byte: UInt8) -> Bool {
        isIdentifierStart(byte) || isDigit(byte) || byte == UInt8(ascii: "$")
    }
}
