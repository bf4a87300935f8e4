import Testing
import Kernels

/// Finite-difference checks of every backward kernel: each layer's loss is
/// L = Σ forward(x) · R for a fixed random R, so dL/dout = R.
@Suite struct KernelGradientTests {
    let backend = CPUBackend(threads: 2)
    // Float32 central differences with step 1e-2 are good to about 1e-3.
    let tolerance = 2e-3

    @Test func linear() {
        var rng = TestRandom(1)
        let N = 5, IC = 7, OC = 6
        let x = rng.buffer(N * IC), w = rng.buffer(OC * IC), b = rng.buffer(OC), r = rng.buffer(N * OC)
        let out = FloatBuffer(count: N * OC)
        func loss() -> Double {
            backend.linearForward(out: out.pointer, input: x.pointer, weight: w.pointer, bias: b.pointer,
                                  rows: N, inFeatures: IC, outFeatures: OC)
            return dot(out, r)
        }
        let dx = FloatBuffer(count: N * IC), dw = FloatBuffer(count: OC * IC), db = FloatBuffer(count: OC)
        backend.linearBackward(dInput: dx.pointer, accumulateInput: false, dWeight: dw.pointer, dBias: db.pointer,
                               dOut: r.pointer, input: x.pointer, weight: w.pointer, rows: N, inFeatures: IC, outFeatures: OC)
        #expect(worstGradientError(of: x, analytic: dx, loss: loss) < tolerance)
        #expect(worstGradientError(of: w, analytic: dw, loss: loss) < tolerance)
        #expect(worstGradientError(of: b, analytic: db, loss: loss) < tolerance)
    }

    @Test func layerNorm() {
        var rng = TestRandom(2)
        let N = 4, C = 9
        let x = rng.buffer(N * C, scale: 2), w = rng.buffer(C), b = rng.buffer(C), r = rng.buffer(N * C)
        let out = FloatBuffer(count: N * C), mean = FloatBuffer(count: N), rstd = FloatBuffer(count: N)
        func loss() -> Double {
            backend.layerNormForward(out: out.pointer, mean: mean.pointer, rstd: rstd.pointer, input: x.pointer,
                                     weight: w.pointer, bias: b.pointer, rows: N, channels: C, epsilon: 1e-5)
            return dot(out, r)
        }
        _ = loss()
        let dx = FloatBuffer(count: N * C), dw = FloatBuffer(count: C), db = FloatBuffer(count: C)
        backend.layerNormBackward(dInput: dx.pointer, dWeight: dw.pointer, dBias: db.pointer, dOut: r.pointer,
                                  input: x.pointer, weight: w.pointer, mean: mean.pointer, rstd: rstd.pointer,
                                  rows: N, channels: C)
        #expect(worstGradientError(of: x, analytic: dx, loss: loss) < tolerance)
        #expect(worstGradientError(of: w, analytic: dw, loss: loss) < tolerance)
        #expect(worstGradientError(of: b, analytic: db, loss: loss) < tolerance)
    }

    @Test func gelu() {
        var rng = TestRandom(3)
        let n = 64
        let x = rng.buffer(n, scale: 4), r = rng.buffer(n), out = FloatBuffer(count: n)
        func loss() -> Double {
            backend.geluForward(out: out.pointer, input: x.pointer, count: n)
            return dot(out, r)
        }
        let dx = FloatBuffer(count: n)
        backend.geluBackward(dInput: dx.pointer, input: x.pointer, dOut: r.pointer, count: n)
        #expect(worstGradientError(of: x, analytic: dx, loss: loss) < tolerance)
    }

    @Test(arguments: [0, 1, 3])  // global, window 1 (self only), window 3
    func attention(window: Int) {
        var rng = TestRandom(4 + UInt64(window))
        let B = 2, T = 6, C = 8, NH = 2
        let qkv = rng.buffer(B * T * 3 * C), r = rng.buffer(B * T * C)
        let out = FloatBuffer(count: B * T * C), att = FloatBuffer(count: B * NH * T * T)
        func loss() -> Double {
            backend.attentionForward(out: out.pointer, att: att.pointer, qkv: qkv.pointer, batch: B, seqLen: T,
                                     channels: C, heads: NH, window: window)
            return dot(out, r)
        }
        _ = loss()
        let dqkv = FloatBuffer(count: B * T * 3 * C)
        backend.attentionBackward(dQKV: dqkv.pointer, dOut: r.pointer, att: att.pointer, qkv: qkv.pointer,
                                  batch: B, seqLen: T, channels: C, heads: NH, window: window)
        #expect(worstGradientError(of: qkv, analytic: dqkv, loss: loss) < tolerance)
    }

    @Test func crossEntropy() {
        var rng = TestRandom(7)
        let N = 5, V = 11
        let logits = rng.buffer(N * V, scale: 3)
        let targets: [Int32] = [3, -100, 0, 10, 5]
        func loss() -> Double {
            let copy = FloatBuffer(count: N * V)
            copy.copy(from: logits)
            return backend.crossEntropy(logits: copy.pointer, targets: targets, rows: N, vocab: V, gradScale: 0)
        }
        let grad = FloatBuffer(count: N * V)
        grad.copy(from: logits)
        _ = backend.crossEntropy(logits: grad.pointer, targets: targets, rows: N, vocab: V, gradScale: 1)
        #expect(worstGradientError(of: logits, analytic: grad, loss: loss) < tolerance)
        // Ignored rows get no gradient.
        #expect((0..<V).allSatisfy { grad[V + $0] == 0 })
    }

    @Test func embedding() {
        var rng = TestRandom(8)
        let B = 2, T = 3, C = 4, V = 5
        let wte = rng.buffer(V * C), wpe = rng.buffer(T * C), r = rng.buffer(B * T * C)
        let tokens: [Int32] = [1, 4, 1, 0, 1, 3]
        let out = FloatBuffer(count: B * T * C)
        func loss() -> Double {
            backend.embeddingForward(out: out.pointer, tokens: tokens, wte: wte.pointer, wpe: wpe.pointer,
                                     batch: B, seqLen: T, channels: C)
            return dot(out, r)
        }
        let dwte = FloatBuffer(count: V * C), dwpe = FloatBuffer(count: T * C)
        backend.embeddingBackward(dWte: dwte.pointer, dWpe: dwpe.pointer, dOut: r.pointer, tokens: tokens,
                                  batch: B, seqLen: T, channels: C)
        #expect(worstGradientError(of: wte, analytic: dwte, loss: loss) < tolerance)
        #expect(worstGradientError(of: wpe, analytic: dwpe, loss: loss) < tolerance)
    }
}
