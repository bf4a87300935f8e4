import Synchronization

/// An operation that did not answer within its time limit.
public struct TimeLimitExceeded: Error, CustomStringConvertible, Equatable {
    /// What timed out, in words ("a database statement").
    public var what: String
    public var limit: Duration
    public var description: String {
        let seconds = limit.inSeconds
        return "\(what) did not answer within \(seconds == seconds.rounded() ? "\(Int(seconds))" : "\(seconds)") s"
    }
}

/// `operation`'s answer, or `TimeLimitExceeded` once `limit` passes first
/// (within about `TimeLimitWatch.resolution`).
func withTimeLimit<T: Sendable>(
    _ limit: Duration, _ what: String, _ operation: @escaping @Sendable () async throws -> T
) async throws -> T {
    try await withDeadline(.now + limit, late: { TimeLimitExceeded(what: what, limit: limit) }, operation)
}

/// `operation`'s answer, or the error `late` makes once `deadline` passes
/// first (within about `TimeLimitWatch.resolution`).
///
/// The operation runs in a task of its own: on time-out it is cancelled and
/// left behind, so that an await that never resumes (and ignores
/// cancellation) cannot hold the caller. Cancelling the caller cancels the
/// operation. Deadlines are kept by one shared watch, not a timer per call
/// (every database statement of the coordinator and every read of a request
/// body comes through here: a `Task.sleep` per call left a timer behind in
/// Dispatch for the whole limit, thousands a second under load).
func withDeadline<T: Sendable>(
    _ deadline: ContinuousClock.Instant, late: @escaping @Sendable () -> any Error,
    _ operation: @escaping @Sendable () async throws -> T
) async throws -> T {
    let call = TimeLimitedCall()
    return try await withTaskCancellationHandler {
        try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<T, any Error>) in
            let watch = TimeLimitWatch.shared
            let ticket = watch.add(deadline: deadline) {
                guard call.answer() else { return }
                call.cancelWork()
                continuation.resume(throwing: late())
            }
            call.started(work: Task {
                let result: Result<T, any Error>
                do { result = .success(try await operation()) } catch { result = .failure(error) }
                watch.remove(ticket)
                if call.answer() { continuation.resume(with: result) }
            })
        }
    } onCancel: {
        call.cancelWork()
    }
}

/// The deadlines of calls in flight, and one task that looks at them every
/// `resolution` while there are any (and ends when there are none).
final class TimeLimitWatch: Sendable {
    static let shared = TimeLimitWatch()
    static let resolution: Duration = .milliseconds(50)

    private struct Entry {
        let deadline: ContinuousClock.Instant
        let expire: @Sendable () -> Void
    }
    private struct State {
        var nextTicket: UInt64 = 0
        var entries: [UInt64: Entry] = [:]
        var watching = false
    }
    private let state = Mutex(State())

    /// Calls `expire` once `deadline` has passed, unless `remove`d first.
    func add(deadline: ContinuousClock.Instant, expire: @escaping @Sendable () -> Void) -> UInt64 {
        let (ticket, start) = state.withLock { s in
            defer { s.nextTicket += 1 }
            s.entries[s.nextTicket] = Entry(deadline: deadline, expire: expire)
            let start = !s.watching
            s.watching = true
            return (s.nextTicket, start)
        }
        if start { Task { await watch() } }
        return ticket
    }

    func remove(_ ticket: UInt64) {
        _ = state.withLock { $0.entries.removeValue(forKey: ticket) }
    }

    private func watch() async {
        while true {
            try? await Task.sleep(for: Self.resolution)
            let now = ContinuousClock.now
            let (late, done): ([Entry], Bool) = state.withLock { s in
                let late = s.entries.filter { $0.value.deadline <= now }
                for key in late.keys { s.entries[key] = nil }
                if s.entries.isEmpty { s.watching = false }
                return (Array(late.values), s.entries.isEmpty)
            }
            for entry in late { entry.expire() }
            if done { return }
        }
    }
}

/// The operation's task of one `withTimeLimit` call, and who answered first.
private final class TimeLimitedCall: Sendable {
    private struct State {
        var answered = false
        var cancelled = false
        var work: Task<Void, Never>?
    }
    private let state = Mutex(State())

    /// True for the first caller only (the work's result or the time-out).
    func answer() -> Bool {
        state.withLock { s in
            defer { s.answered = true }
            return !s.answered
        }
    }

    func started(work: Task<Void, Never>) {
        let cancelled = state.withLock { s in
            s.work = work
            return s.cancelled
        }
        if cancelled { work.cancel() }
    }

    func cancelWork() {
        state.withLock { s in
            s.cancelled = true
            return s.work
        }?.cancel()
    }
}
