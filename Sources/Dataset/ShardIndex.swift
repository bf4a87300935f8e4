/// Where a global token offset falls in a split made of shards in manifest order.
public struct ShardIndex: Sendable, Equatable {
    /// Cumulative token counts: shard i covers starts[i]..<starts[i+1].
    public let starts: [Int]

    public init(tokenCounts: [Int]) {
        var s = [0]
        for c in tokenCounts { s.append(s.last! + c) }
        starts = s
    }

    public var totalTokens: Int { starts.last! }

    /// (shard, offset within it) of a global offset.
    public func locate(_ offset: Int) -> (shard: Int, offset: Int) {
        precondition(offset >= 0 && offset < totalTokens, "offset \(offset) outside 0..<\(totalTokens)")
        var lo = 0, hi = starts.count - 2
        while lo < hi {  // last shard whose start ≤ offset
            let mid = (lo + hi + 1) / 2
            if starts[mid] <= offset { lo = mid } else { hi = mid - 1 }
        }
        return (lo, offset - starts[lo])
    }
}
