import CZstd
import Crypto

/// Streaming zstd decompression through libzstd (`ZSTD_decompressStream`):
/// compressed bytes go in as they are read, decompressed bytes come out, and
/// only one window of either is held at a time. Handles concatenated frames.
final class ZstdDecompressor {
    private let stream: OpaquePointer
    private let outputCapacity = ZSTD_DStreamOutSize()
    /// The last `ZSTD_decompressStream` result: 0 exactly when a frame has just
    /// been completed and flushed, so a non-zero value at the end of the input
    /// means the file was cut short.
    private var lastHint = 0
    private var sawInput = false

    init() throws(ZstdFailure) {
        guard let stream = ZSTD_createDStream() else {
            throw ZstdFailure(message: "libzstd could not allocate a decompression stream")
        }
        self.stream = stream
        let initResult = ZSTD_initDStream(stream)
        if ZSTD_isError(initResult) != 0 {
            ZSTD_freeDStream(stream)
            throw ZstdFailure(message: Self.errorName(initResult))
        }
    }

    deinit { ZSTD_freeDStream(stream) }

    /// Decompresses one chunk of compressed input, returning all output it yields.
    /// Throws a message (without the path; the caller adds it) on corrupt data.
    func decompress(_ input: [UInt8]) throws(ZstdFailure) -> [UInt8] {
        guard !input.isEmpty else { return [] }
        sawInput = true
        var output: [UInt8] = []
        var scratch = [UInt8](repeating: 0, count: outputCapacity)
        let failure: ZstdFailure? = input.withUnsafeBytes { (inputBytes: UnsafeRawBufferPointer) -> ZstdFailure? in
            var inBuffer = ZSTD_inBuffer(src: inputBytes.baseAddress, size: inputBytes.count, pos: 0)
            // Keep calling while input remains or the output buffer came back full
            // (a full buffer means libzstd may hold more decoded data).
            while true {
                let consumedBefore = inBuffer.pos
                let (produced, hint) = scratch.withUnsafeMutableBytes { outputBytes in
                    var outBuffer = ZSTD_outBuffer(dst: outputBytes.baseAddress, size: outputBytes.count, pos: 0)
                    let hint = ZSTD_decompressStream(stream, &outBuffer, &inBuffer)
                    return (outBuffer.pos, hint)
                }
                if ZSTD_isError(hint) != 0 { return ZstdFailure(message: Self.errorName(hint)) }
                // A call that neither read nor wrote (after a frame ended exactly
                // at a full output buffer) says nothing about truncation.
                if produced > 0 || inBuffer.pos > consumedBefore { lastHint = hint }
                output.append(contentsOf: scratch[0..<produced])
                if inBuffer.pos == inBuffer.size && produced < scratch.count { return nil }
            }
        }
        if let failure { throw failure }
        return output
    }

    /// Confirms the input ended on a frame boundary.
    func finish() throws(ZstdFailure) {
        guard sawInput else { throw ZstdFailure(message: "the file is empty (no zstd frame)") }
        if lastHint != 0 { throw ZstdFailure(message: "the data ends in the middle of a frame (truncated file?)") }
    }

    private static func errorName(_ code: Int) -> String {
        String(cString: ZSTD_getErrorName(code))
    }
}

struct ZstdFailure: Error {
    var message: String
}

/// A `.zst` file read as its decompressed content.
struct ZstdChunkReader: ByteChunkReader {
    private var file: FileChunkReader
    private let decompressor: ZstdDecompressor
    private let path: String
    private var finished = false

    init(path: String) throws {
        file = try FileChunkReader(path: path)
        do { decompressor = try ZstdDecompressor() } catch {
            throw DatasetError.corruptCompressedInput(path: path, reason: error.message)
        }
        self.path = path
    }

    var fileBytesRead: Int { file.fileBytesRead }
    var fileDigest: SHA256 { file.fileDigest }

    mutating func nextChunk() throws -> [UInt8]? {
        while !finished {
            guard let compressed = try file.nextChunk() else {
                finished = true
                do { try decompressor.finish() } catch {
                    throw DatasetError.corruptCompressedInput(path: path, reason: error.message)
                }
                return nil
            }
            let decompressed: [UInt8]
            do { decompressed = try decompressor.decompress(compressed) } catch {
                throw DatasetError.corruptCompressedInput(path: path, reason: error.message)
            }
            if !decompressed.isEmpty { return decompressed }
        }
        return nil
    }
}
