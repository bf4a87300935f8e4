import Foundation

/// How an input file is read, decided by its name.
public enum InputFormat: String, Sendable, Codable, Equatable {
    /// Plain UTF-8 text, split into documents at blank lines (or one document per file).
    case text = "txt"
    /// One JSON object per line, Pile style: `{"text": ..., "meta": {"pile_set_name": ...}}`.
    case jsonLines = "jsonl"
    /// `jsonl` compressed with zstd.
    case zstdJSONLines = "jsonl.zst"

    /// The format named by the file's extension(s), or nil when it is none we read.
    public init?(fileName: String) {
        let lower = fileName.lowercased()
        if lower.hasSuffix(".jsonl.zst") {
            self = .zstdJSONLines
        } else if lower.hasSuffix(".jsonl") {
            self = .jsonLines
        } else if lower.hasSuffix(".txt") {
            self = .text
        } else {
            return nil
        }
    }
}

/// One `--input` argument: a file, the format it is read as, and the source
/// name its documents are counted under.
public struct InputSpec: Sendable, Equatable, Codable {
    public var path: String
    public var format: InputFormat
    /// Given as `SOURCE=PATH`; wins over `meta.pile_set_name`.
    public var explicitSource: String?

    public init(path: String, format: InputFormat, explicitSource: String? = nil) {
        self.path = path
        self.format = format
        self.explicitSource = explicitSource
    }

    /// Parses `PATH` or `SOURCE=PATH`. The part before the first `=` is a source
    /// name only when it contains no `/`, so paths that contain `=` still work.
    public init(argument: String) throws {
        var source: String?
        var path = argument
        if let equals = argument.firstIndex(of: "=") {
            let prefix = argument[..<equals]
            if !prefix.isEmpty, !prefix.contains("/") {
                source = String(prefix)
                path = String(argument[argument.index(after: equals)...])
            }
        }
        guard !path.isEmpty else {
            throw DatasetError.invalidArgument("--input \(argument): the path is empty")
        }
        let fileName = (path as NSString).lastPathComponent
        guard let format = InputFormat(fileName: fileName) else {
            throw DatasetError.unsupportedInputFormat(path: path)
        }
        self.init(path: path, format: format, explicitSource: source)
    }

    /// The file name without directories or extensions: `data/pg19.jsonl.zst` → `pg19`.
    public var fileStem: String {
        let fileName = (path as NSString).lastPathComponent
        let stem = fileName.split(separator: ".", omittingEmptySubsequences: false).first.map(String.init) ?? fileName
        return stem.isEmpty ? fileName : stem
    }

    /// The source for documents that carry no name of their own.
    public var defaultSource: String { explicitSource ?? fileStem }

    /// The source for one document: the explicit name, else the document's
    /// `pile_set_name`, else the file stem.
    public func source(forPileSetName pileSetName: String?) -> String {
        if let explicitSource { return explicitSource }
        if let pileSetName, !pileSetName.isEmpty { return pileSetName }
        return fileStem
    }
}
