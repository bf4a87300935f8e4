import Foundation

extension GPTNeoConfig {
    /// Fields this file interprets; everything else in config.json goes to `extra`.
    static let knownFields: Set<String> = [
        "vocab_size", "max_position_embeddings", "hidden_size", "num_layers", "num_heads",
        "intermediate_size", "attention_types", "attention_layers", "window_size",
        "layer_norm_epsilon", "initializer_range",
    ]

    /// Parses a Hugging Face GPT-Neo `config.json`.
    public init(jsonData data: Data) throws(ConfigError) {
        let object: [String: JSONValue]
        do {
            object = try JSONDecoder().decode([String: JSONValue].self, from: data)
        } catch {
            throw ConfigError(field: "(file)", message: "not a JSON object: \(error)")
        }
        func int(_ key: String) throws(ConfigError) -> Int {
            guard let v = object[key]?.number, v == v.rounded(), abs(v) < 1e12 else {
                throw ConfigError(field: key, message: object[key] == nil ? "missing" : "must be an integer")
            }
            return Int(v)
        }
        func optionalInt(_ key: String, default value: Int?) throws(ConfigError) -> Int? {
            switch object[key] {
            case nil, .null?: return value
            default: return try int(key)
            }
        }
        func double(_ key: String, default value: Double) throws(ConfigError) -> Double {
            switch object[key] {
            case nil: return value
            case .number(let n)?: return n
            default: throw ConfigError(field: key, message: "must be a number")
            }
        }
        if let type = object["model_type"], type.string != "gpt_neo" {
            throw ConfigError(field: "model_type", message: "expected \"gpt_neo\", got \(type)")
        }
        let activation = object["activation_function"]?.string ?? "gelu_new"
        // gelu_pytorch_tanh is the same tanh approximation as gelu_new.
        guard ["gelu_new", "gelu_pytorch_tanh"].contains(activation) else {
            throw ConfigError(field: "activation_function",
                              message: "only gelu_new (tanh approximation) is supported, got \"\(activation)\"")
        }
        if case .bool(false)? = object["tie_word_embeddings"] {
            throw ConfigError(field: "tie_word_embeddings", message: "GPT-Neo ties the LM head to wte; false is not supported")
        }
        let layers = try int("num_layers")
        let kinds = try Self.expandAttentionTypes(object["attention_types"], layers: layers)
        if let listed = object["attention_layers"], listed != .null {
            guard let names = listed.array?.compactMap({ $0.string }), names.count == listed.array?.count,
                  names == kinds.map(\.rawValue) else {
                throw ConfigError(field: "attention_layers", message: "does not match attention_types")
            }
        }
        self.init(
            vocabSize: try int("vocab_size"),
            maxPositions: try int("max_position_embeddings"),
            hidden: try int("hidden_size"),
            heads: try int("num_heads"),
            attentionLayers: kinds,
            windowSize: try optionalInt("window_size", default: 256) ?? 256,
            intermediate: try optionalInt("intermediate_size", default: nil),
            layerNormEpsilon: try double("layer_norm_epsilon", default: 1e-5),
            initializerRange: try double("initializer_range", default: 0.02),
            extra: object.filter { !Self.knownFields.contains($0.key) })
        try validate()
    }

    public init(contentsOf url: URL) throws {
        try self.init(jsonData: try Data(contentsOf: url))
    }

    /// HF's `attention_types`: [[["global", "local"], 6]] = that pattern repeated 6 times.
    static func expandAttentionTypes(_ value: JSONValue?, layers: Int) throws(ConfigError) -> [AttentionKind] {
        let field = "attention_types"
        guard let groups = value?.array else {
            throw ConfigError(field: field, message: value == nil ? "missing" : "must be a list of [kinds, repeat] pairs")
        }
        var kinds: [AttentionKind] = []
        for group in groups {
            guard let pair = group.array, pair.count == 2, let pattern = pair[0].array,
                  let repeats = pair[1].number, repeats >= 0, repeats == repeats.rounded(), repeats < 1e6 else {
                throw ConfigError(field: field, message: "each entry must be [[kinds...], repeat count], got \(group)")
            }
            var one: [AttentionKind] = []
            for name in pattern {
                guard let s = name.string, let kind = AttentionKind(rawValue: s) else {
                    throw ConfigError(field: field, message: "unknown attention kind \(name) (expected \"global\" or \"local\")")
                }
                one.append(kind)
            }
            for _ in 0..<Int(repeats) { kinds += one }
        }
        guard kinds.count == layers else {
            throw ConfigError(field: field,
                              message: "describes \(kinds.count) layers but num_layers is \(layers)")
        }
        return kinds
    }

    /// The config as HF `config.json` (loadable by `GPTNeoForCausalLM.from_pretrained`).
    public func jsonObject() -> [String: JSONValue] {
        var o: [String: JSONValue] = [
            "model_type": .string("gpt_neo"),
            "architectures": .array([.string("GPTNeoForCausalLM")]),
            "activation_function": .string("gelu_new"),
            "embed_dropout": .number(0), "attention_dropout": .number(0), "resid_dropout": .number(0),
            "bos_token_id": .number(Double(min(50256, vocabSize - 1))),
            "eos_token_id": .number(Double(min(50256, vocabSize - 1))),
            "use_cache": .bool(true),
            "torch_dtype": .string("float32"),
        ]
        for (k, v) in extra { o[k] = v }
        o["vocab_size"] = .number(Double(vocabSize))
        o["max_position_embeddings"] = .number(Double(maxPositions))
        o["hidden_size"] = .number(Double(hidden))
        o["num_layers"] = .number(Double(layers))
        o["num_heads"] = .number(Double(heads))
        o["intermediate_size"] = intermediate == 4 * hidden ? .null : .number(Double(intermediate))
        o["attention_types"] = .array(compressedAttentionTypes().map { pattern, count in
            .array([.array(pattern.map { .string($0.rawValue) }), .number(Double(count))])
        })
        o["attention_layers"] = .array(attentionLayers.map { .string($0.rawValue) })
        o["window_size"] = .number(Double(windowSize))
        o["layer_norm_epsilon"] = .number(layerNormEpsilon)
        o["initializer_range"] = .number(initializerRange)
        return o
    }

    public func jsonData() throws -> Data {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
        return try encoder.encode(jsonObject())
    }

    /// Shortest repeating pattern of the layer kinds, as HF writes it.
    func compressedAttentionTypes() -> [([AttentionKind], Int)] {
        let n = attentionLayers.count
        for period in 1...n where n % period == 0 {
            let pattern = Array(attentionLayers[0..<period])
            if (0..<n).allSatisfy({ attentionLayers[$0] == pattern[$0 % period] }) {
                return [(pattern, n / period)]
            }
        }
        return [(attentionLayers, 1)]
    }
}
