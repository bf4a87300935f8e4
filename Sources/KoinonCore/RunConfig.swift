import Foundation
import NeoModel
import Yams

/// A training run as the operator writes it in `run.yaml`: model, dataset,
/// optimizer and schedule, the work recipe (global batch cut into units), and
/// evaluation/checkpoint cadence. Paths are relative to the YAML file.
public struct RunConfig: Sendable, Equatable, Codable {
    public struct Model: Sendable, Equatable, Codable {
        /// A named shape (`char-small`, `gpt-neo-125M`, ...) ...
        public var preset: String?
        /// ... or a Hugging Face config.json.
        public var config: String?
        /// Vocabulary size; default: the dataset tokenizer's.
        public var vocabSize: Int?
        enum CodingKeys: String, CodingKey { case preset, config, vocabSize = "vocab_size" }
    }

    public struct Optimizer: Sendable, Equatable, Codable {
        public var learningRate: Double = 1e-3
        public var minLearningRate: Double = 1e-4
        public var warmupSteps: Int = 100
        public var beta1: Double = 0.9
        public var beta2: Double = 0.99
        public var epsilon: Double = 1e-8
        public var weightDecay: Double = 0.1
        /// Global-norm gradient clipping; null or 0 turns it off.
        public var gradClip: Double? = 1.0
        enum CodingKeys: String, CodingKey {
            case learningRate = "learning_rate", minLearningRate = "min_learning_rate", warmupSteps = "warmup_steps"
            case beta1, beta2, epsilon, weightDecay = "weight_decay", gradClip = "grad_clip"
        }
        public init() {}
        public init(from decoder: Decoder) throws {
            let c = try decoder.container(keyedBy: CodingKeys.self)
            let d = Optimizer()
            learningRate = try c.decodeIfPresent(Double.self, forKey: .learningRate) ?? d.learningRate
            minLearningRate = try c.decodeIfPresent(Double.self, forKey: .minLearningRate) ?? d.minLearningRate
            warmupSteps = try c.decodeIfPresent(Int.self, forKey: .warmupSteps) ?? d.warmupSteps
            beta1 = try c.decodeIfPresent(Double.self, forKey: .beta1) ?? d.beta1
            beta2 = try c.decodeIfPresent(Double.self, forKey: .beta2) ?? d.beta2
            epsilon = try c.decodeIfPresent(Double.self, forKey: .epsilon) ?? d.epsilon
            weightDecay = try c.decodeIfPresent(Double.self, forKey: .weightDecay) ?? d.weightDecay
            gradClip = c.contains(.gradClip) ? try c.decodeIfPresent(Double.self, forKey: .gradClip) : d.gradClip
        }
    }

    /// The work recipe: every step trains on `globalSequences` windows of
    /// `sequenceLength` tokens, cut into units of `sequencesPerUnit`.
    public struct Batch: Sendable, Equatable, Codable {
        public var sequenceLength: Int
        public var globalSequences: Int
        public var sequencesPerUnit: Int
        enum CodingKeys: String, CodingKey {
            case sequenceLength = "sequence_length", globalSequences = "global_sequences"
            case sequencesPerUnit = "sequences_per_unit"
        }
        public var unitsPerStep: Int { globalSequences / sequencesPerUnit }
    }

    public struct Eval: Sendable, Equatable, Codable {
        /// Evaluate on the validation split every `interval` steps (0 = never) and after the last.
        public var interval: Int = 0
        /// Validation windows per evaluation (the same windows every time).
        public var sequences: Int = 64
        public init() {}
        public init(from decoder: Decoder) throws {
            let c = try decoder.container(keyedBy: CodingKeys.self)
            interval = try c.decodeIfPresent(Int.self, forKey: .interval) ?? 0
            sequences = try c.decodeIfPresent(Int.self, forKey: .sequences) ?? 64
        }
        enum CodingKeys: String, CodingKey { case interval, sequences }
    }

