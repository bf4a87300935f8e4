import Synchronization

/// An operation that did not answer within its time limit.
public struct TimeLimitExceeded: Error, CustomStringConvertible, Equatable {
    /// What timed out, in words ("a database statement").
    public var what: String
    public var limit: Duration
    public var description: String { "\(what) did not answer within \(limit.components.seconds) s" }
}

/// `operation`'s answer, or `TimeLimitExceeded` once `limit` passes first.
///
/// The operation runs in a task of its own: on time-out it is cancelled and
/// left behind, so that an await that never resumes (and ignores
/// cancellation) cannot hold the caller. Cancelling the caller cancels the
/// operation.
func withTimeLimit<T: Sendable>(
    _ limit: Duration, _ what: String, _ operation: @escaping @Sendable () async throws -> T
) async throws -> T {
    let call = TimeLimitedCall()
    return try await withTaskCancellationHandler {
        try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<T, any Error>) in
            let work = Task {
                let result: Result<T, any Error>
                do { result = .success(try await operation()) } catch { result = .failure(error) }
                if call.answer() { continuation.resume(with: result) }
            }
            let timer = Task {
                do { try await Task.sleep(for: limit) } catch { return }  // cancelled: the work answered
                guard call.answer() else { return }
                work.cancel()
                continuation.resume(throwing: TimeLimitExceeded(what: what, limit: limit))
            }
            call.started(work: work, timer: timer)
        }
    } onCancel: {
        call.cancelWork()
    }
}

/// The two tasks of one `withTimeLimit` call and who answered first.
private final class TimeLimitedCall: Sendable {
    private struct State {
        var answered = false
        var cancelled = false
        var work: Task<Void, Never>?
        var timer: Task<Void, Never>?
    }
    private let state = Mutex(State())

    /// True for the first caller only (the work's result or the time-out); stops the timer.
    func answer() -> Bool {
        let (first, timer) = state.withLock { s in
            defer { s.answered = true }
            return (!s.answered, s.timer)
        }
        timer?.cancel()
        return first
    }

    func started(work: Task<Void, Never>, timer: Task<Void, Never>) {
        let (answered, cancelled) = state.withLock { s in
            s.work = work
            s.timer = timer
            return (s.answered, s.cancelled)
        }
        if answered { timer.cancel() }  // the work answered before the timer was known
        if cancelled { work.cancel() }
    }

    func cancelWork() {
        state.withLock { s in
            s.cancelled = true
            return s.work
        }?.cancel()
    }
}
