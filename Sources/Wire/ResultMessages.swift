import Foundation

/// What travels next to a result's `TensorPayload` body in
/// `PUT /v1/leases/{id}/result`: as HTTP headers (`headerFields`), or as JSON
/// where a result is stored or logged.
public struct ResultMetadata: Codable, Hashable, Sendable {
    public var leaseID: UUID
    /// Mean training loss over the unit's predicted tokens.
    public var loss: Double
    /// Tokens the loss was averaged over.
    public var tokenCount: Int
    /// SHA-256 of the whole request body (the encoded payload, header
    /// included): the result's identity for idempotent resubmission and its
    /// address in the blob store. Lowercase hex.
    public var payloadSHA256: String

    public init(leaseID: UUID, loss: Double, tokenCount: Int, payloadSHA256: String) {
        self.leaseID = leaseID
        self.loss = loss
        self.tokenCount = tokenCount
        self.payloadSHA256 = payloadSHA256
    }

    enum CodingKeys: String, CodingKey {
        case leaseID = "lease_id"
        case loss
        case tokenCount = "token_count"
        case payloadSHA256 = "payload_sha256"
    }

    /// Header names; HTTP header names are case-insensitive, so lookups should be too.
    public enum Header {
        public static let leaseID = "Koinon-Lease-ID"
        public static let loss = "Koinon-Loss"
        public static let tokenCount = "Koinon-Token-Count"
        public static let payloadSHA256 = "Koinon-Payload-SHA256"
    }

    /// The headers to send with the payload body.
    public var headerFields: [(name: String, value: String)] {
        [
            (Header.leaseID, leaseID.uuidString.lowercased()),
            // "\(Double)" is the shortest text that reads back to the same Double.
            (Header.loss, "\(loss)"),
            (Header.tokenCount, "\(tokenCount)"),
            (Header.payloadSHA256, payloadSHA256),
        ]
    }

    /// Reads and checks the headers; `value(name)` looks one up (case-insensitively).
    public init(headerValue value: (String) -> String?) throws(ResultMetadataError) {
        func required(_ name: String) throws(ResultMetadataError) -> String {
            guard let text = value(name).map({ String(HeaderText.trimmed($0)) }), !text.isEmpty else {
                throw ResultMetadataError("missing header \(name)")
            }
            return text
        }
        let leaseText = try required(Header.leaseID)
        guard let leaseID = UUID(uuidString: leaseText) else {
            throw ResultMetadataError("header \(Header.leaseID) is not a UUID: \"\(leaseText.prefix(64))\"")
        }
        let lossText = try required(Header.loss)
        guard let loss = Double(lossText), loss.isFinite else {
            throw ResultMetadataError("header \(Header.loss) is not a finite number: \"\(lossText.prefix(64))\"")
        }
        let countText = try required(Header.tokenCount)
        guard let tokenCount = Int(countText), tokenCount > 0 else {
            throw ResultMetadataError("header \(Header.tokenCount) is not a positive integer: \"\(countText.prefix(64))\"")
        }
        let digest = try required(Header.payloadSHA256)
        guard SHA256Hex.isValid(digest) else {
            throw ResultMetadataError(
                "header \(Header.payloadSHA256) is not a SHA-256 in 64 lowercase hex digits: \"\(digest.prefix(80))\"")
        }
        self.init(leaseID: leaseID, loss: loss, tokenCount: tokenCount, payloadSHA256: digest)
    }
}

/// Why result headers are unusable (answered as 400 `invalid_metadata`).
public struct ResultMetadataError: Error, Hashable, CustomStringConvertible {
    public let description: String
    init(_ description: String) { self.description = description }
}

/// The fate of a submitted result.
public enum SubmitStatus: String, Codable, Hashable, Sendable {
    case accepted
    case rejected
    /// Another copy of the unit was accepted first; not the worker's fault.
    case superseded
}

/// The answer to `PUT /v1/leases/{id}/result`, whatever the HTTP status:
/// `{"status": "rejected", "reason": "lease_expired", "message": "..."}`.
/// Resubmitting the same body under the same lease gets the same answer.
public struct SubmitResultResponse: Codable, Hashable, Sendable {
    public var status: SubmitStatus
    /// Set unless `accepted`.
    public var reason: ReasonCode?
    public var message: String?
    /// For an accepted training result: whether another worker's copy has
    /// checked it yet (credit comes once it is verified and applied).
    public var verification: Verification?
    /// The worker's next unit, when it asked for one with the submission
    /// (`NextLease`) and one was free: a lease as `POST /v1/leases` gives.
    /// Absent: ask `POST /v1/leases` as usual.
    public var next: Assignment?

    public enum Verification: String, Codable, Hashable, Sendable {
        /// Accepted as it came (the worker's trust drew no replica).
        case unreplicated
        /// Waiting for another worker's copy of the unit.
        case pending
        /// Another worker's copy agreed.
        case verified
    }

    public init(status: SubmitStatus, reason: ReasonCode? = nil, message: String? = nil, verification: Verification? = nil,
                next: Assignment? = nil) {
        self.status = status
        self.reason = reason
        self.message = message
        self.verification = verification
        self.next = next
    }

    enum CodingKeys: String, CodingKey {
        case status
        case verification
        case reason
        case message
        case next
    }
}

/// `Koinon-Next-Lease` on a result's submission: the worker asks for its
/// next unit in the same request, as a BOINC client reports results and asks
/// for work in one scheduler request. The coordinator claims one at once (no
/// waiting) once the result is recorded and answered 200, and returns it as
/// the answer's `next`. A worker loses nothing when none comes: it asks
/// `POST /v1/leases` as before. Values: `train`, plus `eval` from a worker
/// that computes evaluation units (`LeaseRequest.acceptsEvaluation`) and
/// `local-steps` from one that computes local-steps units, comma-separated.
public enum NextLease {
    public static let header = "Koinon-Next-Lease"

    public static func value(acceptsEvaluation: Bool, acceptsLocalSteps: Bool = false) -> String {
        (["train"] + (acceptsEvaluation ? ["eval"] : []) + (acceptsLocalSteps ? ["local-steps"] : [])).joined(separator: ", ")
    }

    /// The lease asked for (nil: none: no header, or no `train` in it); unknown words are ignored.
    public static func request(from value: String?) -> LeaseRequest? {
        guard let value else { return nil }
        let words = value.split(separator: ",").map { HeaderText.trimmed(String($0)).lowercased() }
        guard words.contains("train") else { return nil }
        return LeaseRequest(maxWaitSeconds: 0, acceptsEvaluation: words.contains("eval"),
                            acceptsLocalSteps: words.contains("local-steps"))
    }
}

/// The answer to `DELETE /v1/leases/{id}` (a stopping worker gives its unit back).
public struct ReleaseResponse: Codable, Hashable, Sendable {
    public enum Status: String, Codable, Hashable, Sendable {
        case released
        case refused
    }

    public var status: Status
    public var reason: ReasonCode?
    public var message: String?

    public init(status: Status, reason: ReasonCode? = nil, message: String? = nil) {
        self.status = status
        self.reason = reason
        self.message = message
    }

    enum CodingKeys: String, CodingKey {
        case status
        case reason
        case message
    }
}
