import CZstd
import Foundation
import Testing

@testable import Dataset

@Suite struct ZstdTests {
    static func compress(_ bytes: [UInt8], level: Int32 = 3) -> [UInt8] {
        var output = [UInt8](repeating: 0, count: ZSTD_compressBound(bytes.count))
        let size = output.withUnsafeMutableBytes { out in
            bytes.withUnsafeBytes { input in
                ZSTD_compress(out.baseAddress, out.count, input.baseAddress, input.count, level)
            }
        }
        precondition(ZSTD_isError(size) == 0)
        return Array(output[0..<size])
    }

    @Test func streamsConcatenatedFramesInSmallChunks() throws {
        let first = Array((0..<200_000).map { "line \($0)\n" }.joined().utf8)
        let second = Array("tail frame\n".utf8)
        let compressed = Self.compress(first) + Self.compress(second)
        let decompressor = try ZstdDecompressor()
        var output: [UInt8] = []
        for start in stride(from: 0, to: compressed.count, by: 1000) {
            output += try decompressor.decompress(Array(compressed[start..<min(start + 1000, compressed.count)]))
        }
        try decompressor.finish()
        #expect(output == first + second)
    }

    @Test func truncatedOrGarbageInputIsAClearError() throws {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        let compressed = Self.compress(Array(String(repeating: jsonLine("some text here") + "\n", count: 100).utf8))
        let truncated = try directory.write("cut.jsonl.zst", Array(compressed.dropLast(5)))
        let garbage = try directory.write("garbage.jsonl.zst", Array("this is not zstd".utf8))
        for file in [truncated, garbage] {
            var reader = try ZstdChunkReader(path: file.path)
            #expect {
                while try reader.nextChunk() != nil {}
            } throws: { error in
                guard case DatasetError.corruptCompressedInput(let path, _) = error else { return false }
                return path == file.path
            }
        }
    }
}
