import Foundation
import Testing
@testable import Wire

/// Deterministic random numbers for tests (SplitMix64): failures replay.
struct SeededRandom: RandomNumberGenerator {
    var state: UInt64
    init(seed: UInt64) { state = seed }
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}

/// Bytes of a payload whose header fields are whatever the test says,
/// with a correct SHA-256 of `data` unless told otherwise.
func handMadePayload(
    magic: [UInt8] = Array("KNTP".utf8), version: UInt16 = 1, dtype: UInt16 = 1, count: UInt64,
    data: [UInt8], sha256: [UInt8]? = nil
) -> [UInt8] {
    var bytes = magic
    withUnsafeBytes(of: version.littleEndian) { bytes += $0 }
    withUnsafeBytes(of: dtype.littleEndian) { bytes += $0 }
    withUnsafeBytes(of: count.littleEndian) { bytes += $0 }
    bytes += sha256 ?? sha256Bytes(data)
    return bytes + data
}

func sha256Bytes(_ data: [UInt8]) -> [UInt8] {
    let hex = Array(SHA256Hex.digest(of: data).utf8)
    return stride(from: 0, to: 64, by: 2).map { UInt8(String(decoding: hex[$0..<$0 + 2], as: UTF8.self), radix: 16)! }
}

func decode(_ bytes: [UInt8], expectedElementCount: Int? = nil) -> Result<TensorPayload, TensorPayloadError> {
    Result { () throws(TensorPayloadError) in try TensorPayload(decoding: bytes, expectedElementCount: expectedElementCount) }
}

@Suite struct TensorPayloadFormatTests {
    @Test func headerLayoutIsByteExact() throws {
        let bytes = TensorPayload(values: [1, -2], dtype: .float32).encoded()
        let data: [UInt8] = [0x00, 0x00, 0x80, 0x3F, 0x00, 0x00, 0x00, 0xC0]
        #expect(bytes.count == 48 + 8)
        #expect(Array(bytes[0..<4]) == Array("KNTP".utf8))
        #expect(Array(bytes[4..<6]) == [1, 0])                 // version 1
        #expect(Array(bytes[6..<8]) == [1, 0])                 // float32
        #expect(Array(bytes[8..<16]) == [2, 0, 0, 0, 0, 0, 0, 0])
        #expect(Array(bytes[16..<48]) == sha256Bytes(data))
        #expect(Array(bytes[48...]) == data)
        #expect(bytes == handMadePayload(count: 2, data: data))
        #expect(TensorPayload.encodedByteCount(elementCount: 2, dtype: .float32) == bytes.count)
    }

    @Test func halfPrecisionDataIsTwoBytesLittleEndian() {
        let f16 = TensorPayload(values: [1, -2], dtype: .float16).encoded()
        #expect(Array(f16[6..<8]) == [2, 0])
        #expect(Array(f16[48...]) == [0x00, 0x3C, 0x00, 0xC0])
        let bf16 = TensorPayload(values: [1, -2], dtype: .bfloat16).encoded()
        #expect(Array(bf16[6..<8]) == [3, 0])
        #expect(Array(bf16[48...]) == [0x80, 0x3F, 0x00, 0xC0])
        #expect(TensorPayload.encodedByteCount(elementCount: 2, dtype: .bfloat16) == bf16.count)
    }

    @Test func theHeaderCanBeReadAlone() throws {
        let bytes = TensorPayload(values: [1, 2, 3], dtype: .bfloat16).encoded()
        let header = try TensorPayload.header(of: bytes)
        #expect(header == TensorPayloadHeader(dtype: .bfloat16, elementCount: 3, dataSHA256: SHA256Hex.digest(of: Array(bytes[48...]))))
        #expect(header.dataByteCount == 6)
        #expect(header.encoded() == Array(bytes[0..<48]))
        // Only the header is checked: the data may still be missing.
        #expect(try TensorPayload.header(of: Array(bytes[0..<48])) == header)
    }

