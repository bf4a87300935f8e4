import Kernels

/// One named tensor inside the flat parameter buffer. Shapes and names are
/// Hugging Face's (linear weights stored [out, in]).
public struct TensorSpec: Sendable, Equatable {
    public var name: String
    public var shape: [Int]
    public var offset: Int
    public var count: Int { shape.reduce(1, *) }
}

/// Offsets of one transformer block's tensors in the flat buffer.
public struct BlockOffsets: Sendable, Equatable {
    public var ln1Weight, ln1Bias: Int
    /// q_proj, k_proj and v_proj weights, adjacent so that one [3C, C] product computes all three.
    public var qkvWeight: Int
    public var outWeight, outBias: Int
    public var ln2Weight, ln2Bias: Int
    public var fcWeight, fcBias: Int
    public var projWeight, projBias: Int
}

/// Where every parameter lives in the one flat Float buffer. Gradients and
/// AdamW moments use the same layout, so one offset addresses all four.
public struct ParameterLayout: Sendable, Equatable {
    public let tensors: [TensorSpec]
    public let count: Int
    public let wte: Int, wpe: Int
    public let blocks: [BlockOffsets]
    public let lnfWeight: Int, lnfBias: Int
    private let index: [String: Int]

    public init(config: GPTNeoConfig) {
        let C = config.hidden, F = config.intermediate
        var tensors: [TensorSpec] = []
        var next = 0
        @discardableResult
        func add(_ name: String, _ shape: [Int]) -> Int {
            let spec = TensorSpec(name: name, shape: shape, offset: next)
            tensors.append(spec)
            next += spec.count
            return spec.offset
        }
        wte = add("transformer.wte.weight", [config.vocabSize, C])
        wpe = add("transformer.wpe.weight", [config.maxPositions, C])
        var blocks: [BlockOffsets] = []
        for l in 0..<config.layers {
            let p = "transformer.h.\(l)."
            let ln1w = add(p + "ln_1.weight", [C]), ln1b = add(p + "ln_1.bias", [C])
            let q = add(p + "attn.attention.q_proj.weight", [C, C])
            add(p + "attn.attention.k_proj.weight", [C, C])
            add(p + "attn.attention.v_proj.weight", [C, C])
            let ow = add(p + "attn.attention.out_proj.weight", [C, C])
            let ob = add(p + "attn.attention.out_proj.bias", [C])
            let ln2w = add(p + "ln_2.weight", [C]), ln2b = add(p + "ln_2.bias", [C])
            let fw = add(p + "mlp.c_fc.weight", [F, C]), fb = add(p + "mlp.c_fc.bias", [F])
            let pw = add(p + "mlp.c_proj.weight", [C, F]), pb = add(p + "mlp.c_proj.bias", [C])
            blocks.append(BlockOffsets(ln1Weight: ln1w, ln1Bias: ln1b, qkvWeight: q, outWeight: ow, outBias: ob,
                                       ln2Weight: ln2w, ln2Bias: ln2b, fcWeight: fw, fcBias: fb,
                                       projWeight: pw, projBias: pb))
        }
        lnfWeight = add("transformer.ln_f.weight", [C])
        lnfBias = add("transformer.ln_f.bias", [C])
        self.blocks = blocks
        self.tensors = tensors
        self.count = next
        self.index = Dictionary(uniqueKeysWithValues: tensors.enumerated().map { ($1.name, $0) })
    }

    public subscript(name: String) -> TensorSpec? { index[name].map { tensors[$0] } }

    /// AdamW segments: weight decay on 2-D weight matrices only (biases and
    /// LayerNorm parameters are not decayed). Adjacent tensors with the same
    /// decay are merged.
    public func decaySegments(weightDecay: Float) -> [DecaySegment] {
        var segments: [DecaySegment] = []
        for t in tensors {
            let wd: Float = t.shape.count >= 2 ? weightDecay : 0
            if let last = segments.last, last.weightDecay == wd, last.offset + last.count == t.offset {
                segments[segments.count - 1].count += t.count
            } else {
                segments.append(DecaySegment(offset: t.offset, count: t.count, weightDecay: wd))
            }
        }
        return segments
    }
}
