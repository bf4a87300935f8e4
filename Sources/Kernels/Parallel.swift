import Dispatch

/// Splits `0..<count` into at most `threads` contiguous ranges of at least
/// `minChunk` elements and runs `body` on each, concurrently. The split
/// depends only on (count, threads, minChunk), so results are reproducible.
@inline(__always)
func parallelRanges(_ count: Int, threads: Int, minChunk: Int = 1, _ body: (Range<Int>) -> Void) {
    guard count > 0 else { return }
    let chunks = max(1, min(threads, count / max(minChunk, 1)))
    if chunks == 1 {
        body(0..<count)
        return
    }
    concurrentChunks(chunks) { chunk in body(chunkRange(chunk, of: chunks, count: count)) }
}

/// Runs `body(0..<chunks)` concurrently and returns when all are done. The
/// kernels write disjoint ranges of raw buffers, which Swift cannot prove
/// Sendable, hence the unchecked capture.
func concurrentChunks(_ chunks: Int, _ body: (Int) -> Void) {
    withoutActuallyEscaping(body) { body in
        nonisolated(unsafe) let body = body
        DispatchQueue.concurrentPerform(iterations: chunks) { body($0) }
    }
}

/// The `chunk`-th of `chunks` near-equal contiguous ranges covering `0..<count`.
@inline(__always)
func chunkRange(_ chunk: Int, of chunks: Int, count: Int) -> Range<Int> {
    let base = count / chunks, extra = count % chunks
    let start = chunk * base + min(chunk, extra)
    return start..<(start + base + (chunk < extra ? 1 : 0))
}
