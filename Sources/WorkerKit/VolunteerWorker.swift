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
        /// The cache directory's size limit (least recently used files go first).
        public var cacheLimitBytes: Int64
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
    public private(set) var unitsDone = 0
    /// Leases whose results the coordinator answered "accepted" (the most recent 10,000).
    public private(set) var acceptedLeases: [UUID] = []

    public init(coordinatorURL: String, options: Options, logger: Logger) {
        self.client = CoordinatorClient(baseURL: coordinatorURL, logger: logger)
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
        while !stopRequested.isSet, options.maxUnits.map({ unitsDone < $0 }) ?? true {
            let answer: LeaseResponse
            do { answer = try await client.lease(maxWait: options.leaseWait) } catch let e as CoordinatorError where !e.transient {
                logger.warning("\(e.message); registering again")
                try await authenticate(force: true)
                continue
            }
            switch answer {
            case .retry(let later):
                logger.debug("no work: \(later.message); asking again in \(later.retryAfterSeconds) s")
                try await Task.sleep(for: .seconds(max(0.2, min(later.retryAfterSeconds, 30))))
            case .assigned(let assignment):
                try await work(on: assignment)
            }
        }
        logger.info("stopping after \(unitsDone) unit(s)")
    }

    /// Loads the cached token for this coordinator, or registers.
    func authenticate(force: Bool = false) async throws {
        let file = options.cacheDirectory.appendingPathComponent("token-\(BlobName.of(client.baseURL)).txt")
        if !force, let t = try? String(contentsOf: file, encoding: .utf8), !t.isEmpty {
            client.setToken(t.trimmingCharacters(in: .whitespacesAndNewlines))
            return
        }
        let r = try await client.register(RegisterWorkerRequest(name: options.name, backend: backend.summary,
                                                                threads: backend.threads, version: "0.1.0"))
        client.setToken(r.token)
        try r.token.write(to: file, atomically: true, encoding: .utf8)
        logger.info("registered as \(r.workerID)")
    }

    func work(on a: Assignment) async throws {
        let label = "run \(a.runID) step \(a.step) unit \(a.unitIndex)"
        busy.set(true)
        defer { busy.set(false) }
        logger.info("leased \(label)")
        let heartbeat = Task { [client] in
            while !Task.isCancelled {
                try await Task.sleep(for: .seconds(max(1, a.heartbeatIntervalSeconds)))
                if case .stop(_, let message) = try await client.heartbeat(a.leaseID) {
                    self.logger.warning("\(label): \(message)")
                    return
                }
            }
        }
        defer { heartbeat.cancel() }
        do {
            let (payload, loss, tokens) = try await compute(a)
            let answer = try await client.submit(lease: a.leaseID, payload: payload, loss: loss, tokens: tokens)
            switch answer.status {
            case .accepted:
                acceptedLeases.append(a.leaseID)
                if acceptedLeases.count > 10_000 { acceptedLeases.removeFirst(acceptedLeases.count - 10_000) }
                logger.info("\(label): accepted, loss \(String(format: "%.4f", loss))")
            case .superseded: logger.info("\(label): another copy was accepted first")
            case .rejected: logger.warning("\(label): rejected (\(answer.reason?.rawValue ?? "")): \(answer.message ?? "")")
            }
            unitsDone += 1
        } catch {
            logger.error("\(label) failed: \(error); releasing it")
            try? await client.release(a.leaseID)
            throw error
        }
    }

    /// The unit's mean gradient (float32 payload), its loss and token count.
    func compute(_ a: Assignment) async throws -> (Data, Double, Int) {
        inUse = ["datasets/\(a.data.manifestSHA256)/\(DatasetManifest.fileName)"]  // cached() adds the rest
        let configData = try await cached("configs/\(a.modelConfigSHA256).json", sha: a.modelConfigSHA256) {
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
        let params = try await client.download("/v1/runs/\(a.runID)/parameters/\(a.parameters.version)",
                                               sha256: a.parameters.sha256,
                                               maxBytes: TensorPayload.encodedByteCount(elementCount: trainer.model.layout.count, dtype: .float32))
        let values = try TensorPayload(decoding: params, expectedElementCount: trainer.model.layout.count).values
        _ = values.withUnsafeBufferPointer { trainer.model.parameters.buffer.update(fromContentsOf: $0) }
        let reader = try await splitReader(manifestSHA256: a.data.manifestSHA256)
        let windows = TrainingWindows(seed: a.data.seed, sequenceLength: a.data.sequenceLength,
                                      sequencesPerUnit: a.data.sequences, totalTokens: reader.totalTokens)
        let offsets = windows.offsets(step: a.step, unit: a.unitIndex)
        try await fetchShards(covering: offsets, length: windows.windowLength, reader: reader)
        let (tokens, targets) = try reader.batch(offsets: offsets, sequenceLength: a.data.sequenceLength)
        let loss = try trainer.computeGradients(tokens: tokens, targets: targets)
        let payload = Data(TensorPayload(values: trainer.gradients.array).encoded())
        return (payload, loss, targets.count)
    }

    /// A file from the cache, or downloaded (and verified) into it.
    func cached(_ relative: String, sha: String, maxBytes: Int = 1 << 30, path: () -> String) async throws -> Data {
        inUse.insert(relative)
        if let d = cache.contents(relative), SHA256Hex.digest(of: [UInt8](d)) == sha {
            cache.markUsed(relative)
            return d
        }
        let data = try await client.download(path(), sha256: sha, maxBytes: maxBytes)
        try cache.write(data, to: relative)
        cache.evict(protecting: inUse)
        return data
    }

    private var readers: [String: SplitReader] = [:]

    /// The train split of a dataset, its manifest cached as a dataset directory.
    func splitReader(manifestSHA256: String) async throws -> SplitReader {
        if let r = readers[manifestSHA256] { return r }
        let dir = options.cacheDirectory.appendingPathComponent("datasets/\(manifestSHA256)")
        _ = try await cached("datasets/\(manifestSHA256)/\(DatasetManifest.fileName)", sha: manifestSHA256) { "/v1/shards/\(manifestSHA256)" }
        let manifest = try DatasetManifest.load(fromDatasetDirectory: dir)
        let reader = try SplitReader(datasetDirectory: dir, manifest: manifest, split: .train)
        readers[manifestSHA256] = reader
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
        for s in needed.sorted() {
            let e = entries[s]
            let relative = "datasets/\(reader.manifestSHA256)/\(e.file)"
            // A shard this process verified and that is still on disk is not read and hashed again.
            if verifiedShards.contains(relative),
               FileManager.default.fileExists(atPath: options.cacheDirectory.appendingPathComponent(relative).path) {
                inUse.insert(relative)
                cache.markUsed(relative)
                continue
            }
            _ = try await cached(relative, sha: e.sha256, maxBytes: e.bytes + 64) { "/v1/shards/\(e.sha256)" }
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