    /// How a step's unit gradients are combined (`aggregation:` in run.yaml).
    /// It changes the training math, so it belongs to the run: the coordinator
    /// and `train --local` read it from the same file and agree.
    public struct Aggregation: Sendable, Equatable, Codable {
        /// Per-unit clipping (`ClippedMean`): a unit gradient whose L2 norm
        /// exceeds `clipMultiple` × the median unit norm of its step is scaled
        /// down to that norm before the mean. 0 (or null in the YAML) = the
        /// plain mean. Default 5: more than twice the largest ratio of a unit's
        /// norm to its step's median measured for honest units of the recipe's
        /// size (6 × 64 tokens, 2.4 at most, tiny Shakespeare, versions 0–600)
        /// and above the largest for units of 2 sequences (4.0), so honest
        /// units are left alone (BENCHMARKS.md, "Honest disagreement between
        /// replicas"); with the recipe's 2 units per step none can exceed 2×.
        public var clipMultiple: Double = Aggregation.defaultClipMultiple
        public static let defaultClipMultiple = 5.0
        enum CodingKeys: String, CodingKey { case clipMultiple = "clip_multiple" }
        public init(clipMultiple: Double = Aggregation.defaultClipMultiple) { self.clipMultiple = clipMultiple }
        public init(from decoder: Decoder) throws {
            let c = try decoder.container(keyedBy: CodingKeys.self)
            clipMultiple = c.contains(.clipMultiple)
                ? try c.decodeIfPresent(Double.self, forKey: .clipMultiple) ?? 0 : Self.defaultClipMultiple
        }
    }

    /// Local-steps mode (`local_steps:` in run.yaml; DiLoCo, DESIGN §2): a
    /// unit is `steps` AdamW steps on its slice of `steps` consecutive
    /// batches, from the step's parameters and a fresh optimizer state, and
    /// its result is the pseudo-gradient (start − end); the coordinator
    /// averages the step's pseudo-gradients and applies them with SGD (outer
    /// learning rate, Nesterov momentum). Workers then exchange parameters
    /// once per `steps` batches instead of every batch. The run's `steps`
    /// counts outer steps (parameter versions); the learning-rate schedule
    /// and the data run over `steps × local_steps.steps` inner steps, so
    /// outer step s, inner step k trains on the batch of inner step
    /// s·H + k. Absent: gradient-step mode (one gradient a unit).
    /// The outer defaults are DiLoCo's (Douillard et al. 2023: Nesterov,
    /// learning rate 0.7, momentum 0.9); on the tiny Shakespeare recipe with
    /// 10 local steps they beat plain averaging (1.0, 0) by 0.06 in validation
    /// loss (BENCHMARKS.md, "Quality anchor").
    public struct LocalSteps: Sendable, Equatable, Codable {
        public var steps: Int
        /// The most inner steps a unit may have: workers refuse more
        /// (`LocalStepsSpec.maximumSteps`, the same number).
        public static let maximumSteps = 100_000
        public var outerLearningRate: Double = 0.7
        public var outerMomentum: Double = 0.9
        enum CodingKeys: String, CodingKey {
            case steps, outerLearningRate = "outer_learning_rate", outerMomentum = "outer_momentum"
        }
        public init(steps: Int, outerLearningRate: Double = 0.7, outerMomentum: Double = 0.9) {
            self.steps = steps
            self.outerLearningRate = outerLearningRate
            self.outerMomentum = outerMomentum
        }
        public init(from decoder: Decoder) throws {
            let c = try decoder.container(keyedBy: CodingKeys.self)
            steps = try c.decode(Int.self, forKey: .steps)
            outerLearningRate = try c.decodeIfPresent(Double.self, forKey: .outerLearningRate) ?? 0.7
            outerMomentum = try c.decodeIfPresent(Double.self, forKey: .outerMomentum) ?? 0.9
        }
    }

    public var name: String
    public var model: Model
    public var dataset: String
    public var optimizer: Optimizer
    public var batch: Batch
    public var steps: Int
    public var eval: Eval
    public var aggregation: Aggregation
    public var localSteps: LocalSteps?
    /// Full checkpoint (parameters + optimizer state) every K steps; 0 = only at the end.
    public var checkpointInterval: Int
    public var seed: UInt64

    enum CodingKeys: String, CodingKey {
        case name, model, dataset, optimizer, batch, steps, eval, seed, aggregation
        case checkpointInterval = "checkpoint_interval", localSteps = "local_steps"
    }

