import Dispatch
import Foundation

/// Learns a byte-level BPE vocabulary from a corpus (deterministic: the same
/// texts give the same files, whatever the thread count).
public enum BPETrainer {
    /// Special tokens come first (ids 0...), then the 256 byte-level symbols
    /// ordered by code point, then one token per merge, most frequent pair
    /// first (ties: the pair of smaller ids). Stops at `vocabSize` tokens or
    /// when no pair occurs `minFrequency` times.
    public static func train(texts: [String], vocabSize: Int, minFrequency: Int = 2,
                             specialTokens: [String] = [BPETokenizer.endOfText],
                             threads: Int? = nil) throws -> BPETokenizer {
        let base = specialTokens.count + 256
        guard vocabSize >= base else {
            throw TokenizerError("vocabulary size \(vocabSize) is below the \(base) tokens every byte-level vocabulary starts with")
        }
        var words = countWords(texts, specialTokens: specialTokens, threads: threads ?? ProcessInfo.processInfo.activeProcessorCount)
        // Deterministic word order, independent of hashing and threads.
        words.sort { $0.bytes.lexicographicallyPrecedes($1.bytes) }

        var tokens = specialTokens
        let alphabet = ByteLevel.scalarForByte.enumerated().sorted { $0.element.value < $1.element.value }
        var idForByte = [Int32](repeating: 0, count: 256)
        for (byte, scalar) in alphabet {
            idForByte[byte] = Int32(tokens.count)
            tokens.append(String(scalar))
        }
        var state = MergeState(words: words.map { $0.bytes.map { idForByte[Int($0)] } }, counts: words.map(\.count))
        var merges: [(String, String)] = []
        while tokens.count < vocabSize, let (pair, count) = state.best(), count >= minFrequency {
            let (a, b) = MergeState.split(pair)
            merges.append((tokens[Int(a)], tokens[Int(b)]))
            let merged = Int32(tokens.count)
            tokens.append(tokens[Int(a)] + tokens[Int(b)])
            state.apply(pair, as: merged)
        }
        let vocab = Dictionary(uniqueKeysWithValues: tokens.enumerated().map { ($1, $0) })
        guard vocab.count == tokens.count else { throw TokenizerError("training produced a repeated token") }
        return try BPETokenizer(vocab: vocab, merges: merges, specialTokens: specialTokens)
    }

    /// Pre-tokenised pieces and their frequencies, counted on all cores.
    static func countWords(_ texts: [String], specialTokens: [String], threads: Int) -> [(bytes: [UInt8], count: Int)] {
        let workers = max(1, min(threads, texts.count))
        let partial = ResultSlots<[[UInt8]: Int]>(count: workers)
        DispatchQueue.concurrentPerform(iterations: workers) { w in
            var counts: [[UInt8]: Int] = [:]
            var i = w
            while i < texts.count {
                for piece in splitSpecial(texts[i], specialTokens) {
                    var piece = piece
                    piece.withUTF8 { bytes in
                        PreTokenizer.split(bytes) { counts[Array(bytes[$0]), default: 0] += 1 }
                    }
                }
                i += workers
            }
            partial.set(w, counts)
        }
        var total: [[UInt8]: Int] = [:]
        for counts in partial.values { total.merge(counts, uniquingKeysWith: +) }
        return total.map { ($0.key, $0.value) }
    }

    /// The text between special-token occurrences (which are never merged into words).
    static func splitSpecial(_ text: String, _ specials: [String]) -> [String] {
        var pieces = [text]
        for s in specials where !s.isEmpty {
            pieces = pieces.flatMap { $0.components(separatedBy: s) }
        }
        return pieces
    }
}

/// Words as symbol ids with pair frequencies and where each pair occurs.
struct MergeState {
    var words: [[Int32]]
    let counts: [Int]
    var pairCounts: [UInt64: Int] = [:]
    var pairWords: [UInt64: [Int32]] = [:]
    var heap = CountHeap()

    init(words: [[Int32]], counts: [Int]) {
        self.words = words
        self.counts = counts
        for (w, symbols) in words.enumerated() where symbols.count > 1 {
            for k in 0..<(symbols.count - 1) {
                let p = MergeTable.key(symbols[k], symbols[k + 1])
                pairCounts[p, default: 0] += counts[w]
                if pairWords[p]?.last != Int32(w) { pairWords[p, default: []].append(Int32(w)) }
            }
        }
        for (p, c) in pairCounts { heap.push(c, p) }
    }

    static func split(_ pair: UInt64) -> (Int32, Int32) {
        (Int32(bitPattern: UInt32(pair >> 32)), Int32(bitPattern: UInt32(pair & 0xFFFF_FFFF)))
    }

    /// The most frequent pair now (lazy heap: stale entries are refreshed).
    mutating func best() -> (UInt64, Int)? {
        while let (count, pair) = heap.pop() {
            let current = pairCounts[pair] ?? 0
            if current == count { return (pair, count) }
            if current > 0 { heap.push(current, pair) }
        }
        return nil
    }

    /// Replaces every occurrence of `pair` by `merged`, updating the counts.
    mutating func apply(_ pair: UInt64, as merged: Int32) {
        let (a, b) = Self.split(pair)
        var changed = Set<UInt64>()
        for w in pairWords[pair] ?? [] {
            let old = words[Int(w)], c = counts[Int(w)]
            var new: [Int32] = []
            new.reserveCapacity(old.count)
            var k = 0
            while k < old.count {
                if k + 1 < old.count && old[k] == a && old[k + 1] == b {
                    new.append(merged)
                    k += 2
                } else {
                    new.append(old[k])
                    k += 1
                }
            }
            if new.count == old.count { continue }  // stale entry: the pair is gone from this word
            for k in 0..<(old.count - 1) {
                let p = MergeTable.key(old[k], old[k + 1])
                pairCounts[p, default: 0] -= c
                changed.insert(p)
            }
            for k in 0..<(new.count - 1) {
                let p = MergeTable.key(new[k], new[k + 1])
                pairCounts[p, default: 0] += c
                changed.insert(p)
                if pairWords[p]?.last != w { pairWords[p, default: []].append(w) }
            }
            words[Int(w)] = new
        }
        pairCounts[pair] = nil
        pairWords[pair] = nil
        for p in changed.sorted() {
            let c = pairCounts[p] ?? 0
            if c <= 0 { pairCounts[p] = nil } else { heap.push(c, p) }
        }
    }
}

/// Max-heap on (count, then the smaller pair key).
struct CountHeap {
    private var items: [(count: Int, pair: UInt64)] = []

    private static func above(_ x: (count: Int, pair: UInt64), _ y: (count: Int, pair: UInt64)) -> Bool {
        x.count != y.count ? x.count > y.count : x.pair < y.pair
    }

    mutating func push(_ count: Int, _ pair: UInt64) {
        items.append((count, pair))
        var i = items.count - 1
        while i > 0, Self.above(items[i], items[(i - 1) / 2]) {
            items.swapAt(i, (i - 1) / 2)
            i = (i - 1) / 2
        }
    }

    mutating func pop() -> (Int, UInt64)? {
        guard let top = items.first else { return nil }
        let last = items.removeLast()
        if !items.isEmpty {
            items[0] = last
            var i = 0
            while true {
                let l = 2 * i + 1, r = l + 1
                var m = i
                if l < items.count && Self.above(items[l], items[m]) { m = l }
                if r < items.count && Self.above(items[r], items[m]) { m = r }
                if m == i { break }
                items.swapAt(i, m)
                i = m
            }
        }
        return (top.count, top.pair)
    }
}
