/// Cuts a byte stream, fed in arbitrary chunks, into lines at `\n`. A line
/// never includes its `\n`; a trailing `\r` (CRLF files) is removed and
/// counted so cleaning can report it. Pure: no I/O.
struct LineSplitter {
    private var pending: [UInt8] = []
    /// 1-based number of the next line to be returned.
    private(set) var nextLineNumber = 1

    struct Line {
        var bytes: [UInt8]
        var number: Int
        /// The line ended in `\r\n` (the `\r` is not in `bytes`).
        var hadCarriageReturn: Bool
    }

    /// Appends a chunk and hands every line it completes to `body`, in order.
    mutating func feed(_ chunk: [UInt8], _ body: (Line) throws -> Void) rethrows {
        var start = 0
        let count = chunk.count
        while start < count {
            guard let newline = chunk[start...].firstIndex(of: 0x0A) else {
                pending.append(contentsOf: chunk[start...])
                return
            }
            var line: [UInt8]
            if pending.isEmpty {
                line = Array(chunk[start..<newline])
            } else {
                pending.append(contentsOf: chunk[start..<newline])
                line = pending
                pending = []
            }
            try body(makeLine(&line))
            start = newline + 1
        }
    }

    /// Hands over the last line when the stream does not end in `\n`.
    mutating func finish(_ body: (Line) throws -> Void) rethrows {
        guard !pending.isEmpty else { return }
        var line = pending
        pending = []
        try body(makeLine(&line))
    }

    private mutating func makeLine(_ bytes: inout [UInt8]) -> Line {
        let hadCarriageReturn = bytes.last == 0x0D
        if hadCarriageReturn { bytes.removeLast() }
        defer { nextLineNumber += 1 }
        return Line(bytes: bytes, number: nextLineNumber, hadCarriageReturn: hadCarriageReturn)
    }
}
