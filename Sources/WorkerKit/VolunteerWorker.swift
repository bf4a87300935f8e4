import Dataset
import Foundation
import Kernels
import KoinonCore
import Logging
import NeoModel
import Wire

/// The volunteer's loop: register, lease a unit, fetch what it needs
/// (cached, verified), compute the unit's mean gradient, upload it,
/// heartbeat meanwhile; repeat. Stops after `maxUnits` or when asked to.
public final class VolunteerWorker: @unchecked Sendable {
    public struct Options: Sendable {
        public var name: String
        public var threads: Int?
        public var cacheDirectory: URL
        public var maxUnits: Int?
        /// How long the coordinator may hold a lease request open.
        public var leaseWait: Double = 5
        /// The pause after a unit failed before asking for more work.
        public var failurePause: Double = 5
        /// The cache directory's size limit (least recently used files go first).
        public var cacheLimitBytes: Int64
        /// Look the run's name up (`GET /v1/status`, once per run) for the "joined run" line.
        public var announceRuns = true
        /// After this long without work (other than "no active run", said at once), say so once.
        public var quietWaitSeconds: Double = 60
        /// Who runs this worker (`--owner`), sent at registration.
        public var owner: String?
        /// Rewrites a result before it is handed in. For the adversary suite
        /// only (it plays malicious workers); no command sets it.
        public var resultRewriter: (@Sendable (inout ResultDraft) -> Void)?
        /// Which certificates the coordinator may present, and whether `http://`
        /// is allowed. The default follows the URL (tests and embedders pick it);
        /// `koinon-worker` sets it from `--ca`, `--pin-sha256` and `--insecure-http`.
        public var tls = CoordinatorTLS(allowsPlainHTTP: true)
        public init(name: String, threads: Int?, cacheDirectory: URL, maxUnits: Int?,
                    cacheLimitBytes: Int64 = 10 * ByteSize.gibibyte) {
            self.name = name
            self.threads = threads
            self.cacheDirectory = cacheDirectory
            self.maxUnits = maxUnits
            self.cacheLimitBytes = cacheLimitBytes
        }
    }

    let client: CoordinatorClient
    let options: Options
    let backend: CPUBackend
    let logger: Logger
    let cache: CacheDirectory
    /// Cache files the current unit needs: eviction keeps them.
    private var inUse: Set<String> = []
    /// Set by SIGINT/SIGTERM: finish the current unit, then stop.
    public let stopRequested = LockedFlag()
    /// Holding a lease right now (stopping must then finish or release it).
    public let busy = LockedFlag()
    private var trainers: [String: Trainer] = [:]  // by model config hash + batch shape
    private var innerState: (trainer: Trainer, optimizer: AdamW, start: FloatBuffer)?  // `localStepsState`
    public private(set) var unitsDone = 0
    /// Leases whose results the coordinator answered "accepted" (the most recent 10,000).
    public private(set) var acceptedLeases: [UUID] = []
    /// What the worker is doing, for the status line (updated as it goes).
    public let progress: WorkerProgress
    /// Seconds the last gradient computation of each trainer shape took (the "computing ~60%" estimate).
    private var computeSeconds: [String: Double] = [:]
    /// The run of the last lease (a new one is announced).
    private var currentRun: Int?
    /// The current stretch without work: since when, the last reason said, whether the long wait was said.
    private var noWorkSince: Date?
    private var noWorkReason: ReasonCode?
    private var saidLongWait = false

    public init(coordinatorURL: String, options: Options, logger: Logger) {
        let progress = WorkerProgress()
        self.progress = progress
        self.client = CoordinatorClient(baseURL: coordinatorURL, logger: logger, progress: progress, tls: options.tls)
        self.options = options
        self.backend = CPUBackend(threads: options.threads)
        self.logger = logger
        self.cache = CacheDirectory(root: options.cacheDirectory, limitBytes: options.cacheLimitBytes, logger: logger)
    }

