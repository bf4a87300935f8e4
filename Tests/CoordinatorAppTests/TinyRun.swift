import Dataset
import Foundation
import Kernels
import KoinonCore
import Logging
import PostgresNIO
import WorkerKit
import CoordinatorApp

/// A tiny dataset and GPT-Neo run the coordinator tests share (the dataset is
/// built once per test process): several shards, so windows cross shard
/// boundaries, and a validation split.
enum TinyRun {
    static let directory: URL = {
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
        options.shardTokens = 2000
        options.validationFraction = 0.1
        options.minChars = 8
        _ = try! DatasetBuilder(options: options).build()
        try! #"{"vocab_size": 300, "max_position_embeddings": 16, "hidden_size": 32, "num_layers": 2, "num_heads": 2, "attention_types": [[["global", "local"], 1]], "window_size": 4}"#
            .write(to: dir.appendingPathComponent("model.json"), atomically: true, encoding: .utf8)
        return dir
    }()

    /// The run: 3 units of 2 sequences per step, validation every 2 steps;
    /// with `localSteps`, in local-steps mode (that many inner steps a unit,
    /// outer SGD with Nesterov momentum, so the checkpoints carry its buffer).
    static func yaml(steps: Int, checkpointInterval: Int = 0, localSteps: Int? = nil) -> String {
        let local = localSteps.map { "\nlocal_steps:\n  steps: \($0)\n  outer_learning_rate: 0.8\n  outer_momentum: 0.5" } ?? ""
        return """
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
        steps: \(steps)
        eval:
          interval: 2
          sequences: 4
        checkpoint_interval: \(checkpointInterval)
        seed: 7\(local)
        """
    }

    /// The same run trained by `train --local` on one thread.
    static func local(steps: Int, localSteps: Int? = nil) throws -> LocalRun {
        let run = try LocalRun(config: RunConfig(yaml: yaml(steps: steps, localSteps: localSteps)), runDirectory: directory,
                               backend: CPUBackend(threads: 1))
        for step in 0..<steps { try run.runStep(step) }
        return run
    }

    /// Runs `workers` until run `run` is settled (as `client` sees it), then
    /// stops them. `meanwhile` gets the current step about every 20 ms. The
    /// database may be restarting meanwhile: a failed look is not a failure.
    static func train(_ workers: [VolunteerWorker], until run: Int, on client: PostgresClient,
                      timeout: Duration = .seconds(180), meanwhile: @escaping @Sendable (Int) async throws -> Void = { _ in }) async throws {
        try await withThrowingTaskGroup(of: Void.self) { group in
            for w in workers { group.addTask { try await w.run() } }
            group.addTask {
                let deadline = ContinuousClock.now + timeout
                while true {
                    let state = try? await progress(run, client)
                    if state?.settled == true { break }
                    guard ContinuousClock.now < deadline else {
                        throw ChaosError("run \(run) did not finish in time (\(String(describing: state)))")
                    }
                    if let step = state?.step { try await meanwhile(step) }
                    try await Task.sleep(for: .milliseconds(20))
                }
                workers.forEach { $0.stopRequested.set() }
            }
            try await group.waitForAll()
        }
    }

    /// A run's state and step, and whether it is settled: finished, every
    /// unit (evaluation units too) accepted and every evaluation recorded.
    /// (With a time limit: the database may be restarting, and a look must not hang the test.)
    static func progress(_ run: Int, _ client: PostgresClient) async throws -> (state: String, step: Int, settled: Bool)? {
        let rows = try await Database(client, timeLimit: .seconds(10)).query("""
            SELECT r.state, r.current_step,
                   r.state = 'finished'
                   AND NOT EXISTS (SELECT 1 FROM units u WHERE u.run_id = r.id AND u.state <> 'accepted')
                   AND NOT EXISTS (SELECT 1 FROM units u JOIN steps s ON s.run_id = u.run_id AND s.step = u.step - 1
                                   WHERE u.run_id = r.id AND u.kind = 'eval' AND s.validation_loss IS NULL)
            FROM runs r WHERE r.id = \(run)
            """, logger: Logger(label: "test"))
        for try await row in rows.decode((String, Int, Bool).self) { return row }
        return nil
    }
}
