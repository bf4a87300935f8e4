import Foundation

/// Everything that can stop a dataset build or a shard read, each with a
/// message an operator can act on (it names the file, line or option at fault).
public enum DatasetError: Error, Equatable, CustomStringConvertible, LocalizedError {
    case invalidArgument(String)
    case unreadableInput(path: String, reason: String)
    case unsupportedInputFormat(path: String)
    case corruptCompressedInput(path: String, reason: String)
    case malformedLine(file: String, line: Int, reason: String)
    case unknownWeightSources(unknown: [String], known: [String])
    case emptyResult(String)
    case tokenizerLacksEndOfText
    case outputNotADataset(path: String)
    case outputFailure(path: String, reason: String)
    case corruptShard(file: String, reason: String)
    case invalidManifest(path: String, reason: String)

    public var description: String {
        switch self {
        case .invalidArgument(let message):
            return message
        case .unreadableInput(let path, let reason):
            return "cannot read input \(path): \(reason)"
        case .unsupportedInputFormat(let path):
            return "input \(path) has an unsupported format: use .txt, .jsonl or .jsonl.zst"
        case .corruptCompressedInput(let path, let reason):
            return "input \(path) is not valid zstd data: \(reason)"
        case .malformedLine(let file, let line, let reason):
            return "\(file):\(line): malformed JSON line (\(reason)); rerun without --strict to skip such lines"
        case .unknownWeightSources(let unknown, let known):
            return "--weights names unknown source(s) \(unknown.joined(separator: ", ")); "
                + "the sources are: \(known.isEmpty ? "(none)" : known.joined(separator: ", "))"
        case .emptyResult(let detail):
            return "nothing left to write: \(detail)"
        case .tokenizerLacksEndOfText:
            return "the tokenizer has no <|endoftext|> token, which separates documents in the shards; "
                + "train it with <|endoftext|> as a special token"
        case .outputNotADataset(let path):
            return "output directory \(path) exists, is not empty and holds no earlier dataset build "
                + "(no Koinon manifest.json); refusing to overwrite it: choose another --out or empty it"
        case .outputFailure(let path, let reason):
            return "cannot write \(path): \(reason)"
        case .corruptShard(let file, let reason):
            return "corrupt shard \(file): \(reason)"
        case .invalidManifest(let path, let reason):
            return "invalid dataset manifest \(path): \(reason)"
        }
    }

    public var errorDescription: String? { description }
}
