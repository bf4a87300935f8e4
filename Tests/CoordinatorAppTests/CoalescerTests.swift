@testable import CoordinatorApp
import Foundation
import Synchronization
import Testing

/// Batching of concurrent calls (the lease → submit cycle's statements).
@Suite struct CoalescerTests {
    @Test func aLoneCallDrainsAtOnceAndLaterCallsWaitForTheNextBatch() {
        var queue = CoalescingQueue<Int>(maxBatch: 3)
        #expect(queue.arrive(1) == .drain)
        #expect(queue.nextBatch() == [1])
        // While batch [1] runs, five calls arrive; none starts a second drain.
        for i in 2...6 { #expect(queue.arrive(i) == .wait) }
        #expect(queue.nextBatch() == [2, 3, 4])  // oldest first, at most maxBatch
        #expect(queue.arrive(7) == .wait)
        #expect(queue.nextBatch() == [5, 6, 7])
        #expect(queue.draining)
        #expect(queue.nextBatch().isEmpty)  // nothing waits: the drain ends
        #expect(!queue.draining)
        #expect(queue.arrive(8) == .drain)  // and the next call starts one again
    }

    @Test func concurrentCallsShareBatchesAndEachGetsItsOwnAnswer() async throws {
        let sizes = Mutex<[Int]>([])
        let coalescer = Coalescer<Int, Int>(maxBatch: 8) { inputs in
            sizes.withLock { $0.append(inputs.count) }
            try? await Task.sleep(for: .milliseconds(20))
            return inputs.map { $0 % 7 == 0 ? .failure(Oops(value: $0)) : .success($0 * 10) }
        }
        let answers = await withTaskGroup(of: (Int, Result<Int, any Error>).self) { group in
            for i in 0..<40 {
                group.addTask {
                    do { return (i, .success(try await coalescer(i))) } catch { return (i, .failure(error)) }
                }
            }
            return await group.reduce(into: [Int: Result<Int, any Error>]()) { $0[$1.0] = $1.1 }
        }
        #expect(answers.count == 40)
        for (i, answer) in answers {
            switch answer {
            case .success(let value): #expect(i % 7 != 0 && value == i * 10)
            case .failure(let error): #expect(i % 7 == 0 && (error as? Oops)?.value == i)
            }
        }
        let batches = sizes.withLock { $0 }
        #expect(batches.reduce(0, +) == 40)
        #expect(batches.allSatisfy { $0 <= 8 })
        #expect(batches.count < 40)  // calls that arrived during a batch went together
    }

    @Test func aBatchThatAnswersTooFewFailsTheRestInsteadOfHanging() async throws {
        let coalescer = Coalescer<Int, Int>(maxBatch: 4, execute: { _ in [] })
        await #expect(throws: CoalescerError.self) { try await coalescer(1) }
    }

    @Test func aBatchThatFailsAsAWholeFailsEveryCallOfIt() async throws {
        let coalescer = Coalescer<Int, Int>(maxBatch: 4, executeAll: { inputs in
            if inputs.contains(0) { throw Oops(value: 0) }
            return inputs.map { $0 + 1 }
        })
        await #expect(throws: Oops.self) { try await coalescer(0) }
        #expect(try await coalescer(1) == 2)
    }

    @Test func aBatchThatNeverAnswersTimesOutAndLaterCallsStillRun() async throws {
        let calls = Mutex(0)
        let coalescer = Coalescer<Int, Int>(maxBatch: 4, timeLimit: .milliseconds(200)) { inputs in
            let first = calls.withLock { n in
                defer { n += 1 }
                return n == 0
            }
            // The first batch hangs (rows that never come on a half-open connection), ignoring cancellation.
            if first { await Task.detached { try? await Task.sleep(for: .seconds(3600)) }.value }
            return inputs.map { .success($0) }
        }
        await #expect(throws: TimeLimitExceeded.self) { try await coalescer(1) }
        #expect(try await coalescer(2) == 2)
    }

    struct Oops: Error { var value: Int }
}