    @Test func dtypesHaveNamesAndWidths() {
        #expect(TensorDType.allCases.map(\.rawValue) == [1, 2, 3])
        #expect(TensorDType.allCases.map(\.name) == ["float32", "float16", "bfloat16"])
        #expect(TensorDType.allCases.map(\.bytesPerElement) == [4, 2, 2])
        #expect(TensorDType(name: "bfloat16") == .bfloat16)
        #expect(TensorDType(name: "int8") == nil)
    }
}

@Suite struct TensorPayloadRoundTripTests {
    static let specials: [Float] = [
        0, -0.0, 1, -1, 0.5, 3.140625, .infinity, -.infinity, .greatestFiniteMagnitude, -.greatestFiniteMagnitude,
        .leastNormalMagnitude, .leastNonzeroMagnitude, 0x1.5p-130, 123456.789, -7.25e-20,
    ]

    @Test func float32IsExactBitForBit() throws {
        var random = SeededRandom(seed: 1)
        let values = Self.specials + (0..<1_000).map { _ in Float(bitPattern: UInt32.random(in: 0...UInt32.max, using: &random)) }
        let decoded = try TensorPayload(decoding: TensorPayload(values: values).encoded())
        #expect(decoded.dtype == .float32)
        #expect(decoded.values.map(\.bitPattern) == values.map(\.bitPattern), "NaN payloads included")
    }

    @Test func encodingStraightFromABufferIsTheSameBytes() throws {
        var random = SeededRandom(seed: 3)
        let values = Self.specials + (0..<1_000).map { _ in Float(bitPattern: UInt32.random(in: 0...UInt32.max, using: &random)) }
        let direct = values.withUnsafeBufferPointer { TensorPayload.encodedFloat32($0) }
        #expect(direct == Data(TensorPayload(values: values).encoded()))
        #expect(try TensorPayload(decoding: direct).values.map(\.bitPattern) == values.map(\.bitPattern))
        #expect([Float]().withUnsafeBufferPointer { TensorPayload.encodedFloat32($0) } == Data(TensorPayload(values: []).encoded()))
    }

