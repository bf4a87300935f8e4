import Foundation

/// `POST /v1/leases`: "give me work". The worker is the one the bearer token names.
public struct LeaseRequest: Codable, Hashable, Sendable {
    /// How long the coordinator may hold the request open waiting for work
    /// (long poll); nil: its own default, 0: answer at once.
    public var maxWaitSeconds: Double?
    /// This worker computes evaluation units; a worker that does not say so
    /// (an older one) never gets them.
    public var acceptsEvaluation: Bool?
    /// This worker computes local-steps units (`Assignment.localSteps`); a
    /// worker that does not say so is told to upgrade rather than handed one.
    public var acceptsLocalSteps: Bool?

    public init(maxWaitSeconds: Double? = nil, acceptsEvaluation: Bool? = nil, acceptsLocalSteps: Bool? = nil) {
        self.maxWaitSeconds = maxWaitSeconds
        self.acceptsEvaluation = acceptsEvaluation
        self.acceptsLocalSteps = acceptsLocalSteps
    }

    enum CodingKeys: String, CodingKey {
        case maxWaitSeconds = "max_wait_seconds"
        case acceptsEvaluation = "accepts_evaluation"
        case acceptsLocalSteps = "accepts_local_steps"
    }
}

/// The answer to a lease request: work, or when to ask again.
///
///     {"status": "assigned", "assignment": {...}}
///     {"status": "retry", "retry": {"retry_after_seconds": 5, "reason": "units_outstanding", "message": "..."}}
public enum LeaseResponse: Codable, Hashable, Sendable {
    case assigned(Assignment)
    case retry(RetryLater)

    enum CodingKeys: String, CodingKey {
        case status
        case assignment
        case retry
    }

    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        let status = try container.decode(String.self, forKey: .status)
        switch status {
        case "assigned": self = .assigned(try container.decode(Assignment.self, forKey: .assignment))
        case "retry": self = .retry(try container.decode(RetryLater.self, forKey: .retry))
        default:
            throw DecodingError.dataCorruptedError(
                forKey: .status, in: container, debugDescription: "unknown lease status \"\(status)\" (expected assigned or retry)")
        }
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        switch self {
        case .assigned(let assignment):
            try container.encode("assigned", forKey: .status)
            try container.encode(assignment, forKey: .assignment)
        case .retry(let retry):
            try container.encode("retry", forKey: .status)
            try container.encode(retry, forKey: .retry)
        }
    }
}

/// Everything a worker needs to compute one unit and hand it in.
public struct Assignment: Codable, Hashable, Sendable {
    public var leaseID: UUID
    public var runID: Int
    public var step: Int
    public var unitIndex: Int
    /// The parameters to compute from: version `step`.
    public var parameters: ParameterVersion
    /// SHA-256 of the run's model config.json (`GET /v1/runs/{id}/config`), so a worker can cache it.
    public var modelConfigSHA256: String
    public var data: UnitDataSpec
    /// The dtype the coordinator wants the result payload in.
    public var resultDType: TensorDType
    /// When the lease ends unless a heartbeat extends it. Informative: the
    /// worker's clock may be off, so it heartbeats by `heartbeatIntervalSeconds`.
    public var deadline: Date
    public var heartbeatIntervalSeconds: Double
    /// Set on evaluation units: measure the loss of parameter version `step`
    /// on held-out sequences and submit it with an empty (0-element) payload.
    public var evaluation: EvaluationSpec?
    /// Set on training units of a local-steps run: several AdamW steps, and
    /// the pseudo-gradient as the result (see `LocalStepsSpec`).
    public var localSteps: LocalStepsSpec?

    public init(
        leaseID: UUID, runID: Int, step: Int, unitIndex: Int, parameters: ParameterVersion,
        modelConfigSHA256: String, data: UnitDataSpec, resultDType: TensorDType = .float32,
        deadline: Date, heartbeatIntervalSeconds: Double, evaluation: EvaluationSpec? = nil,
        localSteps: LocalStepsSpec? = nil
    ) {
        self.evaluation = evaluation
        self.localSteps = localSteps
        self.leaseID = leaseID
        self.runID = runID
        self.step = step
        self.unitIndex = unitIndex
        self.parameters = parameters
        self.modelConfigSHA256 = modelConfigSHA256
        self.data = data
        self.resultDType = resultDType
        self.deadline = deadline
        self.heartbeatIntervalSeconds = heartbeatIntervalSeconds
    }

