import Testing

@testable import Dataset

@Suite struct LineReadingTests {
    /// Lines come out the same however the stream is cut into chunks.
    @Test func linesSurviveAnyChunking() {
        let stream = Array("first\r\nsecond\n\nfourth line, longer\nlast without newline".utf8)
        for chunkSize in [1, 2, 3, 7, 100] {
            var splitter = LineSplitter()
            var lines: [LineSplitter.Line] = []
            for start in stride(from: 0, to: stream.count, by: chunkSize) {
                splitter.feed(Array(stream[start..<min(start + chunkSize, stream.count)])) { lines.append($0) }
            }
            splitter.finish { lines.append($0) }
            #expect(lines.map { String(decoding: $0.bytes, as: UTF8.self) }
                == ["first", "second", "", "fourth line, longer", "last without newline"])
            #expect(lines.map(\.number) == [1, 2, 3, 4, 5])
            #expect(lines.map(\.hadCarriageReturn) == [true, false, false, false, false])
        }
    }

    @Test func groupsTextLinesIntoParagraphRecords() throws {
        var grouper = RecordGrouper(format: .text, textMode: .paragraphs)
        var records: [RawRecord] = []
        var splitter = LineSplitter()
        splitter.feed(Array("a\r\nb\n\n\nc\n".utf8)) { grouper.add($0) { records.append($0) } }
        splitter.finish { grouper.add($0) { records.append($0) } }
        grouper.finish { records.append($0) }
        #expect(records.map { String(decoding: $0.bytes, as: UTF8.self) } == ["a\nb", "c"])
        #expect(records.map(\.lineNumber) == [1, 5])
        #expect(records.map(\.cleanedWhileReading.lineEndingsNormalised) == [1, 0])
    }

    /// Separator lines are dropped, but what cleaning they needed is still counted.
    @Test func separatorLinesPassTheirCleaningCountsOn() {
        var grouper = RecordGrouper(format: .text, textMode: .paragraphs)
        var records: [RawRecord] = []
        var splitter = LineSplitter()
        splitter.feed(Array("a\n\0\r\r\nb\n\r\n".utf8)) { grouper.add($0) { records.append($0) } }
        splitter.finish { grouper.add($0) { records.append($0) } }
        grouper.finish { records.append($0) }
        #expect(records.map { String(decoding: $0.bytes, as: UTF8.self) } == ["a", "b"])
        #expect(records[0].cleanedWhileReading == CleaningCounts(nulBytes: 1, lineEndingsNormalised: 2))
        #expect(records[1].cleanedWhileReading == CleaningCounts(lineEndingsNormalised: 1))

        // JSON Lines have no paragraph to attach to: counts go to the next
        // record, or to an empty record after the last line.
        var json = RecordGrouper(format: .jsonLines, textMode: .paragraphs)
        var jsonRecords: [RawRecord] = []
        var jsonSplitter = LineSplitter()
        jsonSplitter.feed(Array("\r\n{}\n\0\n".utf8)) { json.add($0) { jsonRecords.append($0) } }
        json.finish { jsonRecords.append($0) }
        #expect(jsonRecords.map(\.bytes) == [Array("{}".utf8), []])
        #expect(jsonRecords.map(\.cleanedWhileReading) == [CleaningCounts(lineEndingsNormalised: 1), CleaningCounts(nulBytes: 1)])
    }

    @Test func skipsBlankJSONLines() {
        var grouper = RecordGrouper(format: .jsonLines, textMode: .paragraphs)
        var records: [RawRecord] = []
        var splitter = LineSplitter()
        splitter.feed(Array("{}\n\n  \n{}\n".utf8)) { grouper.add($0) { records.append($0) } }
        #expect(records.map(\.lineNumber) == [1, 4])
    }

    @Test func parsesInputArguments() throws {
        let named = try InputSpec(argument: "books=data/pg19.jsonl.zst")
        #expect(named == InputSpec(path: "data/pg19.jsonl.zst", format: .zstdJSONLines, explicitSource: "books"))
        #expect(named.fileStem == "pg19")
        // A '/' before the '=' means the '=' is part of the path.
        let path = try InputSpec(argument: "dir/a=b.txt")
        #expect(path.explicitSource == nil && path.path == "dir/a=b.txt" && path.format == .text)
        #expect(path.source(forPileSetName: nil) == "a=b")
        let pile = try InputSpec(argument: "/x/y.jsonl")
        #expect(pile.source(forPileSetName: "Pile-CC") == "Pile-CC")
        #expect(pile.source(forPileSetName: nil) == "y")
        #expect(named.source(forPileSetName: "Pile-CC") == "books")
        #expect(throws: DatasetError.unsupportedInputFormat(path: "notes.pdf")) { try InputSpec(argument: "notes.pdf") }
    }
}
