import Foundation

/// Why a heartbeat or release on a lease was refused. Each case tells the
/// worker to stop computing the unit; the distinct cases say why in its log.
public enum LeaseRefusal: Sendable, Hashable, CustomStringConvertible {
    /// No such lease in this step.
    case unknownLease
    /// The lease belongs to another worker.
    case foreignLease
    /// The lease's deadline passed; the unit may already be someone else's.
    case leaseExpired(deadline: Date)
    /// The worker itself gave the unit back.
    case leaseReleased
    /// A result was already submitted under this lease: there is nothing left to keep alive.
    case resultSubmitted
    /// Another copy of the unit was accepted; this one is no longer needed.
    case unitFinished
    /// The step has been aggregated and closed.
    case stepFinished

    /// Stable machine-readable name (the `reason` of the JSON answer).
    public var code: String {
        switch self {
        case .unknownLease: "unknown_lease"
        case .foreignLease: "foreign_lease"
        case .leaseExpired: "lease_expired"
        case .leaseReleased: "lease_released"
        case .resultSubmitted: "result_submitted"
        case .unitFinished: "unit_finished"
        case .stepFinished: "step_finished"
        }
    }

    public var description: String {
        switch self {
        case .unknownLease: "no such lease"
        case .foreignLease: "the lease belongs to another worker"
        case .leaseExpired(let deadline): "the lease expired at \(deadline.iso8601ForMessages); the unit may have been given to another worker"
        case .leaseReleased: "the lease was released"
        case .resultSubmitted: "a result was already submitted under this lease"
        case .unitFinished: "another copy of this unit was accepted; stop working on it"
        case .stepFinished: "the step is already finished"
        }
    }
}

/// The answer to a heartbeat.
public enum HeartbeatAnswer: Sendable, Hashable {
    /// Keep going; the lease now lives until `deadline`.
    case extended(deadline: Date)
    /// Stop working on the unit.
    case stop(LeaseRefusal)
}

/// The answer to a worker giving its unit back.
public enum ReleaseAnswer: Sendable, Hashable {
    /// The lease is released (also when it already was: releasing is idempotent).
    case released
    /// The lease was not the worker's to give back or had already ended otherwise.
    case refused(LeaseRefusal)
}

extension Date {
    /// ISO 8601 in UTC to the nearest second, for messages. Rounded first
    /// because the formatter truncates, and 60 s stored as 59.999… would read
    /// a second early.
    var iso8601ForMessages: String {
        Date(timeIntervalSince1970: timeIntervalSince1970.rounded()).formatted(Date.ISO8601FormatStyle())
    }
}
