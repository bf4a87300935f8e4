import Kernels

extension GPTNeo {
    /// Mean next-token loss over batches of [batch, seqLen] tokens and targets
    /// (inference only: no gradients, one reusable set of activations).
    public func meanLoss(batches: [(tokens: [Int32], targets: [Int32])], batch: Int, seqLen: Int) throws -> Double? {
        let acts = Activations(config: config, batch: batch, seqLen: seqLen, training: false)
        var sum = 0.0, count = 0
        for b in batches {
            try setBatch(tokens: b.tokens, targets: b.targets, acts: acts)
            forward(acts)
            let (s, n) = crossEntropy(acts, backward: false)
            sum += s
            count += n
        }
        return count > 0 ? sum / Double(count) : nil
    }
}
