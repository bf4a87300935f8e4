import Kernels

/// Saved tensors of one transformer block (N = batch·seqLen rows).
public final class BlockActivations: @unchecked Sendable {
    public let ln1, ln1Mean, ln1Rstd: FloatBuffer   // [N, C], [N], [N]
    public let qkv: FloatBuffer                     // [N, 3C]
    public let att: FloatBuffer                     // [B, NH, T, T] probabilities
    public let atty: FloatBuffer                    // [N, C] attention output before out_proj
    public let resid2: FloatBuffer                  // [N, C] residual after attention
    public let ln2, ln2Mean, ln2Rstd: FloatBuffer   // [N, C], [N], [N]
    public let fch, fchGelu: FloatBuffer            // [N, F] MLP pre- and post-activation
    public let resid3: FloatBuffer                  // [N, C] block output

    init(_ c: GPTNeoConfig, batch B: Int, seqLen T: Int) {
        let N = B * T, C = c.hidden, F = c.intermediate
        ln1 = FloatBuffer(count: N * C); ln1Mean = FloatBuffer(count: N); ln1Rstd = FloatBuffer(count: N)
        qkv = FloatBuffer(count: N * 3 * C)
        att = FloatBuffer(count: B * c.heads * T * T)
        atty = FloatBuffer(count: N * C)
        resid2 = FloatBuffer(count: N * C)
        ln2 = FloatBuffer(count: N * C); ln2Mean = FloatBuffer(count: N); ln2Rstd = FloatBuffer(count: N)
        fch = FloatBuffer(count: N * F); fchGelu = FloatBuffer(count: N * F)
        resid3 = FloatBuffer(count: N * C)
    }

    var floatCount: Int {
        [ln1, ln1Mean, ln1Rstd, qkv, att, atty, resid2, ln2, ln2Mean, ln2Rstd, fch, fchGelu, resid3]
            .reduce(0) { $0 + $1.count }
    }
}

/// Everything a forward pass writes (and a backward pass reads) for one
/// batch shape. Built for training, every block keeps its own tensors; for
/// inference one set is reused by all blocks, so long sequences stay cheap.
public final class Activations: @unchecked Sendable {
    public let batch: Int
    public let seqLen: Int
    public let training: Bool
    public let tokens: UnsafeMutableBufferPointer<Int32>   // [N]
    public let targets: UnsafeMutableBufferPointer<Int32>  // [N], negative = ignored
    public let embedded: FloatBuffer                       // [N, C]
    public let blocks: [BlockActivations]
    public let lnf, lnfMean, lnfRstd: FloatBuffer          // [N, C], [N], [N]
    public let logits: FloatBuffer                         // [N, V]; dlogits after the loss's backward
    let scratch: FloatBuffer                               // [N, C] projection outputs
    // Backward buffers (training only).
    let dResidual: FloatBuffer                             // [N, C] gradient of the residual stream
    let dHidden: FloatBuffer                               // [N, C]
    let dFF: FloatBuffer                                   // [N, F]
    let dQKV: FloatBuffer                                  // [N, 3C]

    public init(config c: GPTNeoConfig, batch: Int, seqLen: Int, training: Bool) {
        self.batch = batch
        self.seqLen = seqLen
        self.training = training
        let N = batch * seqLen, C = c.hidden
        tokens = .allocate(capacity: N); tokens.initialize(repeating: 0)
        targets = .allocate(capacity: N); targets.initialize(repeating: -1)
        embedded = FloatBuffer(count: N * C)
        if training {
            blocks = (0..<c.layers).map { _ in BlockActivations(c, batch: batch, seqLen: seqLen) }
        } else {
            let shared = BlockActivations(c, batch: batch, seqLen: seqLen)
            blocks = Array(repeating: shared, count: c.layers)
        }
        lnf = FloatBuffer(count: N * C); lnfMean = FloatBuffer(count: N); lnfRstd = FloatBuffer(count: N)
        logits = FloatBuffer(count: N * c.vocabSize)
        scratch = FloatBuffer(count: N * C)
        let b = training ? N : 0
        dResidual = FloatBuffer(count: b * C)
        dHidden = FloatBuffer(count: b * C)
        dFF = FloatBuffer(count: b * c.intermediate)
        dQKV = FloatBuffer(count: b * 3 * C)
    }

    deinit {
        tokens.deallocate()
        targets.deallocate()
    }

    /// Floats held (distinct buffers only), for memory accounting.
    public var floatCount: Int {
        let distinct = training ? blocks.reduce(0) { $0 + $1.floatCount } : (blocks.first?.floatCount ?? 0)
        return distinct + [embedded, lnf, lnfMean, lnfRstd, logits, scratch, dResidual, dHidden, dFF, dQKV]
            .reduce(0) { $0 + $1.count }
    }
}
