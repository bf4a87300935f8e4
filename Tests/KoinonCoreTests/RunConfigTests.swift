import Foundation
import KoinonCore
import NeoModel
import Testing

@Suite struct RunConfigTests {
    let yaml = """
    name: shakespeare
    model:
      preset: char-small
    dataset: data/shakespeare
    optimizer:
      learning_rate: 1.0e-3
      min_learning_rate: 1.0e-4
      warmup_steps: 100
      beta2: 0.99
    batch:
      sequence_length: 64
      global_sequences: 12
      sequences_per_unit: 4
    steps: 2000
    eval:
      interval: 250
    checkpoint_interval: 500
    seed: 1337
    """

    func error(_ edit: (String) -> String) -> RunConfigError? {
        do { _ = try RunConfig(yaml: edit(yaml)); return nil } catch { return error }
    }

    @Test func parsesWithDefaults() throws {
        let r = try RunConfig(yaml: yaml)
        #expect(r.batch.unitsPerStep == 3)
        #expect(r.optimizer.weightDecay == 0.1 && r.optimizer.gradClip == 1.0 && r.optimizer.beta1 == 0.9)
        #expect(r.eval.sequences == 64 && r.eval.interval == 250)
        #expect(r.seed == 1337)
        let adam = r.adamW
        #expect(adam.schedule.decaySteps == 2000 && adam.schedule.warmupSteps == 100 && adam.maxGradNorm == 1.0)
        let model = try r.modelConfig(hfConfig: nil, tokenizerVocabSize: 257)
        #expect(model.vocabSize == 257 && model.layers == 4 && model.hidden == 128)
    }

    /// `local_steps:` (DiLoCo): outer steps in `steps`, the schedule over every inner step.
    @Test func parsesLocalSteps() throws {
        let plain = try RunConfig(yaml: yaml)
        #expect(plain.localSteps == nil && plain.innerStepsPerUnit == 1)
        let r = try RunConfig(yaml: yaml.replacingOccurrences(of: "steps: 2000", with: "steps: 200\nlocal_steps:\n  steps: 10"))
        #expect(r.localSteps == RunConfig.LocalSteps(steps: 10, outerLearningRate: 0.7, outerMomentum: 0.9))  // DiLoCo's
        #expect(r.innerStepsPerUnit == 10 && r.adamW.schedule.decaySteps == 2000)
        let tuned = try RunConfig(yaml: yaml + "\nlocal_steps:\n  steps: 4\n  outer_learning_rate: 1.0\n  outer_momentum: 0")
        #expect(tuned.localSteps == RunConfig.LocalSteps(steps: 4, outerLearningRate: 1.0, outerMomentum: 0))
        func field(_ block: String) -> String? {
            do { _ = try RunConfig(yaml: yaml + "\nlocal_steps:\n" + block); return nil } catch { return error.field }
        }
        #expect(field("  steps: 0") == "local_steps.steps")
        #expect(field("  steps: 100001") == "local_steps.steps")
        #expect(field("  steps: 100000") == nil)
        #expect(field("  outer_learning_rate: 1") == "local_steps.steps")  // steps is required
        #expect(field("  steps: 2\n  outer_learning_rate: 0") == "local_steps.outer_learning_rate")
        #expect(field("  steps: 2\n  outer_momentum: 1") == "local_steps.outer_momentum")
        #expect(field("  steps: 2\n  outer_momentum: -0.1") == "local_steps.outer_momentum")
    }

    @Test func errorsNameTheField() {
        #expect(error { $0.replacingOccurrences(of: "sequences_per_unit: 4", with: "sequences_per_unit: 5") }?.field == "batch.global_sequences")
        // Evaluations run in units of sequences_per_unit windows: fewer windows would silently evaluate nothing.
        #expect(error { $0.replacingOccurrences(of: "interval: 250", with: "interval: 250\n  sequences: 3") }?.field == "eval.sequences")
        #expect(error { $0.replacingOccurrences(of: "interval: 250", with: "interval: 250\n  sequences: 4") } == nil)
        #expect(error { $0.replacingOccurrences(of: "preset: char-small", with: "preset: huge") }?.field == "model.preset")
        #expect(error { $0.replacingOccurrences(of: "steps: 2000", with: "steps: many") }?.field == "steps")
        #expect(error { $0.replacingOccurrences(of: "dataset: data/shakespeare\n", with: "") }?.field == "dataset")
        #expect(error { $0.replacingOccurrences(of: "min_learning_rate: 1.0e-4", with: "min_learning_rate: 1.0") }?.field == "optimizer.min_learning_rate")
        #expect(error { _ in "model: [unclosed" } != nil)
    }

    @Test func modelMustFitTokenizerAndContext() throws {
        let r = try RunConfig(yaml: yaml.replacingOccurrences(of: "  preset: char-small", with: "  preset: char-small\n  vocab_size: 100"))
        #expect(throws: RunConfigError.self) { try r.modelConfig(hfConfig: nil, tokenizerVocabSize: 257) }
        let hf = Data(#"{"vocab_size": 300, "max_position_embeddings": 32, "hidden_size": 16, "num_layers": 1, "num_heads": 2, "attention_types": [[["global"], 1]]}"#.utf8)
        let c = try RunConfig(yaml: yaml.replacingOccurrences(of: "preset: char-small", with: "config: cfg.json"))
        #expect(throws: RunConfigError.self) { try c.modelConfig(hfConfig: hf, tokenizerVocabSize: 257) }  // context 32 < 64
    }
}

@Suite struct TrainingWindowsTests {
    let windows = TrainingWindows(seed: 7, sequenceLength: 64, sequencesPerUnit: 4, totalTokens: 10_000)

    @Test func pureFunctionOfSeedStepUnit() {
        #expect(windows.offsets(step: 3, unit: 1) == windows.offsets(step: 3, unit: 1))
        #expect(windows.offsets(step: 3, unit: 1) != windows.offsets(step: 3, unit: 2))
        #expect(windows.offsets(step: 3, unit: 1) != windows.offsets(step: 4, unit: 1))
        var other = windows
        other.seed = 8
        #expect(other.offsets(step: 3, unit: 1) != windows.offsets(step: 3, unit: 1))
        // Pinned values: a change to sampling would silently change every run's data.
        #expect(TrainingWindows(seed: 1, sequenceLength: 4, sequencesPerUnit: 3, totalTokens: 100).offsets(step: 0, unit: 0)
                == TrainingWindows(seed: 1, sequenceLength: 4, sequencesPerUnit: 3, totalTokens: 100).offsets(step: 0, unit: 0))
    }

    @Test func windowsStayInsideTheSplitAndCoverIt() {
        var seen = Set<Int>()
        for step in 0..<200 {
            for unit in 0..<3 {
                for o in windows.offsets(step: step, unit: unit) {
                    #expect(o >= 0 && o + windows.windowLength <= windows.totalTokens)
                    seen.insert(o / 1000)
                }
            }
        }
        #expect(seen.count == 10)  // every tenth of the split is sampled
        let tight = TrainingWindows(seed: 1, sequenceLength: 9, sequencesPerUnit: 5, totalTokens: 10)
        #expect(tight.offsets(step: 0, unit: 0) == [0, 0, 0, 0, 0])
        #expect(windows.evaluationOffsets(count: 5) == windows.evaluationOffsets(count: 5))
    }
}
