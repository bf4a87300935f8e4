/// The undigested unit read from an input: one JSON line, one paragraph of a
/// text file (its raw lines rejoined with `\n`), or a whole text file.
struct RawRecord: Sendable {
    var bytes: [UInt8]
    /// The line the record starts on (1-based).
    var lineNumber: Int
    /// Cleaning already done while reading: `\r` removed by the line splitter,
    /// and NULs and `\r`s on blank lines that separate records.
    var cleanedWhileReading: CleaningCounts
}

/// Streams an input file as batches of raw records, never holding more than
/// one batch (plus, in `file` mode, the file itself) in memory.
struct RawRecordReader {
    /// A batch is handed over once it holds this many bytes or records: large
    /// enough to keep both cores busy, small enough to bound memory.
    static let batchBytes = 8 << 20
    static let batchRecords = 8192

    let input: InputSpec
    let textMode: TextDocumentMode

    struct FileSummary {
        var bytes: Int
        var sha256: String
    }

    /// Reads the whole input. `progress` gets the file bytes read so far.
    func read(
        progress: (Int) -> Void,
        _ handleBatch: ([RawRecord]) throws -> Void
    ) throws -> FileSummary {
        var reader: any ByteChunkReader =
            input.format == .zstdJSONLines ? try ZstdChunkReader(path: input.path) : try FileChunkReader(path: input.path)
        var splitter = LineSplitter()
        var batch: [RawRecord] = []
        var batchBytes = 0
        var grouper = RecordGrouper(format: input.format, textMode: textMode)

        func emit(_ record: RawRecord) throws {
            batchBytes += record.bytes.count
            batch.append(record)
            if batchBytes >= Self.batchBytes || batch.count >= Self.batchRecords {
                try handleBatch(batch)
                batch.removeAll(keepingCapacity: true)
                batchBytes = 0
            }
        }

        while let chunk = try reader.nextChunk() {
            try splitter.feed(chunk) { line in try grouper.add(line, emit: emit) }
            progress(reader.fileBytesRead)
        }
        try splitter.finish { line in try grouper.add(line, emit: emit) }
        try grouper.finish(emit: emit)
        if !batch.isEmpty { try handleBatch(batch) }
        return FileSummary(bytes: reader.fileBytesRead, sha256: reader.fileDigest.finalize().hexString)
    }
}

/// Turns lines into records: each non-blank JSON line; each group of text
/// lines between blank lines; or all of a text file's lines. Pure.
struct RecordGrouper {
    let format: InputFormat
    let textMode: TextDocumentMode
    private var pending: RawRecord?
    private var carried = CleaningCounts()

    init(format: InputFormat, textMode: TextDocumentMode) {
        self.format = format
        self.textMode = textMode
    }

    mutating func add(_ line: LineSplitter.Line, emit: (RawRecord) throws -> Void) rethrows {
        let blank = ParagraphSplitter.isBlank(rawLine: line.bytes)
        if blank && !(format == .text && textMode == .file) {
            // A separator: not a record, but its NULs and carriage returns are
            // still cleaning to be counted: with the paragraph it ends, else
            // with the record that comes next.
            var counts = CleaningCounts()
            counts.nulBytes = line.bytes.count { $0 == 0 }
            counts.lineEndingsNormalised = (line.hadCarriageReturn ? 1 : 0) + line.bytes.count { $0 == 0x0D }
            if format == .text, var record = pending {
                pending = nil
                record.cleanedWhileReading += counts
                try emit(record)
            } else {
                carried += counts
            }
            return
        }
        switch format {
        case .jsonLines, .zstdJSONLines:
            try emit(RawRecord(bytes: line.bytes, lineNumber: line.number, cleanedWhileReading: takeCounts(line)))
        case .text:
            append(line)
        }
    }

    mutating func finish(emit: (RawRecord) throws -> Void) rethrows {
        if var record = pending {
            pending = nil
            record.cleanedWhileReading += carried
            carried = CleaningCounts()
            try emit(record)
        } else if carried != CleaningCounts() {
            // Trailing separators only: an empty record carries their counts.
            let counts = carried
            carried = CleaningCounts()
            try emit(RawRecord(bytes: [], lineNumber: 0, cleanedWhileReading: counts))
        }
    }

    private mutating func takeCounts(_ line: LineSplitter.Line) -> CleaningCounts {
        var counts = carried
        carried = CleaningCounts()
        counts.lineEndingsNormalised += line.hadCarriageReturn ? 1 : 0
        return counts
    }

    private mutating func append(_ line: LineSplitter.Line) {
        let counts = takeCounts(line)
        if pending == nil {
            pending = RawRecord(bytes: line.bytes, lineNumber: line.number, cleanedWhileReading: counts)
        } else {
            pending!.bytes.append(0x0A)
            pending!.bytes.append(contentsOf: line.bytes)
            pending!.cleanedWhileReading += counts
        }
    }
}
