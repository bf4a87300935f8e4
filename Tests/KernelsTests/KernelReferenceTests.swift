import CKernels
import Foundation
import Kernels
import Testing

/// Forward kernels against straightforward double-precision formulas, and the
/// SIMD variants against each other.
@Suite(.serialized) struct KernelReferenceTests {
    let backend = CPUBackend(threads: 2)

    @Test func geluMatchesTanhFormula() {
        var rng = TestRandom(11)
        let n = 4099
        let x = rng.buffer(n, scale: 12), out = FloatBuffer(count: n)
        backend.geluForward(out: out.pointer, input: x.pointer, count: n)
        for i in 0..<n {
            let v = Double(x[i])
            let ref = 0.5 * v * (1 + tanh(0.7978845608028654 * (v + 0.044715 * v * v * v)))
            #expect(abs(Double(out[i]) - ref) <= 2e-6 * max(1, abs(ref)), "gelu(\(v))")
        }
    }

    @Test func attentionMasksLocalWindow() {
        var rng = TestRandom(12)
        let T = 7, C = 4, window = 3
        let qkv = rng.buffer(T * 3 * C), out = FloatBuffer(count: T * C), att = FloatBuffer(count: T * T)
        backend.attentionForward(out: out.pointer, att: att.pointer, qkv: qkv.pointer, batch: 1, seqLen: T,
                                 channels: C, heads: 1, window: window)
        for i in 0..<T {
            // Unscaled scores, fp64 softmax over i-window < j <= i.
            let keys = max(0, i - window + 1)...i
            let scores = keys.map { j in (0..<C).reduce(0.0) { $0 + Double(qkv[i * 3 * C + $1]) * Double(qkv[j * 3 * C + C + $1]) } }
            let m = scores.max()!
            let e = scores.map { exp($0 - m) }
            let s = e.reduce(0, +)
            for j in 0..<T {
                let expected = keys.contains(j) ? e[j - keys.lowerBound] / s : 0
                #expect(abs(Double(att[i * T + j]) - expected) < 1e-6)
            }
        }
    }

    @Test func crossEntropyMatchesLogSumExp() {
        var rng = TestRandom(13)
        let V = 1000
        let logits = rng.buffer(V, scale: 20)
        let target: Int32 = 417
        let ref = log((0..<V).reduce(0.0) { $0 + exp(Double(logits[$1])) }) - Double(logits[Int(target)])
        let loss = backend.crossEntropy(logits: logits.pointer, targets: [target], rows: 1, vocab: V, gradScale: 0)
        #expect(abs(loss - ref) < 1e-4)
    }

    @Test func adamWMatchesTorchFormula() {
        var rng = TestRandom(14)
        let n = 100
        let p = rng.buffer(n), g = rng.buffer(n), m = rng.buffer(n, scale: 0.1), v = FloatBuffer(count: n)
        for i in 0..<n { v[i] = abs(rng.float(0.01)) }
        let (p0, m0, v0) = (p.array, m.array, v.array)
        let step = AdamWStep(learningRate: 1e-2, beta1: 0.9, beta2: 0.95, epsilon: 1e-8, step: 3, gradientScale: 0.5)
        backend.adamW(parameters: p.pointer, gradients: g.pointer, m: m.pointer, v: v.pointer,
                      segments: [DecaySegment(offset: 0, count: 60, weightDecay: 0.1),
                                 DecaySegment(offset: 60, count: 40, weightDecay: 0)], step: step)
        for i in 0..<n {
            let gi = Double(g[i]) * 0.5, wd = i < 60 ? 0.1 : 0
            let mi = 0.9 * Double(m0[i]) + 0.1 * gi, vi = 0.95 * Double(v0[i]) + 0.05 * gi * gi
            let bc1 = 1 - pow(0.9, 3.0), bc2 = 1 - pow(0.95, 3.0)
            let pi = Double(p0[i]) * (1 - 1e-2 * wd) - 1e-2 / bc1 * mi / (vi.squareRoot() / bc2.squareRoot() + 1e-8)
            #expect(abs(Double(p[i]) - pi) < 1e-6)
            #expect(abs(Double(m[i]) - mi) < 1e-7)
        }
    }

    /// Every SIMD variant this CPU supports gives the same results as the portable one.
    @Test func simdVariantsAgree() throws {
        let all: [String] = ["avx512", "avx2", "generic"]
        let levels = all.filter { kn_force_simd_level($0) == 1 }
        defer { kn_force_simd_level(levels[0]) }
        var results: [[Float]] = []
        for level in levels {
            #expect(kn_force_simd_level(level) == 1)
            var rng = TestRandom(15)
            let B = 2, T = 9, C = 16, NH = 2, N = B * T
            let qkv = rng.buffer(N * 3 * C), att = FloatBuffer(count: B * NH * T * T), out = FloatBuffer(count: N * C)
            backend.attentionForward(out: out.pointer, att: att.pointer, qkv: qkv.pointer, batch: B, seqLen: T,
                                     channels: C, heads: NH, window: 4)
            let g = FloatBuffer(count: N * C)
            backend.geluForward(out: g.pointer, input: out.pointer, count: N * C)
            let ln = FloatBuffer(count: N * C), mean = FloatBuffer(count: N), rstd = FloatBuffer(count: N)
            let w = rng.buffer(C), b = rng.buffer(C)
            backend.layerNormForward(out: ln.pointer, mean: mean.pointer, rstd: rstd.pointer, input: g.pointer,
                                     weight: w.pointer, bias: b.pointer, rows: N, channels: C, epsilon: 1e-5)
            results.append(ln.array + att.array)
        }
        for r in results.dropFirst() {
            let worst = zip(r, results[0]).map { abs($0 - $1) }.max() ?? 0
            #expect(worst < 1e-4)
        }
    }
}
