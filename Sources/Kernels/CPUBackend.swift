import CBLAS
import CKernels
import Foundation

/// The CPU backend: OpenBLAS sgemm for matrix products, hand-written SIMD
/// kernels (CKernels) for everything else, split over `threads` cores.
public struct CPUBackend: Backend {
    public let threads: Int

    public init(threads: Int? = nil) {
        self.threads = max(1, threads ?? ProcessInfo.processInfo.activeProcessorCount)
        // OpenBLAS runs single-threaded; products are split across cores here
        // instead. Its own pool's waiting threads spin-yield and would steal the
        // cores the element-wise kernels run on between products.
        BLASRuntime.setThreads(1)
    }

    public var summary: String { "cpu: \(BLASRuntime.summary), \(threads) threads" }

    // Element-wise work below this many elements per thread is not worth a split.
    private static let grain = 16_384

    /// Partial sums a reduction over `count` items keeps, about `per` items
    /// each: a function of the shape only, so that summing the partials in
    /// order gives the same bits whatever the thread count (honest replicas
    /// computed on different thread counts then agree exactly).
    static func reductionChunks(_ count: Int, per: Int) -> Int { max(1, count / max(per, 1)) }

    /// Runs `body(c)` for every chunk `0..<chunks`, spread over at most `threads` cores.
    private func eachChunk(_ chunks: Int, _ body: (Int) -> Void) {
        parallelRanges(chunks, threads: threads) { r in for c in r { body(c) } }
    }

    /// Blocks a large matrix product is cut into (rows or columns, whichever
    /// dimension is larger), spread over the threads. A function of the shape
    /// only: OpenBLAS's result for an element can depend on the size of the
    /// block it is computed in, so cutting by thread count would make the
    /// gradient depend on `--threads`. 16 keeps up to 16 cores busy and costs
    /// 1–2 threads little (B is packed once per block).
    static let gemmBlocks = 16
    /// Rows (or columns) a block has at least: smaller blocks cost OpenBLAS
    /// more than the extra threads win (measured on char-small: 16-row blocks
    /// were 4–7% slower than cutting by thread count).
    static let gemmMinimumBlock = 128

    /// C [M, N] = α op(A) op(B) + β C, row-major, split into blocks of rows
    /// (or columns, whichever dimension is larger) that the threads share.
    func gemm(transA: Bool, transB: Bool, M: Int, N: Int, K: Int, A: ConstFloatPointer, lda: Int,
              B: ConstFloatPointer, ldb: Int, beta: Float, C: FloatPointer, ldc: Int) {
        let ta = transA ? CblasTrans : CblasNoTrans, tb = transB ? CblasTrans : CblasNoTrans
        let work = Double(M) * Double(N) * Double(K)
        let blocks = work < 2e6 ? 1 : max(1, min(Self.gemmBlocks, max(M, N) / Self.gemmMinimumBlock))
        func eachBlock(_ count: Int, _ body: (Range<Int>) -> Void) {
            eachChunk(blocks) { body(chunkRange($0, of: blocks, count: count)) }
        }
        if M >= N {
            eachBlock(M) { r in
                let a = transA ? A + r.lowerBound : A + r.lowerBound * lda
                cblas_sgemm(CblasRowMajor, ta, tb, Int32(r.count), Int32(N), Int32(K), 1, a, Int32(lda),
                            B, Int32(ldb), beta, C + r.lowerBound * ldc, Int32(ldc))
            }
        } else {
            eachBlock(N) { r in
                let b = transB ? B + r.lowerBound * ldb : B + r.lowerBound
                cblas_sgemm(CblasRowMajor, ta, tb, Int32(M), Int32(r.count), Int32(K), 1, A, Int32(lda),
                            b, Int32(ldb), beta, C + r.lowerBound, Int32(ldc))
            }
        }
    }

    public func linearForward(out: FloatPointer, input: ConstFloatPointer, weight: ConstFloatPointer,
                              bias: ConstFloatPointer?, rows: Int, inFeatures: Int, outFeatures: Int) {
        if let bias { kn_fill_rows(out, bias, rows, outFeatures) }
        gemm(transA: false, transB: true, M: rows, N: outFeatures, K: inFeatures, A: input, lda: inFeatures,
             B: weight, ldb: inFeatures, beta: bias == nil ? 0 : 1, C: out, ldc: outFeatures)
    }

