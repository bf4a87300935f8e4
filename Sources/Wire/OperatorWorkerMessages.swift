import Foundation

/// A worker as the operator sees it (`GET /v1/workers`, operator token).
public struct OperatorWorkerSummary: Codable, Hashable, Sendable {
    public var workerID: UUID
    public var name: String
    /// Who runs it, as the worker said at registration ("" when it did not say).
    public var owner: String
    /// The address it registered from.
    public var address: String
    /// "probation" (its results are all replicated), "trusted" (replicated
    /// by chance), "quarantined" (refused work until `quarantinedUntil`) or
    /// "banned" (by the operator, until unbanned).
    public var trust: String
    public var consecutiveValid: Int
    public var strikes: Int
    public var acceptedUnits: Int
    public var rejectedResults: Int
    public var quarantinedUntil: Date?
    public var banReason: String?
    public var lastSeen: Date

    public init(workerID: UUID, name: String, owner: String, address: String, trust: String, consecutiveValid: Int,
                strikes: Int, acceptedUnits: Int, rejectedResults: Int, quarantinedUntil: Date?, banReason: String?,
                lastSeen: Date) {
        self.workerID = workerID
        self.name = name
        self.owner = owner
        self.address = address
        self.trust = trust
        self.consecutiveValid = consecutiveValid
        self.strikes = strikes
        self.acceptedUnits = acceptedUnits
        self.rejectedResults = rejectedResults
        self.quarantinedUntil = quarantinedUntil
        self.banReason = banReason
        self.lastSeen = lastSeen
    }

    enum CodingKeys: String, CodingKey {
        case workerID = "worker_id", name, owner, address, trust
        case consecutiveValid = "consecutive_valid", strikes
        case acceptedUnits = "accepted_units", rejectedResults = "rejected_results"
        case quarantinedUntil = "quarantined_until", banReason = "ban_reason", lastSeen = "last_seen"
    }
}

/// `POST /v1/workers/{id}/ban` (operator token): the worker is refused from
/// now on, and its results not yet applied are dropped.
public struct BanWorkerRequest: Codable, Hashable, Sendable {
    public var reason: String
    public init(reason: String) { self.reason = reason }
}

/// The answer to ban and unban.
public struct BanWorkerResponse: Codable, Hashable, Sendable {
    public var workerID: UUID
    public var trust: String
    /// Results not yet applied that were dropped (their units are computed again).
    public var droppedResults: Int
    public init(workerID: UUID, trust: String, droppedResults: Int) {
        self.workerID = workerID
        self.trust = trust
        self.droppedResults = droppedResults
    }
    enum CodingKeys: String, CodingKey { case workerID = "worker_id", trust, droppedResults = "dropped_results" }
}