    public func run() async throws {
        defer { Task { [client] in await client.shutdown() } }
        try FileManager.default.createDirectory(at: options.cacheDirectory, withIntermediateDirectories: true)
        cache.prepare()
        try await authenticate()
        logger.info("worker \(options.name) ready: \(backend.summary), coordinator \(client.baseURL)")
        // A unit that came with the previous result's answer (Koinon-Next-Lease) needs no lease request.
        var next: Assignment?
        while !stopRequested.isSet, options.maxUnits.map({ unitsDone < $0 }) ?? true {
            if let assignment = next {
                next = try await work(on: assignment)
                continue
            }
            let answer: LeaseResponse
            progress.update { if $0.idle == nil { $0.idle = "asking for work" } }
            do { answer = try await client.lease(maxWait: options.leaseWait) } catch let e as CoordinatorError where !e.transient {
                if e.httpStatus == 403 { throw e }  // banned or quarantined: said once, by the caller
                logger.warning("\(WorkerMessages.unknownToken(e.message, name: options.name))")
                try await authenticate(force: true)
                continue
            }
            switch answer {
            case .retry(let later):
                waiting(later)
                try await Task.sleep(for: .seconds(max(0.2, min(later.retryAfterSeconds, 30))))
            case .assigned(let assignment):
                noWorkSince = nil
                noWorkReason = nil
                saidLongWait = false
                progress.update { $0.idle = nil }
                next = try await work(on: assignment)
            }
        }
        if let unstarted = next {  // asked for before the stop: give it back at once
            try? await client.release(unstarted.leaseID)
        }
        progress.update { $0.idle = "stopping" }
        logger.info("stopping after \(unitsDone) unit(s)")
    }

    /// No work now: "no active run" is said at once (warning), a change of
    /// reason in the debug log, a long wait once; the status line shows it.
    func waiting(_ later: RetryLater, now: Date = Date()) {
        let short: String
        switch later.reason {
        case .noActiveRun: short = "no run is active (paused or finished)"
        case .stepComplete, .stepClosed: short = "waiting for the next step"
        default: short = "waiting for a free unit"
        }
        progress.update { $0.idle = short }
        if noWorkReason != later.reason {
            if later.reason == .noActiveRun {
                logger.warning("\(WorkerMessages.noWork(later))")
            } else {
                logger.debug("\(WorkerMessages.noWork(later))")
            }
            noWorkReason = later.reason
        }
        let since = noWorkSince ?? now
        noWorkSince = since
        if !saidLongWait, later.reason != .noActiveRun, now.timeIntervalSince(since) >= options.quietWaitSeconds {
            logger.info("\(WorkerMessages.noWorkFor(now.timeIntervalSince(since), later))")
            saidLongWait = true
        }
    }

    /// What to print at start-up (version, backend, coordinator, cache).
    public var startupBanner: StartupBanner {
        StartupBanner(backend: backend, coordinator: client.baseURL, name: options.name,
                      cacheDirectory: options.cacheDirectory, cacheLimitBytes: options.cacheLimitBytes)
    }

    /// Loads the cached token for this coordinator, or registers.
    func authenticate(force: Bool = false) async throws {
        let key = BlobName.of(client.baseURL)
        let file = options.cacheDirectory.appendingPathComponent("token-\(key).txt")
        // The worker's id beside its token (a pinned `token-*.txt` too), to find itself in /v1/status.
        let idFile = options.cacheDirectory.appendingPathComponent("token-\(key).worker-id.txt")
        if !force, let t = try? String(contentsOf: file, encoding: .utf8), !t.isEmpty {
            client.setToken(t.trimmingCharacters(in: .whitespacesAndNewlines))
            let id = (try? String(contentsOf: idFile, encoding: .utf8)).flatMap { UUID(uuidString: $0.trimmingCharacters(in: .whitespacesAndNewlines)) }
            progress.update { $0.workerID = id }
            return
        }
        progress.update { $0.idle = "registering" }
        let r = try await client.register(RegisterWorkerRequest(name: options.name, backend: backend.summary,
                                                                threads: backend.threads, version: WorkerVersion.current,
                                                                owner: options.owner))
        client.setToken(r.token)
        try r.token.write(to: file, atomically: true, encoding: .utf8)
        try? r.workerID.uuidString.lowercased().write(to: idFile, atomically: true, encoding: .utf8)
        progress.update {
            $0.workerID = r.workerID
            $0.idle = nil
        }
        logger.info("registered as \(r.workerID)")
    }

