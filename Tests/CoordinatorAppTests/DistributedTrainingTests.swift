import CoordinatorApp
import Dataset
import Foundation
import Hummingbird
import HummingbirdTesting
import Kernels
import KoinonCore
import Logging
import Testing
import WorkerKit

/// Distributed training equals local training: the same run trained by 1, 2
/// and 3 workers over real HTTP against a real PostgreSQL gives the same loss
/// at every step as `train --local` (to float tolerance: workers sum some
/// reductions in thread-dependent order).
@Suite(.serialized) struct DistributedTrainingTests {
    static let logger = Logger(label: "test")

    /// A tiny dataset and run, shared by the tests (built once).
    static let fixture: (dir: URL, yaml: String) = {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("koinon-dist-\(UUID())")
        try! FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        var text = ""
        // Deterministic varied text: sentences from a small vocabulary, paragraphs between.
        let words = ["the", "king", "queen", "speak", "hear", "me", "good", "lord", "night", "day", "love", "war",
                     "and", "of", "to", "my", "thou", "art", "noble", "sweet"]
        var state: UInt64 = 1
        for p in 0..<400 {
            var para = ""
            for _ in 0..<(8 + p % 7) {
                state = state &* 6364136223846793005 &+ 1442695040888963407
                para += words[Int(state >> 59) % words.count] + " "
            }
            text += para + "\n\n"
        }
        let corpus = dir.appendingPathComponent("corpus.txt")
        try! text.write(to: corpus, atomically: true, encoding: .utf8)
        var options = DatasetBuildOptions(inputs: [InputSpec(path: corpus.path, format: .text)],
                                          output: dir.appendingPathComponent("data"), tokenizer: .train(vocabularySize: 300))
        options.shardTokens = 2000  // several shards: windows cross shard boundaries
        options.validationFraction = 0.1
        options.minChars = 8
        _ = try! DatasetBuilder(options: options).build()
        try! #"{"vocab_size": 300, "max_position_embeddings": 16, "hidden_size": 32, "num_layers": 2, "num_heads": 2, "attention_types": [[["global", "local"], 1]], "window_size": 4}"#
            .write(to: dir.appendingPathComponent("model.json"), atomically: true, encoding: .utf8)
        let yaml = """
        name: tiny
        model:
          config: model.json
        dataset: data
        optimizer:
          learning_rate: 3.0e-3
          warmup_steps: 1
        batch:
          sequence_length: 16
          global_sequences: 6
          sequences_per_unit: 2
        steps: 4
        eval:
          interval: 2
          sequences: 4
        seed: 7
        """
        return (dir, yaml)
    }()

    func localLosses() throws -> [(Double, Double?)] {
        let run = try LocalRun(config: RunConfig(yaml: Self.fixture.yaml), runDirectory: Self.fixture.dir,
                               backend: CPUBackend(threads: 1))
        return try (0..<4).map { let r = try run.runStep($0); return (r.trainLoss, r.validationLoss) }
    }

    func distributedLosses(workers: Int) async throws -> [(Double, Double?)] {
        try await TestDatabase.withFresh(migrated: true, function: "distributed\(workers)") { db in
            let blobs = try BlobStore(root: Self.fixture.dir.appendingPathComponent("blobs-\(workers)-\(UUID())"))
            var settings = CoordinatorSettings()
            settings.checkpointEvery = 2
            settings.leaseSeconds = 30
            let coordinator = Coordinator(db: db.client, blobs: blobs, settings: settings, logger: Self.logger)
            let run = try await coordinator.createRun(yaml: Self.fixture.yaml, baseDirectory: Self.fixture.dir)
            let app = CoordinatorServer.application(coordinator: coordinator, host: "127.0.0.1", port: 0, services: [],
                                                    logger: Self.logger)
            try await app.test(.live) { client in
                let url = "http://127.0.0.1:\(client.port!)"
                let pool = (0..<workers).map { i in
                    var options = VolunteerWorker.Options(
                        name: "w\(i)", threads: 1 + i % 2,
                        cacheDirectory: Self.fixture.dir.appendingPathComponent("cache-\(workers)-\(i)-\(UUID())"), maxUnits: nil)
                    options.leaseWait = 0.5
                    return VolunteerWorker(coordinatorURL: url, options: options, logger: Self.logger)
                }
                try await withThrowingTaskGroup(of: Void.self) { group in
                    for w in pool { group.addTask { try await w.run() } }
                    group.addTask {
                        let deadline = ContinuousClock.now + .seconds(120)
                        while try await coordinator.runs.get(run)?.state != "finished" {
                            guard ContinuousClock.now < deadline else { throw EngineError("the run did not finish in 120 s") }
                            try await Task.sleep(for: .milliseconds(100))
                        }
                        pool.forEach { $0.stopRequested.set() }
                    }
                    try await group.waitForAll()
                }
                #expect(pool.reduce(0) { $0 + $1.unitsDone } >= 4 * 3)
            }
            return try await coordinator.runs.history(run: run).map { ($0.trainLoss ?? .nan, $0.validationLoss) }
        }
    }

    @Test(arguments: [1, 2, 3])
    func matchesLocalTraining(workers: Int) async throws {
        let local = try localLosses()
        let distributed = try await distributedLosses(workers: workers)
        #expect(distributed.count == local.count)
        for (step, (d, l)) in zip(distributed, local).enumerated() {
            #expect(abs(d.0 - l.0) < 1e-4, "step \(step): train loss \(d.0) vs local \(l.0)")
            #expect((d.1 == nil) == (l.1 == nil), "step \(step): validation present in one only")
            if let dv = d.1, let lv = l.1 { #expect(abs(dv - lv) < 1e-4, "step \(step): validation \(dv) vs \(lv)") }
        }
    }
}
