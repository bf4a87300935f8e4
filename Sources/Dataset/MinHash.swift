/// MinHash signatures: a fixed-length sketch of a document's shingle set whose
/// positions agree between two documents with probability equal to the
/// Jaccard similarity of their sets. Deterministic (fixed seeds, no `Hasher`).
public struct MinHasher: Sendable {
    /// Words per shingle.
    public static let shingleWords = 5
    /// Characters per shingle for short documents.
    public static let shingleCharacters = 5
    /// Documents with fewer words than this are shingled by characters: a
    /// handful of word 5-grams would make the similarity estimate too coarse.
    public static let minimumWordsForWordShingles = 2 * shingleWords

    public let permutations: Int
    private let multipliers: [UInt64]
    private let offsets: [UInt64]

    public init(permutations: Int = 128, seed: UInt64 = 0x6B6F_696E_6F6E_0001) {
        precondition(permutations > 0)
        self.permutations = permutations
        var state = seed
        var multipliers: [UInt64] = []
        var offsets: [UInt64] = []
        for _ in 0..<permutations {
            multipliers.append(splitMix64(&state) | 1)
            offsets.append(splitMix64(&state))
        }
        self.multipliers = multipliers
        self.offsets = offsets
    }

    /// The signature of a normalised text (see `NormalisedText`); matching is
    /// case-insensitive.
    public func signature(ofNormalised normalised: String) -> [UInt32] {
        signature(ofShingles: Self.shingleHashes(ofNormalised: normalised))
    }

    func signature(of normalised: NormalisedText) -> [UInt32] {
        signature(ofShingles: Self.shingleHashes(of: normalised.bytes))
    }

    /// Each of the `permutations` hash functions is h(x) = (a·x + b) >> 32 on
    /// the 64-bit shingle hash (multiply-shift; x is already well mixed); the
    /// signature keeps each function's minimum.
    func signature(ofShingles shingles: [UInt64]) -> [UInt32] {
        var minimums = [UInt32](repeating: .max, count: permutations)
        multipliers.withUnsafeBufferPointer { a in
            offsets.withUnsafeBufferPointer { b in
                minimums.withUnsafeMutableBufferPointer { mins in
                    for x in shingles {
                        for i in 0..<mins.count {
                            let value = UInt32(truncatingIfNeeded: (a[i] &* x &+ b[i]) >> 32)
                            if value < mins[i] { mins[i] = value }
                        }
                    }
                }
            }
        }
        return minimums
    }

    /// Hashes of the document's word 5-grams, or of its character 5-grams when
    /// it has fewer than `minimumWordsForWordShingles` words. A text shorter
    /// than one shingle is a single shingle.
    static func shingleHashes(ofNormalised normalised: String) -> [UInt64] {
        shingleHashes(of: Array(normalised.utf8))
    }

    /// `normalised` is the UTF-8 of a normalised text: words separated by single spaces.
    static func shingleHashes(of normalised: [UInt8]) -> [UInt64] {
        let lower = lowercased(normalised)
        let wordHashes = lower.split(separator: 0x20).map { fnv1a($0) }
        if wordHashes.count >= minimumWordsForWordShingles {
            var shingles: [UInt64] = []
            shingles.reserveCapacity(wordHashes.count - shingleWords + 1)
            for start in 0...(wordHashes.count - shingleWords) {
                var h: UInt64 = 0x5749_5244  // distinct from character shingles
                for k in 0..<shingleWords { h = mix64(h &* 0x9E37_79B9_7F4A_7C15 &+ wordHashes[start + k]) }
                shingles.append(h)
            }
            return shingles
        }
        let scalars = String(decoding: lower, as: UTF8.self).unicodeScalars.map { UInt64($0.value) }
        if scalars.isEmpty { return [] }
        let width = min(shingleCharacters, scalars.count)
        var shingles: [UInt64] = []
        for start in 0...(scalars.count - width) {
            var h: UInt64 = 0x4348_4152
            for k in 0..<width { h = mix64(h &* 0x9E37_79B9_7F4A_7C15 &+ scalars[start + k]) }
            shingles.append(h)
        }
        return shingles
    }

    /// Lower-cases UTF-8 text: ASCII byte by byte, anything else through
    /// Unicode's full case mapping.
    static func lowercased(_ bytes: [UInt8]) -> [UInt8] {
        if bytes.allSatisfy({ $0 < 0x80 }) {
            return bytes.map { $0 >= 0x41 && $0 <= 0x5A ? $0 | 0x20 : $0 }
        }
        return Array(String(decoding: bytes, as: UTF8.self).lowercased().utf8)
    }

    /// The fraction of positions where two signatures agree: the estimated Jaccard similarity.
    public static func estimatedJaccard(_ a: [UInt32], _ b: [UInt32]) -> Double {
        precondition(a.count == b.count && !a.isEmpty)
        var equal = 0
        for i in 0..<a.count where a[i] == b[i] { equal += 1 }
        return Double(equal) / Double(a.count)
    }
}

/// The splitmix64 generator step: a fixed, well-mixed sequence from a seed.
func splitMix64(_ state: inout UInt64) -> UInt64 {
    state &+= 0x9E37_79B9_7F4A_7C15
    return mix64(state)
}

/// The splitmix64 finaliser: a bijective 64-bit mixer.
func mix64(_ value: UInt64) -> UInt64 {
    var z = value
    z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
    z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
    return z ^ (z >> 31)
}

/// 64-bit FNV-1a.
func fnv1a(_ bytes: some Sequence<UInt8>) -> UInt64 {
    var h: UInt64 = 0xCBF2_9CE4_8422_2325
    for byte in bytes {
        h ^= UInt64(byte)
        h &*= 0x0000_0100_0000_01B3
    }
    return h
}
