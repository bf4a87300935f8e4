import Foundation

/// The answer to "give me work".
public enum LeaseAnswer: Sendable, Hashable {
    /// Compute this unit; `lease.isBackup` says whether someone else holds it too.
    case granted(Lease)
    /// Nothing for this worker now; ask again after `retryAfter` seconds.
    case noWork(retryAfter: TimeInterval, reason: NoWorkReason)
}

/// Why a lease request found nothing.
public enum NoWorkReason: String, Sendable, Hashable, Codable {
    /// Every unfinished unit is held (or its result awaits verification) and
    /// no backup copy is open to this worker; a lease may expire or be released.
    case unitsOutstanding = "units_outstanding"
    /// Every unit is accepted; the next step starts once this one is aggregated.
    case stepComplete = "step_complete"
    /// The step has been aggregated and applied; it hands out nothing more.
    case stepClosed = "step_closed"

    public var code: String { rawValue }
}
