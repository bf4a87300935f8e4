import Dataset
import Foundation
import Kernels
import KoinonCore
import Logging
import NeoModel
import PostgresNIO
import Tokenizer
import Synchronization
import Wire

/// Settings of the coordinator's scheduling and storage.
public struct CoordinatorSettings: Sendable {
    public var leaseSeconds: Double = 60
    public var maxCopies: Int = 2
    /// A backup copy of a unit is handed out only once its lease is this old
    /// (a straggler), so idle workers near the end of a step do not redo
    /// units that are about to come back.
    public var backupAfterSeconds: Double = 10
    /// A training result whose gradient's L2 norm is more than this many times
    /// the median of the run's recent accepted results is rejected (0: off).
    public var maxNormRatio: Double = 10
    /// A training result whose cosine with the sum of its step's earlier
    /// results is below this is replicated whatever its worker's trust
    /// (`GradientDirectionCheck`; nil: off). Only with replication on.
    public var directionMinimumCosine: Double? = GradientDirectionCheck.defaultMinimumCosine
    /// Adaptive replication (DESIGN §4). Off here so a library user or a test
    /// with one worker is not left waiting for a replica; `serve` turns it on
    /// by default.
    public var trust = TrustPolicy.off
    /// How close two honest copies of a unit are.
    public var replicaTolerance = ReplicaTolerance()
    /// Replicas come from another address as well as another worker and owner
    /// (off only where every worker shares one address: a demo, a test).
    public var replicasFromDistinctAddresses = true
    /// Copies of a replicated unit compared before, if still no majority
    /// agrees, they are set aside and the unit is computed afresh.
    public var maximumCopiesPerUnit = 5
    /// Full checkpoint (parameters + optimizer state) every this many steps,
    /// for runs whose run.yaml sets no `checkpoint_interval`.
    public var checkpointEvery: Int = 25
    public var threads: Int? = nil
    /// The longest a database statement may take to answer before its caller
    /// gets an error (see `Database`).
    public var databaseTimeLimit: Duration = .seconds(30)
    /// Worker registrations (`POST /v1/workers`) a client address may make:
    /// earned back per minute, and at once (either 0: no limit). Enough for
    /// an operator starting a few dozen workers on one machine.
    public var registrationsPerMinute: Double = 30
    public var registrationBurst: Double = 60
    /// Requests an authenticated worker may make (lease, heartbeat, result,
    /// release): earned back per second, and at once (either 0: no limit).
    /// A real worker makes a few a unit.
    public var workerRequestsPerSecond: Double = 50
    public var workerRequestBurst: Double = 200
    /// A request body must keep arriving: each read within this many seconds
    /// (0: no limit), else `408` and the connection is closed.
    public var uploadIdleSeconds: Double = 30
    /// And the whole body within this many seconds (0: no limit); a result
    /// of tens of MB over a slow home line fits.
    public var uploadTotalSeconds: Double = 600
    public init() {}
}

