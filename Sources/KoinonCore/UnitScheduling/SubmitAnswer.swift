import Foundation

/// The answer to a result submission.
public enum SubmitAnswer: Sendable, Hashable {
    /// The result is this unit's candidate (or, once verified, its result).
    /// The coordinator then verifies it; `verify` gives the final word.
    case accepted(unit: Int)
    /// Another copy of the unit was accepted first ("first accepted result
    /// wins"); this result is not needed. Not an error on the worker's part.
    case superseded(unit: Int)
    case rejected(SubmitRejection)
}

/// Why a submission was refused; said to the worker and stored with the lease.
public enum SubmitRejection: Sendable, Hashable, CustomStringConvertible {
    /// No such lease in this step.
    case unknownLease
    /// The lease belongs to another worker.
    case foreignLease
    /// The result came at or after the lease's deadline (whether or not the
    /// expiry sweep had run by then: the deadline alone decides).
    case leaseExpired(deadline: Date)
    /// The worker had released the lease.
    case leaseReleased
    /// The step was aggregated and closed before this result came.
    case stepFinished
    /// This lease already submitted a different result; one lease, one result.
    case conflictingResult(recorded: ResultDigest)
    /// Verification refused the result.
    case invalidResult(reason: String)

    /// Stable machine-readable name (the `reason` of the JSON answer).
    public var code: String {
        switch self {
        case .unknownLease: "unknown_lease"
        case .foreignLease: "foreign_lease"
        case .leaseExpired: "lease_expired"
        case .leaseReleased: "lease_released"
        case .stepFinished: "step_finished"
        case .conflictingResult: "conflicting_result"
        case .invalidResult: "invalid_result"
        }
    }

    public var description: String {
        switch self {
        case .unknownLease: "no such lease"
        case .foreignLease: "the lease belongs to another worker"
        case .leaseExpired(let deadline): "the lease expired at \(deadline.iso8601ForMessages) before the result arrived"
        case .leaseReleased: "the lease was released before the result arrived"
        case .stepFinished: "the step is already finished"
        case .conflictingResult(let recorded):
            "this lease already submitted a different result (SHA-256 \(recorded.hex)); a lease takes one result"
        case .invalidResult(let reason): "the result failed verification: \(reason)"
        }
    }
}

/// What verification found in a submitted result.
public enum Verdict: Sendable, Hashable {
    case valid
    case invalid(reason: String)
}

/// Where a verified submission ended.
public enum VerifyAnswer: Sendable, Hashable {
    /// It is now the unit's accepted result.
    case accepted(AcceptedResult)
    /// Refused; the unit goes back to pending unless another copy is under way.
    case rejected(reason: String)
    /// Another copy was accepted before this one's verdict came.
    case superseded
}
