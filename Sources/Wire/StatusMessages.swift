import Foundation

/// `GET /v1/status`: every run's progress, the workers and what verification
/// turned away. Served from a snapshot the coordinator refreshes about once a
/// second (`generated_at` says when), never from fresh queries per request.
public struct StatusResponse: Codable, Hashable, Sendable {
    @WireTime public var generatedAt: Date
    public var runs: [RunStatus]
    /// Workers seen in the last 24 hours, most recently seen first.
    public var workers: [WorkerStatus]
    /// Workers online (seen in the last minute) by backend ("cpu", ...).
    public var workersOnline: [String: Int]
    /// The most recent rejected results, newest first.
    public var recentRejections: [RejectionRecord]

    public init(generatedAt: Date, runs: [RunStatus], workers: [WorkerStatus] = [], workersOnline: [String: Int] = [:],
                recentRejections: [RejectionRecord] = []) {
        self.generatedAt = generatedAt
        self.runs = runs
        self.workers = workers
        self.workersOnline = workersOnline
        self.recentRejections = recentRejections
    }

    enum CodingKeys: String, CodingKey {
        case generatedAt = "generated_at"
        case runs
        case workers
        case workersOnline = "workers_online"
        case recentRejections = "recent_rejections"
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
    /// The step being computed; parameter version `step` is the latest published.
    public var step: Int
    public var parameterVersion: Int
    public var totalSteps: Int
    @WireTime public var createdAt: Date
    /// Tokens in the applied steps' accepted units.
    public var tokensTrained: Int
    public var tokensPerSecond: Throughput
    /// Seconds to the last step at the last ten minutes' pace; nil before a
    /// pace is known and once the run has finished.
    public var etaSeconds: Double?
    /// Training loss per applied step, oldest first (at most 1,000 points:
    /// longer runs are thinned evenly, the newest step always kept).
    public var lossHistory: [LossPoint]
    /// Validation loss on the held-out split by parameter version, oldest first.
    public var validationHistory: [LossPoint]
    /// The current step's training units by state.
    public var units: UnitCounts
    /// Evaluation units not yet accepted (they run beside training).
    public var evaluationUnitsOutstanding: Int
    public var verification: VerificationStatus
    /// Workers by credit, highest first (at most 10).
    public var topContributors: [Contributor]

    public init(runID: Int, name: String, state: RunState, step: Int, parameterVersion: Int, totalSteps: Int,
                createdAt: Date, tokensTrained: Int = 0, tokensPerSecond: Throughput = Throughput(),
                etaSeconds: Double? = nil, lossHistory: [LossPoint] = [], validationHistory: [LossPoint] = [],
                units: UnitCounts = UnitCounts(), evaluationUnitsOutstanding: Int = 0,
                verification: VerificationStatus = VerificationStatus(), topContributors: [Contributor] = []) {
        self.runID = runID
        self.name = name
        self.state = state
        self.step = step
        self.parameterVersion = parameterVersion
        self.totalSteps = totalSteps
        self.createdAt = createdAt
        self.tokensTrained = tokensTrained
        self.tokensPerSecond = tokensPerSecond
        self.etaSeconds = etaSeconds
        self.lossHistory = lossHistory
        self.validationHistory = validationHistory
        self.units = units
        self.evaluationUnitsOutstanding = evaluationUnitsOutstanding
        self.verification = verification
        self.topContributors = topContributors
    }

    enum CodingKeys: String, CodingKey {
        case runID = "run_id"
        case name
        case state
        case step
        case parameterVersion = "parameter_version"
        case totalSteps = "total_steps"
        case createdAt = "created_at"
        case tokensTrained = "tokens_trained"
        case tokensPerSecond = "tokens_per_second"
        case etaSeconds = "eta_seconds"
        case lossHistory = "loss_history"
        case validationHistory = "validation_history"
        case units
        case evaluationUnitsOutstanding = "evaluation_units_outstanding"
        case verification
        case topContributors = "top_contributors"
    }
}

/// Tokens trained per second, averaged over the last minute and ten minutes.
public struct Throughput: Codable, Hashable, Sendable {
    public var lastMinute: Double
    public var last10Minutes: Double

