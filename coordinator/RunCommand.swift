import ArgumentParser
import AsyncHTTPClient
import CoordinatorApp
import Foundation
import Kernels
import NIOCore
import NIOHTTP1
import NeoModel
import Wire

/// Operator commands, sent to a running coordinator's API.
struct RunCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "run", abstract: "Create, list, pause, resume and export training runs.",
        subcommands: [Create.self, List.self, Pause.self, Resume.self, Export.self])

    struct Target: ParsableArguments {
        @Option(help: "The coordinator's URL.") var coordinator = "http://127.0.0.1:8080"

        func send(_ method: HTTPMethod, _ path: String, body: Data? = nil) async throws -> (Int, Data) {
            let client = HTTPClient(eventLoopGroupProvider: .singleton)
            defer { Task { try? await client.shutdown() } }
            var request = HTTPClientRequest(url: coordinator + path)
            request.method = method
            if let body {
                request.body = .bytes(ByteBuffer(bytes: body))
                request.headers.add(name: "Content-Type", value: "application/json")
            }
            let response = try await client.execute(request, timeout: .seconds(600))
            let bytes = try await response.body.collect(upTo: 1 << 31)
            let data = Data(bytes.readableBytesView)
            try await client.shutdown()
            return (Int(response.status.code), data)
        }

        func json(_ method: HTTPMethod, _ path: String, body: Data? = nil) async throws -> Data {
            let (status, data) = try await send(method, path, body: body)
            guard (200..<300).contains(status) else {
                let message = (try? WireProtocol.makeDecoder().decode(ErrorResponse.self, from: data))?.message
                throw ValidationError(message ?? "the coordinator answered \(status)")
            }
            return data
        }
    }

    struct Create: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Create a run from its YAML file.")
        @Option(help: "The run's YAML file.") var config: String
        @OptionGroup var target: Target
        func run() async throws {
            let url = URL(fileURLWithPath: config).standardizedFileURL
            guard let yaml = try? String(contentsOf: url, encoding: .utf8) else { throw ValidationError("cannot read \(config)") }
            let body = try JSONEncoder().encode(CreateRunRequest(configYAML: yaml, baseDirectory: url.deletingLastPathComponent().path))
            let answer = try JSONSerialization.jsonObject(with: try await target.json(.POST, "/v1/runs", body: body)) as? [String: Any]
            print("created run \(answer?["run_id"] ?? "?")")
        }
    }

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "List runs.")
        @OptionGroup var target: Target
        func run() async throws {
            let runs = try JSONDecoder().decode([RunSummary].self, from: try await target.json(.GET, "/v1/runs"))
            print("id  state     step/total  name")
            for r in runs { print(String(format: "%-3d %-9@ %5d/%-5d  %@", r.runID, r.state, r.step, r.totalSteps, r.name)) }
        }
    }

    struct Pause: AsyncParsableCommand {
        @Argument(help: "Run id.") var run: Int
        @OptionGroup var target: Target
        func run() async throws { _ = try await target.json(.POST, "/v1/runs/\(run)/pause"); print("paused run \(run)") }
    }

    struct Resume: AsyncParsableCommand {
        @Argument(help: "Run id.") var run: Int
        @OptionGroup var target: Target
        func run() async throws { _ = try await target.json(.POST, "/v1/runs/\(run)/resume"); print("resumed run \(run)") }
    }

    struct Export: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Write the run's latest parameters as a Hugging Face checkpoint with its tokenizer files.")
        @Option(help: "Run id.") var run: Int
        @Option(help: "Output directory.") var out: String
        @OptionGroup var target: Target
        func run() async throws {
            let runs = try JSONDecoder().decode([RunSummary].self, from: try await target.json(.GET, "/v1/runs"))
            guard let r = runs.first(where: { $0.runID == run }) else { throw ValidationError("no run \(run)") }
            let config = try GPTNeoConfig(jsonData: try await target.json(.GET, "/v1/runs/\(run)/config"))
            let model = try GPTNeo(config: config, backend: CPUBackend(threads: 1))
            let payload = try TensorPayload(decoding: try await target.json(.GET, "/v1/runs/\(run)/parameters/\(r.step)"),
                                            expectedElementCount: model.layout.count)
            _ = payload.values.withUnsafeBufferPointer { model.parameters.buffer.update(fromContentsOf: $0) }
            let dir = URL(fileURLWithPath: out)
            try Checkpoint.save(model, to: dir)
            try await target.json(.GET, "/v1/shards/\(r.tokenizerVocabSHA256)").write(to: dir.appendingPathComponent("vocab.json"))
            try await target.json(.GET, "/v1/shards/\(r.tokenizerMergesSHA256)").write(to: dir.appendingPathComponent("merges.txt"))
            print("exported run \(run) at version \(r.step) to \(dir.path)")
        }
    }
}
