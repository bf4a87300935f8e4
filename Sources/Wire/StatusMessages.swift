import Foundation

/// `GET /v1/status`: every run's progress, for the dashboard and for anyone watching.
public struct StatusResponse: Codable, Hashable, Sendable {
    public var generatedAt: Date
    public var runs: [RunStatus]

    public init(generatedAt: Date, runs: [RunStatus]) {
        self.generatedAt = generatedAt
        self.runs = runs
    }

    enum CodingKeys: String, CodingKey {
        case generatedAt = "generated_at"
        case runs
    }

    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        generatedAt = try container.decodeTimestamp(forKey: .generatedAt)
        runs = try container.decode([RunStatus].self, forKey: .runs)
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encodeTimestamp(generatedAt, forKey: .generatedAt)
        try container.encode(runs, forKey: .runs)
    }
}

public enum RunState: String, Codable, Hashable, Sendable {
    case active
    case paused
    case finished
}

public struct RunStatus: Codable, Hashable, Sendable {
    public var runID: Int
    public var name: String
    public var state: RunState
    /// The step being computed (parameter version `step` is the latest published).
    public var step: Int
    public var totalSteps: Int
    /// One point per applied step, oldest first.
    public var lossHistory: [LossPoint]
    /// Workers seen recently.
    public var workers: [WorkerStatus]
    /// The current step's units by state.
    public var units: UnitCounts

    public init(
        runID: Int, name: String, state: RunState, step: Int, totalSteps: Int,
        lossHistory: [LossPoint], workers: [WorkerStatus], units: UnitCounts
    ) {
        self.runID = runID
        self.name = name
        self.state = state
        self.step = step
        self.totalSteps = totalSteps
        self.lossHistory = lossHistory
        self.workers = workers
        self.units = units
    }

    enum CodingKeys: String, CodingKey {
        case runID = "run_id"
        case name
        case state
        case step
        case totalSteps = "total_steps"
        case lossHistory = "loss_history"
        case workers
        case units
    }
}

/// A step's training loss (the token-weighted mean over its units) and,
/// on evaluation steps, the validation loss.
public struct LossPoint: Codable, Hashable, Sendable {
    public var step: Int
    public var loss: Double
    public var validationLoss: Double?

    public init(step: Int, loss: Double, validationLoss: Double? = nil) {
        self.step = step
        self.loss = loss
        self.validationLoss = validationLoss
    }

    enum CodingKeys: String, CodingKey {
        case step
        case loss
        case validationLoss = "validation_loss"
    }
}

public struct WorkerStatus: Codable, Hashable, Sendable {
    public var workerID: UUID
    public var name: String
    public var backend: String
    public var lastSeen: Date
    public var acceptedUnits: Int
    public var activeLeases: Int

    public init(workerID: UUID, name: String, backend: String, lastSeen: Date, acceptedUnits: Int, activeLeases: Int) {
        self.workerID = workerID
        self.name = name
        self.backend = backend
        self.lastSeen = lastSeen
        self.acceptedUnits = acceptedUnits
        self.activeLeases = activeLeases
    }

    enum CodingKeys: String, CodingKey {
        case workerID = "worker_id"
        case name
        case backend
        case lastSeen = "last_seen"
        case acceptedUnits = "accepted_units"
        case activeLeases = "active_leases"
    }

    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        workerID = try container.decode(UUID.self, forKey: .workerID)
        name = try container.decode(String.self, forKey: .name)
        backend = try container.decode(String.self, forKey: .backend)
        lastSeen = try container.decodeTimestamp(forKey: .lastSeen)
        acceptedUnits = try container.decode(Int.self, forKey: .acceptedUnits)
        activeLeases = try container.decode(Int.self, forKey: .activeLeases)
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(workerID, forKey: .workerID)
        try container.encode(name, forKey: .name)
        try container.encode(backend, forKey: .backend)
        try container.encodeTimestamp(lastSeen, forKey: .lastSeen)
        try container.encode(acceptedUnits, forKey: .acceptedUnits)
        try container.encode(activeLeases, forKey: .activeLeases)
    }
}

/// Units of a step by state (`pending` → `leased` → `submitted` → `accepted`).
public struct UnitCounts: Codable, Hashable, Sendable {
    public var pending: Int
    public var leased: Int
    public var submitted: Int
    public var accepted: Int

    public init(pending: Int = 0, leased: Int = 0, submitted: Int = 0, accepted: Int = 0) {
        self.pending = pending
        self.leased = leased
        self.submitted = submitted
        self.accepted = accepted
    }

    enum CodingKeys: String, CodingKey {
        case pending
        case leased
        case submitted
        case accepted
    }
}
