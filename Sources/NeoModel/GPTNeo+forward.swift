import Kernels

extension GPTNeo {
    /// Copies a batch of token sequences into `acts` and checks them.
    /// tokens: [B, T] row-major; targets: [B, T] next-token ids, negative = ignored.
    public func setBatch(tokens: [Int32], targets: [Int32]? = nil, acts: Activations) throws(ModelInputError) {
        let N = acts.batch * acts.seqLen
        guard tokens.count == N else {
            throw ModelInputError("expected \(N) tokens (batch \(acts.batch) × length \(acts.seqLen)), got \(tokens.count)")
        }
        guard acts.seqLen <= config.maxPositions else {
            throw ModelInputError("sequence length \(acts.seqLen) exceeds max_position_embeddings \(config.maxPositions)")
        }
        let V = Int32(config.vocabSize)
        if let bad = tokens.firstIndex(where: { $0 < 0 || $0 >= V }) {
            throw ModelInputError("token id \(tokens[bad]) at position \(bad) is outside the vocabulary [0, \(V))")
        }
        _ = acts.tokens.update(fromContentsOf: tokens)
        if let targets {
            guard targets.count == N else { throw ModelInputError("expected \(N) targets, got \(targets.count)") }
            if let bad = targets.firstIndex(where: { $0 >= V }) {
                throw ModelInputError("target id \(targets[bad]) at position \(bad) is outside the vocabulary [0, \(V))")
            }
            _ = acts.targets.update(fromContentsOf: targets)
        } else {
            acts.targets.update(repeating: -1)
        }
    }

    /// Forward pass over the batch in `acts` up to the logits [N, V].
    public func forward(_ acts: Activations) {
        let c = config, be = backend, P = parameters.pointer
        let B = acts.batch, T = acts.seqLen, N = B * T, C = c.hidden, F = c.intermediate
        let eps = Float(c.layerNormEpsilon)
        be.embeddingForward(out: acts.embedded.pointer, tokens: acts.tokens.baseAddress!, wte: P + layout.wte,
                            wpe: P + layout.wpe, batch: B, seqLen: T, channels: C)
        var residual = acts.embedded.pointer
        for (l, w) in layout.blocks.enumerated() {
            let a = acts.blocks[l]
            // ln_1 → q,k,v (one [3C, C] product, no bias) → attention → out_proj (+bias) → residual
            be.layerNormForward(out: a.ln1.pointer, mean: a.ln1Mean.pointer, rstd: a.ln1Rstd.pointer, input: residual,
                                weight: P + w.ln1Weight, bias: P + w.ln1Bias, rows: N, channels: C, epsilon: eps)
            be.linearForward(out: a.qkv.pointer, input: a.ln1.pointer, weight: P + w.qkvWeight, bias: nil,
                             rows: N, inFeatures: C, outFeatures: 3 * C)
            be.attentionForward(out: a.atty.pointer, att: a.att.pointer, qkv: a.qkv.pointer, batch: B, seqLen: T,
                                channels: C, heads: c.heads, window: c.window(layer: l))
            be.linearForward(out: acts.scratch.pointer, input: a.atty.pointer, weight: P + w.outWeight,
                             bias: P + w.outBias, rows: N, inFeatures: C, outFeatures: C)
            be.add(out: a.resid2.pointer, residual, acts.scratch.pointer, count: N * C)
            // ln_2 → c_fc → gelu_new → c_proj → residual
            be.layerNormForward(out: a.ln2.pointer, mean: a.ln2Mean.pointer, rstd: a.ln2Rstd.pointer,
                                input: a.resid2.pointer, weight: P + w.ln2Weight, bias: P + w.ln2Bias,
                                rows: N, channels: C, epsilon: eps)
            be.linearForward(out: a.fch.pointer, input: a.ln2.pointer, weight: P + w.fcWeight, bias: P + w.fcBias,
                             rows: N, inFeatures: C, outFeatures: F)
            be.geluForward(out: a.fchGelu.pointer, input: a.fch.pointer, count: N * F)
            be.linearForward(out: acts.scratch.pointer, input: a.fchGelu.pointer, weight: P + w.projWeight,
                             bias: P + w.projBias, rows: N, inFeatures: F, outFeatures: C)
            be.add(out: a.resid3.pointer, a.resid2.pointer, acts.scratch.pointer, count: N * C)
            residual = a.resid3.pointer
        }
        be.layerNormForward(out: acts.lnf.pointer, mean: acts.lnfMean.pointer, rstd: acts.lnfRstd.pointer,
                            input: residual, weight: P + layout.lnfWeight, bias: P + layout.lnfBias,
                            rows: N, channels: C, epsilon: eps)
        // LM head tied to wte: logits = ln_f · wteᵀ
        be.linearForward(out: acts.logits.pointer, input: acts.lnf.pointer, weight: P + layout.wte, bias: nil,
                         rows: N, inFeatures: C, outFeatures: c.vocabSize)
    }

    /// Cross-entropy of the logits against `acts.targets`: returns the sum
    /// over non-ignored positions and their count. With `backward`, the
    /// logits are replaced by d(mean loss)/d(logits), ready for `backward`.
    public func crossEntropy(_ acts: Activations, backward: Bool) -> (sum: Double, count: Int) {
        let N = acts.batch * acts.seqLen
        let count = acts.targets.reduce(0) { $0 + ($1 >= 0 ? 1 : 0) }
        let scale: Float = backward ? 1 / Float(max(count, 1)) : 0
        let sum = backend.crossEntropy(logits: acts.logits.pointer, targets: acts.targets.baseAddress!, rows: N,
                                       vocab: config.vocabSize, gradScale: scale)
        return (sum, count)
    }
}
