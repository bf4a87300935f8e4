import Foundation

extension Datasheet {
    /// The datasheet as a page for people: what the dataset holds, then what
    /// each filter removed per source, then how it was made.
    public func markdown() -> String {
        var out: [String] = []
        let total = totals.tokens
        out.append("# Dataset datasheet")
        out.append("")
        out.append(
            "\(group(total)) tokens in \(counted(shards, "\(dtype.rawValue) shard")) of up to "
                + "\(group(parameters.shardTokens)) tokens: train \(group(splits.train.tokens)) tokens "
                + "(\(counted(splits.train.documents, "document")), \(counted(splits.train.shards, "shard"))), validation "
                + "\(group(splits.validation.tokens)) tokens (\(counted(splits.validation.documents, "document")), "
                + "\(counted(splits.validation.shards, "shard"))). \(group(totals.documentsOut)) of "
                + "\(counted(totals.documentsIn, "document")) read survived cleaning and deduplication.")
        out.append("")
        out.append("Token counts include the `<|endoftext|>` that ends every document; document counts in the splits count each mixture copy.")
        out.append("")

        out.append("## Sources")
        out.append("")
        out.append("| source | documents in | malformed lines | too short | exact duplicates | near duplicates | documents out | weight | train tokens | validation tokens | share |")
        out.append("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
        for s in sources + [totals] {
            let name = s.weight == nil ? "**\(s.source)**" : s.source
            out.append(
                "| \(name) | \(group(s.documentsIn)) | \(group(s.malformedLines)) | \(group(s.tooShort)) | "
                    + "\(group(s.exactDuplicates)) | \(group(s.nearDuplicates)) | \(group(s.documentsOut)) | "
                    + "\(s.weight.map(plain) ?? "") | \(group(s.trainTokens)) | \(group(s.validationTokens)) | "
                    + "\(percent(s.shareOfTokens)) |")
        }
        out.append("")

        out.append("## Cleaning")
        out.append("")
        out.append("| source | NUL bytes dropped | invalid UTF-8 bytes dropped | line endings normalised | bytes in (cleaned) | bytes out |")
        out.append("| --- | ---: | ---: | ---: | ---: | ---: |")
        for s in sources + [totals] {
            let name = s.weight == nil ? "**\(s.source)**" : s.source
            out.append(
                "| \(name) | \(group(s.nulBytesDropped)) | \(group(s.invalidUTF8BytesDropped)) | "
                    + "\(group(s.lineEndingsNormalised)) | \(group(s.bytesIn)) | \(group(s.bytesOut)) |")
        }
        out.append("")

        if totals.malformedLines > 0 {
            out.append("## Malformed lines")
            out.append("")
            out.append("\(group(totals.malformedLines)) JSON line\(totals.malformedLines == 1 ? " was" : "s were") skipped; the first \(malformedExamples.count):")
            out.append("")
            for example in malformedExamples { out.append("- `\(example.file)` line \(example.line): \(example.reason)") }
            out.append("")
        }

        out.append("## Inputs")
        out.append("")
        out.append("| file | format | source given | bytes | SHA-256 |")
        out.append("| --- | --- | --- | ---: | --- |")
        for input in parameters.inputs {
            out.append("| \(input.file) | \(input.format.rawValue) | \(input.source ?? "") | \(group(input.bytes)) | `\(input.sha256)` |")
        }
        out.append("")

        out.append("## Tokenizer")
        out.append("")
        let origin = parameters.trainedTokenizerVocabSize.map { "trained on these documents (`--train-tokenizer \($0)`)" } ?? "given (`--tokenizer`)"
        out.append("- byte-level BPE, \(origin)")
        out.append("- vocabulary: \(group(tokenizer.vocabSize)) tokens, `<|endoftext|>` = \(tokenizer.endOfTextID), shards hold \(dtype.rawValue)")
        out.append("- SHA-256: `\(tokenizer.sha256)` (files: `\(tokenizer.vocab)`, `\(tokenizer.merges)`)")
        out.append("")

        let p = parameters
        out.append("## How it was built")
        out.append("")
        out.append("- text files: \(p.textDocuments == .paragraphs ? "one document per paragraph (split at blank lines)" : "one document per file")")
        out.append("- cleaning: `\\r\\n` and `\\r` → `\\n`; NUL bytes and invalid UTF-8 bytes dropped")
        out.append("- too short: fewer than \(group(p.minChars)) characters after collapsing whitespace (`--min-chars`)")
        out.append("- exact duplicates: same SHA-256 of the whitespace-normalised text; the first in input order is kept")
        out.append(
            "- near duplicates: MinHash with \(p.minHashPermutations) permutations over lower-cased word \(p.shingleWords)-grams "
                + "(character \(p.shingleCharacters)-grams for documents under \(2 * p.shingleWords) words), LSH with \(p.lshBands) bands × "
                + "\(p.lshRows) rows, dropped when the estimated Jaccard similarity to an earlier kept document is ≥ \(plain(p.nearDuplicateThreshold))")
        let weights = p.weights.keys.sorted().map { "\($0)=\(plain(p.weights[$0]!))" }.joined(separator: ", ")
        out.append("- mixture weights: \(weights.isEmpty ? "all 1" : weights + " (others 1)")")
        out.append("- validation: documents whose SHA-256 falls in the lowest \(plain(p.validationFraction * 100))% (`--val-fraction \(plain(p.validationFraction))`)")
        out.append("- shards: \(group(p.shardTokens)) tokens each, documents ordered by a hash so sources interleave")
        out.append("- malformed JSON lines: \(p.strict ? "fatal (`--strict`)" : "counted and skipped")")
        out.append("")
        return out.joined(separator: "\n")
    }
}

/// 1234567 → "1,234,567" (fixed format, independent of the locale).
func group(_ value: Int) -> String {
    let digits = String(value.magnitude)
    var out = ""
    for (i, c) in digits.enumerated() {
        if i > 0 && (digits.count - i) % 3 == 0 { out.append(",") }
        out.append(c)
    }
    return value < 0 ? "-" + out : out
}

/// 1 → "1 shard", 1234 → "1,234 shards".
func counted(_ value: Int, _ noun: String) -> String {
    "\(group(value)) \(noun)\(value == 1 ? "" : "s")"
}

/// A number without trailing zeros: 1 → "1", 0.5 → "0.5".
func plain(_ value: Double) -> String {
    if value == value.rounded(), abs(value) < 1e15 { return String(Int(value)) }
    return String(value)
}

/// 0.1234 → "12.3%".
func percent(_ fraction: Double) -> String {
    String(format: "%.1f%%", fraction * 100)
}