    public init(from decoder: Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        name = try c.decodeIfPresent(String.self, forKey: .name) ?? "run"
        model = try c.decode(Model.self, forKey: .model)
        dataset = try c.decode(String.self, forKey: .dataset)
        optimizer = try c.decodeIfPresent(Optimizer.self, forKey: .optimizer) ?? Optimizer()
        batch = try c.decode(Batch.self, forKey: .batch)
        steps = try c.decode(Int.self, forKey: .steps)
        eval = try c.decodeIfPresent(Eval.self, forKey: .eval) ?? Eval()
        aggregation = try c.decodeIfPresent(Aggregation.self, forKey: .aggregation) ?? Aggregation()
        localSteps = try c.decodeIfPresent(LocalSteps.self, forKey: .localSteps)
        checkpointInterval = try c.decodeIfPresent(Int.self, forKey: .checkpointInterval) ?? 0
        seed = try c.decodeIfPresent(UInt64.self, forKey: .seed) ?? 0
    }

    /// Parses and checks `run.yaml` text.
    public init(yaml: String) throws(RunConfigError) {
        do {
            self = try YAMLDecoder().decode(RunConfig.self, from: yaml)
        } catch let DecodingError.keyNotFound(key, context) {
            throw RunConfigError(field: Self.path(context.codingPath + [key]), message: "missing")
        } catch let DecodingError.typeMismatch(_, context), let DecodingError.valueNotFound(_, context),
                let DecodingError.dataCorrupted(context) {
            throw RunConfigError(field: Self.path(context.codingPath), message: context.debugDescription)
        } catch {
            throw RunConfigError(field: "(file)", message: "not valid YAML: \(error)")
        }
        try validate()
    }

    static func path(_ keys: [any CodingKey]) -> String {
        keys.map(\.stringValue).joined(separator: ".")
    }

    public func validate() throws(RunConfigError) {
        func require(_ ok: Bool, _ field: String, _ message: String) throws(RunConfigError) {
            if !ok { throw RunConfigError(field: field, message: message) }
        }
        try require((model.preset == nil) != (model.config == nil), "model", "give exactly one of preset or config")
        if let p = model.preset {
            try require(GPTNeoConfig.preset(p) != nil, "model.preset",
                        "unknown preset '\(p)'; known: \(GPTNeoConfig.presetNames.joined(separator: ", "))")
        }
        try require((model.vocabSize ?? 1) > 0, "model.vocab_size", "must be positive")
        try require(!dataset.isEmpty, "dataset", "must name a dataset directory")
        try require(batch.sequenceLength > 0, "batch.sequence_length", "must be positive")
        try require(batch.sequencesPerUnit > 0, "batch.sequences_per_unit", "must be positive")
        try require(batch.globalSequences > 0 && batch.globalSequences % batch.sequencesPerUnit == 0,
                    "batch.global_sequences", "must be a positive multiple of sequences_per_unit (\(batch.sequencesPerUnit))")
        try require(steps > 0, "steps", "must be positive")
        try require(eval.sequences >= batch.sequencesPerUnit, "eval.sequences",
                    "must be at least batch.sequences_per_unit (\(batch.sequencesPerUnit)): evaluations run in units of that many windows")
        try require(optimizer.learningRate > 0, "optimizer.learning_rate", "must be positive")
        try require(optimizer.minLearningRate >= 0 && optimizer.minLearningRate <= optimizer.learningRate,
                    "optimizer.min_learning_rate", "must be between 0 and learning_rate")
        try require(optimizer.warmupSteps >= 0, "optimizer.warmup_steps", "must not be negative")
        try require((0..<1).contains(optimizer.beta1) && (0..<1).contains(optimizer.beta2), "optimizer.beta1",
                    "beta1 and beta2 must be in [0, 1)")
        try require(optimizer.epsilon > 0, "optimizer.epsilon", "must be positive")
        try require(optimizer.weightDecay >= 0, "optimizer.weight_decay", "must not be negative")
        try require((optimizer.gradClip ?? 0) >= 0, "optimizer.grad_clip", "must not be negative")
        try require(aggregation.clipMultiple.isFinite && aggregation.clipMultiple >= 0, "aggregation.clip_multiple",
                    "must be a finite number ≥ 0 (0 turns per-unit clipping off), not \(aggregation.clipMultiple)")
        try require(aggregation.clipMultiple == 0 || aggregation.clipMultiple >= 1, "aggregation.clip_multiple",
                    "must be 0 (off) or at least 1, not \(aggregation.clipMultiple): below 1 even the median unit would be clipped")
        try require(eval.interval >= 0 && eval.sequences > 0, "eval", "interval must be ≥ 0 and sequences > 0")
        try require(checkpointInterval >= 0, "checkpoint_interval", "must not be negative")
        if let l = localSteps {
            try require((1...LocalSteps.maximumSteps).contains(l.steps), "local_steps.steps",
                        "must be 1 to \(LocalSteps.maximumSteps) (inner AdamW steps per unit)")
            let perBatch = batch.sequencesPerUnit.multipliedReportingOverflow(by: batch.sequenceLength)
            let perUnit = perBatch.partialValue.multipliedReportingOverflow(by: l.steps)
            try require(steps <= Int.max / l.steps - 1 && !perBatch.overflow && !perUnit.overflow, "local_steps.steps",
                        "\(l.steps) local steps overflow the run's step or token counts")
            try require(l.outerLearningRate.isFinite && l.outerLearningRate > 0, "local_steps.outer_learning_rate",
                        "must be a positive number")
            try require((0..<1).contains(l.outerMomentum), "local_steps.outer_momentum", "must be in [0, 1)")
        }
    }

