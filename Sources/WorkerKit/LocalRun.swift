import Dataset
import Foundation
import Kernels
import KoinonCore
import NeoModel
import Tokenizer

/// `koinon-worker train --local`: a whole run in one process, with exactly the
/// distributed recipe: each step's global batch is cut into the run's units,
/// each unit's mean gradient is computed on its windows, and the step applies
/// the mean of the unit gradients, summed in unit order, each unit first
/// clipped to the run's `aggregation.clip_multiple` × the step's median unit
/// norm (`ClippedMean`, as the coordinator's `RunEngine`). In local-steps
/// mode (`local_steps:`) a unit's result is its pseudo-gradient instead and
/// the step applies the mean with the outer SGD. It is the reference the
/// distributed run must reproduce.
public final class LocalRun: @unchecked Sendable {
    public struct StepRecord: Sendable, Equatable, Codable {
        public var step: Int
        public var trainLoss: Double
        public var validationLoss: Double?
        public var learningRate: Double
        public var gradientNorm: Double
        /// Units scaled down by per-unit clipping (`ClippedMean`) this step.
        public var clippedUnits: Int = 0
    }

    public let config: RunConfig
    public let model: GPTNeo
    public let tokenizer: BPETokenizer
    let trainer: Trainer
    let train: SplitReader
    let validation: SplitReader?
    let windows: TrainingWindows
    let gradientSum: FloatBuffer
    /// Local-steps mode: the outer optimizer and scratch space for a unit's
    /// start (the trainer's AdamW, unused by outer steps, is the units' inner one).
    let localSteps: (outer: OuterSGD, start: FloatBuffer)?
    public private(set) var history: [StepRecord] = []

    /// `runDirectory`: where relative paths in the config (dataset, model config) start.
    public init(config: RunConfig, runDirectory: URL, backend: any Backend) throws {
        self.config = config
        let datasetURL = RunConfig.resolve(config.dataset, relativeTo: runDirectory)
        let manifest = try DatasetManifest.load(fromDatasetDirectory: datasetURL)
        tokenizer = try BPETokenizer(directory: datasetURL.appendingPathComponent("tokenizer"))
        let hfConfig = config.model.config.flatMap {
            FileManager.default.contents(atPath: RunConfig.resolve($0, relativeTo: runDirectory).path)
        }
        let modelConfig = try config.modelConfig(hfConfig: hfConfig, tokenizerVocabSize: tokenizer.vocabSize)
        model = try GPTNeo(config: modelConfig, backend: backend)
        model.initializeParameters(seed: config.seed)
        trainer = try Trainer(model: model, optimizer: config.adamW, batch: config.batch.sequencesPerUnit,
                              seqLen: config.batch.sequenceLength)
        train = try SplitReader(datasetDirectory: datasetURL, manifest: manifest, split: .train)
        validation = try? SplitReader(datasetDirectory: datasetURL, manifest: manifest, split: .validation)
        guard train.totalTokens > config.batch.sequenceLength else {
            throw DatasetReadError("the train split (\(train.totalTokens) tokens) is shorter than one window")
        }
        windows = TrainingWindows(seed: config.seed, sequenceLength: config.batch.sequenceLength,
                                  sequencesPerUnit: config.batch.sequencesPerUnit, totalTokens: train.totalTokens)
        gradientSum = FloatBuffer(count: model.layout.count)
        let layout = model.layout
        localSteps = config.localSteps.map {
            (OuterSGD(learningRate: $0.outerLearningRate, momentum: $0.outerMomentum, count: layout.count),
             FloatBuffer(count: layout.count))
        }
    }

    /// One unit's result and loss, into `gradients`: its mean gradient, or in
    /// local-steps mode its pseudo-gradient (`Trainer.localSteps`); the same
    /// windows (`TrainingWindows.offsets`) and computation a volunteer runs
    /// for a leased unit.
    public func unitGradient(step: Int, unit: Int) throws -> Double {
        guard let localSteps else {
            let (tokens, targets) = try batch(innerStep: step, unit: unit)
            return try trainer.computeGradients(tokens: tokens, targets: targets)
        }
        guard step >= 0, step <= Int.max / config.innerStepsPerUnit - 1 else {
            throw ModelInputError("step \(step) is out of range for \(config.innerStepsPerUnit) local steps a unit")
        }
        let first = step * config.innerStepsPerUnit
        return try trainer.localSteps(config.innerStepsPerUnit, batch: { try batch(innerStep: first + $0, unit: unit) },
                                      inner: trainer.optimizer, firstScheduleStep: first, start: localSteps.start)
    }

