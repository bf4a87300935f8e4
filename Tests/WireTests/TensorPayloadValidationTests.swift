import Foundation
import Testing
@testable import Wire

@Suite struct TensorPayloadRejectionTests {
    let good = TensorPayload(values: [1, 2, 3, 4], dtype: .float32).encoded()

    @Test(arguments: [0, 1, 4, 47])
    func aShortHeaderIsTruncated(length: Int) {
        let result = decode(Array(good.prefix(length)))
        #expect(result == .failure(.truncatedHeader(byteCount: length)))
        #expect(TensorPayloadError.truncatedHeader(byteCount: length).description.contains("\(length) bytes"))
    }

    @Test func theMagicMustBeKNTP() {
        var bytes = good
        bytes.replaceSubrange(0..<4, with: Array("KOIN".utf8))
        #expect(decode(bytes) == .failure(.badMagic(Array("KOIN".utf8))))
        #expect(TensorPayloadError.badMagic(Array("KOIN".utf8)).description.contains("\"KOIN\""))
        // Unprintable magic is shown as hex rather than garbage.
        #expect(TensorPayloadError.badMagic([0, 1, 0xFF, 0x7F]).description.contains("0x0001ff7f"))
    }

    @Test func onlyVersionOneIsRead() {
        for version: UInt16 in [0, 2, 0xFFFF] {
            let bytes = handMadePayload(version: version, count: 4, data: Array(good[48...]))
            #expect(decode(bytes) == .failure(.unsupportedVersion(version)))
        }
        #expect(TensorPayloadError.unsupportedVersion(2).description.contains("version 2"))
    }

    @Test func unknownDtypesAreRefused() {
        for dtype: UInt16 in [0, 4, 0x100, 0xFFFF] {
            #expect(decode(handMadePayload(dtype: dtype, count: 4, data: Array(good[48...]))) == .failure(.unsupportedDType(dtype)))
        }
        #expect(TensorPayloadError.unsupportedDType(9).description.contains("dtype 9"))
    }

    @Test func countsWhoseByteSizeOverflowAreRefusedBeforeAnyArithmetic() {
        let hostile: [(UInt64, UInt16)] = [
            (.max, 1), (UInt64(Int.max), 1), (UInt64(Int.max / 4) + 1, 1), (UInt64(Int.max), 2), (UInt64(Int.max / 2) + 1, 3),
            (UInt64(Int.max / 2), 2),  // fits, but adding the header would overflow
        ]
        for (count, code) in hostile {
            let dtype = TensorDType(rawValue: code)!
            #expect(decode(handMadePayload(dtype: code, count: count, data: [])) == .failure(.elementCountTooLarge(count, dtype: dtype)),
                    "\(count) × \(dtype)")
        }
        // Large but representable: an honest length mismatch.
        let large = UInt64(Int.max / 8)
        #expect(decode(handMadePayload(count: large, data: [])) == .failure(.lengthMismatch(elementCount: Int(large), dtype: .float32, dataByteCount: 0)))
    }

    @Test func theDataMustBeExactlyAsLongAsTheHeaderSays() {
        let cut = Array(good.dropLast(3))
        #expect(decode(cut) == .failure(.lengthMismatch(elementCount: 4, dtype: .float32, dataByteCount: 13)))
        let message = TensorPayloadError.lengthMismatch(elementCount: 4, dtype: .float32, dataByteCount: 13).description
        #expect(message.contains("4 float32 elements (16 data bytes)") && message.contains("3 bytes are missing"))

        let padded = good + [0, 0]
        #expect(decode(padded) == .failure(.lengthMismatch(elementCount: 4, dtype: .float32, dataByteCount: 18)))
        #expect(TensorPayloadError.lengthMismatch(elementCount: 4, dtype: .float32, dataByteCount: 18).description.contains("2 bytes follow"))

        // Half-precision widths count too: 4 float16 elements are 8 bytes, not 16.
        #expect(decode(handMadePayload(dtype: 2, count: 4, data: Array(good[48...])))
            == .failure(.lengthMismatch(elementCount: 4, dtype: .float16, dataByteCount: 16)))
    }

    @Test func anExpectedElementCountIsEnforced() {
        #expect(decode(good, expectedElementCount: 5) == .failure(.unexpectedElementCount(expected: 5, actual: 4)))
        #expect(decode(good, expectedElementCount: 0) == .failure(.unexpectedElementCount(expected: 0, actual: 4)))
        #expect(decode(good, expectedElementCount: 4) == .success(TensorPayload(values: [1, 2, 3, 4])))
        #expect(TensorPayloadError.unexpectedElementCount(expected: 5, actual: 4).description.contains("4 elements, expected 5"))
    }

    @Test func corruptedDataFailsTheChecksum() {
        var bytes = good
        bytes[50] ^= 0x01
        let actual = SHA256Hex.digest(of: Array(bytes[48...]))
        let header = SHA256Hex.digest(of: Array(good[48...]))
        #expect(decode(bytes) == .failure(.checksumMismatch(header: header, actual: actual)))
        // A corrupted checksum in the header is the same failure, seen from the other side.
        var badHeader = good
        badHeader[20] ^= 0x80
        guard case .failure(.checksumMismatch) = decode(badHeader) else {
            Issue.record("a flipped header hash must fail the checksum")
            return
        }
        let message = TensorPayloadError.checksumMismatch(header: header, actual: actual).description
        #expect(message.contains(header) && message.contains(actual))
    }

    @Test func withoutVerifyingTheChecksumOnlyTheDataIsRead() throws {
        // Bytes whose hash as a whole was checked elsewhere: the header's data hash is not recomputed.
        var bytes = good
        bytes[20] ^= 0x80
        #expect(try TensorPayload(decoding: bytes, expectedElementCount: 4, verifyingChecksum: false).values == [1, 2, 3, 4])
        // Every other check still holds.
        #expect(throws: TensorPayloadError.unexpectedElementCount(expected: 5, actual: 4)) {
            try TensorPayload(decoding: bytes, expectedElementCount: 5, verifyingChecksum: false)
        }
    }

    @Test func checksAreMadeCheapestFirst() {
        // Wrong count *and* wrong data: the count is reported, without hashing.
        var bytes = good
        bytes[60] ^= 0xFF
        #expect(decode(bytes, expectedElementCount: 3) == .failure(.unexpectedElementCount(expected: 3, actual: 4)))
    }

    @Test func everyErrorHasItsOwnCodeAndAMessage() {
        let errors: [TensorPayloadError] = [
            .truncatedHeader(byteCount: 3), .badMagic([1, 2, 3, 4]), .unsupportedVersion(2), .unsupportedDType(7),
            .elementCountTooLarge(.max, dtype: .float32), .lengthMismatch(elementCount: 1, dtype: .float32, dataByteCount: 0),
            .unexpectedElementCount(expected: 1, actual: 2), .checksumMismatch(header: "a", actual: "b"),
        ]
        #expect(Set(errors.map(\.code)).count == errors.count)
        #expect(errors.allSatisfy { $0.code.hasPrefix("payload_") && $0.description.contains("tensor payload") })
    }
}

