/// The plain-text report `dataset inspect` prints: the manifest's summary and
/// the datasheet's figures per source. Pure.
public enum DatasetSummary {
    public static func render(manifest: DatasetManifest, datasheet: Datasheet?) -> String {
        var lines: [String] = []
        let m = manifest
        lines.append("format:     \(m.format) v\(m.version), \(m.dtype.rawValue) tokens, shards of up to \(group(m.shardTokens)) tokens")
        lines.append(
            "tokenizer:  \(group(m.tokenizer.vocabSize)) tokens (\(m.tokenizer.origin)), <|endoftext|> = \(m.tokenizer.endOfTextID), sha256 \(m.tokenizer.sha256)")
        for split in DatasetSplit.allCases {
            let s = m.splits[split]
            lines.append(
                "\((split.rawValue + ":").padding(toLength: 12, withPad: " ", startingAt: 0))\(group(s.tokens)) tokens, "
                    + "\(counted(s.documents, "document")), \(counted(s.shards, "shard"))")
        }
        let p = m.parameters
        lines.append(
            "parameters: min-chars \(p.minChars), near-dup-threshold \(plain(p.nearDuplicateThreshold)) "
                + "(\(p.lshBands)×\(p.lshRows) LSH), val-fraction \(plain(p.validationFraction)), txt-documents \(p.textDocuments.rawValue)"
                + (p.weights.isEmpty ? "" : ", weights " + p.weights.keys.sorted().map { "\($0)=\(plain(p.weights[$0]!))" }.joined(separator: ",")))
        lines.append("inputs:     " + p.inputs.map { "\($0.file) (\(group($0.bytes)) bytes)" }.joined(separator: ", "))
        guard let datasheet else { return lines.joined(separator: "\n") }

        lines.append("")
        let header = ["source", "docs in", "malformed", "too short", "exact dup", "near dup", "docs out", "weight", "train tok", "val tok", "share"]
        var rows: [[String]] = []
        for s in datasheet.sources + [datasheet.totals] {
            rows.append([
                s.source, group(s.documentsIn), group(s.malformedLines), group(s.tooShort), group(s.exactDuplicates),
                group(s.nearDuplicates), group(s.documentsOut), s.weight.map(plain) ?? "", group(s.trainTokens),
                group(s.validationTokens), percent(s.shareOfTokens),
            ])
        }
        lines += table(header: header, rows: rows)
        let t = datasheet.totals
        lines.append("")
        lines.append(
            "cleaning:   \(group(t.nulBytesDropped)) NUL bytes and \(group(t.invalidUTF8BytesDropped)) invalid UTF-8 bytes dropped, "
                + "\(group(t.lineEndingsNormalised)) line endings normalised")
        return lines.joined(separator: "\n")
    }

    /// Left-aligned first column, right-aligned numbers.
    static func table(header: [String], rows: [[String]]) -> [String] {
        let all = [header] + rows
        let widths = header.indices.map { column in all.map { $0[column].count }.max() ?? 0 }
        return all.map { row in
            row.enumerated().map { column, cell in
                let pad = String(repeating: " ", count: widths[column] - cell.count)
                return column == 0 ? cell + pad : pad + cell
            }.joined(separator: "  ")
        }
    }
}
