import Foundation

/// Element types of the safetensors format.
public enum SafeTensorsDType: String, Sendable {
    case F64, F32, F16, BF16, I64, I32, I16, I8, U8, BOOL, U16, U32, U64, F8_E4M3, F8_E5M2

    public var size: Int {
        switch self {
        case .F64, .I64, .U64: 8
        case .F32, .I32, .U32: 4
        case .F16, .BF16, .I16, .U16: 2
        case .I8, .U8, .BOOL, .F8_E4M3, .F8_E5M2: 1
        }
    }
}

/// A malformed, truncated or hostile safetensors file.
public struct SafeTensorsError: Error, CustomStringConvertible, Equatable {
    public var message: String
    public init(_ message: String) { self.message = message }
    public var description: String { "safetensors: \(message)" }
}

/// A parsed and validated safetensors file (https://github.com/huggingface/safetensors):
/// 8-byte little-endian header length, a JSON header, then the tensor bytes.
public struct SafeTensorsFile: Sendable {
    public struct Entry: Sendable, Equatable {
        public var name: String
        public var dtype: SafeTensorsDType
        public var shape: [Int]
        /// Byte range in the data section.
        public var range: Range<Int>
        public var elementCount: Int { shape.reduce(1, *) }
    }

    /// Largest header accepted (the reference implementation's limit).
    static let maxHeaderBytes = 100_000_000

    public let entries: [String: Entry]
    public let metadata: [String: String]
    private let data: Data
    private let dataStart: Int

    public init(contentsOf url: URL) throws {
        let data: Data
        do { data = try Data(contentsOf: url, options: .alwaysMapped) } catch {
            throw SafeTensorsError("cannot read \(url.path): \(error.localizedDescription)")
        }
        do { try self.init(data: data) } catch {
            throw SafeTensorsError("\(url.lastPathComponent): \(error.message)")
        }
    }

    public init(data: Data) throws(SafeTensorsError) {
        guard data.count >= 8 else { throw SafeTensorsError("file is \(data.count) bytes, too short for a header") }
        let headerLength = data.prefix(8).enumerated().reduce(UInt64(0)) { $0 | UInt64($1.element) << (8 * UInt64($1.offset)) }
        guard headerLength <= UInt64(Self.maxHeaderBytes) else {
            throw SafeTensorsError("header length \(headerLength) exceeds the \(Self.maxHeaderBytes)-byte limit")
        }
        guard Int(headerLength) <= data.count - 8 else {
            throw SafeTensorsError("header length \(headerLength) runs past the end of the \(data.count)-byte file (truncated?)")
        }
        let start = data.startIndex
        let headerData = data[(start + 8)..<(start + 8 + Int(headerLength))]
        let json: [String: JSONValue]
        do { json = try JSONDecoder().decode([String: JSONValue].self, from: headerData) } catch {
            throw SafeTensorsError("header is not a JSON object")
        }
        let dataLength = data.count - 8 - Int(headerLength)
        var entries: [String: Entry] = [:]
        var metadata: [String: String] = [:]
        for (name, value) in json {
            if name == "__metadata__" {
                guard let object = value.object else { throw SafeTensorsError("__metadata__ must be an object") }
                for (k, v) in object {
                    guard let s = v.string else { throw SafeTensorsError("__metadata__ value for '\(k)' is not a string") }
                    metadata[k] = s
                }
                continue
            }
            entries[name] = try Self.entry(name: name, value: value, dataLength: dataLength)
        }
        // Tensors must not share bytes.
        let sorted = entries.values.sorted { ($0.range.lowerBound, $0.range.upperBound) < ($1.range.lowerBound, $1.range.upperBound) }
        for (a, b) in zip(sorted, sorted.dropFirst()) where a.range.upperBound > b.range.lowerBound {
            throw SafeTensorsError("tensors '\(a.name)' and '\(b.name)' overlap")
        }
        self.entries = entries
        self.metadata = metadata
        self.data = data
        self.dataStart = 8 + Int(headerLength)
    }