    public func linearBackward(dInput: FloatPointer?, accumulateInput: Bool, dWeight: FloatPointer,
                               dBias: FloatPointer?, dOut: ConstFloatPointer, input: ConstFloatPointer,
                               weight: ConstFloatPointer, rows: Int, inFeatures: Int, outFeatures: Int) {
        if let dInput {
            gemm(transA: false, transB: false, M: rows, N: inFeatures, K: outFeatures, A: dOut, lda: outFeatures,
                 B: weight, ldb: inFeatures, beta: accumulateInput ? 1 : 0, C: dInput, ldc: inFeatures)
        }
        gemm(transA: true, transB: false, M: outFeatures, N: inFeatures, K: rows, A: dOut, lda: outFeatures,
             B: input, ldb: inFeatures, beta: 1, C: dWeight, ldc: inFeatures)
        if let dBias {
            // Columns split across threads; each thread reads every row of its columns.
            parallelRanges(outFeatures, threads: threads, minChunk: max(16, Self.grain / max(rows, 1))) { cols in
                kn_column_sum(dBias + cols.lowerBound, dOut + cols.lowerBound, rows, cols.count, outFeatures)
            }
        }
    }

    public func layerNormForward(out: FloatPointer, mean: FloatPointer, rstd: FloatPointer, input: ConstFloatPointer,
                                 weight: ConstFloatPointer, bias: ConstFloatPointer, rows: Int, channels: Int,
                                 epsilon: Float) {
        parallelRanges(rows, threads: threads, minChunk: max(1, Self.grain / channels)) { r in
            let o = r.lowerBound * channels
            kn_layernorm_forward(out + o, mean + r.lowerBound, rstd + r.lowerBound, input + o, weight, bias,
                                 r.count, channels, epsilon)
        }
    }

    public func layerNormBackward(dInput: FloatPointer, dWeight: FloatPointer, dBias: FloatPointer,
                                  dOut: ConstFloatPointer, input: ConstFloatPointer, weight: ConstFloatPointer,
                                  mean: ConstFloatPointer, rstd: ConstFloatPointer, rows: Int, channels: Int) {
        // Each chunk sums its weight/bias gradients privately; the partial sums are
        // added in chunk order. The chunks are fixed by the shape, not the thread
        // count, so the result is the same bits on any number of threads.
        let chunks = Self.reductionChunks(rows, per: max(1, Self.grain / channels))
        let partial = FloatBuffer(count: chunks * 2 * channels)
        eachChunk(chunks) { c in
            let r = chunkRange(c, of: chunks, count: rows)
            let o = r.lowerBound * channels
            let pw = partial.pointer + c * 2 * channels
            kn_layernorm_backward(dInput + o, pw, pw + channels, dOut + o, input + o, weight,
                                  mean + r.lowerBound, rstd + r.lowerBound, r.count, channels)
        }
        for c in 0..<chunks {
            let pw = partial.pointer + c * 2 * channels
            kn_add(dWeight, dWeight, pw, channels)
            kn_add(dBias, dBias, pw + channels, channels)
        }
    }

    public func geluForward(out: FloatPointer, input: ConstFloatPointer, count: Int) {
        parallelRanges(count, threads: threads, minChunk: Self.grain) { r in
            kn_gelu_forward(out + r.lowerBound, input + r.lowerBound, r.count)
        }
    }

    public func geluBackward(dInput: FloatPointer, input: ConstFloatPointer, dOut: ConstFloatPointer, count: Int) {
        parallelRanges(count, threads: threads, minChunk: Self.grain) { r in
            kn_gelu_backward(dInput + r.lowerBound, input + r.lowerBound, dOut + r.lowerBound, r.count)
        }
    }

    public func add(out: FloatPointer, _ a: ConstFloatPointer, _ b: ConstFloatPointer, count: Int) {
        parallelRanges(count, threads: threads, minChunk: Self.grain) { r in
            kn_add(out + r.lowerBound, a + r.lowerBound, b + r.lowerBound, r.count)
        }
    }

    public func embeddingForward(out: FloatPointer, tokens: UnsafePointer<Int32>, wte: ConstFloatPointer,
                                 wpe: ConstFloatPointer, batch: Int, seqLen: Int, channels: Int) {
        parallelRanges(batch * seqLen, threads: threads, minChunk: max(1, Self.grain / channels)) { r in
            kn_embedding_forward(out, tokens, wte, wpe, r.lowerBound, r.upperBound, seqLen, channels)
        }
    }

