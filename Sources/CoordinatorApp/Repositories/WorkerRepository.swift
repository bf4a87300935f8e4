import Crypto
import Foundation
import Logging
import PostgresNIO

/// Registered workers and their tokens (stored as SHA-256 only).
public struct WorkerRepository: Sendable {
    let db: Database
    let logger: Logger

    public init(db: Database, logger: Logger) {
        self.db = db
        self.logger = logger
    }

    static func tokenHash(_ token: String) -> Data { Data(SHA256.hash(data: Data(token.utf8))) }

    /// Registers a worker; returns its id and the secret token (shown once).
    public func register(name: String, backend: String, threads: Int, version: String,
                         address: String, owner: String = "") async throws -> (id: UUID, token: String) {
        let id = UUID()
        var random = SystemRandomNumberGenerator()
        let token = (0..<4).map { _ in String(format: "%016llx", random.next() as UInt64) }.joined()
        let hash = Self.tokenHash(token)
        try await db.query("""
            INSERT INTO workers (id, name, token_sha256, backend, threads, version, address, owner)
            VALUES (\(id), \(name), \(hash), \(backend), \(threads), \(version), \(address), \(owner))
            """, logger: logger)
        return (id, token)
    }
}