    public init(lastMinute: Double = 0, last10Minutes: Double = 0) {
        self.lastMinute = lastMinute
        self.last10Minutes = last10Minutes
    }

    enum CodingKeys: String, CodingKey {
        case lastMinute = "last_minute"
        case last10Minutes = "last_10_minutes"
    }
}

/// One point of a loss curve after `step` applied steps: the training loss
/// is the mean over step `step - 1`'s units (computed from version
/// `step - 1`), the validation loss that of parameter version `step`.
public struct LossPoint: Codable, Hashable, Sendable {
    public var step: Int
    public var loss: Double

    public init(step: Int, loss: Double) {
        self.step = step
        self.loss = loss
    }
}

/// What verification did with a run's results.
public struct VerificationStatus: Codable, Hashable, Sendable {
    public var acceptedResults: Int
    /// Copies of units another copy had already completed (backups).
    public var supersededResults: Int
    public var rejectedResults: Int
    /// Copies from other workers that agreed with a unit's accepted result (replicas).
    public var verifiedCopies: Int
    /// Share of accepted units that were computed more than once.
    public var replicatedShare: Double
    public var rejectionsByReason: [String: Int]

    public init(acceptedResults: Int = 0, supersededResults: Int = 0, rejectedResults: Int = 0, verifiedCopies: Int = 0,
                replicatedShare: Double = 0, rejectionsByReason: [String: Int] = [:]) {
        self.acceptedResults = acceptedResults
        self.supersededResults = supersededResults
        self.rejectedResults = rejectedResults
        self.verifiedCopies = verifiedCopies
        self.replicatedShare = replicatedShare
        self.rejectionsByReason = rejectionsByReason
    }

    enum CodingKeys: String, CodingKey {
        case acceptedResults = "accepted_results"
        case supersededResults = "superseded_results"
        case rejectedResults = "rejected_results"
        case verifiedCopies = "verified_copies"
        case replicatedShare = "replicated_share"
        case rejectionsByReason = "rejections_by_reason"
    }

    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        acceptedResults = try c.decode(Int.self, forKey: .acceptedResults)
        supersededResults = try c.decode(Int.self, forKey: .supersededResults)
        rejectedResults = try c.decode(Int.self, forKey: .rejectedResults)
        verifiedCopies = try c.decodeIfPresent(Int.self, forKey: .verifiedCopies) ?? 0  // absent before replication
        replicatedShare = try c.decode(Double.self, forKey: .replicatedShare)
        rejectionsByReason = try c.decode([String: Int].self, forKey: .rejectionsByReason)
    }
}

/// A worker's credit in one run: the tokens of its units that went into an
/// applied step, times the model's training FLOPs per token.
public struct Contributor: Codable, Hashable, Sendable {
    public var workerID: UUID
    public var name: String
    public var units: Int
    public var tokens: Int
    public var creditFLOPs: Double

    public init(workerID: UUID, name: String, units: Int, tokens: Int, creditFLOPs: Double) {
        self.workerID = workerID
        self.name = name
        self.units = units
        self.tokens = tokens
        self.creditFLOPs = creditFLOPs
    }

    enum CodingKeys: String, CodingKey {
        case workerID = "worker_id"
        case name
        case units
        case tokens
        case creditFLOPs = "credit_flops"
    }
}

public struct WorkerStatus: Codable, Hashable, Sendable {
    public var workerID: UUID
    public var name: String
    public var backend: String
    public var threads: Int
    public var version: String
    @WireTime public var lastSeen: Date
    /// Seen in the last minute.
    public var online: Bool
    /// Units of applied steps (all runs).
    public var acceptedUnits: Int
    public var rejectedResults: Int
    /// Accepted results since its last rejection: how far it has earned trust.
    public var consecutiveValid: Int
    public var activeLeases: Int
    /// Tokens of its accepted results per second over the last ten minutes.
    public var tokensPerSecond: Double
    /// Credit over all runs (FLOPs, see `Contributor`).
    public var creditFLOPs: Double

