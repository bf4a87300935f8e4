import Dataset
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
    public var unitsPerStep: Int
    /// Units of one evaluation (0 when the dataset has no usable validation split).
    public var evaluationUnits: Int
    public var evaluationSequences: Int
    public var trainingFLOPsPerToken: Double
    public var evaluationFLOPsPerToken: Double
    /// Local-steps runs: the units' inner recipe, `firstInnerStep` 0 (set per assignment).
    public var localSteps: LocalStepsSpec?

    /// Batches a training unit trains on: local steps, or 1.
    public var innerStepsPerUnit: Int { localSteps?.steps ?? 1 }

    /// What a lease of training unit `step` says about its local steps (nil in gradient-step mode).
    public func localSteps(step: Int) -> LocalStepsSpec? {
        localSteps.map {
            var spec = $0
            spec.firstInnerStep = step * spec.steps
            return spec
        }
    }
}

extension Coordinator {
    /// Not isolated to the actor: request handlers never queue behind an aggregation.
    nonisolated public func runInfo(_ run: Int) async throws -> RunInfo {
        if let info = infoCache.withLock({ $0[run] }) { return info }
        guard let record = try await runs.get(run) else { throw EngineError("no run \(run)") }
        let config = try RunConfig(yaml: record.configYAML)
        let modelConfig = try GPTNeoConfig(jsonData: Data(record.modelConfigJSON.utf8))
        let seqLen = config.batch.sequenceLength
        let info = RunInfo(
            modelConfigSHA256: BlobStore.sha256(Data(record.modelConfigJSON.utf8)), manifestSHA256: record.datasetSHA256,
            datasetName: URL(fileURLWithPath: record.datasetPath).lastPathComponent, seed: config.seed,
            sequencesPerUnit: config.batch.sequencesPerUnit, sequenceLength: seqLen,
            parameterCount: ParameterLayout(config: modelConfig).count, unitsPerStep: record.unitsPerStep,
            evaluationUnits: Self.hasValidationSplit(record, sequenceLength: seqLen) ? config.evaluationUnits : 0,
            evaluationSequences: config.eval.sequences,
            trainingFLOPsPerToken: modelConfig.trainingFLOPsPerToken(sequenceLength: seqLen),
            evaluationFLOPsPerToken: modelConfig.evaluationFLOPsPerToken(sequenceLength: seqLen),
            localSteps: config.localSteps.map { local in
                let adamW = config.adamW, schedule = adamW.schedule
                return LocalStepsSpec(steps: local.steps, firstInnerStep: 0, learningRate: schedule.maxRate,
                                      minLearningRate: schedule.minRate, warmupSteps: schedule.warmupSteps,
                                      decaySteps: schedule.decaySteps, beta1: adamW.beta1, beta2: adamW.beta2,
                                      epsilon: adamW.epsilon, weightDecay: adamW.weightDecay, gradClip: adamW.maxGradNorm)
            })
        infoCache.withLock { $0[run] = info }
        return info
    }

    /// Whether the run's dataset has a validation split longer than one window (evaluations need one).
    nonisolated static func hasValidationSplit(_ record: RunRecord, sequenceLength: Int) -> Bool {
        let dir = URL(fileURLWithPath: record.datasetPath)
        guard let manifest = try? DatasetManifest.load(fromDatasetDirectory: dir),
              let reader = try? SplitReader(datasetDirectory: dir, manifest: manifest, split: .validation) else { return false }
        return reader.totalTokens > sequenceLength
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
            // Each stage on its own: one failing does not skip the others. A complete step is
            // applied first: every worker waits for it (the other stages wait for nobody, and
            // settling units may complete a step, which the second look applies).
            do { try await aggregateCompleteSteps() } catch { logger.error("aggregation failed: \(Database.describe(error))") }
            do { try await sessions.flushLastSeen() } catch { logger.error("recording workers' last-seen times failed: \(Database.describe(error))") }
            do {
                let expired = try await leases.expireOverdue()
                if expired > 0 {
                    workSignal.signal()
                    logger.info("expired \(expired) lease(s); their units are back in the queue")
                }
            } catch {
                logger.error("expiring overdue leases failed: \(Database.describe(error))")
            }
            do { try await settleWaitingUnits() } catch { logger.error("settling replicated units failed: \(Database.describe(error))") }
            do { try await aggregateCompleteSteps() } catch { logger.error("aggregation failed: \(Database.describe(error))") }
            do { try await recordCompleteEvaluations() } catch { logger.error("recording evaluations failed: \(Database.describe(error))") }
        } while tickAgain
    }

    /// The norm check's verdict on a training result of run `run` (an outlier
    /// that another worker reproduced for the same unit is plausible).
    nonisolated public func normVerdict(run: Int, step: Int, unit: Int, worker: UUID, norm: Double) -> GradientNormMonitor.Verdict {
        normMonitors.withLock { monitors in
            var monitor = monitors[run] ?? newNormMonitor()
            defer { monitors[run] = monitor }
            let verdict = monitor.verdict(norm: norm)
            guard case .outlier = verdict else { return verdict }
            let key = GradientNormMonitor.UnitKey(step: step, unit: unit)
            return monitor.outlierConfirmed(unit: key, worker: worker.uuidString, norm: norm) ? .plausible : verdict
        }
    }

    /// An accepted training result's norm joins the run's recent ones.
    nonisolated public func normAccepted(run: Int, norm: Double) {
        normMonitors.withLock { $0[run, default: newNormMonitor()].accepted(norm: norm) }
    }

    /// Whether a training result of `step` points against its step's
    /// earlier results (`GradientDirectionCheck`), and so is replicated
    /// whatever its worker's trust. Every result is judged, so that the
    /// step's sum holds every plausible one.
    nonisolated public func pointsAgainstItsStep(run: Int, step: Int, values: [Float], norm: Double) -> Bool {
        guard let minimumCosine = settings.directionMinimumCosine, settings.trust.replicates else { return false }
        let verdict = values.withUnsafeBufferPointer { v in
            directionChecks.withLock { checks in
                checks[run, default: GradientDirectionCheck(minimumCosine: minimumCosine)].judge(step: step, values: v, norm: norm)
            }
        }
        guard case .suspicious(let cosine) = verdict else { return false }
        logger.info("\(String(format: "run %d step %d: a result points against the step's other results (cosine %.3f); it is replicated", run, step, cosine))")
        CoordinatorMetrics.directionSuspect()
        return true
    }

    nonisolated private func newNormMonitor() -> GradientNormMonitor { GradientNormMonitor(maximumRatio: settings.maxNormRatio) }
}