    /// Computes and hands in one unit; returns the next unit when the coordinator gave one with the answer.
    func work(on a: Assignment) async throws -> Assignment? {
        let label = WorkerMessages.unitLabel(run: a.runID, step: a.step, unit: a.unitIndex)
        busy.set(true)
        defer { busy.set(false) }
        let heartbeat = Task { [client] in
            while !Task.isCancelled {
                try await Task.sleep(for: .seconds(max(1, a.heartbeatIntervalSeconds)))
                if case .stop(let reason, let message) = try await client.heartbeat(a.leaseID) {
                    self.logger.warning("\(WorkerMessages.leaseLost(label, reason: reason, message: message))")
                    return
                }
            }
        }
        defer { heartbeat.cancel() }
        if currentRun != a.runID {  // (the heartbeat already runs: the lookup may take a moment)
            currentRun = a.runID
            await announceRun(a)
        }
        logger.info("leased \(label)")
        let started = Date()
        progress.update {
            $0.runID = a.runID
            $0.unit = UnitProgress(runID: a.runID, step: a.step, unit: a.unitIndex, phase: .preparing, phaseStarted: started)
            if $0.firstUnitStarted == nil { $0.firstUnitStarted = started }
        }
        defer { progress.update { $0.unit = nil } }
        do {
            let (payload, loss, tokens) = try await compute(a)
            progress.update { $0.finished(tokens: tokens, at: Date()) }
            progress.phase(.uploading)
            var draft = ResultDraft(assignment: a, payload: payload, loss: loss, tokens: tokens)
            options.resultRewriter?(&draft)
            // The next unit is asked for with this one unless the worker stops after it.
            let last = stopRequested.isSet || options.maxUnits.map { unitsDone + 1 >= $0 } ?? false
            let answer = try await client.submit(lease: a.leaseID, payload: draft.payload, loss: draft.loss, tokens: draft.tokens,
                                                 claimedSHA256: draft.claimedSHA256, askingNext: !last)
            switch answer.status {
            case .accepted:
                acceptedLeases.append(a.leaseID)
                if acceptedLeases.count > 10_000 { acceptedLeases.removeFirst(acceptedLeases.count - 10_000) }
                progress.update { $0.unitsAccepted += 1 }
                let pending = answer.verification == .pending ? " (another worker's copy will verify it)" : ""
                logger.info("\(label): accepted, loss \(String(format: "%.4f", loss))\(pending)")
            case .superseded:
                progress.update { $0.unitsSuperseded += 1 }
                logger.warning("\(WorkerMessages.superseded(label))")
            case .rejected:
                progress.update { $0.unitsRejected += 1 }
                logger.warning("\(WorkerMessages.rejected(label, reason: answer.reason, message: answer.message))")
            }
            unitsDone += 1
            return answer.next
        } catch is CancellationError {
            try? await client.release(a.leaseID)
            throw CancellationError()
        } catch {
            // One unit this worker cannot compute (a pruned version, a bad assignment) does not end
            // the worker: the unit goes back, and after a pause the worker asks for other work.
            logger.error("\(WorkerMessages.unitFailed(label, error: error))")
            heartbeat.cancel()  // the lease is given back: no heartbeat may report it lost
            try? await client.release(a.leaseID)
            progress.update { $0.unit = nil }
            try await Task.sleep(for: .seconds(options.failurePause))
            return nil
        }
    }

    /// The first lease of a run: "joined run 1 'shakespeare-char' at step 40"
    /// (the name from /v1/status, when it answers quickly).
    func announceRun(_ a: Assignment) async {
        var name: String?
        if options.announceRuns, let status = try? await client.status(timeout: 5) {
            name = status.runs.first { $0.runID == a.runID }?.name
        }
        progress.update {
            $0.runID = a.runID
            $0.runName = name
        }
        logger.info("\(WorkerMessages.joinedRun(id: a.runID, name: name, step: a.step))")
    }

