import Foundation
import Logging
import PostgresNIO
import Synchronization

/// Authenticates worker tokens without a database write per request: known
/// token hashes are remembered in memory, and "last seen" times are collected
/// and written in one statement by housekeeping (about once a second), each
/// worker's at most once per `lastSeenInterval` (``LastSeenSchedule``).
public final class WorkerSessions: Sendable {
    let workers: WorkerRepository
    private let known = Mutex<[Data: UUID]>([:])
    private let seen: Mutex<LastSeenSchedule>

    /// A quarter of the minute within which a worker counts as online.
    public static let lastSeenInterval: Duration = .seconds(15)

    public init(workers: WorkerRepository) {
        self.workers = workers
        seen = Mutex(LastSeenSchedule(interval: Self.lastSeenInterval))
    }

    /// The worker a token belongs to, or nil (an unknown token is looked up every time).
    public func authenticate(token: String) async throws -> UUID? {
        let hash = WorkerRepository.tokenHash(token)
        if let id = known.withLock({ $0[hash] }) {
            saw(id)
            return id
        }
        guard let id = try await workers.worker(tokenHash: hash) else { return nil }
        known.withLock { $0[hash] = id }
        saw(id)
        return id
    }

    private func saw(_ worker: UUID) {
        let now = ContinuousClock.now
        seen.withLock { $0.saw(worker, at: now) }
    }

    /// Writes the collected "last seen" times; on failure they are kept for
    /// the next try, and so are workers whose rows another transaction holds.
    public func flushLastSeen() async throws {
        let now = ContinuousClock.now
        let ids = seen.withLock { $0.take(at: now) }
        guard !ids.isEmpty else { return }
        do {
            let busy = Set(ids).subtracting(try await workers.markSeen(ids))
            if !busy.isEmpty { seen.withLock { $0.putBack(busy) } }
        } catch {
            seen.withLock { $0.putBack(ids) }
            throw error
        }
    }
}

extension WorkerRepository {
    /// The worker with this token hash, if any.
    func worker(tokenHash: Data) async throws -> UUID? {
        let rows = try await db.query("SELECT id FROM workers WHERE token_sha256 = \(tokenHash)", logger: logger)
        for try await id in rows.decode(UUID.self) { return id }
        return nil
    }

    /// Sets `last_seen_at` to now for these workers and returns those it
    /// updated. Rows another transaction holds (a result being recorded bumps
    /// its worker's trust counter) are skipped, not waited for: "last seen"
    /// can wait a second, results cannot wait for a thousand rows' worth of
    /// "last seen". Never waiting, it cannot deadlock either.
    func markSeen(_ ids: [UUID]) async throws -> Set<UUID> {
        let rows = try await db.query("""
            UPDATE workers w SET last_seen_at = now()
            FROM (SELECT id FROM workers WHERE id = ANY(\(ids)) ORDER BY id FOR NO KEY UPDATE SKIP LOCKED) locked
            WHERE w.id = locked.id
            RETURNING w.id
            """, logger: logger)
        var updated = Set<UUID>()
        for try await id in rows.decode(UUID.self) { updated.insert(id) }
        return updated
    }
}
