import Foundation

/// What reading and filtering every input produced.
struct IngestResult {
    var filter: CorpusFilter
    var inputs: [InputFileRecord]
}

extension DatasetBuilder {
    /// How many malformed lines are printed as they are met; the rest are counted.
    static let malformedLinesLogged = 5

    /// Streams every input in order through cleaning (all cores) and the
    /// filters (in input order, so the first of any duplicates wins).
    func ingest(threads: Int, observer: BuildObserver) throws -> IngestResult {
        var filter = CorpusFilter(
            minChars: options.minChars, strict: options.strict,
            nearDuplicateThreshold: options.nearDuplicateThreshold,
            permutations: DatasetBuildOptions.minHashPermutations)
        let minHasher = MinHasher(permutations: DatasetBuildOptions.minHashPermutations)
        let totalBytes = try options.inputs.reduce(0) { $0 + (try Self.fileSize($1.path)) }
        var bytesBefore = 0
        var records: [InputFileRecord] = []

        for input in options.inputs {
            // Sources named up front are listed even when nothing of them survives.
            if input.explicitSource != nil || input.format == .text { filter.index(ofSource: input.defaultSource) }
            let fileName = (input.path as NSString).lastPathComponent
            let processor = RecordProcessor(
                input: input, textMode: options.textDocuments, minChars: options.minChars, minHasher: minHasher)
            let reader = RawRecordReader(input: input, textMode: options.textDocuments)
            let summary = try reader.read(
                progress: { observer.progress(BuildProgress(stage: .reading, completed: bytesBefore + $0, total: totalBytes, unit: "bytes")) }
            ) { batch in
                let processed = parallelMap(batch, threads: threads) { processor.process($0) }
                for record in processed {
                    if let malformed = try filter.add(record, fileName: fileName, path: input.path),
                        filter.malformedCount <= Self.malformedLinesLogged
                    {
                        observer.log("\(input.path):\(malformed.line): skipped malformed JSON line (\(malformed.reason))")
                    }
                }
            }
            bytesBefore += summary.bytes
            records.append(
                InputFileRecord(
                    file: fileName, format: input.format, source: input.explicitSource, bytes: summary.bytes,
                    sha256: summary.sha256))
        }
        if filter.malformedCount > Self.malformedLinesLogged {
            observer.log(
                "… and \(filter.malformedCount - Self.malformedLinesLogged) more malformed JSON lines skipped "
                    + "(\(filter.malformedCount) in all; the first \(filter.malformedExamples.count) are listed in datasheet.md)")
        }
        return IngestResult(filter: filter, inputs: records)
    }

    static func fileSize(_ path: String) throws -> Int {
        do {
            let attributes = try FileManager.default.attributesOfItem(atPath: path)
            return (attributes[.size] as? NSNumber)?.intValue ?? 0
        } catch {
            throw DatasetError.unreadableInput(
                path: path, reason: FileManager.default.fileExists(atPath: path) ? error.localizedDescription : "no such file")
        }
    }
}