    public init(workerID: UUID, name: String, backend: String, threads: Int = 0, version: String = "", lastSeen: Date,
                online: Bool = true, acceptedUnits: Int = 0, rejectedResults: Int = 0, consecutiveValid: Int = 0,
                activeLeases: Int = 0, tokensPerSecond: Double = 0, creditFLOPs: Double = 0) {
        self.workerID = workerID
        self.name = name
        self.backend = backend
        self.threads = threads
        self.version = version
        self.lastSeen = lastSeen
        self.online = online
        self.acceptedUnits = acceptedUnits
        self.rejectedResults = rejectedResults
        self.consecutiveValid = consecutiveValid
        self.activeLeases = activeLeases
        self.tokensPerSecond = tokensPerSecond
        self.creditFLOPs = creditFLOPs
    }

    enum CodingKeys: String, CodingKey {
        case workerID = "worker_id"
        case name
        case backend
        case threads
        case version
        case lastSeen = "last_seen"
        case online
        case acceptedUnits = "accepted_units"
        case rejectedResults = "rejected_results"
        case consecutiveValid = "consecutive_valid"
        case activeLeases = "active_leases"
        case tokensPerSecond = "tokens_per_second"
        case creditFLOPs = "credit_flops"
    }
}

/// A result the coordinator turned away, and why.
public struct RejectionRecord: Codable, Hashable, Sendable {
    @WireTime public var at: Date
    public var workerID: UUID
    public var workerName: String
    public var runID: Int
    public var step: Int
    public var unit: Int
    public var reason: ReasonCode
    public var message: String

    public init(at: Date, workerID: UUID, workerName: String, runID: Int, step: Int, unit: Int, reason: ReasonCode,
                message: String) {
        self.at = at
        self.workerID = workerID
        self.workerName = workerName
        self.runID = runID
        self.step = step
        self.unit = unit
        self.reason = reason
        self.message = message
    }

    enum CodingKeys: String, CodingKey {
        case at
        case workerID = "worker_id"
        case workerName = "worker_name"
        case runID = "run_id"
        case step
        case unit
        case reason
        case message
    }
}

/// Units of a step by state (`pending` → `leased` → (`verifying` →) `accepted`).
public struct UnitCounts: Codable, Hashable, Sendable {
    public var pending: Int
    public var leased: Int
    public var submitted: Int
    /// A copy is in and waits for replicas from other workers.
    public var verifying: Int
    public var accepted: Int

    public init(pending: Int = 0, leased: Int = 0, submitted: Int = 0, verifying: Int = 0, accepted: Int = 0) {
        self.pending = pending
        self.leased = leased
        self.submitted = submitted
        self.verifying = verifying
        self.accepted = accepted
    }

    enum CodingKeys: String, CodingKey { case pending, leased, submitted, verifying, accepted }

    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        pending = try c.decode(Int.self, forKey: .pending)
        leased = try c.decode(Int.self, forKey: .leased)
        submitted = try c.decode(Int.self, forKey: .submitted)
        verifying = try c.decodeIfPresent(Int.self, forKey: .verifying) ?? 0  // absent before replication
        accepted = try c.decode(Int.self, forKey: .accepted)
    }
}

/// A time on the wire (ISO 8601 with milliseconds, UTC), whatever date
/// strategy the encoder or decoder was set up with.
@propertyWrapper
public struct WireTime: Codable, Hashable, Sendable {
    public var wrappedValue: Date

    public init(wrappedValue: Date) {
        self.wrappedValue = wrappedValue
    }

    public init(from decoder: any Decoder) throws {
        let container = try decoder.singleValueContainer()
        let text = try container.decode(String.self)
        guard let date = WireTimestamp.date(from: text) else {
            throw DecodingError.dataCorruptedError(
                in: container, debugDescription: "expected an ISO 8601 time such as 2025-01-02T03:04:05.678Z, got \"\(text.prefix(64))\"")
        }
        wrappedValue = date
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        try container.encode(WireTimestamp.string(from: wrappedValue))
    }
}
