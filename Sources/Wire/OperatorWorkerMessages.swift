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

    // Times as the protocol writes them (ISO 8601, WireTimestamp), whatever the coder's date strategy.
    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        workerID = try c.decode(UUID.self, forKey: .workerID)
        name = try c.decode(String.self, forKey: .name)
        owner = try c.decode(String.self, forKey: .owner)
        address = try c.decode(String.self, forKey: .address)
        trust = try c.decode(String.self, forKey: .trust)
        consecutiveValid = try c.decode(Int.self, forKey: .consecutiveValid)
        strikes = try c.decode(Int.self, forKey: .strikes)
        acceptedUnits = try c.decode(Int.self, forKey: .acceptedUnits)
        rejectedResults = try c.decode(Int.self, forKey: .rejectedResults)
        quarantinedUntil = try c.decodeIfPresent(WireTime.self, forKey: .quarantinedUntil)?.wrappedValue
        banReason = try c.decodeIfPresent(String.self, forKey: .banReason)
        lastSeen = try c.decode(WireTime.self, forKey: .lastSeen).wrappedValue
    }

    public func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(workerID, forKey: .workerID)
        try c.encode(name, forKey: .name)
        try c.encode(owner, forKey: .owner)
        try c.encode(address, forKey: .address)
        try c.encode(trust, forKey: .trust)
        try c.encode(consecutiveValid, forKey: .consecutiveValid)
        try c.encode(strikes, forKey: .strikes)
        try c.encode(acceptedUnits, forKey: .acceptedUnits)
        try c.encode(rejectedResults, forKey: .rejectedResults)
        try c.encodeIfPresent(quarantinedUntil.map { WireTime(wrappedValue: $0) }, forKey: .quarantinedUntil)
        try c.encodeIfPresent(banReason, forKey: .banReason)
        try c.encode(WireTime(wrappedValue: lastSeen), forKey: .lastSeen)
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