    /// Inner steps (batches) a unit trains on: `local_steps.steps`, or 1 in gradient-step mode.
    public var innerStepsPerUnit: Int { localSteps?.steps ?? 1 }

    /// A path from the YAML: absolute as is, relative to the YAML file's directory otherwise.
    public static func resolve(_ path: String, relativeTo directory: URL) -> URL {
        let url = path.hasPrefix("/") ? URL(fileURLWithPath: path) : directory.appendingPathComponent(path)
        return url.standardizedFileURL
    }

    /// AdamW with warmup then cosine decay to the floor at the last step
    /// (in local-steps mode: the units' inner optimizer, over every inner step).
    public var adamW: AdamWConfig {
        let clip = optimizer.gradClip.flatMap { $0 > 0 ? $0 : nil }
        return AdamWConfig(
            schedule: LearningRateSchedule(maxRate: optimizer.learningRate, minRate: optimizer.minLearningRate,
                                           warmupSteps: optimizer.warmupSteps, decaySteps: steps * innerStepsPerUnit),
            beta1: optimizer.beta1, beta2: optimizer.beta2, epsilon: optimizer.epsilon,
            weightDecay: optimizer.weightDecay, maxGradNorm: clip)
    }

    /// The model shape: the preset, or the given HF config.json contents;
    /// vocabulary from the config, else the tokenizer's; context at least the sequence length.
    public func modelConfig(hfConfig: Data?, tokenizerVocabSize: Int) throws -> GPTNeoConfig {
        var c: GPTNeoConfig
        if let p = model.preset {
            c = GPTNeoConfig.preset(p)!
            c.vocabSize = model.vocabSize ?? tokenizerVocabSize
            c.maxPositions = max(c.maxPositions, batch.sequenceLength)
        } else {
            guard let data = hfConfig else { throw RunConfigError(field: "model.config", message: "file not found") }
            c = try GPTNeoConfig(jsonData: data)
            if let v = model.vocabSize { c.vocabSize = v }
        }
        guard c.vocabSize >= tokenizerVocabSize else {
            throw RunConfigError(field: "model.vocab_size",
                                 message: "\(c.vocabSize) is smaller than the dataset tokenizer's \(tokenizerVocabSize)")
        }
        guard c.maxPositions >= batch.sequenceLength else {
            throw RunConfigError(field: "batch.sequence_length",
                                 message: "\(batch.sequenceLength) exceeds the model's max_position_embeddings \(c.maxPositions)")
        }
        try c.validate()
        return c
    }
}

/// A run.yaml the coordinator cannot run, naming the field.
public struct RunConfigError: Error, CustomStringConvertible, Equatable {
    public var field: String
    public var message: String
    public init(field: String, message: String) {
        self.field = field
        self.message = message
    }
    public var description: String { "run config field '\(field)': \(message)" }
}

extension RunConfig {
    /// Whether parameter version `version` (after `version` steps) is
    /// evaluated on the validation split: every `eval.interval` versions, and
    /// the final version always (when the dataset has a validation split).
    /// `train --local` and the coordinator's evaluation units both follow it.
    public func evaluates(version: Int) -> Bool {
        guard version > 0 else { return false }
        return version == steps || (eval.interval > 0 && version % eval.interval == 0)
    }

    /// Units one evaluation is split into: `batch.sequencesPerUnit` windows
    /// each, whole units only. `train --local` evaluates in batches of that
    /// size and drops a partial last batch, so both measure the same windows.
    public var evaluationUnits: Int {
        eval.sequences <= 0 ? 0 : eval.sequences / batch.sequencesPerUnit
    }
}
