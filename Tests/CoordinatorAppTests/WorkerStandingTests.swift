import CoordinatorApp
import Foundation
import KoinonCore
import Logging
import PostgresNIO
import Testing

/// What a lease that finds no work relies on: "last seen" times that never
/// wait for a result, and a remembered look at a worker's standing that a ban
/// recorded here undoes at once.
@Suite struct WorkerStandingTests {
    static let logger = Logger(label: "test")

    @Test func lastSeenSkipsARowAResultHoldsAndWritesItAtTheNextFlush() async throws {
        try await TestDatabase.withFresh(migrated: true) { db in
            let workers = WorkerRepository(db: Database(db.client), logger: Self.logger)
            let sessions = WorkerSessions(workers: workers)
            let (busy, busyToken) = try await workers.register(name: "busy", backend: "cpu", threads: 1, version: "0", address: "")
            let (idle, idleToken) = try await workers.register(name: "idle", backend: "cpu", threads: 1, version: "0", address: "")
            _ = try await sessions.authenticate(token: busyToken)
            _ = try await sessions.authenticate(token: idleToken)
            func lastSeen(_ id: UUID) async throws -> Date? {
                for try await seen in try await db.client.query("SELECT last_seen_at FROM workers WHERE id = \(id)",
                                                                logger: Self.logger).decode(Date?.self) { return seen }
                return nil
            }
            let before = try await lastSeen(busy)
            // Another transaction holds the busy worker's row (as recording a result does).
            try await db.client.withTransaction(logger: Self.logger) { conn in
                try await conn.query("SELECT 1 FROM workers WHERE id = \(busy) FOR NO KEY UPDATE", logger: Self.logger)
                try await sessions.flushLastSeen()  // returns without waiting for the row
            }
            #expect(try await lastSeen(busy) == before)
            #expect(try await lastSeen(idle) != nil)
            try await sessions.flushLastSeen()  // the skipped worker is written now
            #expect(try await lastSeen(busy) != before)
            // Seen again within the interval: not written again.
            let written = try await lastSeen(idle)
            _ = try await sessions.authenticate(token: idleToken)
            try await sessions.flushLastSeen()
            #expect(try await lastSeen(idle) == written)
        }
    }

    @Test func aRememberedFreeWorkerIsRefusedAsSoonAsItIsBanned() async throws {
        try await TestDatabase.withFresh(migrated: true) { db in
            let workers = WorkerRepository(db: Database(db.client), logger: Self.logger)
            let trust = TrustRepository(db: Database(db.client), logger: Self.logger)
            let worker = try await workers.register(name: "w", backend: "cpu", threads: 1, version: "0", address: "").id
            let policy = TrustPolicy()
            #expect(try await trust.refusingStanding(worker, policy: policy) == nil)  // free, and remembered
            _ = try await trust.record(.banned(reason: "testing"), worker: worker, policy: policy, now: Date())
            #expect(try await trust.refusingStanding(worker, policy: policy)?.banReason == "testing")
            #expect(try await trust.refusingStanding(UUID(), policy: policy) == nil)  // no such worker
        }
    }
}
