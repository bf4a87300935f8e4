import Foundation

/// The protocol's constants and its JSON coders.
public enum WireProtocol {
    /// Path prefix of every endpoint; a breaking change gets a new prefix.
    public static let pathPrefix = "/v1"
    /// Content type of tensor payload bodies (`TensorPayload`).
    public static let tensorContentType = "application/vnd.koinon.tensor"
    public static let jsonContentType = "application/json"

    /// Sorted keys so the same message is always the same bytes (diffable
    /// logs, cacheable answers).
    public static func makeEncoder() -> JSONEncoder {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        return encoder
    }

    public static func makeDecoder() -> JSONDecoder { JSONDecoder() }

    /// One encoder and one decoder for every message: making a `JSONEncoder`
    /// took about a third of the time of encoding an assignment with it, on
    /// the path of every lease. (Foundation's coders are safe to share across
    /// threads; their settings are never changed after this.)
    public static let encoder = makeEncoder()
    public static let decoder = makeDecoder()
}

/// A machine-readable reason or error code (`lease_expired`, `bad_request`, ...).
///
/// Open-ended on purpose: a newer coordinator may send codes an older worker
/// does not know, and it must still decode the message (and show `message`).
/// The codes in use are listed in docs/protocol.md.
public struct ReasonCode: RawRepresentable, Hashable, Sendable, Codable, ExpressibleByStringLiteral, CustomStringConvertible {
    public var rawValue: String

    public init(rawValue: String) { self.rawValue = rawValue }
    public init(_ rawValue: String) { self.rawValue = rawValue }
    public init(stringLiteral value: String) { self.rawValue = value }

    public init(from decoder: any Decoder) throws {
        rawValue = try decoder.singleValueContainer().decode(String.self)
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        try container.encode(rawValue)
    }

    public var description: String { rawValue }

    // Lease and result answers (the schedule's reasons).
    public static let unknownLease: ReasonCode = "unknown_lease"
    public static let foreignLease: ReasonCode = "foreign_lease"
    public static let leaseExpired: ReasonCode = "lease_expired"
    public static let leaseReleased: ReasonCode = "lease_released"
    public static let resultSubmitted: ReasonCode = "result_submitted"
    public static let unitFinished: ReasonCode = "unit_finished"
    public static let stepFinished: ReasonCode = "step_finished"
    public static let conflictingResult: ReasonCode = "conflicting_result"
    public static let invalidResult: ReasonCode = "invalid_result"
    public static let superseded: ReasonCode = "superseded"
    // Trust (DESIGN §4).
    public static let replicaMismatch: ReasonCode = "replica_mismatch"
    public static let workerBanned: ReasonCode = "worker_banned"
    public static let workerQuarantined: ReasonCode = "worker_quarantined"
    // Why a lease request found no work.
    public static let unitsOutstanding: ReasonCode = "units_outstanding"
    public static let stepComplete: ReasonCode = "step_complete"
    public static let stepClosed: ReasonCode = "step_closed"
    public static let noActiveRun: ReasonCode = "no_active_run"
    /// The unit found needs a newer worker (`LeaseRequest.acceptsLocalSteps`).
    public static let workerOutdated: ReasonCode = "worker_outdated"
    // Request-level errors.
    public static let badRequest: ReasonCode = "bad_request"
    public static let invalidMetadata: ReasonCode = "invalid_metadata"
    public static let unauthorized: ReasonCode = "unauthorized"
    public static let notFound: ReasonCode = "not_found"
    public static let payloadTooLarge: ReasonCode = "payload_too_large"
    public static let unsupportedWorkerVersion: ReasonCode = "unsupported_worker_version"
    public static let internalError: ReasonCode = "internal_error"
    public static let unavailable: ReasonCode = "unavailable"
}

/// The body of every non-2xx answer that is not a lease/result answer:
/// `{"error": "bad_request", "message": "..."}`.
public struct ErrorResponse: Codable, Hashable, Sendable {
    public var error: ReasonCode
    /// Words for a person (the worker prints it).
    public var message: String

    public init(error: ReasonCode, message: String) {
        self.error = error
        self.message = message
    }

    enum CodingKeys: String, CodingKey {
        case error
        case message
    }
}
