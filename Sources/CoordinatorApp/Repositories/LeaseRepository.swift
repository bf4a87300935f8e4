import Foundation
import Logging
import PostgresNIO

/// A unit handed to a worker.
public struct LeaseGrant: Sendable, Equatable {
    public var leaseID: UUID
    public var runID: Int
    public var step: Int
    public var unit: Int
    public var isBackup: Bool
    public var deadline: Date
    public var parametersSHA256: String
}

/// What became of a submitted result.
public enum SubmitOutcome: Sendable, Equatable {
    /// Accepted; `stepComplete` when it was the step's last missing unit.
    case accepted(stepComplete: Bool)
    /// Another copy of the unit was accepted first.
    case superseded
    /// The same lease submitted different bytes before.
    case conflict
    case unknownLease
    case foreignLease
    /// The lease expired or was released before the result came.
    case leaseNotActive(state: String)
}

/// Why a heartbeat did not extend its lease.
public enum HeartbeatOutcome: Sendable, Equatable {
    case extended(Date)
    case unknownLease
    case foreignLease
    case leaseNotActive(state: String)
}

/// Work units and leases: claiming (safe across coordinator processes via
/// FOR UPDATE SKIP LOCKED), heartbeats, expiry, release and results.
public struct LeaseRepository: Sendable {
    let db: PostgresClient
    let logger: Logger

    public init(db: PostgresClient, logger: Logger) {
        self.db = db
        self.logger = logger
    }

    /// Claims the lowest pending unit of an active run's current step; when
    /// none is pending, a backup copy of the unit whose oldest lease is oldest
    /// (fewer than `maxCopies` active leases, none held by this worker).
    public func claim(worker: UUID, leaseSeconds: Double, maxCopies: Int) async throws -> LeaseGrant? {
        try await db.withTransaction(logger: logger) { conn in
            var target: (Int, Int, Int, Bool)?
            let pending = try await conn.query("""
                SELECT u.run_id, u.step, u.unit FROM units u JOIN runs r ON r.id = u.run_id
                WHERE r.state = 'active' AND u.step = r.current_step AND u.state = 'pending'
                ORDER BY u.run_id, u.unit LIMIT 1 FOR UPDATE OF u SKIP LOCKED
                """, logger: logger)
            for try await (r, s, u) in pending.decode((Int, Int, Int).self) { target = (r, s, u, false) }
            if target == nil {
                let backup = try await conn.query("""
                    SELECT u.run_id, u.step, u.unit FROM units u JOIN runs r ON r.id = u.run_id
                    WHERE r.state = 'active' AND u.step = r.current_step AND u.state = 'leased'
                      AND NOT EXISTS (SELECT 1 FROM units p WHERE p.run_id = u.run_id AND p.step = u.step AND p.state = 'pending')
                      AND NOT EXISTS (SELECT 1 FROM leases l WHERE l.run_id = u.run_id AND l.step = u.step AND l.unit = u.unit
                                      AND l.state = 'active' AND l.worker_id = \(worker))
                      AND (SELECT count(*) FROM leases l WHERE l.run_id = u.run_id AND l.step = u.step AND l.unit = u.unit
                           AND l.state = 'active') < \(maxCopies)
                    ORDER BY (SELECT min(l.leased_at) FROM leases l WHERE l.run_id = u.run_id AND l.step = u.step
                              AND l.unit = u.unit AND l.state = 'active'), u.unit
                    LIMIT 1 FOR UPDATE OF u SKIP LOCKED
                    """, logger: logger)
                for try await (r, s, u) in backup.decode((Int, Int, Int).self) { target = (r, s, u, true) }
            }
            guard let (run, step, unit, isBackup) = target else { return nil }
            let id = UUID()
            try await conn.query("UPDATE units SET state = 'leased' WHERE run_id = \(run) AND step = \(step) AND unit = \(unit)",
                                 logger: logger)
            let rows = try await conn.query("""
                INSERT INTO leases (id, run_id, step, unit, worker_id, is_backup, deadline)
                VALUES (\(id), \(run), \(step), \(unit), \(worker), \(isBackup), now() + make_interval(secs => \(leaseSeconds)))
                RETURNING deadline, (SELECT parameters_sha256 FROM parameter_versions WHERE run_id = \(run) AND version = \(step))
                """, logger: logger)
            for try await (deadline, sha) in rows.decode((Date, String).self) {
                return LeaseGrant(leaseID: id, runID: run, step: step, unit: unit, isBackup: isBackup,
                                  deadline: deadline, parametersSHA256: sha)
            }
            return nil
        }
    }

    /// Extends an active lease of this worker.
    public func heartbeat(lease: UUID, worker: UUID, leaseSeconds: Double) async throws -> HeartbeatOutcome {
        let rows = try await db.query("""
            UPDATE leases SET deadline = now() + make_interval(secs => \(leaseSeconds))
            WHERE id = \(lease) AND worker_id = \(worker) AND state = 'active' AND deadline >= now()
            RETURNING deadline
            """, logger: logger)
        for try await deadline in rows.decode(Date.self) { return .extended(deadline) }
        return try await whyNot(lease: lease, worker: worker)
    }

