import Crypto
import Foundation

/// A source of bytes read a chunk at a time, so inputs of any size stream
/// through a fixed amount of memory.
protocol ByteChunkReader {
    /// The next chunk of content, or nil at the end.
    mutating func nextChunk() throws -> [UInt8]?
    /// Bytes taken from the file on disk so far (compressed bytes for .zst), for progress.
    var fileBytesRead: Int { get }
    /// SHA-256 of the file's bytes as stored; complete once `nextChunk` has returned nil.
    var fileDigest: SHA256 { get }
}

/// Reads a file as stored, in fixed-size chunks, hashing what it reads.
struct FileChunkReader: ByteChunkReader {
    static let chunkSize = 1 << 20

    private let handle: FileHandle
    private let path: String
    private(set) var fileBytesRead = 0
    private(set) var fileDigest = SHA256()

    init(path: String) throws {
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory) else {
            throw DatasetError.unreadableInput(path: path, reason: "no such file")
        }
        guard !isDirectory.boolValue else {
            throw DatasetError.unreadableInput(path: path, reason: "it is a directory, not a file")
        }
        guard let handle = FileHandle(forReadingAtPath: path) else {
            throw DatasetError.unreadableInput(path: path, reason: "permission denied or not a regular file")
        }
        self.handle = handle
        self.path = path
    }

    mutating func nextChunk() throws -> [UInt8]? {
        let data: Data?
        do {
            data = try handle.read(upToCount: Self.chunkSize)
        } catch {
            throw DatasetError.unreadableInput(path: path, reason: "\(error.localizedDescription)")
        }
        guard let data, !data.isEmpty else {
            try? handle.close()
            return nil
        }
        fileBytesRead += data.count
        fileDigest.update(data: data)
        return [UInt8](data)
    }
}
