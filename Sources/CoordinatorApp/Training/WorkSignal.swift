import Foundation
import Synchronization

/// Wakes lease requests that are waiting for work (long poll) the moment
/// work may have appeared in this process: a step opened, a lease expired or
/// was released. Waiters also wake at their timeout, which covers work made
/// available by another coordinator process on the same database.
///
/// A waiter passes the generation it saw before it last looked for work, so
/// a signal between its look and its wait is not missed.
public final class WorkSignal: Sendable {
    private struct State {
        var generation: UInt64 = 0
        var waiters: [UInt64: CheckedContinuation<Void, Never>] = [:]
        /// Waits whose timer fired before they registered: they return at once.
        var timedOut: Set<UInt64> = []
        var nextID: UInt64 = 0
        /// The generation at which a look found no work, and when.
        var foundNothing: (generation: UInt64, at: ContinuousClock.Instant)?
    }
    private let state = Mutex(State())

    public init() {}

    /// The current generation: read it before looking for work.
    public var generation: UInt64 { state.withLock { $0.generation } }

    /// A look for work that started at generation `seen` found none. (Only a hint: a wrong one
    /// costs a worker one more `POST /v1/leases`, never a unit.)
    public func foundNothing(since seen: UInt64, now: ContinuousClock.Instant = .now) {
        state.withLock { s in
            if s.generation == seen { s.foundNothing = (seen, now) }
        }
    }

    /// Whether a look found no work less than `within` ago with no signal since: looking again
    /// now would find none either, but for work that time alone makes (a straggler's lease growing
    /// old enough for a backup) or another process made, which `within` bounds.
    public func knownIdle(within: Duration = .seconds(1), now: ContinuousClock.Instant = .now) -> Bool {
        state.withLock { s in
            guard let last = s.foundNothing else { return false }
            return last.generation == s.generation && now - last.at < within
        }
    }

    /// Wakes every waiter.
    public func signal() {
        let woken = state.withLock { s -> [CheckedContinuation<Void, Never>] in
            s.generation &+= 1
            defer { s.waiters.removeAll() }
            return Array(s.waiters.values)
        }
        woken.forEach { $0.resume() }
    }

    /// Returns at the next signal, at once if one came since `seen`, or after `timeout`.
    public func wait(since seen: UInt64, timeout: Duration) async {
        let id = state.withLock { s -> UInt64 in
            s.nextID &+= 1
            return s.nextID
        }
        let timer = Task {
            guard (try? await Task.sleep(for: timeout)) != nil else { return }  // cancelled: the wait is over
            self.resume(id)
        }
        await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
            let now = state.withLock { s -> Bool in
                if s.generation != seen || s.timedOut.remove(id) != nil { return true }
                s.waiters[id] = continuation
                return false
            }
            if now { continuation.resume() }
        }
        timer.cancel()
        state.withLock { _ = $0.timedOut.remove(id) }  // a timer that fired after a signal
    }

    private func resume(_ id: UInt64) {
        state.withLock { s -> CheckedContinuation<Void, Never>? in
            guard let waiter = s.waiters.removeValue(forKey: id) else {
                s.timedOut.insert(id)  // not registered yet: it will see this and return
                return nil
            }
            return waiter
        }?.resume()
    }
}
