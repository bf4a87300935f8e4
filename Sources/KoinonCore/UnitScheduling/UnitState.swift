/// Where one work unit of a step stands.
///
/// A unit's state is derived from its leases (see `UnitSchedule.state`), so it
/// can never disagree with them; the raw values are what the repository
/// stores in the unit's row, which lets claims select `state = 'pending'`.
///
///     pending ──lease──▶ leased ──submit──▶ submitted ──valid──▶ accepted
///        ▲                 │                    │
///        └─expire/release──┘◀──────invalid──────┘   (rejected: back for another try)
public enum UnitState: String, Sendable, Hashable, Codable, CaseIterable {
    /// Nobody holds it: the next lease request gets it.
    case pending
    /// At least one worker holds an active lease on it.
    case leased
    /// A result is in and waits for verification.
    case submitted
    /// A verified result is in; the unit is finished.
    case accepted
}

/// How many units of a step are in each state (the status page's numbers).
public struct UnitStateCounts: Sendable, Hashable, Codable {
    public var pending = 0
    public var leased = 0
    public var submitted = 0
    public var accepted = 0

    public init(pending: Int = 0, leased: Int = 0, submitted: Int = 0, accepted: Int = 0) {
        self.pending = pending
        self.leased = leased
        self.submitted = submitted
        self.accepted = accepted
    }

    public subscript(state: UnitState) -> Int {
        get {
            switch state {
            case .pending: pending
            case .leased: leased
            case .submitted: submitted
            case .accepted: accepted
            }
        }
        set {
            switch state {
            case .pending: pending = newValue
            case .leased: leased = newValue
            case .submitted: submitted = newValue
            case .accepted: accepted = newValue
            }
        }
    }

    public var total: Int { pending + leased + submitted + accepted }
}
