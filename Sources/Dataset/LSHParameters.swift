import Foundation

/// How a MinHash signature is cut into bands for locality-sensitive hashing:
/// two documents become candidates when all `rows` values of some band agree,
/// which happens with probability 1 − (1 − s^rows)^bands at similarity s.
public struct LSHParameters: Sendable, Equatable, Codable {
    public var bands: Int
    public var rows: Int

    public init(bands: Int, rows: Int) {
        self.bands = bands
        self.rows = rows
    }

    /// Probability that two documents with Jaccard similarity `s` share a band.
    public func candidateProbability(similarity s: Double) -> Double {
        1 - pow(1 - pow(s, Double(rows)), Double(bands))
    }

    /// The bands × rows (with bands·rows ≤ permutations) that minimise the sum
    /// of the false-positive area below the threshold and the false-negative
    /// area above it (the choice datasketch makes with equal weights). Candidates
    /// are then confirmed on the full signature, so false positives cost only time.
    public static func optimal(threshold: Double, permutations: Int) -> LSHParameters {
        var best = LSHParameters(bands: 1, rows: permutations)
        var bestError = Double.infinity
        for bands in 1...permutations {
            for rows in 1...(permutations / bands) {
                let candidate = LSHParameters(bands: bands, rows: rows)
                let falsePositive = integrate(from: 0, to: threshold) { candidate.candidateProbability(similarity: $0) }
                let falseNegative = integrate(from: threshold, to: 1) { 1 - candidate.candidateProbability(similarity: $0) }
                let error = falsePositive + falseNegative
                if error < bestError {
                    bestError = error
                    best = candidate
                }
            }
        }
        return best
    }

    /// Midpoint rule; the integrands are smooth and bounded in [0, 1].
    private static func integrate(from a: Double, to b: Double, steps: Int = 256, _ f: (Double) -> Double) -> Double {
        guard b > a else { return 0 }
        let width = (b - a) / Double(steps)
        var sum = 0.0
        for i in 0..<steps { sum += f(a + (Double(i) + 0.5) * width) }
        return sum * width
    }
}
