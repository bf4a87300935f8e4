import Foundation
import Testing

/// The `koinon-worker` binary as volunteers run it (built by `swift build --build-tests`).
@Suite struct WorkerCommandTests {
    static let binary = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent(".build/debug/koinon-worker")

    func run(_ args: [String]) throws -> (status: Int32, out: String, err: String) {
        let p = Process()
        p.executableURL = Self.binary
        p.arguments = args
        let out = Pipe(), err = Pipe()
        p.standardOutput = out
        p.standardError = err
        try p.run()
        let o = out.fileHandleForReading.readDataToEndOfFile(), e = err.fileHandleForReading.readDataToEndOfFile()
        p.waitUntilExit()
        return (p.terminationStatus, String(decoding: o, as: UTF8.self), String(decoding: e, as: UTF8.self))
    }

    func temporaryDirectory() throws -> URL {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("koinon-cli-\(UUID())")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        return dir
    }

    @Test func evalPrintsTransformersLoss() throws {
        let dir = Fixtures.dir("eval", Fixtures.cases("eval")[0])
        let r = try run(["model", "eval", "--checkpoint", dir.path, "--tokens", dir.appendingPathComponent("tokens.txt").path])
        #expect(r.status == 0, "\(r.err)")
        let json = try JSONSerialization.jsonObject(with: Data(r.out.utf8)) as! [String: Any]
        let expected = try Fixtures.json(dir.appendingPathComponent("expected.json"))
        #expect(abs((json["loss"] as! Double) - (expected["loss"] as! Double)) <= 1e-4)
        #expect(json["tokens"] as? Int == expected["tokens"] as? Int)
        #expect(r.err.contains("OpenBLAS core"))  // the worker logs which BLAS core it runs
    }

    @Test func initThenEvalIsNearUniform() throws {
        let dir = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let ckpt = dir.appendingPathComponent("ckpt")
        let r = try run(["model", "init", "--preset", "char-small", "--out", ckpt.path, "--seed", "5"])
        #expect(r.status == 0, "\(r.err)")
        #expect(FileManager.default.fileExists(atPath: ckpt.appendingPathComponent("model.safetensors").path))
        let tokens = dir.appendingPathComponent("tokens.txt")
        try "1 2 3 4 5 6 7 8\n\n10 20 30 40 50 60 64\n".write(to: tokens, atomically: true, encoding: .utf8)
        let e = try run(["model", "eval", "--checkpoint", ckpt.path, "--tokens", tokens.path])
        #expect(e.status == 0, "\(e.err)")
        let json = try JSONSerialization.jsonObject(with: Data(e.out.utf8)) as! [String: Any]
        #expect(json["tokens"] as? Int == 13)
        // A freshly initialised model (std 0.02) predicts nearly uniformly: loss ≈ ln 65.
        #expect(abs((json["loss"] as! Double) - log(65.0)) < 0.05)
    }

    /// Python with torch + transformers, when installed (`pip install torch transformers`).
    static let hasTransformers: Bool = {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        p.arguments = ["python3", "-c", "import torch, transformers"]
        p.standardOutput = FileHandle.nullDevice
        p.standardError = FileHandle.nullDevice
        guard (try? p.run()) != nil else { return false }
        p.waitUntilExit()
        return p.terminationStatus == 0
    }()

    /// A checkpoint Koinon writes loads in transformers and gives the same loss.
    @Test(.enabled(if: hasTransformers, "needs pip torch + transformers"))
    func koinonCheckpointLoadsInTransformers() throws {
        let dir = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let config = dir.appendingPathComponent("config.json")
        try """
        {"vocab_size": 50, "max_position_embeddings": 24, "hidden_size": 24, "num_layers": 2, "num_heads": 3,
         "attention_types": [[["global", "local"], 1]], "window_size": 4, "intermediate_size": 40,
         "initializer_range": 0.25}
        """.write(to: config, atomically: true, encoding: .utf8)
        let ckpt = dir.appendingPathComponent("ckpt")
        #expect(try run(["model", "init", "--config", config.path, "--out", ckpt.path, "--seed", "9"]).status == 0)
        let tokens = dir.appendingPathComponent("tokens.txt")
        try "3 1 4 1 5 9 2 6 5 3 5 8 9 7 9 3 2 3 8 4\n7\n10 20 30 40 49 0\n".write(to: tokens, atomically: true, encoding: .utf8)
        let ours = try run(["model", "eval", "--checkpoint", ckpt.path, "--tokens", tokens.path])
        #expect(ours.status == 0, "\(ours.err)")

        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        p.arguments = ["python3", Fixtures.root.deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent().appendingPathComponent("scripts/transformers_eval.py").path, ckpt.path, tokens.path]
        let out = Pipe()
        p.standardOutput = out
        p.standardError = FileHandle.nullDevice
        try p.run()
        let data = out.fileHandleForReading.readDataToEndOfFile()
        p.waitUntilExit()
        #expect(p.terminationStatus == 0)
        let theirs = try JSONSerialization.jsonObject(with: data) as! [String: Any]
        let mine = try JSONSerialization.jsonObject(with: Data(ours.out.utf8)) as! [String: Any]
        #expect(theirs["tokens"] as? Int == mine["tokens"] as? Int)
        #expect(abs((theirs["loss"] as! Double) - (mine["loss"] as! Double)) <= 1e-4)
    }

    @Test func badInputGetsOneClearLine() throws {
        let dir = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let ckpt = Fixtures.dir("eval", Fixtures.cases("eval")[0])
        let tokens = dir.appendingPathComponent("bad.txt")
        try "1 2 3\n4 five 6\n".write(to: tokens, atomically: true, encoding: .utf8)
        let r = try run(["model", "eval", "--checkpoint", ckpt.path, "--tokens", tokens.path])
        #expect(r.status != 0)
        #expect(r.err.contains("bad.txt:2"))
        let missing = try run(["model", "eval", "--checkpoint", dir.path, "--tokens", tokens.path])
        #expect(missing.status != 0 && missing.err.contains("config.json"))
        let preset = try run(["model", "init", "--preset", "nope", "--out", dir.path])
        #expect(preset.status != 0 && preset.err.contains("unknown preset"))
    }
}
