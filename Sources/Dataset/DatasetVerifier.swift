import Crypto
import Foundation

/// The outcome of checking a dataset directory against its manifest.
public struct DatasetVerification: Sendable {
    public var manifest: DatasetManifest
    /// Nil when datasheet.json is missing or unreadable (reported in `problems`).
    public var datasheet: Datasheet?
    public var shardsChecked: Int
    /// One line per problem, each naming the file at fault; empty when the dataset is sound.
    public var problems: [String]

    public var isValid: Bool { problems.isEmpty }
}

/// `dataset inspect`'s checks: every shard (header, size, SHA-256, manifest
/// entry, token ids within the vocabulary), the split totals and the
/// tokenizer files' hash.
public enum DatasetVerifier {
    /// Throws only when there is no readable manifest; every other problem is collected.
    public static func verify(
        directory: URL, threads: Int? = nil, progress: (_ checked: Int, _ total: Int) -> Void = { _, _ in }
    ) throws -> DatasetVerification {
        let manifest = try DatasetManifest.load(fromDatasetDirectory: directory)
        var problems: [String] = []
        var datasheet: Datasheet?
        do { datasheet = try Datasheet.load(fromDatasetDirectory: directory) } catch { problems.append("\(error)") }
        if let datasheet, datasheet.splits != manifest.splits || datasheet.tokenizer != manifest.tokenizer {
            problems.append(
                "\(directory.appendingPathComponent(Datasheet.jsonFileName).path): its splits or tokenizer disagree with manifest.json "
                    + "(the two files come from different builds)")
        }

        problems += checkTokenizerFiles(manifest: manifest, directory: directory)
        problems += checkSplitTotals(manifest)

        // Shards in batches across cores; each check reads one whole shard.
        let entries = manifest.shards
        let batch = max(1, (threads ?? defaultThreadCount()) * 2)
        var checked = 0
        progress(0, entries.count)
        for start in stride(from: 0, to: entries.count, by: batch) {
            let slice = Array(entries[start..<min(start + batch, entries.count)])
            let results = parallelMap(slice, threads: threads ?? defaultThreadCount()) { entry in
                checkShard(entry, directory: directory, manifest: manifest)
            }
            problems += results.compactMap { $0 }
            checked += slice.count
            progress(checked, entries.count)
        }
        return DatasetVerification(manifest: manifest, datasheet: datasheet, shardsChecked: checked, problems: problems)
    }

    /// Nil when the shard is sound, else the reason naming its file.
    static func checkShard(_ entry: ShardEntry, directory: URL, manifest: DatasetManifest) -> String? {
        do {
            let shard = try Shard.open(entry, in: directory, manifest: manifest)
            let vocabularySize = UInt32(clamping: manifest.tokenizer.vocabSize)
            if let bad = shard.tokensUInt32().first(where: { $0 >= vocabularySize }) {
                return "\(DatasetError.corruptShard(file: directory.appendingPathComponent(entry.file).path, reason: "token id \(bad) is outside the \(manifest.tokenizer.vocabSize)-token vocabulary"))"
            }
            return nil
        } catch {
            return "\(error)"
        }
    }

    static func checkSplitTotals(_ manifest: DatasetManifest) -> [String] {
        var problems: [String] = []
        for split in DatasetSplit.allCases {
            let shards = manifest.shards(in: split)
            let listed = manifest.splits[split]
            let tokens = shards.reduce(0) { $0 + $1.tokens }
            if shards.count != listed.shards || tokens != listed.tokens {
                problems.append(
                    "manifest.json: the \(split.rawValue) split lists \(listed.shards) shards and \(listed.tokens) tokens, "
                        + "but its shard entries add up to \(shards.count) shards and \(tokens) tokens")
            }
            if let oversized = shards.first(where: { $0.tokens > manifest.shardTokens }) {
                problems.append("manifest.json: shard \(oversized.file) has \(oversized.tokens) tokens, more than the shard size \(manifest.shardTokens)")
            }
        }
        return problems
    }

    static func checkTokenizerFiles(manifest: DatasetManifest, directory: URL) -> [String] {
        var hasher = SHA256()
        for file in [manifest.tokenizer.vocab, manifest.tokenizer.merges] {
            let url = directory.appendingPathComponent(file)
            guard let data = FileManager.default.contents(atPath: url.path) else {
                return ["\(url.path): tokenizer file is missing or unreadable"]
            }
            hasher.update(data: data)
        }
        let sha256 = hasher.finalize().hexString
        guard sha256 == manifest.tokenizer.sha256 else {
            return ["\(directory.appendingPathComponent("tokenizer").path): tokenizer files hash to \(sha256), the manifest expects \(manifest.tokenizer.sha256)"]
        }
        return []
    }
}