/// The coordinator's training logic over its repositories and blob store:
/// creates runs, applies complete steps (one engine per run, rebuilt from the
/// last checkpoint plus the accepted results since, so a restart continues
/// exactly), and answers what workers need.
public actor Coordinator {
    /// Every statement with the time limit `settings.databaseTimeLimit`.
    public let db: Database
    public let blobs: BlobStore
    public let settings: CoordinatorSettings
    public let runs: RunRepository
    public let leases: LeaseRepository
    public let steps: StepRepository
    public let workers: WorkerRepository
    public let trust: TrustRepository
    public let sessions: WorkerSessions
    /// Wakes waiting lease requests when a step opens or a unit is back in the queue.
    public let workSignal = WorkSignal()
    /// Tokens per worker over the last minutes (for status).
    public let activity = WorkerActivity()
    /// The status snapshot that `/v1/status`, the dashboard and `/metrics` serve.
    public let statusBoard: StatusBoard
    /// When each run's last step was applied here (for the step-duration metric).
    var lastApplied: [Int: ContinuousClock.Instant] = [:]
    let logger: Logger
    let backend: CPUBackend
    var engines: [Int: RunEngine] = [:]
    let infoCache = Mutex<[Int: RunInfo]>([:])
    /// Per run, the recent accepted gradient norms the norm check judges by (this process's view).
    let normMonitors = Mutex<[Int: GradientNormMonitor]>([:])
    /// Per run, the direction check's sum of the current step's results (this process's view).
    let directionChecks = Mutex<[Int: GradientDirectionCheck]>([:])
    var ticking = false
    /// Set while the schema may be missing (migrations run at start-up).
    public private(set) var housekeepingPaused = false
    public func pauseHousekeeping(_ paused: Bool) { housekeepingPaused = paused }
    var tickAgain = false

    public init(db: PostgresClient, blobs: BlobStore, settings: CoordinatorSettings, logger: Logger) {
        self.db = Database(db, timeLimit: settings.databaseTimeLimit)
        self.blobs = blobs
        self.settings = settings
        self.logger = logger
        runs = RunRepository(db: self.db, logger: logger)
        leases = LeaseRepository(db: self.db, logger: logger)
        steps = StepRepository(db: self.db, logger: logger)
        workers = WorkerRepository(db: self.db, logger: logger)
        trust = TrustRepository(db: self.db, logger: logger)
        sessions = WorkerSessions(workers: workers)
        backend = CPUBackend(threads: settings.threads)
        statusBoard = StatusBoard(repository: StatusRepository(db: self.db, logger: logger), activity: activity, logger: logger)
    }

    /// Local steps a unit up to which honest replicas computed with different
    /// CPU kernels stayed within the default tolerance (measured, AVX-512
    /// against AVX2: relative L2 7.5e-4 at 5, 1.1e-2 at 10, 0.5 at 50;
    /// docs/model.md). The thread count does not matter.
    static let replicableLocalSteps = 5

    /// What `run create` tells the operator about a run whose units honest
    /// replicas may not agree on (nil: nothing to say).
    static func replicationWarning(_ config: RunConfig, tolerance: ReplicaTolerance) -> String? {
        guard let h = config.localSteps?.steps, h > replicableLocalSteps else { return nil }
        return """
            \(h) local steps a unit. Honest copies computed with other CPU kernels (AVX2, AVX-512, other \
            OpenBLAS cores) drift apart beyond the replica tolerance (relative L2 \(tolerance.relativeL2Error)) \
            after about \(replicableLocalSteps) local steps (docs/model.md): with replication on, use workers \
            of one kind or loosen --replica-relative-error
            """
    }

    /// Creates a run from its YAML (relative paths start at `baseDirectory`):
    /// the dataset's manifest and shards go into the blob store, version 0 is
    /// the seeded initialisation.
    public func createRun(yaml: String, baseDirectory: URL) async throws -> Int {
        let config = try RunConfig(yaml: yaml)
        let datasetURL = RunConfig.resolve(config.dataset, relativeTo: baseDirectory)
        let manifestData = try Data(contentsOf: datasetURL.appendingPathComponent(DatasetManifest.fileName))
        let manifest = try DatasetManifest.load(fromDatasetDirectory: datasetURL)
        let tokenizer = try BPETokenizer(directory: datasetURL.appendingPathComponent("tokenizer"))
        let hf = config.model.config.flatMap { FileManager.default.contents(atPath: RunConfig.resolve($0, relativeTo: baseDirectory).path) }
        let modelConfig = try config.modelConfig(hfConfig: hf, tokenizerVocabSize: tokenizer.vocabSize)
        // Everything a worker downloads is content-addressed.
        let manifestSHA = try blobs.put(manifestData)
        for entry in manifest.shards {
            _ = try Shard.open(entry, in: datasetURL, manifest: manifest)  // refuses a corrupt shard
            try blobs.put(Data(contentsOf: datasetURL.appendingPathComponent(entry.file)))
        }
        let tokenizerDir = datasetURL.appendingPathComponent("tokenizer")
        let vocab = try blobs.put(Data(contentsOf: tokenizerDir.appendingPathComponent(BPETokenizer.vocabFile)))
        let merges = try blobs.put(Data(contentsOf: tokenizerDir.appendingPathComponent(BPETokenizer.mergesFile)))
        let engine = try RunEngine(runConfig: config, modelConfig: modelConfig, backend: backend)
        let parameters = try blobs.put(engine.parametersPayload())
        let modelJSON = String(decoding: try modelConfig.jsonData(), as: UTF8.self)
        let id = try await runs.create(
            name: config.name, configYAML: yaml, modelConfigJSON: modelJSON, datasetPath: datasetURL.path,
            datasetSHA256: manifestSHA, tokenizer: (vocab, merges), seed: Int64(bitPattern: config.seed), totalSteps: config.steps,
            unitsPerStep: config.batch.unitsPerStep, initialParametersSHA256: parameters)
        let optimizer = try blobs.put(engine.optimizerPayload())
        try await steps.recordCheckpoint(run: id, version: 0, optimizerSHA256: optimizer)
        engines[id] = engine
        workSignal.signal()
        logger.info("created run \(id) '\(config.name)': \(engine.parameterCount) parameters, \(config.steps) steps × \(config.batch.unitsPerStep) units")
        if let warning = Self.replicationWarning(config, tolerance: settings.replicaTolerance) {
            logger.warning("run \(id): \(warning)")
        }
        return id
    }

    /// The run's engine at its current version: from memory, or rebuilt from
    /// the newest checkpoint by replaying the accepted results of later steps.
    func engine(for record: RunRecord) async throws -> RunEngine {
        if let e = engines[record.id], e.version == record.currentStep { return e }
        let config = try RunConfig(yaml: record.configYAML)
        let modelConfig = try GPTNeoConfig(jsonData: Data(record.modelConfigJSON.utf8))
        let engine = try RunEngine(runConfig: config, modelConfig: modelConfig, backend: backend)
        guard let checkpoint = try await runs.latestCheckpoint(run: record.id) else {
            throw EngineError("run \(record.id) has no checkpoint to resume from")
        }
        try engine.restore(version: checkpoint.version, parameters: try blobs.get(checkpoint.parameters),
                           optimizerState: try blobs.get(checkpoint.optimizer))
        for step in checkpoint.version..<record.currentStep {
            let results = try await steps.acceptedResults(run: record.id, step: step)
            _ = try engine.apply(unitGradients: try results.map { try blobs.get($0.payloadSHA256) }, verifyingChecksums: false)
        }
        logger.info("run \(record.id): rebuilt version \(record.currentStep) from checkpoint \(checkpoint.version)")
        engines[record.id] = engine
        return engine
    }

    /// Applies every complete step (repeatedly, so a backlog drains); returns how many.
    @discardableResult
    public func aggregateCompleteSteps() async throws -> Int {
        var applied = 0
        while true {
            let ready = try await steps.completeSteps()
            if ready.isEmpty { return applied }
            var progressed = false
            for (run, step) in ready {
                // One run failing (and logging why) does not hold the others back.
                let done = await catchingPerRun(run) {
                    try await self.whileAggregating(run) {
                        // Re-read under the lock: another process may have applied it meanwhile.
                        guard let record = try await runs.get(run), record.currentStep == step else { return false }
                        return try await apply(record: record)
                    }
                }
                if done == true { applied += 1; progressed = true }
            }
            if !progressed { return applied }  // the rest are another process's to apply
        }
    }

    private func catchingPerRun(_ run: Int, _ body: () async throws -> Bool?) async -> Bool? {
        do { return try await body() } catch {
            logger.error("run \(run): applying its step failed (retried at the next tick): \(Database.describe(error))")
            return nil
        }
    }

    /// Key space of the per-run aggregation lock ("KoAg"): one process applies a run's steps at a time.
    static let aggregationLockClass: Int32 = 0x4B6F_4167

    /// Runs `body` holding run `run`'s aggregation lock (a session-level
    /// advisory lock, released even if this process dies); nil when another
    /// process holds it.
    func whileAggregating<T: Sendable>(_ run: Int, _ body: () async throws -> T) async throws -> T? {
        try await db.withConnection { conn in
            let key = Int32(truncatingIfNeeded: run)
            let rows = try await conn.query("SELECT pg_try_advisory_lock(\(Self.aggregationLockClass), \(key))", logger: logger)
            var locked = false
            for try await l in rows.decode(Bool.self) { locked = l }
            guard locked else { return nil }
            // The lock belongs to this pooled session: if it cannot be released, the
            // session is closed, which releases it (else no process could aggregate the run).
            func unlock() async {
                do {
                    try await conn.query("SELECT pg_advisory_unlock(\(Self.aggregationLockClass), \(key))", logger: logger)
                } catch {
                    logger.error("run \(run): releasing the aggregation lock failed (\(Database.describe(error))); closing its connection")
                    await conn.close()
                }
            }
            let result: T
            do { result = try await body() } catch {
                await unlock()
                throw error
            }
            await unlock()
            return result
        }
    }

    /// Applies the run's current step; false when one of its results was
    /// lost from the blob store (its unit is computed again first).
    private func apply(record: RunRecord) async throws -> Bool {
        let started = ContinuousClock.now
        let engine = try await engine(for: record)
        let step = record.currentStep
        let results = try await steps.acceptedResults(run: record.id, step: step)
        let gradients: [Data]
        do { gradients = try results.map { try blobs.get($0.payloadSHA256) } } catch let error as BlobError {
            guard let sha = error.lostBlob else { throw error }
            try await dropLost(sha, run: record.id, step: step, error)
            return false
        }
        let outcome: RunEngine.StepOutcome
        do {
            outcome = try engine.apply(unitGradients: gradients, verifyingChecksums: false)
        } catch {
            engines[record.id] = nil  // the in-memory state may be half-updated
            throw error
        }
        let config = engine.runConfig
        let info = try await runInfo(record.id)
        let version = step + 1
        let every = config.checkpointInterval > 0 ? config.checkpointInterval : max(1, settings.checkpointEvery)
        let checkpoint = version % every == 0 || version == record.totalSteps
        // The new version's bytes go to the disk beside the database work below; the
        // transaction that names them commits only once they are there. (Every worker
        // waits for this step: a few milliseconds saved here are saved by all of them.)
        let parametersPayload = engine.parametersPayload()
        let optimizerPayload = checkpoint ? engine.optimizerPayload() : nil
        let parameters = BlobStore.sha256(parametersPayload)
        let optimizer = optimizerPayload.map(BlobStore.sha256)
        let store = self.blobs
        let stored = Task.detached {
            try store.put(parametersPayload, sha256: parameters, synced: false)
            if let optimizerPayload, let optimizer { try store.put(optimizerPayload, sha256: optimizer, synced: false) }
            // One sync for the new version and the step's results (not synced as they came):
            // an applied step can always be replayed from the checkpoint before it.
            try store.sync()
        }
        // Copies that verified a unit did the same work: they are credited too.
        let replicas = try await steps.replicaResults(run: record.id, step: step)
        let tokens = results.reduce(0) { $0 + $1.tokens }
        let trainLoss = results.reduce(0) { $0 + $1.loss } / Double(results.count)
        // The new version's validation loss comes from evaluation units that workers run beside training.
        let evaluationUnits = config.evaluates(version: version) ? info.evaluationUnits : 0
        do {
            try await steps.apply(AppliedStep(run: record.id, step: step, parametersSHA256: parameters,
                                              optimizerSHA256: optimizer, trainLoss: trainLoss, validationLoss: nil,
                                              learningRate: outcome.learningRate, gradientNorm: outcome.gradientNorm,
                                              tokens: tokens,
                                              contributions: Contribution.of(results + replicas,
                                                                             flopsPerToken: info.trainingFLOPsPerToken),
                                              evaluationUnits: evaluationUnits, aggregated: results.map(\.payloadSHA256)),
                                  unitsPerStep: record.unitsPerStep, totalSteps: record.totalSteps,
                                  beforeCommit: { try await stored.value })
        } catch {
            engines[record.id] = nil  // another process applied it first, or the database failed: rebuild next time
            throw error
        }
        workSignal.signal()  // the next step's units are pending
        // Every worker waited this long for the step (pruning below keeps no one waiting).
        let took = ContinuousClock.now - started
        if checkpoint { try await prune(run: record.id, checkpoint: version) }
        logger.info("\(String(format: "run %d step %d: loss %.4f (applied in %.0f ms)", record.id, version, trainLoss, took.inSeconds * 1e3))")
        stepObserved(run: record.id, tokens: tokens)
        return true
    }

    /// A result of the step is gone from the blob store (a power loss took a
    /// file not yet synced, or someone removed it): its copies are set aside
    /// and their units computed again, rather than the step failing for ever.
    /// Throws `error` when there was nothing left to set aside.
    nonisolated func dropLost(_ sha: String, run: Int, step: Int, _ error: BlobError) async throws {
        blobs.remove(sha)  // a damaged file goes (a result with the same bytes is written anew)
        let dropped = try await trust.dropUnappliedResults(payload: sha, reason: "its payload was lost from the blob store")
        guard dropped > 0 else { throw error }
        logger.warning("run \(run) step \(step): \(error); \(dropped) result(s) set aside, their units are computed again")
        workSignal.signal()
    }

    /// Step-duration and token metrics for a step this process applied.
    func stepObserved(run: Int, tokens: Int) {
        let now = ContinuousClock.now
        CoordinatorMetrics.stepApplied(run: run, tokens: tokens, sincePrevious: lastApplied[run].map { now - $0 })
        lastApplied[run] = now
    }

    /// Records the validation loss of every evaluation whose units are all in
    /// (one failing, and logging why, does not hold the others back).
    func recordCompleteEvaluations() async throws {
        for (run, version) in try await steps.completeEvaluations() {
            do {
                let info = try await runInfo(run)
                if let loss = try await steps.recordEvaluation(run: run, version: version,
                                                               flopsPerToken: info.evaluationFLOPsPerToken) {
                    logger.info("\(String(format: "run %d version %d: validation %.4f", run, version, loss))")
                    try await pruneEvaluated(run: run, version: version)
                }
            } catch {
                logger.error("run \(run): recording the evaluation of version \(version) failed (retried at the next tick): \(Database.describe(error))")
            }
        }
    }
}
