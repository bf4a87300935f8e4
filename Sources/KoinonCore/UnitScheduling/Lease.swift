import Foundation

/// One worker's claim on one unit of a step, until `deadline` unless extended.
///
/// A unit can have several leases over its life (after expiry or rejection)
/// and several at once (backup copies near the end of a step). Leases are
/// never deleted by the schedule: a closed lease keeps its final state, which
/// is what makes late heartbeats and replayed submissions answerable.
public struct Lease: Sendable, Hashable, Identifiable {
    public let id: LeaseID
    public let unit: Int
    public let worker: WorkerID
    public let issuedAt: Date
    /// The lease is live while `now < deadline`; at the deadline it has expired.
    public internal(set) var deadline: Date
    /// Issued while another lease on the unit was still active (a straggler's backup).
    public let isBackup: Bool
    public internal(set) var state: LeaseState

    /// Rebuilds a lease from its stored row.
    public init(
        id: LeaseID, unit: Int, worker: WorkerID, issuedAt: Date, deadline: Date,
        isBackup: Bool = false, state: LeaseState = .active
    ) {
        self.id = id
        self.unit = unit
        self.worker = worker
        self.issuedAt = issuedAt
        self.deadline = deadline
        self.isBackup = isBackup
        self.state = state
    }

    public var isActive: Bool { state == .active }

    /// The submission made under this lease, if any.
    public var submission: Submission? {
        if case .submitted(let submission) = state { return submission }
        return nil
    }
}

/// The life of a lease: active until exactly one of the closing events.
public enum LeaseState: Sendable, Hashable {
    case active
    /// The deadline passed without a result.
    case expired
    /// The worker gave the unit back.
    case released
    /// Another copy of the unit was accepted while this one was still running.
    case superseded
    /// The worker sent a result; its fate is in the submission.
    case submitted(Submission)

    /// The name stored in the lease row's state column.
    public var name: String {
        switch self {
        case .active: "active"
        case .expired: "expired"
        case .released: "released"
        case .superseded: "superseded"
        case .submitted: "submitted"
        }
    }
}

/// A result sent under a lease.
public struct Submission: Sendable, Hashable {
    public let resultSHA256: ResultDigest
    public let submittedAt: Date
    public internal(set) var status: SubmissionStatus

    public init(resultSHA256: ResultDigest, submittedAt: Date, status: SubmissionStatus = .awaitingVerification) {
        self.resultSHA256 = resultSHA256
        self.submittedAt = submittedAt
        self.status = status
    }
}

/// What verification made of a submission.
public enum SubmissionStatus: Sendable, Hashable {
    case awaitingVerification
    /// This is the unit's result.
    case accepted
    /// Verification refused it; the reason goes to the worker and the database.
    case rejected(reason: String)
    /// Another copy of the unit was accepted first.
    case superseded

    public var name: String {
        switch self {
        case .awaitingVerification: "awaiting_verification"
        case .accepted: "accepted"
        case .rejected: "rejected"
        case .superseded: "superseded"
        }
    }
}

/// The result a step aggregates for one unit.
public struct AcceptedResult: Sendable, Hashable {
    public let unit: Int
    public let lease: LeaseID
    public let worker: WorkerID
    public let resultSHA256: ResultDigest

    public init(unit: Int, lease: LeaseID, worker: WorkerID, resultSHA256: ResultDigest) {
        self.unit = unit
        self.lease = lease
        self.worker = worker
        self.resultSHA256 = resultSHA256
    }
}
