import Foundation
import KoinonCore
import Wire

/// Trust (DESIGN §4): the trust machine's events and actions, replica
/// comparison, bans. Not isolated to the actor: request handlers never queue
/// behind an aggregation.
extension Coordinator {
    /// Whether a result of a worker with this trust record waits for a replica.
    nonisolated func drawsReplica(_ trust: WorkerTrust) -> Bool {
        trust.replicates(draw: Double.random(in: 0..<1), at: Date(), policy: settings.trust)
    }

    /// Records a result turned away by a check: a strike for its worker.
    nonisolated public func reject(worker: UUID, lease: UUID?, run: Int, step: Int, unit: Int, reason: String,
                                   message: String) async throws {
        let rejection = TrustRepository.Rejection(lease: lease, run: run, step: step, unit: unit, reason: reason, message: message)
        let actions = try await trust.record(.rejected, worker: worker, policy: settings.trust, now: Date(), rejection: rejection)
        // The lease ends with its rejected result: the unit goes back to the queue at once, so
        // a worker handing in garbage cannot hold a unit (and its step) until the lease expires.
        if let lease, case .extended = try await leases.release(lease: lease, worker: worker) { workSignal.signal() }
        try await perform(actions, for: worker, why: "its results were rejected too often")
        CoordinatorMetrics.rejected(reason: reason)
    }

    /// Compares the copies of a verifying unit, records the decision and acts
    /// on it (a worker found wrong loses its unapplied results).
    nonisolated public func settle(run: Int, step: Int, unit: Int) async throws -> Settlement {
        let info = try await runInfo(run)
        let blobs = self.blobs
        let settlement: Settlement
        do {
            settlement = try await trust.settle(
                run: run, step: step, unit: unit, tolerance: settings.replicaTolerance,
                maximumCopies: settings.maximumCopiesPerUnit, policy: settings.trust, now: Date()) { sha in
                    // An evaluation unit's copies are empty tensors: only their losses are compared
                    // (and its blob, shared by every evaluation result, may be pruned already).
                    unit < info.unitsPerStep
                        ? try TensorPayload(decoding: try blobs.get(sha), expectedElementCount: info.parameterCount,
                                            verifyingChecksum: false).values : []
                }
        } catch let error as BlobError {
            // A copy lost from the blob store is set aside; the copies left are compared (or wait for another).
            guard let sha = error.lostBlob else { throw error }
            try await dropLost(sha, run: run, step: step, error)
            return try await settle(run: run, step: step, unit: unit)
        }
        for (worker, actions) in settlement.actions {
            CoordinatorMetrics.rejected(reason: "replica_mismatch")
            logger.warning("worker \(worker) was found wrong on run \(run) step \(step) unit \(unit)")
            try await perform(actions, for: worker, why: "a replica of its result disagreed")
        }
        if settlement.verdicts.values.contains(where: { if case .verified(true) = $0 { true } else { false } }) {
            stepCompleted()
        }
        if settlement.verdicts.values.contains(where: { $0 == .pending || $0 == .setAside }) { workSignal.signal() }
        return settlement
    }

    /// Compares the copies of units that have all the copies they wait for
    /// but were not compared (the coordinator stopped, or the comparison
    /// failed, between a copy's arrival and its comparison). Housekeeping.
    func settleWaitingUnits() async throws {
        for (run, step, unit) in try await trust.unitsReadyToSettle() {
            do { _ = try await settle(run: run, step: step, unit: unit) } catch {
                logger.error("run \(run) step \(step) unit \(unit): comparing its copies failed (retried at the next tick): \(Database.describe(error))")
            }
        }
    }

    /// Bans a worker: no more work, its unapplied results dropped. Nil: no such worker.
    nonisolated public func ban(worker: UUID, reason: String) async throws -> BanWorkerResponse? {
        guard try await trust.standing(worker) != nil else { return nil }
        let actions = try await trust.record(.banned(reason: reason), worker: worker, policy: settings.trust, now: Date())
        let dropped = try await perform(actions, for: worker, why: "its worker was banned")
        logger.warning("worker \(worker) banned: \(reason)")
        return BanWorkerResponse(workerID: worker, trust: TrustState.banned.rawValue, droppedResults: dropped)
    }

    /// Lifts a ban (or a quarantine): the worker starts over on probation. Nil: no such worker.
    nonisolated public func unban(worker: UUID) async throws -> BanWorkerResponse? {
        guard try await trust.standing(worker) != nil else { return nil }
        _ = try await trust.record(.unbanned, worker: worker, policy: settings.trust, now: Date())
        logger.info("worker \(worker) unbanned (on probation)")
        return BanWorkerResponse(workerID: worker, trust: TrustState.probation.rawValue, droppedResults: 0)
    }

    /// Carries out the trust machine's actions; returns how many results were dropped.
    @discardableResult
    nonisolated func perform(_ actions: [TrustAction], for worker: UUID, why: String) async throws -> Int {
        var dropped = 0
        for action in actions {
            switch action {
            case .dropUnappliedResults:
                dropped = try await trust.dropUnappliedResults(of: worker, reason: why)
                if dropped > 0 { logger.warning("dropped \(dropped) unapplied result(s) of worker \(worker): \(why)") }
            case .releaseLeases:
                try await trust.releaseLeases(of: worker)
            }
        }
        if !actions.isEmpty { workSignal.signal() }
        return dropped
    }
}