    enum CodingKeys: String, CodingKey {
        case leaseID = "lease_id"
        case runID = "run_id"
        case step
        case unitIndex = "unit_index"
        case parameters
        case modelConfigSHA256 = "model_config_sha256"
        case data
        case resultDType = "result_dtype"
        case deadline
        case heartbeatIntervalSeconds = "heartbeat_interval_seconds"
        case evaluation
        case localSteps = "local_steps"
    }

    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        leaseID = try container.decode(UUID.self, forKey: .leaseID)
        runID = try container.decode(Int.self, forKey: .runID)
        step = try container.decode(Int.self, forKey: .step)
        unitIndex = try container.decode(Int.self, forKey: .unitIndex)
        parameters = try container.decode(ParameterVersion.self, forKey: .parameters)
        modelConfigSHA256 = try container.decode(String.self, forKey: .modelConfigSHA256)
        data = try container.decode(UnitDataSpec.self, forKey: .data)
        resultDType = try container.decode(TensorDType.self, forKey: .resultDType)
        deadline = try container.decodeTimestamp(forKey: .deadline)
        heartbeatIntervalSeconds = try container.decode(Double.self, forKey: .heartbeatIntervalSeconds)
        evaluation = try container.decodeIfPresent(EvaluationSpec.self, forKey: .evaluation)
        localSteps = try container.decodeIfPresent(LocalStepsSpec.self, forKey: .localSteps)
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(leaseID, forKey: .leaseID)
        try container.encode(runID, forKey: .runID)
        try container.encode(step, forKey: .step)
        try container.encode(unitIndex, forKey: .unitIndex)
        try container.encode(parameters, forKey: .parameters)
        try container.encode(modelConfigSHA256, forKey: .modelConfigSHA256)
        try container.encode(data, forKey: .data)
        try container.encode(resultDType, forKey: .resultDType)
        try container.encodeTimestamp(deadline, forKey: .deadline)
        try container.encode(heartbeatIntervalSeconds, forKey: .heartbeatIntervalSeconds)
        try container.encodeIfPresent(evaluation, forKey: .evaluation)
        try container.encodeIfPresent(localSteps, forKey: .localSteps)
    }
}

/// A local-steps unit (DiLoCo, DESIGN §2): from parameter version `step`
/// and a fresh AdamW state, one AdamW step on each of the unit's batches of
/// inner steps `firstInnerStep ..< firstInnerStep + steps` (the windows
/// `TrainingWindows.offsets(step: inner, unit:)`), at the learning rate of
/// the run's schedule at that inner step. The result is the pseudo-gradient
/// θ_start − θ_end in the assignment's dtype; its loss is the mean of the
/// inner steps' losses (each before its update).
public struct LocalStepsSpec: Codable, Hashable, Sendable {
    public var steps: Int
    public var firstInnerStep: Int
    /// The schedule: linear warmup to `learningRate` over `warmupSteps`,
    /// cosine decay to `minLearningRate` at `decaySteps`, then constant.
    public var learningRate: Double
    public var minLearningRate: Double
    public var warmupSteps: Int
    public var decaySteps: Int
    public var beta1: Double
    public var beta2: Double
    public var epsilon: Double
    public var weightDecay: Double
    /// Global-norm clipping of each inner gradient; nil: none.
    public var gradClip: Double?

    public init(steps: Int, firstInnerStep: Int, learningRate: Double, minLearningRate: Double, warmupSteps: Int,
                decaySteps: Int, beta1: Double, beta2: Double, epsilon: Double, weightDecay: Double, gradClip: Double?) {
        self.steps = steps
        self.firstInnerStep = firstInnerStep
        self.learningRate = learningRate
        self.minLearningRate = minLearningRate
        self.warmupSteps = warmupSteps
        self.decaySteps = decaySteps
        self.beta1 = beta1
        self.beta2 = beta2
        self.epsilon = epsilon
        self.weightDecay = weightDecay
        self.gradClip = gradClip
    }

    enum CodingKeys: String, CodingKey {
        case steps
        case firstInnerStep = "first_inner_step"
        case learningRate = "learning_rate"
        case minLearningRate = "min_learning_rate"
        case warmupSteps = "warmup_steps"
        case decaySteps = "decay_steps"
        case beta1, beta2, epsilon
        case weightDecay = "weight_decay"
        case gradClip = "grad_clip"
    }

    /// The inner steps this unit trains on, in order (of a spec that `validate` passed).
    public var innerSteps: Range<Int> { firstInnerStep..<firstInnerStep + steps }

    /// The most inner steps a unit may have (as `RunConfig.LocalSteps.maximumSteps`).
    public static let maximumSteps = 100_000