/// Hostile input: whatever the bytes, decoding returns a payload or a
/// `TensorPayloadError`, and never traps.
@Suite struct TensorPayloadFuzzTests {
    @Test(arguments: [TensorDType.float32, .float16, .bfloat16])
    func randomMutationsNeverCrash(dtype: TensorDType) {
        var random = SeededRandom(seed: UInt64(dtype.rawValue) * 7919)
        let values = (0..<37).map { _ in Float.random(in: -4...4, using: &random) }
        let original = TensorPayload(values: values, dtype: dtype).encoded()
        var outcomes: [String: Int] = [:]
        for round in 0..<3_000 {
            var bytes = original
            for _ in 0..<Int.random(in: 1...4, using: &random) {
                mutate(&bytes, using: &random)
            }
            // Half the time, keep the header's hash honest so decoding gets past the checksum.
            if round % 2 == 0, bytes.count >= 48 {
                bytes.replaceSubrange(16..<48, with: sha256Bytes(Array(bytes[48...])))
            }
            switch decode(bytes) {
            case .success(let payload):
                let header = try? TensorPayload.header(of: bytes)
                #expect(payload.values.count == header?.elementCount)
                #expect(bytes.count == 48 + payload.values.count * payload.dtype.bytesPerElement)
                outcomes["decoded", default: 0] += 1
            case .failure(let error):
                #expect(!error.description.isEmpty)
                outcomes[error.code, default: 0] += 1
            }
        }
        // The mutations reach every check, not just the first one.
        for code in ["decoded", "payload_truncated", "payload_bad_magic", "payload_unsupported_version",
                     "payload_unsupported_dtype", "payload_length_mismatch", "payload_checksum_mismatch"] {
            #expect(outcomes[code, default: 0] > 0, "no mutation ended in \(code): \(outcomes)")
        }
    }

    @Test func randomBytesBehindAValidMagicNeverCrash() {
        var random = SeededRandom(seed: 99)
        for _ in 0..<5_000 {
            let length = Int.random(in: 0...96, using: &random)
            var bytes = (0..<length).map { _ in UInt8.random(in: 0...255, using: &random) }
            if bytes.count >= 4 { bytes.replaceSubrange(0..<4, with: Array("KNTP".utf8)) }
            if bytes.count >= 6 { bytes[4] = 1; bytes[5] = 0 }
            _ = decode(bytes, expectedElementCount: Bool.random(using: &random) ? nil : Int.random(in: -1...20, using: &random))
        }
    }

    /// One of: flip a bit, overwrite a byte, truncate, extend, or rewrite a header field.
    private func mutate(_ bytes: inout [UInt8], using random: inout SeededRandom) {
        switch Int.random(in: 0..<6, using: &random) {
        case 0 where !bytes.isEmpty:
            bytes[Int.random(in: 0..<bytes.count, using: &random)] ^= 1 << UInt8.random(in: 0..<8, using: &random)
        case 1 where !bytes.isEmpty:
            bytes[Int.random(in: 0..<bytes.count, using: &random)] = UInt8.random(in: 0...255, using: &random)
        case 2:
            bytes.removeLast(Int.random(in: 0...bytes.count, using: &random))
        case 3:
            bytes += (0..<Int.random(in: 1...9, using: &random)).map { _ in UInt8.random(in: 0...255, using: &random) }
        case 4 where bytes.count >= 16:
            let count: UInt64 = [0, 1, 36, 37, 38, .max, UInt64(Int.max), UInt64.random(in: 0...UInt64.max, using: &random)]
                .randomElement(using: &random)!
            withUnsafeBytes(of: count.littleEndian) { bytes.replaceSubrange(8..<16, with: $0) }
        case 5 where bytes.count >= 8:
            let field = Bool.random(using: &random) ? 4 : 6
            let value = UInt16([0, 1, 2, 3, 4, 0xFFFF].randomElement(using: &random)!)
            withUnsafeBytes(of: value.littleEndian) { bytes.replaceSubrange(field..<field + 2, with: $0) }
        default:
            bytes[0...].reverse()
        }
    }
}
