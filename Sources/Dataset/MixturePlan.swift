/// Which documents go into the token streams, how many times, in which split
/// and in what order. Pure: a function of the kept documents, the weights and
/// the validation fraction.
struct MixturePlan {
    /// Indices into the kept documents of those with at least one copy, in input order.
    let documents: [Int]
    /// Copies in stream order per split, as indices into `documents`.
    let train: [Int]
    let validation: [Int]

    init(documents kept: [KeptDocument], sourceNames: [String], weights: MixtureWeights, validationFraction: Double) {
        var documents: [Int] = []
        var copies: [DatasetSplit: [(key: DocumentDigest, document: Int)]] = [.train: [], .validation: []]
        for (keptIndex, document) in kept.enumerated() {
            let weight = weights.weight(of: sourceNames[document.sourceIndex])
            let count = MixtureWeights.copies(of: document.digest, weight: weight)
            guard count > 0 else { continue }
            let split: DatasetSplit =
                DocumentPlacement.isValidation(document.digest, validationFraction: validationFraction) ? .validation : .train
            for copy in 0..<count {
                copies[split]!.append((DocumentPlacement.orderKey(document.digest, copy: copy), documents.count))
            }
            documents.append(keptIndex)
        }
        // Keys are SHA-256 values, distinct in practice; the index breaks any tie.
        func ordered(_ list: [(key: DocumentDigest, document: Int)]) -> [Int] {
            list.sorted { $0.key != $1.key ? $0.key < $1.key : $0.document < $1.document }.map(\.document)
        }
        self.documents = documents
        train = ordered(copies[.train]!)
        validation = ordered(copies[.validation]!)
    }

    var isEmpty: Bool { train.isEmpty && validation.isEmpty }

    func copies(in split: DatasetSplit) -> [Int] { split == .train ? train : validation }
}