    @Test(arguments: [TensorDType.float32, .float16, .bfloat16])
    func decodingIntoABufferGivesTheValuesOrLeavesItAlone(dtype: TensorDType) throws {
        let values: [Float] = [0, -1.5, 2.25, 1024, -0.125, 3]
        let bytes = TensorPayload(values: values, dtype: dtype).encoded()
        var out = [Float](repeating: 7, count: values.count)
        let decoded = try out.withUnsafeMutableBufferPointer { try TensorPayload.decode(bytes, into: $0) }
        #expect(decoded == dtype)
        #expect(out == (try TensorPayload(decoding: bytes).values))
        // A wrong count or a corrupted byte: an error, and the destination as it was.
        var short = [Float](repeating: 7, count: values.count - 1)
        #expect(throws: TensorPayloadError.self) { try short.withUnsafeMutableBufferPointer { try TensorPayload.decode(bytes, into: $0) } }
        #expect(short == [Float](repeating: 7, count: values.count - 1))
        var corrupted = bytes
        corrupted[corrupted.count - 1] ^= 1
        var untouched = [Float](repeating: 7, count: values.count)
        #expect(throws: TensorPayloadError.self) {
            try untouched.withUnsafeMutableBufferPointer { try TensorPayload.decode(corrupted, into: $0) }
        }
        #expect(untouched == [Float](repeating: 7, count: values.count))
    }

    @Test(arguments: [TensorDType.float16, .bfloat16])
    func representableValuesRoundTripExactly(dtype: TensorDType) throws {
        var random = SeededRandom(seed: 2)
        // Every finite 16-bit pattern, widened: each is exactly representable.
        let values: [Float] = (0...UInt16.max).compactMap { bits in
            let value = dtype == .float16 ? ReducedPrecision.float(fromFloat16: bits) : ReducedPrecision.float(fromBFloat16: bits)
            return value.isNaN ? nil : value
        }.shuffled(using: &random)
        let decoded = try TensorPayload(decoding: TensorPayload(values: values, dtype: dtype).encoded(), expectedElementCount: values.count)
        #expect(decoded.dtype == dtype)
        #expect(decoded.values.map(\.bitPattern) == values.map(\.bitPattern))
    }

    @Test(arguments: [TensorDType.float32, .float16, .bfloat16])
    func nanAndInfinitiesSurviveEveryDtype(dtype: TensorDType) throws {
        let values: [Float] = [.nan, -.nan, .signalingNaN, Float(bitPattern: 0x7F80_0001), .infinity, -.infinity, 0, -0.0]
        let decoded = try TensorPayload(decoding: TensorPayload(values: values, dtype: dtype).encoded()).values
        #expect(decoded[0..<4].allSatisfy { $0.isNaN })
        #expect(decoded[1].sign == .minus)
        #expect(Array(decoded[4...]).map(\.bitPattern) == Array(values[4...]).map(\.bitPattern))
    }

    @Test(arguments: [TensorDType.float32, .float16, .bfloat16])
    func anEmptyTensorIsJustAHeader(dtype: TensorDType) throws {
        let bytes = TensorPayload(values: [], dtype: dtype).encoded()
        #expect(bytes.count == 48)
        #expect(try TensorPayload(decoding: bytes, expectedElementCount: 0) == TensorPayload(values: [], dtype: dtype))
    }

    @Test func anyContiguousBytesDecode() throws {
        let bytes = TensorPayload(values: [1, 2, 3]).encoded()
        let fromData = try TensorPayload(decoding: Data(bytes))
        let fromPointer = try bytes.withUnsafeBytes { try TensorPayload(decoding: $0) }
        #expect(fromData.values == [1, 2, 3] && fromPointer.values == [1, 2, 3])
        // A slice of a larger buffer (as a body read into a bigger one would be).
        let padded = [0xEE] + bytes + [0xEE]
        let fromSlice = try padded.withUnsafeBytes { try TensorPayload(decoding: UnsafeRawBufferPointer(rebasing: $0[1..<padded.count - 1])) }
        #expect(fromSlice.values == [1, 2, 3])
    }
}

@Suite struct ReducedPrecisionRoundingTests {
    /// Round to nearest, ties to even, by brute force: the reference the fast paths must match.
    static func referenceBFloat16(_ value: Float) -> UInt16 {
        let down = UInt16(value.bitPattern >> 16)   // truncation: the neighbour toward zero
        let lower = Double(Float(bitPattern: UInt32(down) << 16))
        // The neighbour away from zero, exactly; past the largest finite value it is ±2^128 (rounds to infinity).
        let next = Float(bitPattern: UInt32(down &+ 1) << 16)
        let upper = next.isInfinite ? (value.sign == .minus ? -0x1p128 : 0x1p128) : Double(next)
        let distanceDown = abs(Double(value) - lower)
        let distanceUp = abs(upper - Double(value))
        if distanceDown < distanceUp { return down }
        if distanceUp < distanceDown { return down &+ 1 }
        return down & 1 == 0 ? down : down &+ 1
    }

    @Test func bfloat16MatchesTheReferenceOnRandomFloats() {
        var random = SeededRandom(seed: 3)
        for _ in 0..<100_000 {
            let value = Float(bitPattern: UInt32.random(in: 0...UInt32.max, using: &random))
            guard value.isFinite else { continue }
            #expect(ReducedPrecision.bfloat16Bits(value) == Self.referenceBFloat16(value), "\(value)")
        }
    }

    @Test func bfloat16TiesGoToEven() {
        let one = Float(1)
        #expect(ReducedPrecision.bfloat16Bits(one + 0x1p-8) == 0x3F80)          // halfway 1 → 1.0078125: stays at even 1
        #expect(ReducedPrecision.bfloat16Bits(one + 3 * 0x1p-8) == 0x3F82)      // halfway 1.0078 → 1.0156: up to even
        #expect(ReducedPrecision.bfloat16Bits(one + 0x1p-8 + 0x1p-20) == 0x3F81) // just past halfway: up
        #expect(ReducedPrecision.bfloat16Bits(-(one + 0x1p-8)) == 0xBF80)
    }