    private static func entry(name: String, value: JSONValue, dataLength: Int) throws(SafeTensorsError) -> Entry {
        guard let o = value.object else { throw SafeTensorsError("entry '\(name)' is not an object") }
        guard let dtypeName = o["dtype"]?.string else { throw SafeTensorsError("'\(name)': missing dtype") }
        guard let dtype = SafeTensorsDType(rawValue: dtypeName) else {
            throw SafeTensorsError("'\(name)': unknown dtype \(dtypeName)")
        }
        func integers(_ key: String) throws(SafeTensorsError) -> [Int] {
            guard let list = o[key]?.array else { throw SafeTensorsError("'\(name)': missing \(key)") }
            var out: [Int] = []
            for v in list {
                guard let n = v.number, n >= 0, n == n.rounded(), n < 0x1p53 else {
                    throw SafeTensorsError("'\(name)': \(key) must hold non-negative integers")
                }
                out.append(Int(n))
            }
            return out
        }
        let shape = try integers("shape")
        let offsets = try integers("data_offsets")
        guard offsets.count == 2, offsets[0] <= offsets[1] else {
            throw SafeTensorsError("'\(name)': data_offsets must be [begin, end] with begin <= end")
        }
        guard offsets[1] <= dataLength else {
            throw SafeTensorsError("'\(name)': data_offsets end \(offsets[1]) is past the data section (\(dataLength) bytes; truncated?)")
        }
        var elements = 1
        for d in shape {
            let (product, overflow) = elements.multipliedReportingOverflow(by: d)
            guard !overflow else { throw SafeTensorsError("'\(name)': shape \(shape) is too large") }
            elements = product
        }
        let (bytes, overflow) = elements.multipliedReportingOverflow(by: dtype.size)
        guard !overflow, bytes == offsets[1] - offsets[0] else {
            throw SafeTensorsError("'\(name)': shape \(shape) of \(dtype) needs \(overflow ? "too many" : String(bytes)) bytes but data_offsets span \(offsets[1] - offsets[0])")
        }
        return Entry(name: name, dtype: dtype, shape: shape, range: offsets[0]..<offsets[1])
    }

    /// Copies tensor `name` into `out` as Float32 (F32, F16 and BF16 are converted).
    public func read(_ name: String, into out: UnsafeMutableBufferPointer<Float>) throws(SafeTensorsError) {
        guard let e = entries[name] else { throw SafeTensorsError("no tensor named '\(name)'") }
        guard e.elementCount == out.count else {
            throw SafeTensorsError("'\(name)' has \(e.elementCount) elements, expected \(out.count)")
        }
        let dtype = e.dtype
        guard [.F32, .F16, .BF16].contains(dtype) else {
            throw SafeTensorsError("'\(name)' has dtype \(dtype); only F32, F16 and BF16 load as floats")
        }
        let begin = data.startIndex + dataStart + e.range.lowerBound
        data[begin..<(begin + e.range.count)].withUnsafeBytes { raw in
            switch dtype {
            case .F32:
                for i in 0..<out.count { out[i] = Float(bitPattern: UInt32(littleEndian: raw.loadUnaligned(fromByteOffset: 4 * i, as: UInt32.self))) }
            case .F16:
                for i in 0..<out.count { out[i] = Float(Float16(bitPattern: UInt16(littleEndian: raw.loadUnaligned(fromByteOffset: 2 * i, as: UInt16.self)))) }
            default:  // BF16: the top half of a Float32
                for i in 0..<out.count { out[i] = Float(bitPattern: UInt32(UInt16(littleEndian: raw.loadUnaligned(fromByteOffset: 2 * i, as: UInt16.self))) << 16) }
            }
        }
    }

    public func floats(_ name: String) throws(SafeTensorsError) -> [Float] {
        guard let e = entries[name] else { throw SafeTensorsError("no tensor named '\(name)'") }
        var out = [Float](repeating: 0, count: e.elementCount)
        try out.withUnsafeMutableBufferPointer { (b) throws(SafeTensorsError) in try read(name, into: b) }
        return out
    }
}

/// Writes F32 safetensors files.
public enum SafeTensorsWriter {
    public struct Tensor {
        public var name: String
        public var shape: [Int]
        public var values: UnsafeBufferPointer<Float>
        public init(name: String, shape: [Int], values: UnsafeBufferPointer<Float>) {
            self.name = name
            self.shape = shape
            self.values = values
        }
    }

    /// Tensors are written in the order given; metadata defaults to {"format": "pt"},
    /// which transformers expects.
    public static func write(_ tensors: [Tensor], metadata: [String: String] = ["format": "pt"], to url: URL) throws {
        var header: [String: JSONValue] = ["__metadata__": .object(metadata.mapValues { .string($0) })]
        var offset = 0
        for t in tensors {
            precondition(t.shape.reduce(1, *) == t.values.count, "shape does not match values for \(t.name)")
            let bytes = 4 * t.values.count
            header[t.name] = .object([
                "dtype": .string("F32"),
                "shape": .array(t.shape.map { .number(Double($0)) }),
                "data_offsets": .array([.number(Double(offset)), .number(Double(offset + bytes))]),
            ])
            offset += bytes
        }
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        var headerBytes = try encoder.encode(header)
        while headerBytes.count % 8 != 0 { headerBytes.append(0x20) }  // pad with spaces, as the reference does
        var file = Data(capacity: 8 + headerBytes.count + offset)
        withUnsafeBytes(of: UInt64(headerBytes.count).littleEndian) { file.append(contentsOf: $0) }
        file.append(headerBytes)
        for t in tensors {
            file.append(contentsOf: UnsafeRawBufferPointer(t.values))  // little-endian host
        }
        try file.write(to: url, options: .atomic)
    }
}
