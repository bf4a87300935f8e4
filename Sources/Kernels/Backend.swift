/// Pointers to Float storage that the backend reads or writes. The CPU
/// backend works on host memory directly; a GPU backend would mirror buffers
/// on the device keyed by these pointers.
public typealias FloatPointer = UnsafeMutablePointer<Float>
public typealias ConstFloatPointer = UnsafePointer<Float>

/// A range of the flat parameter buffer with its own weight decay (AdamW
/// decays 2-D weight matrices only).
public struct DecaySegment: Sendable, Equatable {
    public var offset: Int
    public var count: Int
    public var weightDecay: Float
    public init(offset: Int, count: Int, weightDecay: Float) {
        self.offset = offset
        self.count = count
        self.weightDecay = weightDecay
    }
}

/// Hyper-parameters of one AdamW update.
public struct AdamWStep: Sendable {
    public var learningRate: Float
    public var beta1: Float
    public var beta2: Float
    public var epsilon: Float
    /// 1-based step number, for bias correction.
    public var step: Int
    /// Gradient multiplier (global-norm clipping), 1 for none.
    public var gradientScale: Float
    public init(learningRate: Float, beta1: Float, beta2: Float, epsilon: Float, step: Int, gradientScale: Float) {
        self.learningRate = learningRate
        self.beta1 = beta1
        self.beta2 = beta2
        self.epsilon = epsilon
        self.step = step
        self.gradientScale = gradientScale
    }
}

/// The compute operations GPT-Neo training needs. Shapes are row-major and
/// given in the comments; "accumulate" outputs are added to, others overwritten.
public protocol Backend: Sendable {
    /// Short description for logs, e.g. "cpu: OpenBLAS core SkylakeX, kernels avx512, 2 threads".
    var summary: String { get }

    /// out [N, OC] = inp [N, IC] · weightᵀ (weight [OC, IC]) + bias [OC]
    func linearForward(out: FloatPointer, input: ConstFloatPointer, weight: ConstFloatPointer,
                       bias: ConstFloatPointer?, rows: Int, inFeatures: Int, outFeatures: Int)
    /// dInput [N, IC] (= or +=) dOut · weight; dWeight [OC, IC] += dOutᵀ · input; dBias [OC] += Σ rows dOut
    func linearBackward(dInput: FloatPointer?, accumulateInput: Bool, dWeight: FloatPointer,
                        dBias: FloatPointer?, dOut: ConstFloatPointer, input: ConstFloatPointer,
                        weight: ConstFloatPointer, rows: Int, inFeatures: Int, outFeatures: Int)

    /// out, input [N, C]; mean, rstd [N]
    func layerNormForward(out: FloatPointer, mean: FloatPointer, rstd: FloatPointer, input: ConstFloatPointer,
                          weight: ConstFloatPointer, bias: ConstFloatPointer, rows: Int, channels: Int, epsilon: Float)
    /// dInput += ...; dWeight, dBias [C] += ...
    func layerNormBackward(dInput: FloatPointer, dWeight: FloatPointer, dBias: FloatPointer, dOut: ConstFloatPointer,
                           input: ConstFloatPointer, weight: ConstFloatPointer, mean: ConstFloatPointer,
                           rstd: ConstFloatPointer, rows: Int, channels: Int)

    /// out [n] = gelu_new(input)
    func geluForward(out: FloatPointer, input: ConstFloatPointer, count: Int)
    /// dInput [n] = gelu_new'(input) · dOut (dInput may be dOut)
    func geluBackward(dInput: FloatPointer, input: ConstFloatPointer, dOut: ConstFloatPointer, count: Int)

    /// out [n] = a + b
    func add(out: FloatPointer, _ a: ConstFloatPointer, _ b: ConstFloatPointer, count: Int)

    /// out [B·T, C] = wte[tokens] + wpe[position]
    func embeddingForward(out: FloatPointer, tokens: UnsafePointer<Int32>, wte: ConstFloatPointer,
                          wpe: ConstFloatPointer, batch: Int, seqLen: Int, channels: Int)
    /// dWte, dWpe += scatter of dOut [B·T, C]
    func embeddingBackward(dWte: FloatPointer, dWpe: FloatPointer, dOut: ConstFloatPointer,
                           tokens: UnsafePointer<Int32>, batch: Int, seqLen: Int, channels: Int)

    /// qkv [B·T, 3C] (q | k | v) → out [B·T, C]; att [B, NH, T, T] probabilities.
    /// window 0 = global attention, else query i sees keys i-window < j ≤ i. Scores unscaled.
    func attentionForward(out: FloatPointer, att: FloatPointer, qkv: ConstFloatPointer,
                          batch: Int, seqLen: Int, channels: Int, heads: Int, window: Int)
    /// dQKV [B·T, 3C] = backward of the above
    func attentionBackward(dQKV: FloatPointer, dOut: ConstFloatPointer, att: ConstFloatPointer,
                           qkv: ConstFloatPointer, batch: Int, seqLen: Int, channels: Int, heads: Int, window: Int)

    /// Sum over rows of the cross-entropy of logits [N, V] against targets [N]
    /// (negative = ignored). With gradScale != 0, logits become gradScale · (softmax − onehot).
    func crossEntropy(logits: FloatPointer, targets: UnsafePointer<Int32>, rows: Int, vocab: Int,
                      gradScale: Float) -> Double

    /// Σ x², accumulated in double.
    func sumOfSquares(_ x: ConstFloatPointer, count: Int) -> Double
    /// x *= s
    func scale(_ x: FloatPointer, by s: Float, count: Int)
    /// x = 0
    func zero(_ x: FloatPointer, count: Int)
    /// AdamW over every segment of the flat parameter buffer.
    func adamW(parameters: FloatPointer, gradients: ConstFloatPointer, m: FloatPointer, v: FloatPointer,
               segments: [DecaySegment], step: AdamWStep)
}
