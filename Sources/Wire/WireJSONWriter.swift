import Foundation

/// Writes the lease cycle's answers (`LeaseResponse`, `SubmitResultResponse`
/// and the `Assignment` inside them) straight to bytes, the same bytes as
/// `WireProtocol.encoder`: under load, `JSONEncoder` took about 8% of the
/// coordinator's CPU for these two messages alone (a `perf` profile at 1,000
/// workers), building a value tree and sorting each object's keys at every
/// answer. Other messages keep going through `JSONEncoder`.
///
/// Keys are written in the order `WireProtocol.encoder` sorts them. The
/// tests compare every message's bytes with `JSONEncoder`'s, and check that
/// each message writes one member per stored property, so a field added to
/// a message and not here fails them.
public protocol WireJSONWritable: Encodable {
    func write(to writer: inout WireJSONWriter)
}

extension WireJSONWritable {
    /// This message as `WireProtocol.encoder` would encode it; throws where
    /// `JSONEncoder` would, for a number that is not finite.
    public func wireJSON() throws -> [UInt8] {
        var writer = WireJSONWriter()
        write(to: &writer)
        if let number = writer.nonFinite {
            throw EncodingError.invalidValue(number, .init(codingPath: [], debugDescription: "\(number) is not valid in JSON"))
        }
        return writer.bytes
    }
}

public struct WireJSONWriter {
    public private(set) var bytes: [UInt8] = []
    /// No member written yet in the object being written (no comma needed).
    private var atObjectStart = true
    /// The first number written that JSON cannot hold (written as 0).
    public private(set) var nonFinite: Double?

    public init() { bytes.reserveCapacity(512) }

    /// `{ ... }`, its members written by `members`.
    public mutating func object(_ members: (inout WireJSONWriter) -> Void) {
        bytes.append(UInt8(ascii: "{"))
        let outer = atObjectStart
        atObjectStart = true
        members(&self)
        atObjectStart = outer
        bytes.append(UInt8(ascii: "}"))
    }

    public mutating func key(_ name: StaticString) {
        if !atObjectStart { bytes.append(UInt8(ascii: ",")) }
        atObjectStart = false
        bytes.append(UInt8(ascii: "\""))
        name.withUTF8Buffer { bytes.append(contentsOf: $0) }
        bytes.append(contentsOf: [UInt8(ascii: "\""), UInt8(ascii: ":")])
    }

    public mutating func member(_ name: StaticString, _ value: String) {
        key(name)
        string(value)
    }

    public mutating func member(_ name: StaticString, _ value: String?) {
        if let value { member(name, value) }
    }

    public mutating func member(_ name: StaticString, _ value: Int) {
        key(name)
        integer(value.magnitude, negative: value < 0)
    }

    public mutating func member(_ name: StaticString, _ value: UInt64) {
        key(name)
        integer(UInt(value), negative: false)
    }

    public mutating func member(_ name: StaticString, _ value: Double) {
        key(name)
        number(value)
    }

    public mutating func member(_ name: StaticString, _ value: Double?) {
        if let value { member(name, value) }
    }

    public mutating func member(_ name: StaticString, _ value: UUID) {
        member(name, value.uuidString)
    }

    /// A time as `WireTimestamp` writes it.
    public mutating func member(_ name: StaticString, timestamp: Date) {
        member(name, WireTimestamp.string(from: timestamp))
    }

    public mutating func member(_ name: StaticString, _ value: (some WireJSONWritable)?) {
        guard let value else { return }
        key(name)
        value.write(to: &self)
    }

    /// A JSON string, escaped as `JSONEncoder` escapes it with
    /// `.withoutEscapingSlashes`: quote, backslash and control characters.
    public mutating func string(_ value: String) {
        bytes.append(UInt8(ascii: "\""))
        for byte in value.utf8 {
            switch byte {
            case UInt8(ascii: "\""): bytes.append(contentsOf: [UInt8(ascii: "\\"), UInt8(ascii: "\"")])
            case UInt8(ascii: "\\"): bytes.append(contentsOf: [UInt8(ascii: "\\"), UInt8(ascii: "\\")])
            case 0x08: bytes.append(contentsOf: [UInt8(ascii: "\\"), UInt8(ascii: "b")])
            case 0x0C: bytes.append(contentsOf: [UInt8(ascii: "\\"), UInt8(ascii: "f")])
            case 0x0A: bytes.append(contentsOf: [UInt8(ascii: "\\"), UInt8(ascii: "n")])
            case 0x0D: bytes.append(contentsOf: [UInt8(ascii: "\\"), UInt8(ascii: "r")])
            case 0x09: bytes.append(contentsOf: [UInt8(ascii: "\\"), UInt8(ascii: "t")])
            case 0..<0x20:
                let hex = Array("0123456789abcdef".utf8)
                bytes.append(contentsOf: [UInt8(ascii: "\\"), UInt8(ascii: "u"), UInt8(ascii: "0"), UInt8(ascii: "0"),
                                          hex[Int(byte >> 4)], hex[Int(byte & 0xF)]])
            default: bytes.append(byte)
            }
        }
        bytes.append(UInt8(ascii: "\""))
    }

    private mutating func integer(_ magnitude: UInt, negative: Bool) {
        if negative { bytes.append(UInt8(ascii: "-")) }
        var digits: (UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8,
                     UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8) =
            (0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0)
        var count = 0
        var rest = magnitude
        withUnsafeMutableBytes(of: &digits) { buffer in
            repeat {
                buffer[19 - count] = UInt8(ascii: "0") + UInt8(rest % 10)
                rest /= 10
                count += 1
            } while rest > 0
            bytes.append(contentsOf: buffer[(20 - count)...])
        }
    }

    /// As `JSONEncoder` writes a `Double`: its shortest round-trip
    /// description without a trailing ".0". A non-finite value is noted in
    /// `nonFinite` (and `wireJSON()` throws, as `JSONEncoder` does).
    private mutating func number(_ value: Double) {
        guard value.isFinite else {
            if nonFinite == nil { nonFinite = value }
            bytes.append(UInt8(ascii: "0"))
            return
        }
        var text = value.description
        if text.hasSuffix(".0") { text.removeLast(2) }
        bytes.append(contentsOf: text.utf8)
    }
}
