import Foundation
import NeoModel
import Testing

@Suite struct ConfigTests {
    let base = """
    {"model_type": "gpt_neo", "vocab_size": 100, "max_position_embeddings": 32, "hidden_size": 16,
     "num_layers": 3, "num_heads": 4, "intermediate_size": null, "window_size": 4,
     "attention_types": [[["global", "local"], 1], [["local"], 1]], "layer_norm_epsilon": 1e-6,
     "activation_function": "gelu_new", "bos_token_id": 7, "embed_dropout": 0.0}
    """

    func parse(_ edit: (inout [String: Any]) -> Void) throws -> GPTNeoConfig {
        var o = try JSONSerialization.jsonObject(with: Data(base.utf8)) as! [String: Any]
        edit(&o)
        return try GPTNeoConfig(jsonData: JSONSerialization.data(withJSONObject: o))
    }

    func field(_ edit: (inout [String: Any]) -> Void) -> String? {
        do { _ = try parse(edit); return nil } catch let e as ConfigError { return e.field } catch { return "other" }
    }

    @Test func parsesHuggingFaceFields() throws {
        let c = try parse { _ in }
        #expect(c.attentionLayers == [.global, .local, .local])
        #expect(c.intermediate == 64)
        #expect(c.layerNormEpsilon == 1e-6)
        #expect(c.window(layer: 0) == 0 && c.window(layer: 1) == 4)
        #expect(c.extra["bos_token_id"] == .number(7))
    }

    @Test func roundTripsThroughJSON() throws {
        let c = try parse { _ in }
        var again = try GPTNeoConfig(jsonData: c.jsonData())
        #expect(again.extra["bos_token_id"] == .number(7))  // unknown fields carried through
        again.extra = c.extra
        #expect(again == c)
        let preset = GPTNeoConfig.preset("gpt-neo-125M")!
        #expect(try GPTNeoConfig(jsonData: preset.jsonData()).attentionLayers == preset.attentionLayers)
    }

    @Test func errorsNameTheField() {
        #expect(field { $0["num_heads"] = 3 } == "num_heads")           // 16 not divisible by 3
        #expect(field { $0["num_layers"] = 4 } == "attention_types")    // pattern covers 3 layers
        #expect(field { $0["attention_types"] = [[["sparse"], 3]] } == "attention_types")
        #expect(field { $0["activation_function"] = "relu" } == "activation_function")
        #expect(field { $0.removeValue(forKey: "vocab_size") } == "vocab_size")
        #expect(field { $0["hidden_size"] = "wide" } == "hidden_size")
        #expect(field { $0["window_size"] = 0 } == "window_size")
        #expect(field { $0["layer_norm_epsilon"] = -1 } == "layer_norm_epsilon")
        #expect(field { $0["model_type"] = "gpt2" } == "model_type")
        #expect(field { $0["tie_word_embeddings"] = false } == "tie_word_embeddings")
        #expect(field { $0["attention_layers"] = ["global", "global", "global"] } == "attention_layers")
    }

    @Test func scheduleWarmsUpThenDecaysToFloor() {
        let s = LearningRateSchedule(maxRate: 1e-3, minRate: 1e-4, warmupSteps: 10, decaySteps: 110)
        #expect(abs(s.rate(at: 0) - 1e-4) < 1e-12)
        #expect(abs(s.rate(at: 9) - 1e-3) < 1e-12)
        #expect(abs(s.rate(at: 10) - 1e-3) < 1e-12)
        #expect(abs(s.rate(at: 60) - 5.5e-4) < 1e-12)  // half way: mean of max and min
        #expect(abs(s.rate(at: 110) - 1e-4) < 1e-12)
        #expect(abs(s.rate(at: 500) - 1e-4) < 1e-12)
        #expect((10..<110).allSatisfy { s.rate(at: $0) >= s.rate(at: $0 + 1) })
        #expect(LearningRateSchedule.constant(3e-4).rate(at: 1000) == 3e-4)
    }

    @Test func layoutDecaysOnlyMatrices() throws {
        let c = try parse { _ in }
        let layout = ParameterLayout(config: c)
        let decayed = layout.decaySegments(weightDecay: 0.1).filter { $0.weightDecay > 0 }.reduce(0) { $0 + $1.count }
        let matrices = layout.tensors.filter { $0.shape.count == 2 }.reduce(0) { $0 + $1.count }
        #expect(decayed == matrices)
        #expect(layout.tensors.last.map { $0.offset + $0.count } == layout.count)
        // q, k, v adjacent: one [3C, C] product.
        let q = layout["transformer.h.1.attn.attention.q_proj.weight"]!, v = layout["transformer.h.1.attn.attention.v_proj.weight"]!
        #expect(v.offset == q.offset + 2 * 16 * 16)
    }
}
