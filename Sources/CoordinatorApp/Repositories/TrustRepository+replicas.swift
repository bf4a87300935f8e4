import Foundation
import KoinonCore
import Logging
import PostgresNIO

/// What comparing a replicated unit's copies came to, for one of the copies.
public enum CopyVerdict: Sendable, Equatable {
    /// Still waiting for another copy.
    case pending
    /// It agreed with the majority (the unit is accepted).
    case verified(stepComplete: Bool)
    /// The majority disagreed with it.
    case wrong(message: String)
    /// The copies settled nothing; they are set aside and the unit is computed again.
    case setAside
    /// Someone else settled the unit already.
    case settled
}

/// A copy of a unit as comparison reads it.
public struct UnitCopy: Sendable {
    public var result: Int
    public var lease: UUID
    public var worker: UUID
    public var payloadSHA256: String
    public var loss: Double
}

/// What settling a unit did, for the caller to act on after the transaction.
public struct Settlement: Sendable {
    public var verdicts: [UUID: CopyVerdict] = [:]
    /// Workers found wrong, and the trust machine's actions for each.
    public var actions: [UUID: [TrustAction]] = [:]
}

extension TrustRepository {
    /// Verifying units with as many copies in as they wait for: (run, step, unit).
    public func unitsReadyToSettle() async throws -> [(Int, Int, Int)] {
        let rows = try await db.query("""
            SELECT u.run_id, u.step, u.unit FROM units u
            WHERE u.state = 'verifying'
              AND (SELECT count(*) FROM results r WHERE r.run_id = u.run_id AND r.step = u.step AND r.unit = u.unit
                   AND r.status = 'provisional') >= u.copies_needed
            ORDER BY u.run_id, u.step, u.unit
            """, logger: logger)
        var out: [(Int, Int, Int)] = []
        for try await row in rows.decode((Int, Int, Int).self) { out.append(row) }
        return out
    }

    /// Compares the copies of a verifying unit (`gradient` reads a copy's
    /// values) and records the decision in one transaction, holding the unit:
    /// the majority's first copy becomes the unit's result, agreeing copies
    /// are credited as replicas, and copies outvoted are rejected and their
    /// workers take a strike.
    public func settle(run: Int, step: Int, unit: Int, tolerance: ReplicaTolerance, maximumCopies: Int, policy: TrustPolicy,
                       now: Date, gradient: @Sendable (String) throws -> [Float]) async throws -> Settlement {
        try await db.withTransaction(logger: logger) { conn in
            var settlement = Settlement()
            let state = try await conn.query("""
                SELECT state FROM units WHERE run_id = \(run) AND step = \(step) AND unit = \(unit) FOR UPDATE
                """, logger: logger)
            var verifying = false
            for try await s in state.decode(String.self) { verifying = s == "verifying" }
            let rows = try await conn.query("""
                SELECT id, lease_id, worker_id, payload_sha256, loss FROM results
                WHERE run_id = \(run) AND step = \(step) AND unit = \(unit) AND status = 'provisional' ORDER BY id
                """, logger: logger)
            var copies: [UnitCopy] = []
            for try await (id, lease, worker, sha, loss) in rows.decode((Int, UUID, UUID, String, Double).self) {
                copies.append(UnitCopy(result: id, lease: lease, worker: worker, payloadSHA256: sha, loss: loss))
            }
            guard verifying else {
                for c in copies { settlement.verdicts[c.lease] = .settled }
                return settlement
            }
            let values = try copies.map { try gradient($0.payloadSHA256) }
            var measured: [[GradientAgreement?]] = Array(repeating: Array(repeating: nil, count: copies.count), count: copies.count)
            func agreement(_ i: Int, _ j: Int) -> GradientAgreement {
                if let m = measured[i][j] { return m }
                let m = GradientAgreement.measure(values[i], values[j], lossA: copies[i].loss, lossB: copies[j].loss)
                measured[i][j] = m
                measured[j][i] = m
                return m
            }
            let decision = ReplicaDecision.decide(count: copies.count, maximumCopies: maximumCopies) {
                agreement($0, $1).agrees(within: tolerance)
            }
            switch decision {
            case .needAnotherCopy:
                try await conn.query("""
                    UPDATE units SET copies_needed = \(copies.count + 1) WHERE run_id = \(run) AND step = \(step) AND unit = \(unit)
                    """, logger: logger)
                for c in copies { settlement.verdicts[c.lease] = .pending }
            case .undecidable:
                try await conn.query("""
                    UPDATE results SET status = 'dropped', reason = 'its copies of the unit did not agree'
                    WHERE run_id = \(run) AND step = \(step) AND unit = \(unit) AND status = 'provisional'
                    """, logger: logger)
                try await Self.reopen(conn, run: run, step: step, unit: unit, logger: logger)
                for c in copies { settlement.verdicts[c.lease] = .setAside }
            case .agreed(let group, let wrong):
                let canonical = copies[group[0]]
                let trusts = try await Self.lock(conn, copies.map(\.worker), logger: logger)
                try await conn.query("""
                    UPDATE results SET status = CASE WHEN id = \(canonical.result) THEN 'accepted' ELSE 'replica' END
                    WHERE id = ANY(\(group.map { copies[$0].result }))
                    """, logger: logger)
                try await conn.query("""
                    UPDATE units SET state = 'accepted' WHERE run_id = \(run) AND step = \(step) AND unit = \(unit)
                    """, logger: logger)
                try await conn.query("""
                    UPDATE leases SET state = 'superseded'
                    WHERE run_id = \(run) AND step = \(step) AND unit = \(unit) AND state = 'active'
                    """, logger: logger)
                // Copies are checked in arrival order; a worker with two copies of one unit cannot happen (koinon_submit).
                for i in group {
                    guard var trust = trusts[copies[i].worker] else { continue }
                    _ = trust.apply(.verified, at: now, policy: policy)
                    try await Self.store(conn, copies[i].worker, trust, logger: logger)
                }
                for i in wrong {
                    let a = agreement(i, group[0])
                    let message = String(format: "another %d copies of this unit agree with each other, not with this one (relative L2 error %.3g, cosine %.6f, loss difference %.3g)",
                                         group.count, a.relativeL2Error, a.cosine, a.lossDifference)
                    try await conn.query("""
                        UPDATE results SET status = 'rejected', reason = \(message) WHERE id = \(copies[i].result)
                        """, logger: logger)
                    guard var trust = trusts[copies[i].worker] else { continue }
                    settlement.actions[copies[i].worker] = trust.apply(.foundWrong, at: now, policy: policy)
                    forgetFreeWorkers()
                    try await Self.store(conn, copies[i].worker, trust, rejected: true, logger: logger)
                    try await Rejection(lease: copies[i].lease, run: run, step: step, unit: unit, reason: "replica_mismatch",
                                        message: message).insert(conn, worker: copies[i].worker, logger: logger)
                    settlement.verdicts[copies[i].lease] = .wrong(message: message)
                }
                let open = try await conn.query("""
                    SELECT NOT EXISTS (SELECT 1 FROM units u WHERE u.run_id = \(run) AND u.step = \(step) AND u.kind = 'train'
                                       AND u.state <> 'accepted')
                    """, logger: logger)
                var complete = false
                for try await c in open.decode(Bool.self) { complete = c }
                for i in group { settlement.verdicts[copies[i].lease] = .verified(stepComplete: complete) }
            }
            return settlement
        }
    }
}
