/// BPE merges by rank: (left id, right id) → (rank, merged id).
/// An open-addressing table on a 64-bit key: the hot lookup of encoding.
struct MergeTable: Sendable {
    private var keys: [UInt64]
    private var values: [UInt64]  // rank << 32 | merged id
    private let mask: Int
    static let empty = UInt64.max

    init(_ merges: [(left: Int32, right: Int32, merged: Int32)]) {
        var capacity = 16
        while capacity < merges.count * 2 { capacity *= 2 }
        keys = Array(repeating: Self.empty, count: capacity)
        values = Array(repeating: 0, count: capacity)
        mask = capacity - 1
        for (rank, m) in merges.enumerated() {
            let key = Self.key(m.left, m.right)
            var slot = Self.slot(key, mask)
            while keys[slot] != Self.empty && keys[slot] != key { slot = (slot + 1) & mask }
            if keys[slot] == key { continue }  // a repeated merge keeps its first (lowest) rank
            keys[slot] = key
            values[slot] = UInt64(rank) << 32 | UInt64(UInt32(bitPattern: m.merged))
        }
    }

    @inline(__always) static func key(_ a: Int32, _ b: Int32) -> UInt64 {
        UInt64(UInt32(bitPattern: a)) << 32 | UInt64(UInt32(bitPattern: b))
    }

    @inline(__always) static func slot(_ key: UInt64, _ mask: Int) -> Int {
        Int(truncatingIfNeeded: (key &* 0x9E37_79B9_7F4A_7C15) >> 32) & mask
    }

    /// (rank, merged id) of the pair, if it merges.
    @inline(__always) func lookup(_ a: Int32, _ b: Int32) -> (rank: Int32, merged: Int32)? {
        let key = Self.key(a, b)
        var slot = Self.slot(key, mask)
        while true {
            let k = keys[slot]
            if k == key {
                let v = values[slot]
                return (Int32(truncatingIfNeeded: v >> 32), Int32(truncatingIfNeeded: v & 0xFFFF_FFFF))
            }
            if k == Self.empty { return nil }
            slot = (slot + 1) & mask
        }
    }
}

extension MergeTable {
    /// Applies the merges to a word of byte-level ids, lowest rank first,
    /// leftmost first among equals (the order GPT-2 and Hugging Face use).
    func merge(_ symbols: inout [Int32]) {
        if symbols.count < 2 { return }
        if symbols.count <= 48 { mergeShort(&symbols) } else { mergeLong(&symbols) }
    }

    /// Short words: scan for the best pair, merge all its non-overlapping
    /// occurrences left to right, repeat.
    private func mergeShort(_ s: inout [Int32]) {
        while s.count > 1 {
            var best: (rank: Int32, merged: Int32) = (Int32.max, 0)
            var left: Int32 = 0, right: Int32 = 0
            for k in 0..<(s.count - 1) {
                if let m = lookup(s[k], s[k + 1]), m.rank < best.rank {
                    best = m
                    left = s[k]
                    right = s[k + 1]
                }
            }
            if best.rank == Int32.max { return }
            var out = 0, k = 0
            while k < s.count {
                if k + 1 < s.count && s[k] == left && s[k + 1] == right {
                    s[out] = best.merged
                    k += 2
                } else {
                    s[out] = s[k]
                    k += 1
                }
                out += 1
            }
            s.removeLast(s.count - out)
        }
    }

    /// Long words (hostile or unusual input): a heap of candidate pairs over a
    /// linked list of symbols, O(n log n).
    private func mergeLong(_ s: inout [Int32]) {
        let n = s.count
        var next = Array(1...n)  // n = none
        var prev = Array(-1..<(n - 1))
        var heap = PairHeap()
        for k in 0..<(n - 1) {
            if let m = lookup(s[k], s[k + 1]) { heap.push(.init(rank: m.rank, position: Int32(k), left: s[k], right: s[k + 1])) }
        }
        var alive = [Bool](repeating: true, count: n)
        while let c = heap.pop() {
            let p = Int(c.position)
            let q = next[p]
            guard alive[p], q < n, s[p] == c.left, s[q] == c.right, let m = lookup(c.left, c.right) else { continue }
            s[p] = m.merged
            alive[q] = false
            next[p] = next[q]
            if next[q] < n { prev[next[q]] = p }
            if prev[p] >= 0, let l = lookup(s[prev[p]], s[p]) {
                heap.push(.init(rank: l.rank, position: Int32(prev[p]), left: s[prev[p]], right: s[p]))
            }
            if next[p] < n, let r = lookup(s[p], s[next[p]]) {
                heap.push(.init(rank: r.rank, position: Int32(p), left: s[p], right: s[next[p]]))
            }
        }
        var out: [Int32] = []
        var k = 0
        while k < n { out.append(s[k]); k = next[k] }
        s = out
    }
}

/// A binary min-heap of candidate merges ordered by (rank, position).
struct PairHeap {
    struct Candidate {
        var rank: Int32
        var position: Int32
        var left: Int32
        var right: Int32
        @inline(__always) func precedes(_ o: Candidate) -> Bool {
            rank != o.rank ? rank < o.rank : position < o.position
        }
    }
    private var items: [Candidate] = []

    mutating func push(_ c: Candidate) {
        items.append(c)
        var i = items.count - 1
        while i > 0 {
            let parent = (i - 1) / 2
            guard items[i].precedes(items[parent]) else { break }
            items.swapAt(i, parent)
            i = parent
        }
    }

    mutating func pop() -> Candidate? {
        guard let top = items.first else { return nil }
        let last = items.removeLast()
        if !items.isEmpty {
            items[0] = last
            var i = 0
            while true {
                let l = 2 * i + 1, r = l + 1
                var m = i
                if l < items.count && items[l].precedes(items[m]) { m = l }
                if r < items.count && items[r].precedes(items[m]) { m = r }
                if m == i { break }
                items.swapAt(i, m)
                i = m
            }
        }
        return top
    }
}
