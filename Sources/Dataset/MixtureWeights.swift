import Crypto
import Foundation

/// Per-source mixture weights from `--weights src=w,...`. A weight w puts each
/// document of the source into the dataset floor(w) times, plus once more with
/// probability frac(w); 0 drops the source. Unnamed sources weigh 1.
public struct MixtureWeights: Sendable, Equatable, Codable {
    public private(set) var weights: [String: Double]

    /// Every source at weight 1.
    public init() { weights = [:] }

    public init(_ weights: [String: Double]) throws {
        for (source, weight) in weights where !(weight.isFinite && weight >= 0) {
            throw DatasetError.invalidArgument("--weights: weight \(weight) for \(source) must be a finite number ≥ 0")
        }
        self.weights = weights
    }

    /// Parses `src=w,src2=w2` (spaces around items allowed).
    public init(parsing argument: String) throws {
        var weights: [String: Double] = [:]
        for item in argument.split(separator: ",") {
            let trimmed = item.trimmingCharacters(in: .whitespaces)
            guard !trimmed.isEmpty else { continue }
            guard let equals = trimmed.lastIndex(of: "=") else {
                throw DatasetError.invalidArgument("--weights: \"\(trimmed)\" is not SOURCE=WEIGHT")
            }
            let source = trimmed[..<equals].trimmingCharacters(in: .whitespaces)
            let value = trimmed[trimmed.index(after: equals)...].trimmingCharacters(in: .whitespaces)
            guard !source.isEmpty, let weight = Double(value) else {
                throw DatasetError.invalidArgument("--weights: \"\(trimmed)\" is not SOURCE=WEIGHT with a number")
            }
            guard weights[source] == nil else {
                throw DatasetError.invalidArgument("--weights: source \(source) is given twice")
            }
            weights[source] = weight
        }
        try self.init(weights)
    }

    public func weight(of source: String) -> Double { weights[source] ?? 1 }

    /// Names in the weights that are not among `sources`, sorted.
    public func unknownSources(among sources: some Sequence<String>) -> [String] {
        let known = Set(sources)
        return weights.keys.filter { !known.contains($0) }.sorted()
    }

    /// How many copies of a document a weight asks for. The fractional copy is
    /// decided by a hash of (document, copy index), so the choice is the same
    /// on every run and independent of the order of documents.
    public static func copies(of digest: DocumentDigest, weight: Double) -> Int {
        let whole = Int(weight.rounded(.down))
        let fraction = weight - Double(whole)
        guard fraction > 0 else { return whole }
        return whole + (DocumentPlacement.draw(digest, copy: whole, purpose: "mixture") < fraction ? 1 : 0)
    }
}

/// Where a document copy goes: its split and its position in the split's
/// token stream. Pure and deterministic.
enum DocumentPlacement {
    /// A validation document has the top 64 bits of its digest, as a fraction
    /// of 2^64, below the validation fraction; every copy follows its document.
    static func isValidation(_ digest: DocumentDigest, validationFraction: Double) -> Bool {
        digest.unitInterval < validationFraction
    }

    /// The sort key of a copy within its split: a hash of (document, copy), so
    /// sources interleave across shards and copies of one document scatter.
    static func orderKey(_ digest: DocumentDigest, copy: Int) -> DocumentDigest {
        DocumentDigest(bytes: hash(digest, copy: copy, purpose: "order"))
    }

    /// A uniform number in [0, 1) from (document, copy, purpose).
    static func draw(_ digest: DocumentDigest, copy: Int, purpose: String) -> Double {
        DocumentDigest(bytes: hash(digest, copy: copy, purpose: purpose)).unitInterval
    }

    private static func hash(_ digest: DocumentDigest, copy: Int, purpose: String) -> SHA256Digest {
        var hasher = SHA256()
        hasher.update(data: Array(purpose.utf8))
        hasher.update(data: digest.bytes)
        withUnsafeBytes(of: UInt64(copy).littleEndian) { hasher.update(bufferPointer: $0) }
        return hasher.finalize()
    }
}
