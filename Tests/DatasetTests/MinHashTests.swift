import Testing

@testable import Dataset

@Suite struct MinHashTests {
    let hasher = MinHasher()

    func signature(_ text: String) -> [UInt32] { hasher.signature(ofNormalised: NormalisedText.of(text)) }

    /// Exact Jaccard similarity of two texts' shingle sets, to check the estimate against.
    func jaccard(_ a: String, _ b: String) -> Double {
        let x = Set(MinHasher.shingleHashes(ofNormalised: NormalisedText.of(a)))
        let y = Set(MinHasher.shingleHashes(ofNormalised: NormalisedText.of(b)))
        return Double(x.intersection(y).count) / Double(x.union(y).count)
    }

    @Test func similarDocumentsEstimateHighAndUnrelatedLow() {
        let base = Corpus.document(seed: 1, words: 200)
        let near = Corpus.variant(of: base, changes: 2)
        let unrelated = Corpus.document(seed: 2, words: 200)
        let nearEstimate = MinHasher.estimatedJaccard(signature(base), signature(near))
        let unrelatedEstimate = MinHasher.estimatedJaccard(signature(base), signature(unrelated))
        #expect(jaccard(base, near) > 0.85)
        // 128 permutations: the estimate's standard deviation is at most 0.045.
        #expect(abs(nearEstimate - jaccard(base, near)) < 0.15)
        #expect(unrelatedEstimate < 0.05)
        #expect(MinHasher.estimatedJaccard(signature(base), signature(base)) == 1)
    }

    @Test func matchingIgnoresCaseAndLayout() {
        let text = Corpus.document(seed: 3)
        #expect(signature(text) == signature("  " + text.uppercased().replacingOccurrences(of: " ", with: "\n ")))
    }

    @Test func shortDocumentsUseCharacterShingles() {
        // Fewer than 10 words: character 5-grams, so small edits stay similar.
        let a = "The quick brown fox jumps over it."
        let b = "The quick brown fox jumped over it."
        #expect(MinHasher.shingleHashes(ofNormalised: a).count == a.count - 4)
        #expect(jaccard(a, b) > 0.6)
        #expect(MinHasher.shingleHashes(ofNormalised: "abc").count == 1)
        #expect(MinHasher.shingleHashes(ofNormalised: "").isEmpty)
    }

    @Test func signaturesAreDeterministic() {
        let text = Corpus.document(seed: 4)
        #expect(MinHasher().signature(ofNormalised: text) == hasher.signature(ofNormalised: text))
        #expect(MinHasher(seed: 99).signature(ofNormalised: text) != hasher.signature(ofNormalised: text))
    }

    @Test func bandsAndRowsFollowTheThreshold() {
        let parameters = LSHParameters.optimal(threshold: 0.8, permutations: 128)
        #expect(parameters.bands * parameters.rows <= 128)
        #expect(parameters.candidateProbability(similarity: 0.95) > 0.99)
        #expect(parameters.candidateProbability(similarity: 0.5) < 0.05)
        let strict = LSHParameters.optimal(threshold: 0.95, permutations: 128)
        let loose = LSHParameters.optimal(threshold: 0.5, permutations: 128)
        #expect(strict.rows > parameters.rows && parameters.rows > loose.rows)
    }

    @Test func indexFindsTheEarlierNearDuplicateOnly() {
        var index = NearDuplicateIndex(threshold: 0.8, permutations: 128)
        let base = Corpus.document(seed: 5, words: 200)
        #expect(index.duplicate(of: signature(base)) == nil)
        index.insert(signature(base))
        index.insert(signature(Corpus.document(seed: 6, words: 200)))
        #expect(index.duplicate(of: signature(Corpus.variant(of: base, changes: 1))) == 0)
        #expect(index.duplicate(of: signature(Corpus.document(seed: 7, words: 200))) == nil)
        // Half the words changed: related but far below the threshold.
        #expect(index.duplicate(of: signature(Corpus.variant(of: base, changes: 60))) == nil)
    }
}
