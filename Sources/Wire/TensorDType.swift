/// The element type of a tensor payload's data, as stored in its header.
public enum TensorDType: UInt16, Sendable, Hashable, CaseIterable, Codable, CustomStringConvertible {
    case float32 = 1
    case float16 = 2
    case bfloat16 = 3

    public var bytesPerElement: Int { self == .float32 ? 4 : 2 }

    /// The lowercase name used in JSON (`"result_dtype": "bfloat16"`).
    public var name: String {
        switch self {
        case .float32: "float32"
        case .float16: "float16"
        case .bfloat16: "bfloat16"
        }
    }

    public init?(name: String) {
        guard let match = Self.allCases.first(where: { $0.name == name }) else { return nil }
        self = match
    }

    public var description: String { name }

    // In JSON a dtype is its name, not the header's number: readable, and
    // the numbers are an implementation detail of the binary format.
    public init(from decoder: any Decoder) throws {
        let name = try decoder.singleValueContainer().decode(String.self)
        guard let dtype = TensorDType(name: name) else {
            throw DecodingError.dataCorrupted(.init(
                codingPath: decoder.codingPath,
                debugDescription: "unknown dtype \"\(name)\" (known: float32, float16, bfloat16)"))
        }
        self = dtype
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        try container.encode(name)
    }
}
