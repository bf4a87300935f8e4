import Synchronization

/// The queue behind `Coalescer`, as a pure state machine: calls arrive, and
/// whoever is told `.drain` takes batches until the queue is empty. At most
/// one drain runs at a time, so while one batch is being executed the next
/// one gathers every call that arrives meanwhile.
struct CoalescingQueue<Element> {
    enum ArrivalAction: Equatable { case drain, wait }

    let maxBatch: Int
    private(set) var waiting: [Element] = []
    private(set) var draining = false

    init(maxBatch: Int) {
        precondition(maxBatch > 0)
        self.maxBatch = maxBatch
    }

    /// A call arrives; `.drain`: no drain is running, the caller starts one.
    mutating func arrive(_ element: Element) -> ArrivalAction {
        waiting.append(element)
        if draining { return .wait }
        draining = true
        return .drain
    }

    /// The drain's next batch (the oldest calls, at most `maxBatch`); empty
    /// when nothing waits, and then the drain is over.
    mutating func nextBatch() -> [Element] {
        guard !waiting.isEmpty else {
            draining = false
            return []
        }
        let batch = Array(waiting.prefix(maxBatch))
        waiting.removeFirst(batch.count)
        return batch
    }
}

/// Runs concurrent calls in batches: one statement and one commit serve
/// every call that arrived while the previous batch ran. A call that finds
/// nothing running starts at once, so under light load nothing waits; under
/// heavy load each round trip to PostgreSQL does the work of many calls (the
/// lease → submit cycle is bound by per-statement and per-commit costs, not
/// by the rows it touches).
final class Coalescer<Input: Sendable, Output: Sendable>: Sendable {
    /// Answers a batch: one result per input, in order.
    typealias Execute = @Sendable ([Input]) async -> [Result<Output, any Error>]
    private typealias Call = (input: Input, continuation: CheckedContinuation<Output, any Error>)

    private let queue: Mutex<CoalescingQueue<Call>>
    private let execute: Execute
    private let timeLimit: Duration

    /// `timeLimit`: a batch not answered by then is answered with
    /// `TimeLimitExceeded` (and left behind), so that the next batches do
    /// not wait for it. (`Database` limits each statement already; this also
    /// covers reading their rows, and everything else a batch does.)
    init(maxBatch: Int, timeLimit: Duration = .seconds(60), execute: @escaping Execute) {
        queue = Mutex(CoalescingQueue(maxBatch: maxBatch))
        self.execute = execute
        self.timeLimit = timeLimit
    }

    /// For a batch that succeeds or fails as a whole: one output per input,
    /// in order, or an error every call of the batch gets.
    convenience init(maxBatch: Int, timeLimit: Duration = .seconds(60),
                     executeAll: @escaping @Sendable ([Input]) async throws -> [Output]) {
        self.init(maxBatch: maxBatch, timeLimit: timeLimit) { inputs in
            do { return try await executeAll(inputs).map { .success($0) } } catch { return inputs.map { _ in .failure(error) } }
        }
    }

    func callAsFunction(_ input: Input) async throws -> Output {
        try await withCheckedThrowingContinuation { continuation in
            let action = queue.withLock { $0.arrive((input, continuation)) }
            if action == .drain { Task { await drain() } }
        }
    }

    private func drain() async {
        while true {
            let batch = queue.withLock { $0.nextBatch() }
            if batch.isEmpty { return }
            let inputs = batch.map(\.input), execute = self.execute
            let results: [Result<Output, any Error>]
            do { results = try await withTimeLimit(timeLimit, "a batch of database work") { await execute(inputs) } } catch {
                results = inputs.map { _ in .failure(error) }
            }
            for (i, call) in batch.enumerated() {
                call.continuation.resume(with: i < results.count ? results[i] : .failure(CoalescerError.missingResult))
            }
        }
    }
}

struct CoalescerError: Error, CustomStringConvertible, Equatable {
    static let missingResult = CoalescerError(description: "a batch returned fewer results than it had calls")
    var description: String
}
