import Kernels

/// A GPT-Neo model: its config, the flat parameter buffer and the backend
/// that computes with it. Numerically Hugging Face's `GPTNeoForCausalLM`.
public final class GPTNeo: @unchecked Sendable {
    public let config: GPTNeoConfig
    public let layout: ParameterLayout
    public let parameters: FloatBuffer
    public let backend: any Backend

    /// A model with all parameters zero (load or initialise them next).
    public init(config: GPTNeoConfig, backend: any Backend) throws {
        try config.validate()
        self.config = config
        self.layout = ParameterLayout(config: config)
        self.parameters = FloatBuffer(count: layout.count)
        self.backend = backend
    }

    /// GPT-Neo's initialisation: linear and embedding weights normal(0,
    /// initializer_range), biases zero, LayerNorm weights one.
    public func initializeParameters(seed: UInt64) {
        var rng = RandomSource(seed: seed)
        let p = parameters.pointer
        for t in layout.tensors {
            if t.shape.count >= 2 {
                rng.fillNormal(p + t.offset, count: t.count, std: config.initializerRange)
            } else if t.name.hasSuffix("ln_1.weight") || t.name.hasSuffix("ln_2.weight") || t.name.hasSuffix("ln_f.weight") {
                (p + t.offset).update(repeating: 1, count: t.count)
            } else {
                (p + t.offset).update(repeating: 0, count: t.count)
            }
        }
    }

    /// A view of one named tensor (HF name).
    public func tensor(_ name: String) -> UnsafeMutableBufferPointer<Float>? {
        layout[name].map { UnsafeMutableBufferPointer(start: parameters.pointer + $0.offset, count: $0.count) }
    }
}

/// Bad model input: token ids out of range, sequences too long, ...
public struct ModelInputError: Error, CustomStringConvertible, Equatable {
    public var message: String
    public init(_ message: String) { self.message = message }
    public var description: String { message }
}