    /// The unit's mean gradient (float32 payload), its loss and token count.
    func compute(_ a: Assignment) async throws -> (Data, Double, Int) {
        inUse = ["datasets/\(a.data.manifestSHA256)/\(DatasetManifest.fileName)"]  // cached() adds the rest
        let configData = try await cached("configs/\(a.modelConfigSHA256).json", sha: a.modelConfigSHA256, what: "model config") {
            "/v1/runs/\(a.runID)/config"
        }
        let config = try GPTNeoConfig(jsonData: configData)
        let key = "\(a.modelConfigSHA256)-\(a.data.sequences)x\(a.data.sequenceLength)"
        let trainer: Trainer
        if let t = trainers[key] { trainer = t } else {
            let model = try GPTNeo(config: config, backend: backend)
            trainer = try Trainer(model: model, optimizer: AdamWConfig(schedule: .constant(0)),
                                  batch: a.data.sequences, seqLen: a.data.sequenceLength)
            trainers = [key: trainer]
        }
        progress.phase(.downloading("parameters"))
        let params = try await client.download("/v1/runs/\(a.runID)/parameters/\(a.parameters.version)",
                                               sha256: a.parameters.sha256,
                                               maxBytes: TensorPayload.encodedByteCount(elementCount: trainer.model.layout.count, dtype: .float32),
                                               onBytes: { [progress] in progress.bytes($0, of: $1) })
        progress.phase(.preparing)
        // (download checked the bytes against the lease's SHA-256 of them)
        try TensorPayload.decode(params, into: trainer.model.parameters.buffer, verifyingChecksum: false)
        if let spec = a.evaluation {  // an evaluation unit: a validation loss, no gradient
            progress.phase(.computing)
            return try await evaluate(a, spec, model: trainer.model)
        }
        let reader = try await splitReader(manifestSHA256: a.data.manifestSHA256)
        let windows = TrainingWindows(seed: a.data.seed, sequenceLength: a.data.sequenceLength,
                                      sequencesPerUnit: a.data.sequences, totalTokens: reader.totalTokens)
        // A gradient-step unit trains on the batch of its step; a local-steps unit on one per inner step.
        try a.localSteps?.validate()  // before its numbers make ranges
        let innerSteps = a.localSteps?.innerSteps ?? a.step..<a.step + 1
        for inner in innerSteps {
            try await fetchShards(covering: windows.offsets(step: inner, unit: a.unitIndex), length: windows.windowLength,
                                  reader: reader)
        }
        var tokenCount = 0
        func batch(_ inner: Int) throws -> (tokens: [Int32], targets: [Int32]) {
            let b = try reader.batch(offsets: windows.offsets(step: inner, unit: a.unitIndex), sequenceLength: a.data.sequenceLength)
            tokenCount += b.targets.count
            return b
        }
        let timingKey = "\(key)-\(innerSteps.count)"
        progress.phase(.computing, expectedSeconds: computeSeconds[timingKey])
        let computeStart = DispatchTime.now().uptimeNanoseconds
        let loss: Double
        if let spec = a.localSteps {
            let (inner, start) = localStepsState(spec, trainer: trainer)
            loss = try trainer.localSteps(spec.steps, batch: { try batch(spec.firstInnerStep + $0) }, inner: inner,
                                          firstScheduleStep: spec.firstInnerStep, start: start)
        } else {
            let (tokens, targets) = try batch(a.step)
            loss = try trainer.computeGradients(tokens: tokens, targets: targets)
        }
        computeSeconds[timingKey] = Double(DispatchTime.now().uptimeNanoseconds - computeStart) / 1e9
        let payload = TensorPayload.encodedFloat32(UnsafeBufferPointer(trainer.gradients.buffer))
        return (payload, loss, tokenCount)
    }

    /// The inner optimizer for a local-steps unit (restarted by each unit, so
    /// reusing it across units of the same model and recipe changes nothing
    /// but allocations) and scratch space for the unit's starting parameters.
    func localStepsState(_ spec: LocalStepsSpec, trainer: Trainer) -> (AdamW, FloatBuffer) {
        let config = AdamWConfig(
            schedule: LearningRateSchedule(maxRate: spec.learningRate, minRate: spec.minLearningRate,
                                           warmupSteps: spec.warmupSteps, decaySteps: spec.decaySteps),
            beta1: spec.beta1, beta2: spec.beta2, epsilon: spec.epsilon, weightDecay: spec.weightDecay,
            maxGradNorm: spec.gradClip)
        if let state = innerState, state.trainer === trainer, state.optimizer.config == config {
            return (state.optimizer, state.start)
        }
        let layout = trainer.model.layout
        let state = (trainer: trainer, optimizer: AdamW(config: config, layout: layout),
                     start: FloatBuffer(count: layout.count))
        innerState = state
        return (state.optimizer, state.start)
    }

