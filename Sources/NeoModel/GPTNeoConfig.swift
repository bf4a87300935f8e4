/// Attention kind of one GPT-Neo layer.
public enum AttentionKind: String, Sendable, Codable, Equatable {
    case global
    case local
}

/// A GPT-Neo model's shape, as in Hugging Face's `GPTNeoConfig`.
public struct GPTNeoConfig: Sendable, Equatable {
    public var vocabSize: Int
    public var maxPositions: Int
    public var hidden: Int
    public var heads: Int
    /// One entry per layer.
    public var attentionLayers: [AttentionKind]
    /// Local layers: query i sees keys j with i − window < j ≤ i.
    public var windowSize: Int
    /// Width of the MLP's hidden layer (HF: `intermediate_size`, null = 4 × hidden).
    public var intermediate: Int
    public var layerNormEpsilon: Double
    public var initializerRange: Double
    /// HF fields Koinon does not interpret (token ids, dropout rates, ...),
    /// kept so that a loaded config.json is written back unchanged.
    public var extra: [String: JSONValue]

    public var layers: Int { attentionLayers.count }
    public var headDim: Int { hidden / heads }

    public init(vocabSize: Int, maxPositions: Int, hidden: Int, heads: Int, attentionLayers: [AttentionKind],
                windowSize: Int = 256, intermediate: Int? = nil, layerNormEpsilon: Double = 1e-5,
                initializerRange: Double = 0.02, extra: [String: JSONValue] = [:]) {
        self.vocabSize = vocabSize
        self.maxPositions = maxPositions
        self.hidden = hidden
        self.heads = heads
        self.attentionLayers = attentionLayers
        self.windowSize = windowSize
        self.intermediate = intermediate ?? 4 * hidden
        self.layerNormEpsilon = layerNormEpsilon
        self.initializerRange = initializerRange
        self.extra = extra
    }

    /// The window for layer `l`: 0 for global attention.
    public func window(layer l: Int) -> Int { attentionLayers[l] == .local ? windowSize : 0 }

    /// Checks that Koinon can run this shape; the error names the field.
    public func validate() throws(ConfigError) {
        func require(_ ok: Bool, _ field: String, _ why: String) throws(ConfigError) {
            if !ok { throw ConfigError(field: field, message: why) }
        }
        try require(vocabSize > 0, "vocab_size", "must be positive, got \(vocabSize)")
        try require(vocabSize <= Int(Int32.max), "vocab_size", "must fit in 32 bits, got \(vocabSize)")
        try require(maxPositions > 0, "max_position_embeddings", "must be positive, got \(maxPositions)")
        try require(hidden > 0, "hidden_size", "must be positive, got \(hidden)")
        try require(heads > 0, "num_heads", "must be positive, got \(heads)")
        try require(hidden % max(heads, 1) == 0, "num_heads",
                    "hidden_size \(hidden) is not divisible by num_heads \(heads)")
        try require(!attentionLayers.isEmpty, "num_layers", "must be at least 1")
        try require(windowSize > 0 || !attentionLayers.contains(.local), "window_size",
                    "must be positive when local attention layers exist, got \(windowSize)")
        try require(intermediate > 0, "intermediate_size", "must be positive, got \(intermediate)")
        try require(layerNormEpsilon > 0 && layerNormEpsilon.isFinite, "layer_norm_epsilon",
                    "must be a positive number, got \(layerNormEpsilon)")
        try require(initializerRange >= 0 && initializerRange.isFinite, "initializer_range",
                    "must be a non-negative number, got \(initializerRange)")
    }
}

/// A config Koinon cannot run, naming the offending field.
public struct ConfigError: Error, CustomStringConvertible, Equatable {
    public var field: String
    public var message: String
    public var description: String { "config field '\(field)': \(message)" }
}

extension GPTNeoConfig {
    /// Named shapes for benchmarks and quick starts.
    public static func preset(_ name: String) -> GPTNeoConfig? {
        switch name {
        case "gpt-neo-125M":
            // EleutherAI/gpt-neo-125M: alternating global/local layers, window 256.
            return GPTNeoConfig(vocabSize: 50257, maxPositions: 2048, hidden: 768, heads: 12,
                                attentionLayers: Array(repeating: [.global, .local], count: 6).flatMap { $0 },
                                windowSize: 256)
        case "gpt2-124M-shape":
            // GPT-2 small's shape expressed as GPT-Neo (all global attention).
            return GPTNeoConfig(vocabSize: 50257, maxPositions: 1024, hidden: 768, heads: 12,
                                attentionLayers: Array(repeating: .global, count: 12), windowSize: 256)
        case "char-small":
            // Character-level toy model (tiny Shakespeare has 65 symbols).
            return GPTNeoConfig(vocabSize: 65, maxPositions: 64, hidden: 128, heads: 4,
                                attentionLayers: Array(repeating: .global, count: 4), windowSize: 256)
        default:
            return nil
        }
    }

    public static let presetNames = ["gpt-neo-125M", "gpt2-124M-shape", "char-small"]
}
