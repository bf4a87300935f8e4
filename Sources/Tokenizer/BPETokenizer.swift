import Crypto
import Foundation

/// A GPT-2 style byte-level BPE tokenizer: GPT-2's byte-to-unicode alphabet,
/// its pre-tokenisation pattern, merges by rank, and `<|endoftext|>` as a
/// special token. Reads and writes the standard `vocab.json` + `merges.txt`,
/// so GPT-2 / GPT-Neo tokenizer files work unchanged.
public final class BPETokenizer: Sendable {
    public static let endOfText = "<|endoftext|>"
    public static let vocabFile = "vocab.json"
    public static let mergesFile = "merges.txt"

    /// Token strings by id, in the byte-level alphabet (special tokens verbatim).
    public let tokens: [String]
    /// Merges in rank order, as token ids.
    public let merges: [(left: Int32, right: Int32, merged: Int32)]
    /// Special tokens found in the text before pre-tokenisation, with their ids.
    public let specialTokens: [(text: String, id: Int32)]

    let idForToken: [String: Int32]
    let bytesForID: [[UInt8]]
    let idForByte: [Int32]
    let mergeTable: MergeTable

    public var vocabSize: Int { tokens.count }
    public var endOfTextID: Int32? { idForToken[Self.endOfText] }

    /// Builds a tokenizer from a vocabulary (token → id, ids 0..<n without gaps)
    /// and merges (pairs of token strings, in rank order).
    public init(vocab: [String: Int], merges mergeStrings: [(String, String)],
                specialTokens special: [String] = [BPETokenizer.endOfText]) throws(TokenizerError) {
        var tokens = [String](repeating: "", count: vocab.count)
        var seen = [Bool](repeating: false, count: vocab.count)
        for (token, id) in vocab {
            guard id >= 0, id < vocab.count, !seen[id] else {
                throw TokenizerError("vocab.json: ids must be 0..<\(vocab.count) without gaps or repeats (bad id \(id) for \(token.debugDescription))")
            }
            seen[id] = true
            tokens[id] = token
        }
        guard vocab.count <= Int(Int32.max) else { throw TokenizerError("vocab.json: too many tokens") }
        let idForToken = vocab.mapValues { Int32($0) }
        var idForByte = [Int32](repeating: -1, count: 256)
        for b in 0..<256 {
            guard let id = idForToken[String(ByteLevel.scalarForByte[b])] else {
                throw TokenizerError("vocab.json lacks the byte-level token for byte \(b) (\(String(ByteLevel.scalarForByte[b]).debugDescription)); not a byte-level BPE vocabulary")
            }
            idForByte[b] = id
        }
        var merges: [(left: Int32, right: Int32, merged: Int32)] = []
        merges.reserveCapacity(mergeStrings.count)
        for (rank, (a, b)) in mergeStrings.enumerated() {
            guard let l = idForToken[a], let r = idForToken[b], let m = idForToken[a + b] else {
                throw TokenizerError("merges.txt: merge \(rank + 1) '\(a) \(b)' uses or makes a token missing from vocab.json")
            }
            merges.append((l, r, m))
        }
        let specials = special.compactMap { s in idForToken[s].map { (text: s, id: $0) } }
        self.tokens = tokens
        self.merges = merges
        self.specialTokens = specials
        self.idForToken = idForToken
        self.idForByte = idForByte
        self.mergeTable = MergeTable(merges)
        self.bytesForID = tokens.enumerated().map { id, token in
            specials.contains { $0.id == Int32(id) } ? Array(token.utf8) : (ByteLevel.decode(token) ?? Array(token.utf8))
        }
    }

    /// Reads `vocab.json` + `merges.txt` from a directory.
    public convenience init(directory: URL) throws {
        let vocabURL = directory.appendingPathComponent(Self.vocabFile)
        let mergesURL = directory.appendingPathComponent(Self.mergesFile)
        guard let vocabData = FileManager.default.contents(atPath: vocabURL.path) else {
            throw TokenizerError("cannot read \(vocabURL.path)")
        }
        guard let mergesData = FileManager.default.contents(atPath: mergesURL.path) else {
            throw TokenizerError("cannot read \(mergesURL.path)")
        }
        let vocab: [String: Int]
        do { vocab = try JSONDecoder().decode([String: Int].self, from: vocabData) } catch {
            throw TokenizerError("\(vocabURL.path) is not a JSON object of token → id")
        }
        guard let text = String(data: mergesData, encoding: .utf8) else {
            throw TokenizerError("\(mergesURL.path) is not UTF-8")
        }
        try self.init(vocab: vocab, merges: try Self.parseMerges(text, name: mergesURL.path))
    }

    static func parseMerges(_ text: String, name: String) throws(TokenizerError) -> [(String, String)] {
        var merges: [(String, String)] = []
        for (n, line) in text.split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
            let line = line.hasSuffix("\r") ? line.dropLast() : line
            if line.isEmpty || (n == 0 && line.hasPrefix("#version")) { continue }
            let parts = line.split(separator: " ", omittingEmptySubsequences: false)
            guard parts.count == 2, !parts[0].isEmpty, !parts[1].isEmpty else {
                throw TokenizerError("\(name):\(n + 1): expected two tokens separated by one space")
            }
            merges.append((String(parts[0]), String(parts[1])))
        }
        return merges
    }

    /// Writes `vocab.json` (ordered by id, as Hugging Face writes it) and `merges.txt`.
    public func save(to directory: URL) throws {
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        try vocabJSON().write(to: directory.appendingPathComponent(Self.vocabFile), options: .atomic)
        try mergesText().write(to: directory.appendingPathComponent(Self.mergesFile), options: .atomic)
    }

    func vocabJSON() -> Data {
        var out = "{"
        for (id, token) in tokens.enumerated() {
            if id > 0 { out += "," }
            out += Self.jsonString(token) + ":" + String(id)
        }
        return Data((out + "}").utf8)
    }

    func mergesText() -> Data {
        var out = "#version: 0.2\n"
        for m in merges { out += tokens[Int(m.left)] + " " + tokens[Int(m.right)] + "\n" }
        return Data(out.utf8)
    }

    /// Hex SHA-256 of vocab.json's bytes followed by merges.txt's, as `save` writes them.
    public var sha256: String {
        var h = SHA256()
        h.update(data: vocabJSON())
        h.update(data: mergesText())
        return h.finalize().map { String(format: "%02x", $0) }.joined()
    }

    static func jsonString(_ s: String) -> String {
        var out = "\""
        for u in s.unicodeScalars {
            switch u {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            case "\n": out += "\\n"
            case "\r": out += "\\r"
            case "\t": out += "\\t"
            case _ where u.value < 0x20: out += String(format: "\\u%04x", u.value)
            default: out.unicodeScalars.append(u)
            }
        }
        return out + "\""
    }
}

public struct TokenizerError: Error, CustomStringConvertible {
    public var message: String
    public init(_ message: String) { self.message = message }
    public var description: String { message }
}
