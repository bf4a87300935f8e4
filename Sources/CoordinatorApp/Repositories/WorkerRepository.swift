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

    /// Workers seen in the last `seconds`, with their accepted units and active leases.
    public func recent(seconds: Double) async throws -> [(id: UUID, name: String, backend: String, lastSeen: Date, accepted: Int, active: Int)] {
        let rows = try await db.query("""
            SELECT w.id, w.name, w.backend, w.last_seen_at,
                   (SELECT count(*) FROM results r WHERE r.worker_id = w.id AND r.status = 'accepted'),
                   (SELECT count(*) FROM leases l WHERE l.worker_id = w.id AND l.state = 'active')
            FROM workers w WHERE w.last_seen_at > now() - make_interval(secs => \(seconds)) ORDER BY w.name
            """, logger: logger)
        var out: [(UUID, String, String, Date, Int, Int)] = []
        for try await row in rows.decode((UUID, String, String, Date, Int, Int).self) { out.append(row) }
        return out
    }
}