    @Test func bfloat16OverflowsToInfinityAndKeepsNaN() {
        #expect(ReducedPrecision.bfloat16Bits(.greatestFiniteMagnitude) == 0x7F80)
        #expect(ReducedPrecision.bfloat16Bits(-.greatestFiniteMagnitude) == 0xFF80)
        #expect(ReducedPrecision.bfloat16Bits(Float(bitPattern: 0x7F7F_7FFF)) == 0x7F7F)   // just below the midpoint: finite
        #expect(ReducedPrecision.bfloat16Bits(Float(bitPattern: 0x7F7F_8000)) == 0x7F80)   // the midpoint: to even, infinity
        #expect(ReducedPrecision.bfloat16Bits(Float(bitPattern: 0x7F7E_8000)) == 0x7F7E)   // a midpoint below: to even, down
        #expect(ReducedPrecision.bfloat16Bits(.infinity) == 0x7F80)
        // A NaN whose payload lives only in the low bits must not truncate to infinity.
        let lowNaN = Float(bitPattern: 0x7F80_0001)
        #expect(ReducedPrecision.float(fromBFloat16: ReducedPrecision.bfloat16Bits(lowNaN)).isNaN)
        #expect(ReducedPrecision.bfloat16Bits(Float(bitPattern: 0xFF80_0001)) & 0x8000 != 0)
        // Subnormals round like everything else.
        #expect(ReducedPrecision.bfloat16Bits(.leastNonzeroMagnitude) == 0x0000)
        #expect(ReducedPrecision.bfloat16Bits(Float(bitPattern: 0x0000_8000)) == 0x0000)   // tie: to even (zero)
        #expect(ReducedPrecision.bfloat16Bits(Float(bitPattern: 0x0001_8000)) == 0x0002)   // tie: to even (two)
    }

    @Test func float16RoundsToNearestEven() {
        func f16(_ value: Float) -> UInt16 { ReducedPrecision.float16Bits(value) }
        #expect(f16(1) == 0x3C00)
        #expect(f16(65504) == 0x7BFF)                   // largest finite
        #expect(f16(65519.99) == 0x7BFF)                // below the midpoint to 65536
        #expect(f16(65520) == 0x7C00)                   // the midpoint rounds to even: infinity
        #expect(f16(1 + 0x1p-11) == 0x3C00)             // tie → even
        #expect(f16(1 + 3 * 0x1p-11) == 0x3C02)         // tie → even (up)
        #expect(f16(0x1p-24) == 0x0001)                 // smallest subnormal
        #expect(f16(0x1p-25) == 0x0000)                 // tie between 0 and 2^-24: even (0)
        #expect(f16(0x1.8p-25) == 0x0001)               // above the tie: up
        #expect(f16(-0.0) == 0x8000)
        #expect(ReducedPrecision.float(fromFloat16: 0x7BFF) == 65504)
        #expect(ReducedPrecision.float(fromFloat16: 0x0001) == 0x1p-24)
    }

    @Test func encodingRoundsAndDecodingGivesTheRoundedValues() throws {
        let values: [Float] = [0.1, 1 / 3, 1000.7, -2.5e-5]
        let bf16 = try TensorPayload(decoding: TensorPayload(values: values, dtype: .bfloat16).encoded()).values
        #expect(bf16 == values.map { ReducedPrecision.float(fromBFloat16: ReducedPrecision.bfloat16Bits($0)) })
        #expect(zip(bf16, values).allSatisfy { abs($0 - $1) <= abs($1) * 0x1p-8 })
        let f16 = try TensorPayload(decoding: TensorPayload(values: values, dtype: .float16).encoded()).values
        #expect(f16 == values.map { Float(Float16($0)) })
        #expect(zip(f16, values).allSatisfy { abs($0 - $1) <= abs($1) * 0x1p-11 + 0x1p-24 })
    }
}