    private func batch(innerStep: Int, unit: Int) throws -> (tokens: [Int32], targets: [Int32]) {
        try train.batch(offsets: windows.offsets(step: innerStep, unit: unit), sequenceLength: config.batch.sequenceLength)
    }

    /// Where `unitGradient` leaves the unit's gradient (the model's flat layout).
    public var gradients: FloatBuffer { trainer.gradients }

    /// Replaces the parameters (e.g. with a trained version, to compute a
    /// unit's gradient at that version); `values` in the model's flat layout.
    public func setParameters(_ values: [Float]) throws {
        guard values.count == model.layout.count else {
            throw ModelInputError("\(values.count) parameters given; the model has \(model.layout.count)")
        }
        _ = values.withUnsafeBufferPointer { model.parameters.buffer.update(fromContentsOf: $0) }
    }

    /// One optimizer step (0-based `step`), recorded in `history`. The unit
    /// gradients are summed in unit order as they are computed; when
    /// per-unit clipping scales any of them, the sum is redone with every
    /// unit recomputed (deterministic, bit for bit) rather than holding a copy
    /// of each unit's gradient. Honest units of the measured runs never reach
    /// the default multiple, so normal training never pays for it.
    @discardableResult
    public func runStep(_ step: Int) throws -> StepRecord {
        let units = config.batch.unitsPerStep
        let be = model.backend
        let multiple = config.aggregation.clipMultiple
        var norms: [Double] = []
        be.zero(gradientSum.pointer, count: gradientSum.count)
        var loss = 0.0
        for unit in 0..<units {
            loss += try unitGradient(step: step, unit: unit)
            if multiple > 0 { norms.append(ClippedMean.norm(UnsafeBufferPointer(trainer.gradients.buffer))) }
            be.add(out: gradientSum.pointer, gradientSum.pointer, trainer.gradients.pointer, count: gradientSum.count)
        }
        let plan = ClippedMean.plan(norms: norms, multiple: multiple)
        if !plan.isUnchanged {
            be.zero(gradientSum.pointer, count: gradientSum.count)
            for unit in 0..<units {
                _ = try unitGradient(step: step, unit: unit)
                if let factor = plan.scales[unit] { ClippedMean.scale(trainer.gradients.buffer, by: factor) }
                be.add(out: gradientSum.pointer, gradientSum.pointer, trainer.gradients.pointer, count: gradientSum.count)
            }
        }
        be.scale(gradientSum.pointer, by: 1 / Float(units), count: gradientSum.count)  // now the mean
        let learningRate: Double, gradientNorm: Double
        if let localSteps {
            gradientNorm = localSteps.outer.update(parameters: model.parameters, pseudoGradient: gradientSum, backend: be)
            learningRate = config.adamW.schedule.rate(at: step * config.innerStepsPerUnit)
        } else {
            let update = trainer.optimizer.update(parameters: model.parameters, gradients: gradientSum, backend: be)
            (learningRate, gradientNorm) = (update.learningRate, update.gradientNorm)
        }
        var record = StepRecord(step: step, trainLoss: loss / Double(units), validationLoss: nil,
                                learningRate: learningRate, gradientNorm: gradientNorm,
                                clippedUnits: plan.clippedUnits)
        if config.evaluates(version: step + 1) {
            record.validationLoss = try validationLoss()
        }
        history.append(record)
        return record
    }

    /// Mean loss on the run's fixed validation windows (or nil without a validation split).
    public func validationLoss() throws -> Double? {
        guard let validation, validation.totalTokens > config.batch.sequenceLength else { return nil }
        let evalWindows = TrainingWindows(seed: config.seed, sequenceLength: config.batch.sequenceLength,
                                          sequencesPerUnit: 1, totalTokens: validation.totalTokens)
        let offsets = evalWindows.evaluationOffsets(count: config.eval.sequences)
        let per = config.batch.sequencesPerUnit
        return try model.meanLoss(batches: validation.batches(offsets: offsets, sequenceLength: config.batch.sequenceLength,
                                                              batchSize: per),
                                  batch: per, seqLen: config.batch.sequenceLength)
    }

    /// Writes a Hugging Face checkpoint with the tokenizer files beside it.
    public func export(to directory: URL) throws {
        try Checkpoint.save(model, to: directory)
        try tokenizer.save(to: directory)
    }
}