    public func embeddingBackward(dWte: FloatPointer, dWpe: FloatPointer, dOut: ConstFloatPointer,
                                  tokens: UnsafePointer<Int32>, batch: Int, seqLen: Int, channels: Int) {
        // A scatter-add with repeated tokens: one thread keeps it race-free and ordered.
        kn_embedding_backward(dWte, dWpe, dOut, tokens, batch * seqLen, seqLen, channels)
    }

    // Attention runs per (sequence, head) in the C kernels, which visit only
    // the keys each query sees. (Per-head sgemm calls were measured slower
    // at these sizes: 16.3k vs 19k tokens/s on char-small.)
    public func attentionForward(out: FloatPointer, att: FloatPointer, qkv: ConstFloatPointer,
                                 batch: Int, seqLen: Int, channels: Int, heads: Int, window: Int) {
        let hd = channels / heads, T = seqLen, C = channels
        parallelRanges(batch * heads, threads: threads) { pairs in
            let scratch = FloatBuffer(count: hd * T + 2 * T)
            for pair in pairs {
                let b = pair / heads, h = pair % heads
                let q = qkv + b * T * 3 * C + h * hd
                kn_attention_forward(out + b * T * C + h * hd, att + pair * T * T, q, q + C, q + 2 * C,
                                     T, 3 * C, C, hd, window, scratch.pointer)
            }
        }
    }

    public func attentionBackward(dQKV: FloatPointer, dOut: ConstFloatPointer, att: ConstFloatPointer,
                                  qkv: ConstFloatPointer, batch: Int, seqLen: Int, channels: Int, heads: Int,
                                  window: Int) {
        let hd = channels / heads, T = seqLen, C = channels
        parallelRanges(batch * heads, threads: threads) { pairs in
            let scratch = FloatBuffer(count: hd * T + 2 * T)
            for pair in pairs {
                let b = pair / heads, h = pair % heads
                let base = b * T * 3 * C + h * hd
                let d = dQKV + base, q = qkv + base
                kn_attention_backward(d, d + C, d + 2 * C, dOut + b * T * C + h * hd, att + pair * T * T,
                                      q, q + C, q + 2 * C, T, 3 * C, C, hd, window, scratch.pointer)
            }
        }
    }

    public func crossEntropy(logits: FloatPointer, targets: UnsafePointer<Int32>, rows: Int, vocab: Int,
                             gradScale: Float) -> Double {
        let chunks = Self.reductionChunks(rows, per: 16)
        var partial = [Double](repeating: 0, count: chunks)
        partial.withUnsafeMutableBufferPointer { out in
            let out = out.baseAddress!
            eachChunk(chunks) { c in
                var s = 0.0
                for r in chunkRange(c, of: chunks, count: rows) {
                    s += Double(kn_cross_entropy_row(logits + r * vocab, vocab, targets[r], gradScale))
                }
                out[c] = s
            }
        }
        return partial.reduce(0, +)
    }

    public func sumOfSquares(_ x: ConstFloatPointer, count: Int) -> Double {
        let chunks = Self.reductionChunks(count, per: Self.grain)
        var partial = [Double](repeating: 0, count: chunks)
        partial.withUnsafeMutableBufferPointer { out in
            let out = out.baseAddress!
            eachChunk(chunks) { c in
                let r = chunkRange(c, of: chunks, count: count)
                out[c] = kn_sum_squares(x + r.lowerBound, r.count)
            }
        }
        return partial.reduce(0, +)
    }

    public func scale(_ x: FloatPointer, by s: Float, count: Int) {
        parallelRanges(count, threads: threads, minChunk: Self.grain) { r in kn_scale(x + r.lowerBound, s, r.count) }
    }

    public func zero(_ x: FloatPointer, count: Int) {
        parallelRanges(count, threads: threads, minChunk: Self.grain * 4) { r in
            (x + r.lowerBound).update(repeating: 0, count: r.count)
        }
    }

    public func adamW(parameters: FloatPointer, gradients: ConstFloatPointer, m: FloatPointer, v: FloatPointer,
                      segments: [DecaySegment], step: AdamWStep) {
        let bc1 = 1 - Float(pow(Double(step.beta1), Double(step.step)))
        let bc2 = 1 - Float(pow(Double(step.beta2), Double(step.step)))
        for segment in segments {
            parallelRanges(segment.count, threads: threads, minChunk: Self.grain) { r in
                let o = segment.offset + r.lowerBound
                kn_adamw(parameters + o, gradients + o, m + o, v + o, r.count, step.learningRate, step.beta1,
                         step.beta2, step.epsilon, segment.weightDecay, bc1, bc2, step.gradientScale)
            }
        }
    }
}
