import Foundation

/// The answer to `POST /v1/leases/{id}/heartbeat` (the request has no body).
///
///     {"status": "extended", "deadline": "2025-01-02T03:04:05.678Z"}
///     {"status": "stop", "reason": "lease_expired", "message": "..."}
///
/// On `stop` the worker abandons the unit and asks for new work.
public enum HeartbeatResponse: Codable, Hashable, Sendable {
    case extended(deadline: Date)
    case stop(reason: ReasonCode, message: String)

    enum CodingKeys: String, CodingKey {
        case status
        case deadline
        case reason
        case message
    }

    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        let status = try container.decode(String.self, forKey: .status)
        switch status {
        case "extended":
            self = .extended(deadline: try container.decodeTimestamp(forKey: .deadline))
        case "stop":
            self = .stop(reason: try container.decode(ReasonCode.self, forKey: .reason),
                         message: try container.decode(String.self, forKey: .message))
        default:
            throw DecodingError.dataCorruptedError(
                forKey: .status, in: container, debugDescription: "unknown heartbeat status \"\(status)\" (expected extended or stop)")
        }
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        switch self {
        case .extended(let deadline):
            try container.encode("extended", forKey: .status)
            try container.encodeTimestamp(deadline, forKey: .deadline)
        case .stop(let reason, let message):
            try container.encode("stop", forKey: .status)
            try container.encode(reason, forKey: .reason)
            try container.encode(message, forKey: .message)
        }
    }
}
