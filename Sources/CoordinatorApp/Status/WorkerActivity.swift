import Foundation
import Synchronization

/// Tokens each worker's accepted results brought, in per-minute buckets, so
/// the status can give a worker's tokens/s over the last ten minutes without
/// reading results back. This process's view: with several coordinator
/// processes on one database, each counts the results it accepted.
public final class WorkerActivity: Sendable {
    public static let window: TimeInterval = 600
    private let buckets = Mutex<[UUID: [Int: Int]]>([:])

    public init() {}

    static func minute(_ date: Date) -> Int { Int(date.timeIntervalSince1970 / 60) }

    public func record(worker: UUID, tokens: Int, at date: Date = Date()) {
        let m = Self.minute(date)
        buckets.withLock { $0[worker, default: [:]][m, default: 0] += tokens }
    }

    /// Tokens per second over the last ten minutes, by worker (forgetting older buckets).
    public func tokensPerSecond(now: Date = Date()) -> [UUID: Double] {
        let oldest = Self.minute(now.addingTimeInterval(-Self.window)) + 1
        return buckets.withLock { all in
            var out: [UUID: Double] = [:]
            for (worker, perMinute) in all {
                let kept = perMinute.filter { $0.key >= oldest }
                if kept.isEmpty { all[worker] = nil; continue }
                all[worker] = kept
                out[worker] = Double(kept.values.reduce(0, +)) / Self.window
            }
            return out
        }
    }
}
