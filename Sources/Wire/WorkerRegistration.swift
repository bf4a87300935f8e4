import Foundation

/// `POST /v1/workers`: a worker introduces itself.
public struct RegisterWorkerRequest: Codable, Hashable, Sendable {
    /// Shown on the status page (`--name`).
    public var name: String
    /// What computes: e.g. "cpu avx512 openblas", "cuda H100".
    public var backend: String
    public var threads: Int
    /// The worker's software version, so the coordinator can refuse an incompatible one.
    public var version: String
    /// Who runs the worker (`--owner`): replicas of a unit go to workers of
    /// different owners. Absent: the worker stands for itself.
    public var owner: String?

    public init(name: String, backend: String, threads: Int, version: String, owner: String? = nil) {
        self.name = name
        self.backend = backend
        self.threads = threads
        self.version = version
        self.owner = owner
    }

    enum CodingKeys: String, CodingKey {
        case name
        case backend
        case threads
        case version
        case owner
    }
}

/// The worker's identity and the bearer token for every later request
/// (`Authorization: Bearer <token>`). The coordinator keeps only a hash of
/// the token, so this answer is the only time it is ever sent.
public struct RegisterWorkerResponse: Codable, Hashable, Sendable {
    public var workerID: UUID
    public var token: String

    public init(workerID: UUID, token: String) {
        self.workerID = workerID
        self.token = token
    }

    enum CodingKeys: String, CodingKey {
        case workerID = "worker_id"
        case token
    }
}
