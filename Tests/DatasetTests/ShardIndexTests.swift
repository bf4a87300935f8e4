import Dataset
import Testing

@Suite struct ShardIndexTests {
    @Test func shardIndexLocatesOffsets() {
        let index = ShardIndex(tokenCounts: [10, 0, 5, 7])
        #expect(index.totalTokens == 22)
        #expect(index.locate(0) == (shard: 0, offset: 0))
        #expect(index.locate(9) == (0, 9))
        #expect(index.locate(10) == (2, 0))
        #expect(index.locate(14) == (2, 4))
        #expect(index.locate(15) == (3, 0))
        #expect(index.locate(21) == (3, 6))
    }
}
