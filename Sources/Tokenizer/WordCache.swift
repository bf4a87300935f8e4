/// Ids of pre-tokenised pieces already encoded, keyed by their bytes, with no
/// allocation per lookup (open addressing over byte and id arenas). Each
/// thread owns one; it empties itself when it grows past its budget.
struct WordCache {
    private struct Entry {
        var hash: UInt64 = 0
        var keyStart: Int32 = -1  // -1 = empty slot
        var keyLength: Int32 = 0
        var idsStart: Int32 = 0
        var idsLength: Int32 = 0
    }
    private var slots: [Entry]
    private var keyBytes: [UInt8] = []
    private var ids: [Int32] = []
    private var count = 0
    private let maxEntries: Int

    init(maxEntries: Int = 1 << 17) {
        self.maxEntries = maxEntries
        slots = Array(repeating: Entry(), count: maxEntries * 2)
    }

    @inline(__always) static func hash(_ p: UnsafeBufferPointer<UInt8>) -> UInt64 {
        var h: UInt64 = 0xCBF2_9CE4_8422_2325  // FNV-1a
        for b in p { h = (h ^ UInt64(b)) &* 0x100_0000_01B3 }
        return h
    }

    /// Appends the cached ids of `word` to `out`; false when not cached.
    @inline(__always)
    func append(_ word: UnsafeBufferPointer<UInt8>, hash: UInt64, to out: inout [Int32]) -> Bool {
        let mask = slots.count - 1
        var slot = Int(truncatingIfNeeded: hash) & mask
        while true {
            let e = slots[slot]
            if e.keyStart < 0 { return false }
            if e.hash == hash && Int(e.keyLength) == word.count && keyMatches(e, word) {
                out.append(contentsOf: ids[Int(e.idsStart)..<Int(e.idsStart + e.idsLength)])
                return true
            }
            slot = (slot + 1) & mask
        }
    }

    private func keyMatches(_ e: Entry, _ word: UnsafeBufferPointer<UInt8>) -> Bool {
        keyBytes.withUnsafeBufferPointer { k in
            var i = 0
            let start = Int(e.keyStart)
            while i < word.count {
                if k[start + i] != word[i] { return false }
                i += 1
            }
            return true
        }
    }

    mutating func insert(_ word: UnsafeBufferPointer<UInt8>, hash: UInt64, ids wordIDs: [Int32]) {
        if count >= maxEntries || keyBytes.count > (1 << 26) { clear() }
        let mask = slots.count - 1
        var slot = Int(truncatingIfNeeded: hash) & mask
        while slots[slot].keyStart >= 0 { slot = (slot + 1) & mask }
        slots[slot] = Entry(hash: hash, keyStart: Int32(keyBytes.count), keyLength: Int32(word.count),
                            idsStart: Int32(ids.count), idsLength: Int32(wordIDs.count))
        keyBytes.append(contentsOf: word)
        ids.append(contentsOf: wordIDs)
        count += 1
    }

    private mutating func clear() {
        for i in slots.indices { slots[i].keyStart = -1 }
        keyBytes.removeAll(keepingCapacity: true)
        ids.removeAll(keepingCapacity: true)
        count = 0
    }
}