    private func whyNot(lease: UUID, worker: UUID) async throws -> HeartbeatOutcome {
        let rows = try await db.query("""
            SELECT worker_id, CASE WHEN state = 'active' AND deadline < now() THEN 'expired' ELSE state END
            FROM leases WHERE id = \(lease)
            """, logger: logger)
        for try await (owner, state) in rows.decode((UUID, String).self) {
            return owner != worker ? .foreignLease : .leaseNotActive(state: state)
        }
        return .unknownLease
    }

    /// A worker gives its unit back (it stops before finishing).
    public func release(lease: UUID, worker: UUID) async throws -> HeartbeatOutcome {
        try await db.withTransaction(logger: logger) { conn in
            let rows = try await conn.query("""
                UPDATE leases SET state = 'released' WHERE id = \(lease) AND worker_id = \(worker) AND state = 'active'
                RETURNING run_id, step, unit
                """, logger: logger)
            for try await (r, s, u) in rows.decode((Int, Int, Int).self) {
                try await Self.returnIfUnleased(conn, run: r, step: s, unit: u, logger: logger)
                return .extended(Date())
            }
            return .unknownLease
        }
    }

    static func returnIfUnleased(_ conn: PostgresConnection, run: Int, step: Int, unit: Int, logger: Logger) async throws {
        try await conn.query("""
            UPDATE units u SET state = 'pending'
            WHERE u.run_id = \(run) AND u.step = \(step) AND u.unit = \(unit) AND u.state = 'leased'
              AND NOT EXISTS (SELECT 1 FROM leases l WHERE l.run_id = u.run_id AND l.step = u.step AND l.unit = u.unit
                              AND l.state = 'active' AND l.deadline >= now())
            """, logger: logger)
    }

    /// Expires overdue leases and returns their units to the queue; returns how many expired.
    @discardableResult
    public func expireOverdue() async throws -> Int {
        try await db.withTransaction(logger: logger) { conn in
            let rows = try await conn.query("""
                UPDATE leases SET state = 'expired' WHERE state = 'active' AND deadline < now() RETURNING run_id, step, unit
                """, logger: logger)
            var units: [(Int, Int, Int)] = []
            for try await u in rows.decode((Int, Int, Int).self) { units.append(u) }
            for (r, s, u) in units { try await Self.returnIfUnleased(conn, run: r, step: s, unit: u, logger: logger) }
            return units.count
        }
    }

    /// Records a result whose payload (SHA-256 `payload`) is already in the
    /// blob store. The first result for a unit wins; the same submission
    /// again gets the same answer.
    public func submit(lease: UUID, worker: UUID, payload: String, loss: Double, tokens: Int) async throws -> SubmitOutcome {
        try await db.withTransaction(logger: logger) { conn in
            let leaseRows = try await conn.query("""
                SELECT worker_id, state, run_id, step, unit, deadline < now() FROM leases WHERE id = \(lease) FOR UPDATE
                """, logger: logger)
            var found: (UUID, String, Int, Int, Int, Bool)?
            for try await row in leaseRows.decode((UUID, String, Int, Int, Int, Bool).self) { found = row }
            guard let (owner, state, run, step, unit, overdue) = found else { return .unknownLease }
            guard owner == worker else { return .foreignLease }
            let previous = try await conn.query("SELECT payload_sha256, status FROM results WHERE lease_id = \(lease)",
                                                logger: logger)
            for try await (sha, status) in previous.decode((String, String).self) {
                guard sha == payload else { return .conflict }
                return status == "accepted" ? .accepted(stepComplete: false) : .superseded
            }
            guard state == "active" && !overdue else { return .leaseNotActive(state: overdue ? "expired" : state) }
            let unitRows = try await conn.query("""
                SELECT state FROM units WHERE run_id = \(run) AND step = \(step) AND unit = \(unit) FOR UPDATE
                """, logger: logger)
            var unitState = ""
            for try await s in unitRows.decode(String.self) { unitState = s }
            if unitState == "accepted" {
                try await conn.query("""
                    INSERT INTO results (lease_id, run_id, step, unit, worker_id, payload_sha256, loss, tokens, status, reason)
                    VALUES (\(lease), \(run), \(step), \(unit), \(worker), \(payload), \(loss), \(tokens), 'superseded',
                            'another copy of this unit was accepted first')
                    """, logger: logger)
                try await conn.query("UPDATE leases SET state = 'superseded' WHERE id = \(lease)", logger: logger)
                return .superseded
            }
            try await conn.query("""
                INSERT INTO results (lease_id, run_id, step, unit, worker_id, payload_sha256, loss, tokens, status)
                VALUES (\(lease), \(run), \(step), \(unit), \(worker), \(payload), \(loss), \(tokens), 'accepted')
                """, logger: logger)
            try await conn.query("UPDATE units SET state = 'accepted' WHERE run_id = \(run) AND step = \(step) AND unit = \(unit)",
                                 logger: logger)
            try await conn.query("UPDATE leases SET state = 'submitted' WHERE id = \(lease)", logger: logger)
            try await conn.query("""
                UPDATE leases SET state = 'superseded'
                WHERE run_id = \(run) AND step = \(step) AND unit = \(unit) AND state = 'active'
                """, logger: logger)
            let open = try await conn.query("""
                SELECT count(*) FROM units WHERE run_id = \(run) AND step = \(step) AND state <> 'accepted'
                """, logger: logger)
            var remaining = 1
            for try await n in open.decode(Int.self) { remaining = n }
            return .accepted(stepComplete: remaining == 0)
        }
    }
}
