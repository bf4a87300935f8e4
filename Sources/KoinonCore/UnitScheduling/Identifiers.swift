import Foundation

/// Names one lease. Minted by the coordinator (a random UUID), so several
/// coordinator processes on one database never need to agree on a counter,
/// and the same id is the `{id}` of `/v1/leases/{id}/...`.
public struct LeaseID: Hashable, Sendable, Codable, CustomStringConvertible {
    public var uuid: UUID

    public init(_ uuid: UUID) { self.uuid = uuid }

    /// Parses the textual form that appears in URLs and database rows.
    public init?(_ text: String) {
        guard let uuid = UUID(uuidString: text) else { return nil }
        self.uuid = uuid
    }

    public var description: String { uuid.uuidString.lowercased() }
}

/// Names one registered worker (the identity behind its bearer token).
public struct WorkerID: Hashable, Sendable, Codable, CustomStringConvertible {
    public var uuid: UUID

    public init(_ uuid: UUID) { self.uuid = uuid }

    public init?(_ text: String) {
        guard let uuid = UUID(uuidString: text) else { return nil }
        self.uuid = uuid
    }

    public var description: String { uuid.uuidString.lowercased() }
}
