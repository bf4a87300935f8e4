@testable import CoordinatorApp
import Foundation
import Testing

/// Removed blobs' files are written over by new blobs: the bytes on disk are
/// exactly the new blob's, whatever size the old one had.
@Suite struct BlobStoreSpareTests {
    static func bytes(_ count: Int, seed: UInt8) -> Data { Data((0..<count).map { UInt8(truncatingIfNeeded: $0) &+ seed }) }

    @Test func aRemovedBlobsFileCarriesTheNextBlobExactly() throws {
        let root = try TestDatabase.scratchDirectory("spares")
        let store = try BlobStore(root: root, memoryBytes: 0)
        let big = try store.put(Self.bytes(100_000, seed: 1))
        store.remove(big)
        #expect(!store.contains(big))
        #expect(try FileManager.default.contentsOfDirectory(atPath: root.appendingPathComponent("spare").path).count == 1)
        // A smaller blob goes into the spare file: it is cut to its own length.
        let small = Self.bytes(1_000, seed: 2)
        let sha = try store.put(small)
        #expect(try FileManager.default.contentsOfDirectory(atPath: root.appendingPathComponent("spare").path).isEmpty)
        #expect(try Data(contentsOf: store.url(for: sha)) == small)
        #expect(try store.get(sha) == small)  // read from disk (no memory), checked against its hash
        // With no spare left, a new file.
        let other = Self.bytes(5_000, seed: 3)
        #expect(try store.get(try store.put(other)) == other)
    }

    @Test func aDamagedFileUnderABlobsNameIsWrittenAgain() throws {
        let root = try TestDatabase.scratchDirectory("damaged")
        let data = Self.bytes(20_000, seed: 4)
        let sha = BlobStore.sha256(data)
        // What a power loss can leave of an unsynced put: the name, with no bytes or the wrong ones.
        for damage in [Data(), Self.bytes(20_000, seed: 5)] {
            let before = try BlobStore(root: root, memoryBytes: 0)
            try FileManager.default.createDirectory(at: before.url(for: sha).deletingLastPathComponent(), withIntermediateDirectories: true)
            try damage.write(to: before.url(for: sha))
            let store = try BlobStore(root: root, memoryBytes: 0)  // a restarted coordinator: nothing in memory
            try store.put(data, sha256: sha, synced: false)
            #expect(try Data(contentsOf: store.url(for: sha)) == data)
            #expect(try store.get(sha) == data)
        }
    }

    @Test func sparesAreKeptUpToTheLimitAndFoundAgainAfterARestart() throws {
        let root = try TestDatabase.scratchDirectory("spares-limit")
        let store = try BlobStore(root: root, memoryBytes: 0, spareFiles: 2)
        let shas = try (0..<4).map { try store.put(Self.bytes(2_000, seed: UInt8($0))) }
        shas.forEach(store.remove)
        let spare = root.appendingPathComponent("spare").path
        #expect(try FileManager.default.contentsOfDirectory(atPath: spare).count == 2)  // the others deleted
        #expect(shas.allSatisfy { !store.contains($0) })
        // Another store on the same directory (a restarted coordinator) uses them.
        let again = try BlobStore(root: root, memoryBytes: 0, spareFiles: 2)
        let data = Self.bytes(3_000, seed: 9)
        #expect(try again.get(try again.put(data)) == data)
        #expect(try FileManager.default.contentsOfDirectory(atPath: spare).count == 1)
    }
}
