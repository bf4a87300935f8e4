/// What the copies of a replicated unit decide (DESIGN §4). Copies are
/// compared pairwise; the largest group that agrees with one of its members,
/// if it has at least two copies and is a strict majority, wins: its first
/// copy is the unit's result and the copies outside it are wrong. Two copies
/// that disagree call for a third, and so on up to `maximumCopies`; when that
/// many copies still settle nothing, they are all set aside and the unit is
/// computed afresh (nobody is blamed). Pure.
public enum ReplicaDecision: Sendable, Equatable {
    case needAnotherCopy
    /// `group`: indices of the agreeing copies, ascending (the first is the unit's result); `wrong`: the others.
    case agreed(group: [Int], wrong: [Int])
    case undecidable

    /// Decides over `count` copies in arrival order; `agree(i, j)` compares two of them.
    public static func decide(count: Int, maximumCopies: Int, agree: (Int, Int) -> Bool) -> ReplicaDecision {
        guard count >= 2 else { return count >= maximumCopies ? .undecidable : .needAnotherCopy }
        var best: [Int] = []
        for i in 0..<count {
            let group = (0..<count).filter { $0 == i || agree(i, $0) }
            if group.count > best.count { best = group }
        }
        if best.count >= 2, best.count * 2 > count {
            return .agreed(group: best, wrong: (0..<count).filter { !best.contains($0) })
        }
        return count >= maximumCopies ? .undecidable : .needAnotherCopy
    }
}
