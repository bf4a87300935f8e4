import Crypto
import Foundation
import Logging
import PostgresNIO

/// Registered workers and their tokens (stored as SHA-256 only).
public struct WorkerRepository: Sendable {
    let db: PostgresClient
    let logger: Logger

    public init(db: PostgresClient, logger: Logger) {
        self.db = db
        self.logger = logger
    }

    static func tokenHash(_ token: String) -> Data { Data(SHA256.hash(data: Data(token.utf8))) }

    /// Registers a worker; returns its id and the secret token (shown once).
    public func register(name: String, backend: String, threads: Int, version: String,
                         address: String) async throws -> (id: UUID, token: String) {
        let id = UUID()
        var random = SystemRandomNumberGenerator()
        let token = (0..<4).map { _ in String(format: "%016llx", random.next() as UInt64) }.joined()
        let hash = Self.tokenHash(token)
        try await db.query("""
            INSERT INTO workers (id, name, token_sha256, backend, threads, version, address)
            VALUES (\(id), \(name), \(hash), \(backend), \(threads), \(version), \(address))
            """, logger: logger)
        return (id, token)
    }

    /// The worker's id when `token` belongs to worker `id` (and marks it seen).
    public func authenticate(id: UUID, token: String) async throws -> Bool {
        let hash = Self.tokenHash(token)
        let rows = try await db.query("""
            UPDATE workers SET last_seen_at = now() WHERE id = \(id) AND token_sha256 = \(hash) RETURNING id
            """, logger: logger)
        for try await _ in rows { return true }
        return false
    }
}
