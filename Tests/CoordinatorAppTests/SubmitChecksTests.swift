@testable import CoordinatorApp
import Foundation
import Testing
import Wire

/// A result's body hash and payload check, run side by side for large bodies:
/// the same answers as one after the other, whatever the size.
@Suite struct SubmitChecksTests {
    @Test(arguments: [1_000, CoordinatorRoutes.parallelHashBytes / 4 + 1_000])
    func bodyHashAndPayloadCheckAgreeWithOneAfterTheOther(elements: Int) async throws {
        let values = (0..<elements).map { Float($0 % 97) / 97 }
        let body = Data(TensorPayload(values: values).encoded())
        let (sha, decoded) = await CoordinatorRoutes.hashAndDecode(body, expectedElementCount: elements)
        #expect(sha == BlobStore.sha256(body))
        #expect(try decoded.get().values == values)

        // A flipped data byte: the hash says so, and the payload's own checksum refuses it.
        var corrupted = body
        corrupted[corrupted.count - 1] ^= 1
        let (corruptedSHA, refused) = await CoordinatorRoutes.hashAndDecode(corrupted, expectedElementCount: elements)
        #expect(corruptedSHA == BlobStore.sha256(corrupted) && corruptedSHA != sha)
        #expect(throws: TensorPayloadError.self) { try refused.get() }

        // The wrong element count for the run: refused, with the hash still made.
        let (_, wrongCount) = await CoordinatorRoutes.hashAndDecode(body, expectedElementCount: elements + 1)
        #expect(throws: TensorPayloadError.unexpectedElementCount(expected: elements + 1, actual: elements)) { try wrongCount.get() }
    }
}
