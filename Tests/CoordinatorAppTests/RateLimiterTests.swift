import CoordinatorApp
import NIOCore
import Testing

/// A clock the test moves by hand: the limiter reads no clock of its own.
struct ManualInstant: InstantProtocol {
    var offset: Duration
    static let zero = ManualInstant(offset: .zero)
    func advanced(by duration: Duration) -> ManualInstant { ManualInstant(offset: offset + duration) }
    func duration(to other: ManualInstant) -> Duration { other.offset - offset }
    static func < (a: ManualInstant, b: ManualInstant) -> Bool { a.offset < b.offset }
    static func + (a: ManualInstant, b: Duration) -> ManualInstant { a.advanced(by: b) }
}

/// The token buckets on their own: burst, refill, retry-after, keys apart,
/// off, and bounded memory.
@Suite struct RateLimiterTests {
    typealias Limiter = RateLimiter<ManualInstant>
    let t0 = ManualInstant.zero

    func seconds(_ decision: Limiter.Decision) -> Double? {
        guard case .limited(let wait) = decision else { return nil }
        let (s, atto) = wait.components
        return Double(s) + Double(atto) * 1e-18
    }

    @Test func burstThenRefusedWithRetryAfter() {
        var limiter = Limiter(limit: .init(ratePerSecond: 2, burst: 5))
        for _ in 0..<5 { #expect(limiter.acquire("a", now: t0) == .allowed) }
        // Empty: one token comes back in half a second.
        let wait = seconds(limiter.acquire("a", now: t0))
        #expect(wait.map { abs($0 - 0.5) < 1e-9 } == true)
        // A refused request spends nothing: still half a second.
        #expect(seconds(limiter.acquire("a", now: t0)).map { abs($0 - 0.5) < 1e-9 } == true)
        // A quarter of a second later, a quarter to go.
        #expect(seconds(limiter.acquire("a", now: t0 + .milliseconds(250))).map { abs($0 - 0.25) < 1e-9 } == true)
    }

    @Test func refillsAtTheRateUpToTheBurst() {
        var limiter = Limiter(limit: .init(ratePerSecond: 2, burst: 5))
        for _ in 0..<5 { _ = limiter.acquire("a", now: t0) }
        // One second: two requests.
        let t1 = t0 + .seconds(1)
        #expect(limiter.acquire("a", now: t1) == .allowed)
        #expect(limiter.acquire("a", now: t1) == .allowed)
        #expect(limiter.acquire("a", now: t1) != .allowed)
        // An hour idle: the burst again, not 7,200.
        let t2 = t1 + .seconds(3600)
        for _ in 0..<5 { #expect(limiter.acquire("a", now: t2) == .allowed) }
        #expect(limiter.acquire("a", now: t2) != .allowed)
    }

    @Test func perMinuteLimit() {
        var limiter = Limiter(limit: .perMinute(20, burst: 40))
        for _ in 0..<40 { #expect(limiter.acquire("10.0.0.1", now: t0) == .allowed) }
        #expect(seconds(limiter.acquire("10.0.0.1", now: t0)).map { abs($0 - 3) < 1e-9 } == true)  // 60 s / 20
        #expect(limiter.acquire("10.0.0.1", now: t0 + .seconds(3)) == .allowed)
    }

    @Test func keysHaveTheirOwnBuckets() {
        var limiter = Limiter(limit: .init(ratePerSecond: 1, burst: 1))
        #expect(limiter.acquire("a", now: t0) == .allowed)
        #expect(limiter.acquire("a", now: t0) != .allowed)
        #expect(limiter.acquire("b", now: t0) == .allowed)
    }

    @Test func timeGoingBackwardsChangesNothing() {
        var limiter = Limiter(limit: .init(ratePerSecond: 1, burst: 1))
        let later = t0 + .seconds(10)
        #expect(limiter.acquire("a", now: later) == .allowed)
        #expect(limiter.acquire("a", now: t0) != .allowed)
    }

    @Test func zeroTurnsItOff() {
        for limit in [Limiter.Limit(ratePerSecond: 0, burst: 10), .init(ratePerSecond: 10, burst: 0)] {
            var limiter = Limiter(limit: limit)
            for _ in 0..<10_000 { #expect(limiter.acquire("a", now: t0) == .allowed) }
            #expect(limiter.trackedKeys == 0)
        }
    }

    @Test func idleKeysAreForgotten() {
        var limiter = Limiter(limit: .init(ratePerSecond: 1, burst: 2), maxKeys: 1_000_000)
        for i in 0..<1000 { _ = limiter.acquire("client-\(i)", now: t0) }
        #expect(limiter.trackedKeys == 1000)
        // Two seconds later every bucket is full again: the next sweep forgets them all.
        let later = t0 + .seconds(2)
        limiter.sweep(now: later)
        #expect(limiter.trackedKeys == 0)
        // And sweeps run on their own as keys come in: memory stays near the live keys.
        var now = later
        for i in 0..<100_000 {
            now = now + .milliseconds(10)  // each key is idle (full) 2 s after its one request
            _ = limiter.acquire("k\(i)", now: now)
        }
        #expect(limiter.trackedKeys <= 2 * 1024)
    }

    @Test func liveKeysAreBoundedByMaxKeys() {
        var limiter = Limiter(limit: .init(ratePerSecond: 0.001, burst: 1), maxKeys: 100)
        for i in 0..<10_000 { _ = limiter.acquire("k\(i)", now: t0 + .milliseconds(i)) }
        #expect(limiter.trackedKeys <= 100)
        // The most recent keys are the ones kept: the last one is still empty.
        #expect(limiter.acquire("k9999", now: t0 + .milliseconds(9999)) != .allowed)
        // A key forgotten long ago starts afresh (bounded memory costs this leniency).
        #expect(limiter.acquire("k0", now: t0 + .milliseconds(10_000)) == .allowed)
    }

    @Test func clientAddresses() throws {
        #expect(ClientAddress.ip(of: try SocketAddress(ipAddress: "192.0.2.7", port: 4711)) == "192.0.2.7")
        #expect(ClientAddress.ip(of: try SocketAddress(ipAddress: "::ffff:192.0.2.7", port: 1)) == "192.0.2.7")
        #expect(ClientAddress.ip(of: try SocketAddress(ipAddress: "2001:db8::1", port: 1)) == "2001:db8::1")
        #expect(ClientAddress.ip(of: nil) == nil)
        // IPv6 clients are limited by their /64, IPv4 ones by address.
        #expect(ClientAddress.rateLimitKey("2001:db8:1:2:aaaa::1") == ClientAddress.rateLimitKey("2001:db8:1:2:bbbb::9"))
        #expect(ClientAddress.rateLimitKey("2001:db8:1:2::1") == "2001:db8:1:2::/64")
        #expect(ClientAddress.rateLimitKey("2001:db8:1:3::1") != ClientAddress.rateLimitKey("2001:db8:1:2::1"))
        #expect(ClientAddress.rateLimitKey("192.0.2.7") == "192.0.2.7")
        #expect(ClientAddress.rateLimitKey(nil) == "unknown")
    }
}
