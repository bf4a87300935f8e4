import Foundation
import Kernels

/// Hugging Face checkpoint directories: `config.json` + `model.safetensors`
/// (or a sharded `model.safetensors.index.json`), with HF tensor names.
public enum Checkpoint {
    public static let configFile = "config.json"
    public static let weightsFile = "model.safetensors"
    public static let indexFile = "model.safetensors.index.json"

    /// Writes `model` so that `GPTNeoForCausalLM.from_pretrained(dir)` loads it.
    /// The LM head is tied to wte, so (as transformers does) it is not stored.
    public static func save(_ model: GPTNeo, to dir: URL) throws {
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        try model.config.jsonData().write(to: dir.appendingPathComponent(configFile), options: .atomic)
        let p = UnsafePointer(model.parameters.pointer)
        let tensors = model.layout.tensors.map {
            SafeTensorsWriter.Tensor(name: $0.name, shape: $0.shape,
                                     values: UnsafeBufferPointer(start: p + $0.offset, count: $0.count))
        }
        try SafeTensorsWriter.write(tensors, to: dir.appendingPathComponent(weightsFile))
    }

    /// Loads a checkpoint written by Koinon or by transformers (F32, F16 or BF16 weights).
    public static func load(from dir: URL, backend: any Backend) throws -> GPTNeo {
        let configURL = dir.appendingPathComponent(configFile)
        guard FileManager.default.fileExists(atPath: configURL.path) else {
            throw CheckpointError("\(dir.path) has no \(configFile)")
        }
        let config: GPTNeoConfig
        do { config = try GPTNeoConfig(contentsOf: configURL) } catch let e as ConfigError {
            throw CheckpointError("\(configURL.path): \(e)")
        }
        let model = try GPTNeo(config: config, backend: backend)
        try loadWeights(into: model, from: dir)
        return model
    }

    static func weightFiles(in dir: URL) throws -> [URL] {
        let fm = FileManager.default
        let single = dir.appendingPathComponent(weightsFile)
        if fm.fileExists(atPath: single.path) { return [single] }
        let index = dir.appendingPathComponent(indexFile)
        if fm.fileExists(atPath: index.path) {
            struct Index: Decodable { var weight_map: [String: String] }
            guard let parsed = try? JSONDecoder().decode(Index.self, from: Data(contentsOf: index)) else {
                throw CheckpointError("\(index.path) is not a valid safetensors index")
            }
            let names = Set(parsed.weight_map.values)
            guard names.allSatisfy({ !$0.contains("/") && !$0.hasPrefix(".") }) else {
                throw CheckpointError("\(index.path) names shard files outside the checkpoint directory")
            }
            return names.sorted().map { dir.appendingPathComponent($0) }
        }
        if fm.fileExists(atPath: dir.appendingPathComponent("pytorch_model.bin").path) {
            throw CheckpointError("\(dir.path) holds only pytorch_model.bin; Koinon reads safetensors. Convert it with transformers: GPTNeoForCausalLM.from_pretrained(dir).save_pretrained(dir, safe_serialization=True)")
        }
        throw CheckpointError("\(dir.path) has no \(weightsFile)")
    }

    /// Buffers HF keeps in old GPT-Neo checkpoints that are not parameters.
    static func isIgnorableBuffer(_ name: String) -> Bool {
        name.hasSuffix(".attn.attention.bias") || name.hasSuffix(".attn.attention.masked_bias")
    }

    static func loadWeights(into model: GPTNeo, from dir: URL) throws {
        var loaded = Set<String>()
        for url in try weightFiles(in: dir) {
            let file = try SafeTensorsFile(contentsOf: url)
            for (stored, entry) in file.entries {
                // GPTNeoModel (no LM head) saves names without the "transformer." prefix.
                let name = model.layout[stored] != nil ? stored : "transformer." + stored
                if stored == "lm_head.weight" || isIgnorableBuffer(stored) { continue }  // tied to wte / not a parameter
                guard let spec = model.layout[name], let view = model.tensor(name) else {
                    throw CheckpointError("\(url.lastPathComponent): unexpected tensor '\(stored)' for this config")
                }
                guard entry.shape == spec.shape else {
                    throw CheckpointError("\(url.lastPathComponent): '\(stored)' has shape \(entry.shape), config needs \(spec.shape)")
                }
                guard loaded.insert(name).inserted else {
                    throw CheckpointError("tensor '\(name)' appears more than once")
                }
                try file.read(stored, into: view)
            }
        }
        let missing = model.layout.tensors.map(\.name).filter { !loaded.contains($0) }
        guard missing.isEmpty else {
            throw CheckpointError("checkpoint lacks \(missing.count) tensor(s), first: '\(missing[0])'")
        }
    }
}

public struct CheckpointError: Error, CustomStringConvertible {
    public var message: String
    public init(_ message: String) { self.message = message }
    public var description: String { message }
}
