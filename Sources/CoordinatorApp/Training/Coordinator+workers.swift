import Foundation
import KoinonCore
import Logging
import NeoModel
import PostgresNIO
import Wire

/// What a worker's assignment needs to know about a run (cached: it never changes).
public struct RunInfo: Sendable {
    public var modelConfigSHA256: String
    public var manifestSHA256: String
    public var datasetName: String
    public var seed: UInt64
    public var sequencesPerUnit: Int
    public var sequenceLength: Int
    public var parameterCount: Int
}

extension Coordinator {
    /// Not isolated to the actor: request handlers never queue behind an aggregation.
    nonisolated public func runInfo(_ run: Int) async throws -> RunInfo {
        if let info = infoCache.withLock({ $0[run] }) { return info }
        guard let record = try await runs.get(run) else { throw EngineError("no run \(run)") }
        let config = try RunConfig(yaml: record.configYAML)
        let modelConfig = try GPTNeoConfig(jsonData: Data(record.modelConfigJSON.utf8))
        let info = RunInfo(
            modelConfigSHA256: BlobStore.sha256(Data(record.modelConfigJSON.utf8)), manifestSHA256: record.datasetSHA256,
            datasetName: URL(fileURLWithPath: record.datasetPath).lastPathComponent, seed: config.seed,
            sequencesPerUnit: config.batch.sequencesPerUnit, sequenceLength: config.batch.sequenceLength,
            parameterCount: ParameterLayout(config: modelConfig).count)
        infoCache.withLock { $0[run] = info }
        return info
    }

    /// The run a lease belongs to.
    nonisolated public func leaseRun(_ lease: UUID) async throws -> Int? {
        for try await run in try await db.execute(LeaseRunLookup(lease: lease), logger: logger) { return run }
        return nil
    }

    /// Called when a submit completed a step: aggregate now rather than at the next tick.
    nonisolated public func stepCompleted() {
        Task { await self.tick() }
    }

    /// One round of housekeeping: record who was seen, expire overdue leases,
    /// apply complete steps. Asked for while a round runs, it runs another
    /// round after it (a step completed mid-round is not left for a second).
    public func tick() async {
        guard !housekeepingPaused else { return }
        guard !ticking else {
            tickAgain = true
            return
        }
        ticking = true
        defer { ticking = false }
        repeat {
            tickAgain = false
            // Each stage on its own: one failing does not skip the others.
            do { try await sessions.flushLastSeen() } catch { logger.error("recording workers' last-seen times failed: \(error)") }
            do {
                let expired = try await leases.expireOverdue()
                if expired > 0 {
                    workSignal.signal()
                    logger.info("expired \(expired) lease(s); their units are back in the queue")
                }
            } catch {
                logger.error("expiring overdue leases failed: \(error)")
            }
            do { try await aggregateCompleteSteps() } catch { logger.error("aggregation failed: \(error)") }
        } while tickAgain
    }

    /// The figures of `GET /v1/status`.
    public func status() async throws -> StatusResponse {
        var out: [RunStatus] = []
        let recent = try await workers.recent(seconds: 300)
        let workerStatus = recent.map {
            WorkerStatus(workerID: $0.id, name: $0.name, backend: $0.backend, lastSeen: $0.lastSeen,
                         acceptedUnits: $0.accepted, activeLeases: $0.active)
        }
        for r in try await runs.list() {
            let history = try await runs.history(run: r.id).compactMap { h in
                h.trainLoss.map { LossPoint(step: h.step + 1, loss: $0, validationLoss: h.validationLoss) }
            }
            let counts = try await steps.unitCounts(run: r.id)
            out.append(RunStatus(
                runID: r.id, name: r.name, state: RunState(rawValue: r.state) ?? .active, step: r.currentStep,
                totalSteps: r.totalSteps, lossHistory: history, workers: workerStatus,
                units: UnitCounts(pending: counts["pending"] ?? 0, leased: counts["leased"] ?? 0,
                                  submitted: counts["submitted"] ?? 0, accepted: counts["accepted"] ?? 0)))
        }
        return StatusResponse(generatedAt: Date(), runs: out)
    }
}
