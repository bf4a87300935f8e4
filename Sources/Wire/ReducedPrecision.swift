/// Float32 ⇄ 16-bit conversions for tensor payloads. Narrowing rounds to
/// nearest, ties to even (IEEE 754's default, and what PyTorch does), so a
/// payload written here matches one written by `tensor.to(torch.bfloat16)`.
enum ReducedPrecision {
    static func float16Bits(_ value: Float) -> UInt16 {
        // The standard library's conversion is correctly rounded, overflows
        // to infinity and keeps NaN and subnormals.
        Float16(value).bitPattern
    }

    static func float(fromFloat16 bits: UInt16) -> Float {
        Float(Float16(bitPattern: bits))
    }

    /// bfloat16 is the top half of a float32. Rounding: add just under half a
    /// unit of the kept part, plus one when the kept part is odd (ties to
    /// even), and the carry does the rest (into the exponent, up to infinity).
    static func bfloat16Bits(_ value: Float) -> UInt16 {
        let bits = value.bitPattern
        if value.isNaN {
            // Truncating could clear every mantissa bit left and make an
            // infinity; set the quiet bit so it stays a NaN, sign kept.
            return UInt16(truncatingIfNeeded: bits >> 16) | 0x0040
        }
        let rounding: UInt32 = 0x7FFF + ((bits >> 16) & 1)
        return UInt16(truncatingIfNeeded: (bits &+ rounding) >> 16)
    }

    static func float(fromBFloat16 bits: UInt16) -> Float {
        Float(bitPattern: UInt32(bits) << 16)
    }
}
