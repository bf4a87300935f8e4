import Kernels

/// One process training a model: parameters, gradients, AdamW state and the
/// activations for one batch shape. A step is forward → mean cross-entropy
/// → backward → clip → AdamW.
public final class Trainer: @unchecked Sendable {
    public let model: GPTNeo
    private let optimizerConfig: AdamWConfig
    /// AdamW and its moments (twice the model), made on first use: a worker
    /// that only computes gradients (the coordinator steps) never holds them.
    public private(set) lazy var optimizer = AdamW(config: optimizerConfig, layout: model.layout)
    public let gradients: FloatBuffer
    public let activations: Activations

    public init(model: GPTNeo, optimizer: AdamWConfig, batch: Int, seqLen: Int) throws {
        guard batch > 0, seqLen > 0 else { throw ModelInputError("batch and sequence length must be positive") }
        guard seqLen <= model.config.maxPositions else {
            throw ModelInputError("sequence length \(seqLen) exceeds max_position_embeddings \(model.config.maxPositions)")
        }
        self.model = model
        self.optimizerConfig = optimizer
        self.gradients = FloatBuffer(count: model.layout.count)
        self.activations = Activations(config: model.config, batch: batch, seqLen: seqLen, training: true)
    }

    /// Mean loss of the batch and the parameter gradients (into `gradients`),
    /// without updating the parameters.
    public func computeGradients(tokens: [Int32], targets: [Int32]) throws -> Double {
        try model.setBatch(tokens: tokens, targets: targets, acts: activations)
        model.forward(activations)
        let (sum, count) = model.crossEntropy(activations, backward: true)
        guard count > 0 else { throw ModelInputError("the batch has no target that is not ignored") }
        model.backend.zero(gradients.pointer, count: gradients.count)
        model.backward(activations, gradients: gradients)
        return sum / Double(count)
    }

    /// One optimizer step on one batch; returns the loss before the update.
    @discardableResult
    public func step(tokens: [Int32], targets: [Int32]) throws -> (loss: Double, update: AdamW.Report) {
        let loss = try computeGradients(tokens: tokens, targets: targets)
        let report = optimizer.update(parameters: model.parameters, gradients: gradients, backend: model.backend)
        return (loss, report)
    }

    /// Bytes held by parameters, gradients, both moments and activations.
    public var trainingStateBytes: Int {
        4 * (4 * model.layout.count + activations.floatCount)
    }
}

extension GPTNeo {
    /// Sum of next-token cross-entropy over every predicted position of every
    /// sequence, and the number of positions (each sequence alone, as a batch of 1).
    public func evaluate(sequences: [[Int32]]) throws -> (lossSum: Double, count: Int) {
        var lossSum = 0.0, count = 0
        var cache: [Int: Activations] = [:]  // one inference buffer set per length
        for seq in sequences where seq.count >= 2 {
            let acts = cache[seq.count] ?? Activations(config: config, batch: 1, seqLen: seq.count, training: false)
            cache[seq.count] = acts
            try setBatch(tokens: seq, targets: Array(seq.dropFirst()) + [-1], acts: acts)
            forward(acts)
            let (s, n) = crossEntropy(acts, backward: false)
            lossSum += s
            count += n
            if cache.count > 8 { cache.removeAll() }
        }
        return (lossSum, count)
    }

    /// Training FLOPs of one step on a [batch, seqLen] batch: matrix products,
    /// attention over the positions each query actually sees, ×3 for forward
    /// plus backward. (Element-wise work is not counted.)
    public func trainingFLOPs(batch: Int, seqLen: Int) -> Double {
        let c = config, C = Double(c.hidden), F = Double(c.intermediate)
        let tokens = Double(batch * seqLen)
        var forward = tokens * 2 * C * Double(c.vocabSize)  // LM head
        for l in 0..<c.layers {
            forward += tokens * 2 * (4 * C * C + 2 * C * F)
            let w = c.window(layer: l)
            let keysSeen = (0..<seqLen).reduce(0) { $0 + (w == 0 ? $1 + 1 : min($1 + 1, w)) }
            forward += Double(batch) * 4 * C * Double(keysSeen)  // scores and weighted sum, all heads
        }
        return 3 * forward
    }
}
