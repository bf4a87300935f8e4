/// MinHash-LSH index of the documents kept so far. A new document is a near
/// duplicate when some kept document shares one of its bands and their
/// estimated Jaccard similarity reaches the threshold; the earlier document
/// always wins, so the outcome depends only on input order.
struct NearDuplicateIndex {
    let threshold: Double
    let parameters: LSHParameters
    private var buckets: [[UInt64: [Int32]]]
    private var signatures: [[UInt32]] = []

    init(threshold: Double, permutations: Int) {
        self.threshold = threshold
        parameters = LSHParameters.optimal(threshold: threshold, permutations: permutations)
        buckets = Array(repeating: [:], count: parameters.bands)
    }

    /// The id of a kept document this signature nearly duplicates, if any.
    func duplicate(of signature: [UInt32]) -> Int? {
        for band in 0..<parameters.bands {
            guard let candidates = buckets[band][bandKey(signature, band: band)] else { continue }
            for id in candidates
            where MinHasher.estimatedJaccard(signatures[Int(id)], signature) >= threshold {
                return Int(id)
            }
        }
        return nil
    }

    /// Adds a kept document; returns its id.
    @discardableResult
    mutating func insert(_ signature: [UInt32]) -> Int {
        let id = signatures.count
        signatures.append(signature)
        for band in 0..<parameters.bands {
            buckets[band][bandKey(signature, band: band), default: []].append(Int32(id))
        }
        return id
    }

    private func bandKey(_ signature: [UInt32], band: Int) -> UInt64 {
        var h: UInt64 = 0x4C53_4800 &+ UInt64(band)
        let start = band * parameters.rows
        for value in signature[start..<(start + parameters.rows)] {
            h = mix64(h &* 0x9E37_79B9_7F4A_7C15 &+ UInt64(value))
        }
        return h
    }
}
