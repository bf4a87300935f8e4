/// Token buckets by key (a client address, a worker id): each key may spend
/// `burst` requests at once and earns `ratePerSecond` back, up to `burst`.
///
/// Pure: the caller passes the time in (`now`), so tests drive it with a
/// manual clock; nothing here reads a clock. Memory is bounded: a key whose
/// bucket has refilled is the same as a key never seen, so it is forgotten
/// (swept now and then, amortised O(1) per call); past `maxKeys` live keys
/// the least recently used are forgotten too (a forgotten key starts full).
public struct RateLimiter<Instant: InstantProtocol>: Sendable where Instant.Duration == Duration {
    public struct Limit: Sendable, Hashable {
        /// Requests earned back per second (0 turns the limit off).
        public var ratePerSecond: Double
        /// Requests allowed at once, and the most a bucket holds (at least 1 counts).
        public var burst: Double

        public init(ratePerSecond: Double, burst: Double) {
            self.ratePerSecond = ratePerSecond
            self.burst = burst
        }

        /// `count` requests a minute, `burst` at once.
        public static func perMinute(_ count: Double, burst: Double) -> Limit {
            Limit(ratePerSecond: count / 60, burst: burst)
        }

        /// Off when the rate or the burst is 0 (or not a positive number).
        public var isOff: Bool { !(ratePerSecond > 0) || !(burst > 0) || !ratePerSecond.isFinite }

        /// What a bucket holds when full.
        var capacity: Double { burst.isFinite ? max(1, burst) : Double(Int32.max) }
    }

    public enum Decision: Sendable, Equatable {
        case allowed
        /// Refused; a request would be allowed again after `retryAfter`.
        case limited(retryAfter: Duration)
    }

    struct Bucket: Sendable {
        var tokens: Double
        var updated: Instant
    }

    public let limit: Limit
    public let maxKeys: Int
    private var buckets: [String: Bucket] = [:]
    /// The key count at which the next sweep runs.
    private var sweepAt: Int

    public init(limit: Limit, maxKeys: Int = 100_000) {
        self.limit = limit
        self.maxKeys = max(1, maxKeys)
        sweepAt = min(self.maxKeys, 1024)
    }

    /// Keys currently remembered.
    public var trackedKeys: Int { buckets.count }

    /// Spends one request of `key`'s bucket at `now`, or says how long until one is there.
    public mutating func acquire(_ key: String, now: Instant) -> Decision {
        guard !limit.isOff else { return .allowed }
        var bucket = buckets[key].map { refilled($0, now: now) } ?? Bucket(tokens: limit.capacity, updated: now)
        let decision: Decision
        if bucket.tokens >= 1 {
            bucket.tokens -= 1
            decision = .allowed
        } else {
            decision = .limited(retryAfter: .seconds((1 - bucket.tokens) / limit.ratePerSecond))
        }
        buckets[key] = bucket
        if buckets.count > sweepAt { sweep(now: now) }
        return decision
    }

    /// The bucket as it is at `now` (time never runs backwards for a bucket).
    private func refilled(_ bucket: Bucket, now: Instant) -> Bucket {
        guard now > bucket.updated else { return bucket }
        let elapsed = bucket.updated.duration(to: now).inSeconds
        return Bucket(tokens: min(limit.capacity, bucket.tokens + elapsed * limit.ratePerSecond), updated: now)
    }

    /// Forgets the keys whose bucket is full again, then, if more than
    /// `maxKeys` remain, the least recently used down to three quarters of it.
    public mutating func sweep(now: Instant) {
        buckets = buckets.filter { refilled($0.value, now: now).tokens < limit.capacity }
        let keep = maxKeys - maxKeys / 4
        if buckets.count > maxKeys {
            let newest = buckets.sorted { $0.value.updated > $1.value.updated }.prefix(keep)
            buckets = Dictionary(uniqueKeysWithValues: newest.map { ($0.key, $0.value) })
        }
        // Next sweep once the map has doubled (amortised O(1) per call), never past maxKeys.
        sweepAt = min(maxKeys, max(1024, 2 * buckets.count))
    }
}