    /// A file from the cache, or downloaded (and verified) into it.
    /// `what` names it on the status line while it downloads.
    func cached(_ relative: String, sha: String, maxBytes: Int = 1 << 30, what: String,
                path: () -> String) async throws -> Data {
        inUse.insert(relative)
        if let d = cache.contents(relative), SHA256Hex.digest(of: [UInt8](d)) == sha {
            cache.markUsed(relative)
            return d
        }
        progress.phase(.downloading(what))
        let data = try await client.download(path(), sha256: sha, maxBytes: maxBytes,
                                             onBytes: { [progress] in progress.bytes($0, of: $1) })
        progress.phase(.preparing)
        try cache.write(data, to: relative)
        cache.evict(protecting: inUse)
        return data
    }

    private var readers: [String: SplitReader] = [:]

    /// A split of a dataset (default: train), its manifest cached as a dataset directory.
    func splitReader(manifestSHA256: String, split: DatasetSplit = .train) async throws -> SplitReader {
        let readerKey = split == .train ? manifestSHA256 : "\(manifestSHA256)/\(split.rawValue)"
        if let r = readers[readerKey] { return r }
        let dir = options.cacheDirectory.appendingPathComponent("datasets/\(manifestSHA256)")
        _ = try await cached("datasets/\(manifestSHA256)/\(DatasetManifest.fileName)", sha: manifestSHA256, what: "dataset manifest") {
            "/v1/shards/\(manifestSHA256)"
        }
        let manifest = try DatasetManifest.load(fromDatasetDirectory: dir)
        let reader = try SplitReader(datasetDirectory: dir, manifest: manifest, split: split)
        readers[readerKey] = reader
        return reader
    }

    /// Downloads the shards the windows touch, into the dataset's cache directory.
    func fetchShards(covering offsets: [Int], length: Int, reader: SplitReader) async throws {
        let entries = reader.entries
        var needed = Set<Int>()
        for o in offsets {
            let first = reader.index.locate(o).shard, last = reader.index.locate(o + length - 1).shard
            for s in first...last { needed.insert(s) }
        }
        let shards = needed.sorted()
        for (k, s) in shards.enumerated() {
            let e = entries[s]
            let relative = "datasets/\(reader.manifestSHA256)/\(e.file)"
            // A shard this process verified and that is still on disk is not read and hashed again.
            if verifiedShards.contains(relative),
               FileManager.default.fileExists(atPath: options.cacheDirectory.appendingPathComponent(relative).path) {
                inUse.insert(relative)
                cache.markUsed(relative)
                continue
            }
            _ = try await cached(relative, sha: e.sha256, maxBytes: e.bytes + 64,
                                 what: shards.count == 1 ? "data" : "data \(k + 1) of \(shards.count)") { "/v1/shards/\(e.sha256)" }
            verifiedShards.insert(relative)
        }
    }

    /// Shards (named by content: a path means one content) verified by this process.
    private var verifiedShards: Set<String> = []
}

/// A thread-safe boolean set once (signal handlers set it).
public final class LockedFlag: @unchecked Sendable {
    private var value = false
    private let lock = NSLock()
    public init() {}
    public var isSet: Bool { lock.withLock { value } }
    public func set(_ v: Bool = true) { lock.withLock { value = v } }
}

enum BlobName {
    /// A short stable file-name-safe key for a string.
    static func of(_ s: String) -> String { String(SHA256Hex.digest(of: [UInt8](s.utf8)).prefix(16)) }
}

/// A result about to be handed in (see `VolunteerWorker.Options.resultRewriter`).
public struct ResultDraft: Sendable {
    public var assignment: Assignment
    public var payload: Data
    public var loss: Double
    public var tokens: Int
    /// The SHA-256 to claim in the header (nil: the payload's own).
    public var claimedSHA256: String?
}
