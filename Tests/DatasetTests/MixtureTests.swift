import Testing

@testable import Dataset

@Suite struct MixtureTests {
    let digests = (0..<2000).map { DocumentDigest(normalisedText: "document \($0)") }

    @Test func parsesWeights() throws {
        let weights = try MixtureWeights(parsing: "books=2, web=0.5,code=0")
        #expect(weights.weight(of: "books") == 2)
        #expect(weights.weight(of: "web") == 0.5)
        #expect(weights.weight(of: "code") == 0)
        #expect(weights.weight(of: "other") == 1)
        #expect(weights.unknownSources(among: ["books", "web"]) == ["code"])
        for bad in ["books", "books=x", "=1", "books=-1", "books=1,books=2", "books=inf"] {
            #expect(throws: DatasetError.self, "\(bad)") { try MixtureWeights(parsing: bad) }
        }
    }

    @Test func wholeWeightsGiveExactCopies() {
        for digest in digests.prefix(50) {
            #expect(MixtureWeights.copies(of: digest, weight: 0) == 0)
            #expect(MixtureWeights.copies(of: digest, weight: 1) == 1)
            #expect(MixtureWeights.copies(of: digest, weight: 2) == 2)
        }
    }

    @Test func fractionalWeightsKeepThatShareDeterministically() {
        let half = digests.map { MixtureWeights.copies(of: $0, weight: 0.5) }
        let kept = half.filter { $0 == 1 }.count
        #expect(half.allSatisfy { $0 == 0 || $0 == 1 })
        // Binomial(2000, 0.5): standard deviation 22, so ±110 is five of them.
        #expect(abs(kept - 1000) < 110)
        #expect(digests.map { MixtureWeights.copies(of: $0, weight: 0.5) } == half)
        let onePointFive = digests.map { MixtureWeights.copies(of: $0, weight: 1.5) }
        #expect(onePointFive.allSatisfy { $0 == 1 || $0 == 2 })
    }

    @Test func validationSplitFollowsTheDigest() {
        let validation = digests.filter { DocumentPlacement.isValidation($0, validationFraction: 0.1) }.count
        #expect(abs(validation - 200) < 70)
        #expect(digests.allSatisfy { !DocumentPlacement.isValidation($0, validationFraction: 0) })
        #expect(digests.allSatisfy { DocumentPlacement.isValidation($0, validationFraction: 1) })
    }

    @Test func planPlacesEveryCopyInItsDocumentsSplit() throws {
        let kept = digests.prefix(300).enumerated().map {
            KeptDocument(text: "d\($0.offset)", digest: $0.element, sourceIndex: $0.offset % 3)
        }
        let weights = try MixtureWeights(["a": 2, "b": 0, "c": 0.5])
        let plan = MixturePlan(documents: kept, sourceNames: ["a", "b", "c"], weights: weights, validationFraction: 0.2)
        let copies = plan.train + plan.validation
        let perSource = Dictionary(grouping: copies) { kept[plan.documents[$0]].sourceIndex }.mapValues(\.count)
        #expect(perSource[0] == 200)
        #expect(perSource[1] == nil)
        #expect((20...80).contains(perSource[2] ?? 0))
        for copy in plan.validation {
            #expect(DocumentPlacement.isValidation(kept[plan.documents[copy]].digest, validationFraction: 0.2))
        }
        // Sources interleave rather than follow input order.
        #expect(plan.train != plan.train.sorted())
    }
}
