import Foundation
import Testing

@testable import Dataset

@Suite struct ShardFormatTests {
    @Test func headerLayoutIsTheDocumentedOne() throws {
        let header = ShardHeader(dtype: .uint16, tokenCount: 0x0102_0304_0506)
        let bytes = header.encoded()
        #expect(bytes.count == 32)
        #expect(Array(bytes[0..<8]) == Array("KOINSHRD".utf8))
        #expect(Array(bytes[8..<12]) == [1, 0, 0, 0])
        #expect(Array(bytes[12..<16]) == [2, 0, 0, 0])
        #expect(Array(bytes[16..<24]) == [6, 5, 4, 3, 2, 1, 0, 0])
        #expect(Array(bytes[24..<32]) == [0, 0, 0, 0, 0, 0, 0, 0])
        #expect(try ShardHeader(decoding: bytes) == header)
    }

    @Test func dtypeFollowsVocabularySize() {
        #expect(TokenDType.forVocabulary(size: 50257) == .uint16)
        #expect(TokenDType.forVocabulary(size: 65536) == .uint16)
        #expect(TokenDType.forVocabulary(size: 65537) == .uint32)
    }

    /// Writes `tokens` as shards of `size` and returns (directory, entries).
    func writeShards(_ tokens: [Int32], dtype: TokenDType, size: Int, in directory: TemporaryDirectory) throws -> [ShardEntry] {
        try FileManager.default.createDirectory(at: directory.path("shards"), withIntermediateDirectories: true)
        var writer = ShardWriter(directory: directory.url, split: .train, dtype: dtype, shardTokens: size)
        try writer.append(tokens)
        try writer.finish()
        return writer.entries
    }

    @Test func writerCutsExactShardsAndReaderReadsThemBack() throws {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        for dtype in [TokenDType.uint16, .uint32] {
            let tokens: [Int32] = (0..<25).map { dtype == .uint16 ? Int32($0 * 2000) : Int32(70_000 + $0 * 100_000) }
            let entries = try writeShards(tokens, dtype: dtype, size: 10, in: directory)
            #expect(entries.map(\.tokens) == [10, 10, 5])
            #expect(entries.map(\.bytes) == [10, 10, 5].map { 32 + $0 * dtype.bytesPerToken })
            var read: [Int32] = []
            for entry in entries {
                let url = directory.url.appendingPathComponent(entry.file)
                let shard = try Shard(contentsOf: url)
                #expect(shard.dtype == dtype)
                #expect(shard.sha256 == entry.sha256)
                #expect(url.lastPathComponent == "\(entry.sha256).bin")
                read += shard.tokensInt32()
            }
            #expect(read == tokens)
        }
    }

    func expectRefused(_ bytes: [UInt8], reasonContains fragment: String, in directory: TemporaryDirectory, expected sha: String?) throws {
        let url = try directory.write("bad.bin", bytes)
        #expect {
            _ = try Shard(contentsOf: url, expectedSHA256: sha)
        } throws: { error in
            guard case DatasetError.corruptShard(let file, let reason) = error else { return false }
            return file == url.path && reason.contains(fragment) && "\(error)".contains("bad.bin")
        }
    }

    @Test func corruptShardsAreRefusedNamingTheFile() throws {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        let entry = try #require(try writeShards(Array(0..<100), dtype: .uint16, size: 100, in: directory).first)
        let good = [UInt8](try Data(contentsOf: directory.url.appendingPathComponent(entry.file)))

        var flipped = good
        flipped[good.count - 7] ^= 0x10
        try expectRefused(flipped, reasonContains: "SHA-256", in: directory, expected: entry.sha256)
        try expectRefused(Array(good.dropLast(3)), reasonContains: "truncated", in: directory, expected: entry.sha256)
        try expectRefused(Array(good.prefix(20)), reasonContains: "shorter than the 32-byte header", in: directory, expected: nil)
        var magic = good
        magic[0] = UInt8(ascii: "X")
        try expectRefused(magic, reasonContains: "bad magic", in: directory, expected: nil)
        var version = good
        version[8] = 2
        try expectRefused(version, reasonContains: "version 2", in: directory, expected: nil)
        var width = good
        width[12] = 3
        try expectRefused(width, reasonContains: "bytes per token 3", in: directory, expected: nil)
        try expectRefused(good + [0, 0], reasonContains: "trailing bytes", in: directory, expected: nil)
        // The good bytes pass every check.
        _ = try Shard(bytes: good, path: "good.bin", expectedSHA256: entry.sha256)
    }
}
