import Kernels

extension GPTNeo {
    /// Backward pass: adds d(loss)/d(parameters) into `gradients` (same layout
    /// as the parameters). Needs a training `acts` after `forward` and
    /// `crossEntropy(backward: true)`.
    public func backward(_ acts: Activations, gradients: FloatBuffer) {
        precondition(acts.training, "backward needs activations built with training: true")
        precondition(gradients.count == layout.count, "gradient buffer does not match the parameter layout")
        let c = config, be = backend, P = parameters.pointer, G = gradients.pointer
        let B = acts.batch, T = acts.seqLen, N = B * T, C = c.hidden, F = c.intermediate
        let dResidual = acts.dResidual.pointer, dHidden = acts.dHidden.pointer
        let dFF = acts.dFF.pointer, dQKV = acts.dQKV.pointer
        let finalResidual = acts.blocks.last?.resid3.pointer ?? acts.embedded.pointer

        // LM head (tied): dlnf = dlogits · wte; dwte += dlogitsᵀ · lnf
        be.linearBackward(dInput: dHidden, accumulateInput: false, dWeight: G + layout.wte, dBias: nil,
                          dOut: acts.logits.pointer, input: acts.lnf.pointer, weight: P + layout.wte,
                          rows: N, inFeatures: C, outFeatures: c.vocabSize)
        be.zero(dResidual, count: N * C)
        be.layerNormBackward(dInput: dResidual, dWeight: G + layout.lnfWeight, dBias: G + layout.lnfBias,
                             dOut: dHidden, input: finalResidual, weight: P + layout.lnfWeight,
                             mean: acts.lnfMean.pointer, rstd: acts.lnfRstd.pointer, rows: N, channels: C)

        for l in stride(from: c.layers - 1, through: 0, by: -1) {
            let a = acts.blocks[l], w = layout.blocks[l]
            let residualIn = l == 0 ? acts.embedded.pointer : acts.blocks[l - 1].resid3.pointer
            // resid3 = resid2 + c_proj(gelu(c_fc(ln_2(resid2)))): dResidual flows to both.
            be.linearBackward(dInput: dFF, accumulateInput: false, dWeight: G + w.projWeight, dBias: G + w.projBias,
                              dOut: dResidual, input: a.fchGelu.pointer, weight: P + w.projWeight,
                              rows: N, inFeatures: F, outFeatures: C)
            be.geluBackward(dInput: dFF, input: a.fch.pointer, dOut: dFF, count: N * F)
            be.linearBackward(dInput: dHidden, accumulateInput: false, dWeight: G + w.fcWeight, dBias: G + w.fcBias,
                              dOut: dFF, input: a.ln2.pointer, weight: P + w.fcWeight,
                              rows: N, inFeatures: C, outFeatures: F)
            be.layerNormBackward(dInput: dResidual, dWeight: G + w.ln2Weight, dBias: G + w.ln2Bias, dOut: dHidden,
                                 input: a.resid2.pointer, weight: P + w.ln2Weight, mean: a.ln2Mean.pointer,
                                 rstd: a.ln2Rstd.pointer, rows: N, channels: C)
            // resid2 = residualIn + out_proj(attention(qkv(ln_1(residualIn))))
            be.linearBackward(dInput: dHidden, accumulateInput: false, dWeight: G + w.outWeight, dBias: G + w.outBias,
                              dOut: dResidual, input: a.atty.pointer, weight: P + w.outWeight,
                              rows: N, inFeatures: C, outFeatures: C)
            be.attentionBackward(dQKV: dQKV, dOut: dHidden, att: a.att.pointer, qkv: a.qkv.pointer, batch: B,
                                 seqLen: T, channels: C, heads: c.heads, window: c.window(layer: l))
            be.linearBackward(dInput: dHidden, accumulateInput: false, dWeight: G + w.qkvWeight, dBias: nil,
                              dOut: dQKV, input: a.ln1.pointer, weight: P + w.qkvWeight,
                              rows: N, inFeatures: C, outFeatures: 3 * C)
            be.layerNormBackward(dInput: dResidual, dWeight: G + w.ln1Weight, dBias: G + w.ln1Bias, dOut: dHidden,
                                 input: residualIn, weight: P + w.ln1Weight, mean: a.ln1Mean.pointer,
                                 rstd: a.ln1Rstd.pointer, rows: N, channels: C)
        }
        be.embeddingBackward(dWte: G + layout.wte, dWpe: G + layout.wpe, dOut: dResidual,
                             tokens: acts.tokens.baseAddress!, batch: B, seqLen: T, channels: C)
    }
}
