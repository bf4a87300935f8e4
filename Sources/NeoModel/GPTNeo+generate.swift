import Foundation
import Kernels

/// How `generate` picks each next token.
public struct SamplingOptions: Sendable {
    /// 0 = greedy (always the most likely token).
    public var temperature: Double = 1.0
    /// Keep only the k most likely tokens (nil = all).
    public var topK: Int? = nil
    public var seed: UInt64 = 0
    public init(temperature: Double = 1.0, topK: Int? = nil, seed: UInt64 = 0) {
        self.temperature = temperature
        self.topK = topK
        self.seed = seed
    }
}

extension GPTNeo {
    /// Continues `prompt` by `maxTokens` sampled tokens (the prompt's last
    /// max_position_embeddings tokens are the context; no KV cache, so each
    /// token costs one forward pass over the context). `stop` ends early.
    public func generate(prompt: [Int32], maxTokens: Int, options: SamplingOptions,
                         stop: Int32? = nil, onToken: (Int32) -> Void = { _ in }) throws -> [Int32] {
        guard !prompt.isEmpty else { throw ModelInputError("the prompt has no tokens") }
        guard options.temperature >= 0, options.temperature.isFinite else {
            throw ModelInputError("temperature must be a non-negative number")
        }
        if let k = options.topK, k < 1 { throw ModelInputError("top-k must be at least 1") }
        var rng = RandomSource(seed: options.seed)
        var tokens = prompt
        var out: [Int32] = []
        var cache: [Int: Activations] = [:]
        for _ in 0..<maxTokens {
            let context = Array(tokens.suffix(config.maxPositions))
            let acts = cache[context.count] ?? Activations(config: config, batch: 1, seqLen: context.count, training: false)
            cache = [context.count: acts]
            try setBatch(tokens: context, acts: acts)
            forward(acts)
            let V = config.vocabSize
            let logits = UnsafeBufferPointer(start: acts.logits.pointer + (context.count - 1) * V, count: V)
            let next = Self.sample(logits, options: options, rng: &rng)
            if next == stop { break }
            tokens.append(next)
            out.append(next)
            onToken(next)
        }
        return out
    }

    static func sample(_ logits: UnsafeBufferPointer<Float>, options: SamplingOptions, rng: inout RandomSource) -> Int32 {
        if options.temperature == 0 {
            return Int32(logits.indices.max { logits[$0] < logits[$1] }!)
        }
        var candidates = Array(logits.indices)
        if let k = options.topK, k < candidates.count {
            candidates.sort { logits[$0] > logits[$1] }
            candidates.removeLast(candidates.count - k)
        }
        let maxLogit = candidates.map { Double(logits[$0]) }.max()!
        let weights = candidates.map { exp((Double(logits[$0]) - maxLogit) / options.temperature) }
        var u = rng.unit() * weights.reduce(0, +)
        for (c, w) in zip(candidates, weights) {
            u -= w
            if u <= 0 { return Int32(c) }
        }
        return Int32(candidates.last!)
    }
}
