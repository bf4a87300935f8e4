import Dispatch
import Foundation

extension BPETokenizer {
    /// Token ids of `text`; occurrences of special tokens (`<|endoftext|>`) map to their ids.
    public func encode(_ text: String) -> [Int32] {
        var cache = WordCache(maxEntries: 1 << 12)
        var out: [Int32] = []
        var text = text
        text.withUTF8 { bytes in
            var start = 0
            while let (at, special) = nextSpecial(in: bytes, from: start) {
                encodeOrdinary(UnsafeBufferPointer(rebasing: bytes[start..<at]), cache: &cache, into: &out)
                out.append(special.id)
                start = at + special.text.utf8.count
            }
            encodeOrdinary(UnsafeBufferPointer(rebasing: bytes[start...]), cache: &cache, into: &out)
        }
        return out
    }

    /// Token ids of `text`, with special-token text encoded as ordinary text
    /// (for documents, which must not smuggle in control tokens).
    public func encodeOrdinary(_ text: String) -> [Int32] {
        var cache = WordCache(maxEntries: 1 << 12)
        var out: [Int32] = []
        var text = text
        text.withUTF8 { encodeOrdinary($0, cache: &cache, into: &out) }
        return out
    }

    /// `encodeOrdinary` of many texts on all cores (each thread keeps its own cache).
    public func encodeBatch(_ texts: [String], threads: Int? = nil) -> [[Int32]] {
        let n = texts.count
        let workers = max(1, min(threads ?? defaultThreads, n))
        let results = ResultSlots<[Int32]>(count: n)
        DispatchQueue.concurrentPerform(iterations: workers) { w in
            var cache = WordCache()
            var i = w
            // Interleaved assignment keeps both threads busy when sizes vary.
            while i < n {
                var out: [Int32] = []
                var text = texts[i]
                text.withUTF8 { encodeOrdinary($0, cache: &cache, into: &out) }
                results.set(i, out)
                i += workers
            }
        }
        return results.values
    }

    var defaultThreads: Int { ProcessInfo.processInfo.activeProcessorCount }

    func encodeOrdinary(_ bytes: UnsafeBufferPointer<UInt8>, cache: inout WordCache, into out: inout [Int32]) {
        var word: [Int32] = []
        PreTokenizer.split(bytes) { range in
            let piece = UnsafeBufferPointer(rebasing: bytes[range])
            let hash = WordCache.hash(piece)
            if cache.append(piece, hash: hash, to: &out) { return }
            word.removeAll(keepingCapacity: true)
            for b in piece { word.append(idForByte[Int(b)]) }
            mergeTable.merge(&word)
            cache.insert(piece, hash: hash, ids: word)
            out.append(contentsOf: word)
        }
    }

    /// The first special token at or after `from`.
    func nextSpecial(in bytes: UnsafeBufferPointer<UInt8>, from: Int) -> (Int, (text: String, id: Int32))? {
        guard !specialTokens.isEmpty, from < bytes.count else { return nil }
        var i = from
        while i < bytes.count {
            if bytes[i] == UInt8(ascii: "<") {
                for s in specialTokens where matches(s.text, in: bytes, at: i) { return (i, s) }
            }
            i += 1
        }
        return nil
    }

    private func matches(_ s: String, in bytes: UnsafeBufferPointer<UInt8>, at i: Int) -> Bool {
        var j = i
        for b in s.utf8 {
            guard j < bytes.count, bytes[j] == b else { return false }
            j += 1
        }
        return true
    }

    /// The text of token ids. Bytes that do not form valid UTF-8 (a sequence
    /// cut mid-character) become U+FFFD; unknown ids are an error.
    public func decode(_ ids: [Int32]) throws(TokenizerError) -> String {
        String(decoding: try decodeBytes(ids), as: UTF8.self)
    }

    public func decodeBytes(_ ids: [Int32]) throws(TokenizerError) -> [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity(ids.count * 4)
        for id in ids {
            guard id >= 0, Int(id) < bytesForID.count else {
                throw TokenizerError("token id \(id) is outside the vocabulary (size \(bytesForID.count))")
            }
            out.append(contentsOf: bytesForID[Int(id)])
        }
        return out
    }
}

/// Per-index result storage written from concurrent workers (each index once).
/// Raw storage, not an Array property: concurrent mutating access to a class's
/// Array would trip Swift's exclusivity checks even for distinct indices.
final class ResultSlots<T>: @unchecked Sendable {
    private let storage: UnsafeMutableBufferPointer<T?>
    init(count: Int) {
        storage = .allocate(capacity: count)
        storage.initialize(repeating: nil)
    }
    deinit {
        storage.deinitialize()
        storage.deallocate()
    }
    func set(_ i: Int, _ value: T) { storage[i] = value }
    var values: [T] { storage.map { $0! } }
}
