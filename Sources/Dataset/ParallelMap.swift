import Dispatch
import Foundation

/// The number of threads to use when none is given: every active core.
func defaultThreadCount() -> Int { max(1, ProcessInfo.processInfo.activeProcessorCount) }

/// `items.map(transform)` spread over `threads` threads, results in input
/// order. `threads` contiguous chunks, so no more than `threads` run at once.
func parallelMap<T: Sendable, R: Sendable>(_ items: [T], threads: Int, _ transform: @Sendable (T) -> R) -> [R] {
    let count = items.count
    let chunks = min(max(1, threads), count)
    if chunks <= 1 { return items.map(transform) }
    let results = UnsafeMutablePointer<R?>.allocate(capacity: count)
    results.initialize(repeating: nil, count: count)
    defer {
        results.deinitialize(count: count)
        results.deallocate()
    }
    // Each chunk writes only its own slots, so sharing the pointer is safe.
    nonisolated(unsafe) let output = results
    DispatchQueue.concurrentPerform(iterations: chunks) { chunk in
        let start = count * chunk / chunks
        let end = count * (chunk + 1) / chunks
        for index in start..<end { output[index] = transform(items[index]) }
    }
    return (0..<count).map { results[$0]! }
}