    /// Throws unless the spec is one a worker can compute: a coordinator's
    /// mistake must fail the unit (which goes back), not the worker.
    public func validate() throws(InvalidLocalStepsSpec) {
        func require(_ ok: Bool, _ message: @autoclosure () -> String) throws(InvalidLocalStepsSpec) {
            if !ok { throw InvalidLocalStepsSpec(message: message()) }
        }
        try require((1...Self.maximumSteps).contains(steps), "steps \(steps) is not in 1...\(Self.maximumSteps)")
        try require(firstInnerStep >= 0 && firstInnerStep <= Int.max - steps, "first_inner_step \(firstInnerStep) is out of range")
        try require(learningRate.isFinite && learningRate >= 0 && minLearningRate.isFinite && minLearningRate >= 0,
                    "learning rates must be finite and not negative")
        try require(warmupSteps >= 0 && decaySteps >= 0, "warmup_steps and decay_steps must not be negative")
        try require((0..<1).contains(beta1) && (0..<1).contains(beta2), "beta1 and beta2 must be in [0, 1)")
        try require(epsilon.isFinite && epsilon > 0, "epsilon must be positive")
        try require(weightDecay.isFinite && weightDecay >= 0, "weight_decay must not be negative")
        try require(gradClip.map { $0.isFinite && $0 > 0 } ?? true, "grad_clip must be positive when given")
    }
}

/// An assignment's `local_steps` that no worker could compute.
public struct InvalidLocalStepsSpec: Error, CustomStringConvertible, Equatable {
    public var message: String
    public var description: String { "the assignment's local_steps: \(message)" }
}

/// An evaluation unit: sequences `[index × data.sequences, (index + 1) ×
/// data.sequences)` of the run's `sequences` fixed evaluation windows on the
/// dataset's validation split (whole units only: windows past the last whole
/// unit are not evaluated, as in `train --local`).
public struct EvaluationSpec: Codable, Hashable, Sendable {
    /// Evaluation windows in the whole evaluation (all its units).
    public var sequences: Int
    /// This unit's place among the evaluation's units.
    public var index: Int

    public init(sequences: Int, index: Int) {
        self.sequences = sequences
        self.index = index
    }

    /// The unit's slice of the evaluation windows, given sequences per unit.
    public func windowRange(sequencesPerUnit: Int) -> Range<Int> {
        let lower = min(index * sequencesPerUnit, sequences)
        return lower..<min(lower + sequencesPerUnit, sequences)
    }
}

/// A published parameter version: `GET /v1/runs/{run_id}/parameters/{version}`
/// serves it as a float32 `TensorPayload` whose SHA-256 (of the whole body,
/// also its ETag) is `sha256`.
public struct ParameterVersion: Codable, Hashable, Sendable {
    /// The step number whose parameters these are (version s is the input of step s).
    public var version: Int
    public var sha256: String

    public init(version: Int, sha256: String) {
        self.version = version
        self.sha256 = sha256
    }

    enum CodingKeys: String, CodingKey {
        case version
        case sha256
    }
}

/// Which sequences a unit trains on. The windows themselves are a pure
/// function of (seed, step, unit index) over the dataset's train split, so
/// this plus the assignment's step and unit index determine the inputs.
public struct UnitDataSpec: Codable, Hashable, Sendable {
    public var datasetID: String
    /// SHA-256 of the dataset's manifest.json; it and the shards it names are
    /// served by `GET /v1/shards/{sha256}`.
    public var manifestSHA256: String
    public var seed: UInt64
    /// Sequences in this unit.
    public var sequences: Int
    public var sequenceLength: Int

    public init(datasetID: String, manifestSHA256: String, seed: UInt64, sequences: Int, sequenceLength: Int) {
        self.datasetID = datasetID
        self.manifestSHA256 = manifestSHA256
        self.seed = seed
        self.sequences = sequences
        self.sequenceLength = sequenceLength
    }

    enum CodingKeys: String, CodingKey {
        case datasetID = "dataset_id"
        case manifestSHA256 = "manifest_sha256"
        case seed
        case sequences
        case sequenceLength = "sequence_length"
    }
}

/// No work now; ask again after `retryAfterSeconds` (also sent as the
/// `Retry-After` header, rounded up to whole seconds).
public struct RetryLater: Codable, Hashable, Sendable {
    public var retryAfterSeconds: Double
    public var reason: ReasonCode
    public var message: String

    public init(retryAfterSeconds: Double, reason: ReasonCode, message: String) {
        self.retryAfterSeconds = retryAfterSeconds
        self.reason = reason
        self.message = message
    }

    enum CodingKeys: String, CodingKey {
        case retryAfterSeconds = "retry_after_seconds"
        case reason
        case message
    }
}
