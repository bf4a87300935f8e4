/// A request that only a bug in the caller can make (the schedule never
/// throws for anything a worker does: workers get answers, not errors).
public enum StepScheduleError: Error, Hashable, CustomStringConvertible {
    case invalidUnitCount(Int)
    case duplicateLeaseID(LeaseID)
    case leaseUnitOutOfRange(lease: LeaseID, unit: Int, unitCount: Int)
    case leaseOfAnotherUnit(lease: LeaseID, unit: Int, expected: Int)
    case multipleAcceptedResults(unit: Int)
    case noSuchLease(LeaseID)
    case nothingSubmitted(LeaseID)
    case closedBeforeComplete(unfinishedUnits: Int)

    public var description: String {
        switch self {
        case .invalidUnitCount(let count):
            "a step needs at least one unit, got \(count)"
        case .duplicateLeaseID(let id):
            "lease id \(id) is already in use"
        case .leaseUnitOutOfRange(let lease, let unit, let unitCount):
            "lease \(lease) names unit \(unit), but the step has units 0..<\(unitCount)"
        case .leaseOfAnotherUnit(let lease, let unit, let expected):
            "lease \(lease) is for unit \(unit), not unit \(expected)"
        case .multipleAcceptedResults(let unit):
            "unit \(unit) has more than one accepted result"
        case .noSuchLease(let id):
            "no lease \(id) in this step"
        case .nothingSubmitted(let id):
            "lease \(id) has no submitted result to verify"
        case .closedBeforeComplete(let unfinished):
            "cannot close a step with \(unfinished) unfinished unit(s)"
        }
    }
}
