/// One row the repository must write after asking the schedule something.
///
/// The schedule is the single place where the rules live; the repository
/// layer only persists: INSERT for `leaseIssued`, UPDATE of the lease row for
/// `leaseUpdated` (its deadline or state changed), UPDATE of the unit row for
/// `unitStateChanged`. Records are whole, so no write needs a read first.
public enum ScheduleChange: Sendable, Hashable {
    case leaseIssued(Lease)
    case leaseUpdated(Lease)
    case unitStateChanged(unit: Int, from: UnitState, to: UnitState)
}

/// An answer for the caller plus the writes that make it durable.
/// Both belong in one database transaction.
public struct ScheduleOutcome<Answer: Sendable & Hashable>: Sendable, Hashable {
    public var answer: Answer
    public var changes: [ScheduleChange]

    public init(_ answer: Answer, changes: [ScheduleChange] = []) {
        self.answer = answer
        self.changes = changes
    }
}
