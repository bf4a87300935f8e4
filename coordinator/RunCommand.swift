import ArgumentParser
import AsyncHTTPClient
import CoordinatorApp
import Foundation
import Kernels
import NIOCore
import NIOHTTP1
import NeoModel
import Wire
import WorkerKit

/// Operator commands, sent to a running coordinator's API.
struct RunCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "run", abstract: "Create, list, pause, resume and export training runs.",
        subcommands: [Create.self, List.self, Pause.self, Resume.self, Export.self])

    struct Create: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Create a run from its YAML file.")
        @Option(help: "The run's YAML file.") var config: String
        @OptionGroup var target: CoordinatorTarget
        func run() async throws {
            let url = URL(fileURLWithPath: config).standardizedFileURL
            guard let yaml = try? String(contentsOf: url, encoding: .utf8) else { throw ValidationError("cannot read \(config)") }
            let body = try JSONEncoder().encode(CreateRunRequest(configYAML: yaml, baseDirectory: url.deletingLastPathComponent().path))
            let answer = try JSONSerialization.jsonObject(with: try await target.session { try await $0.json(.POST, "/v1/runs", body: body) })
                as? [String: Any]
            print("created run \(answer?["run_id"] ?? "?")")
        }
    }

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "List runs.")
        @OptionGroup var target: CoordinatorTarget
        func run() async throws {
            let runs = try JSONDecoder().decode([RunSummary].self, from: try await target.session { try await $0.json(.GET, "/v1/runs") })
            print("id  state     step/total  name")
            for r in runs { print(String(format: "%-3d %-9@ %5d/%-5d  %@", r.runID, r.state, r.step, r.totalSteps, r.name)) }
        }
    }

    struct Pause: AsyncParsableCommand {
        @Argument(help: "Run id.") var run: Int
        @OptionGroup var target: CoordinatorTarget
        func run() async throws {
            _ = try await target.session { try await $0.json(.POST, "/v1/runs/\(run)/pause") }
            print("paused run \(run)")
        }
    }

    struct Resume: AsyncParsableCommand {
        @Argument(help: "Run id.") var run: Int
        @OptionGroup var target: CoordinatorTarget
        func run() async throws {
            _ = try await target.session { try await $0.json(.POST, "/v1/runs/\(run)/resume") }
            print("resumed run \(run)")
        }
    }

    struct Export: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Write the run's latest parameters as a Hugging Face checkpoint with its tokenizer files.")
        @Option(help: "Run id.") var run: Int
        @Option(help: "Output directory.") var out: String
        @OptionGroup var target: CoordinatorTarget
        func run() async throws {
            let dir = URL(fileURLWithPath: out)
            let r = try await target.session { api in
                let runs = try JSONDecoder().decode([RunSummary].self, from: try await api.json(.GET, "/v1/runs"))
                guard let r = runs.first(where: { $0.runID == run }) else { throw ValidationError("no run \(run)") }
                let config = try GPTNeoConfig(jsonData: try await api.json(.GET, "/v1/runs/\(run)/config"))
                let model = try GPTNeo(config: config, backend: CPUBackend(threads: 1))
                let payload = try TensorPayload(decoding: try await api.json(.GET, "/v1/runs/\(run)/parameters/\(r.step)"),
                                                expectedElementCount: model.layout.count)
                _ = payload.values.withUnsafeBufferPointer { model.parameters.buffer.update(fromContentsOf: $0) }
                try Checkpoint.save(model, to: dir)
                try await api.json(.GET, "/v1/shards/\(r.tokenizerVocabSHA256)").write(to: dir.appendingPathComponent("vocab.json"))
                try await api.json(.GET, "/v1/shards/\(r.tokenizerMergesSHA256)").write(to: dir.appendingPathComponent("merges.txt"))
                return r
            }
            print("exported run \(run) at version \(r.step) to \(dir.path)")
        }
    }
}

/// Where the operator's commands send their requests, and with which
/// credentials: the coordinator's URL, the operator token, and how its
/// certificate is trusted (by default the coordinator's own `tls/cert.pem`
/// in `--data-dir`, pinned, when it is there; else the system's trust store).
struct CoordinatorTarget: ParsableArguments {
    @Option(help: "The coordinator's URL.") var coordinator = "https://127.0.0.1:8080"
    @Option(help: ArgumentHelp("The operator token (default: $KOINON_OPERATOR_TOKEN, else the file operator-token in --data-dir).",
                               valueName: "token"))
    var operatorToken: String?
    @Option(help: ArgumentHelp("The coordinator's data directory: its operator-token, and tls/cert.pem, pinned when neither --ca nor --pin-sha256 is given.",
                               valueName: "dir"))
    var dataDir = "koinon-data"
    @Option(help: ArgumentHelp("Trust only the certificates in this PEM file instead of the system's.", valueName: "file"))
    var ca: String?
    @Option(name: .customLong("pin-sha256"),
            help: ArgumentHelp("Accept exactly the certificate with this SHA-256 fingerprint (hex, colons optional).", valueName: "fingerprint"))
    var pinSHA256: String?
    @Flag(help: "Allow a plain http:// coordinator URL (unencrypted).") var insecureHTTP = false

    var dataDirectory: URL { URL(fileURLWithPath: (dataDir as NSString).expandingTildeInPath).standardizedFileURL }

    /// The trust settings: --ca or --pin-sha256 when given, else a pin of
    /// `<data-dir>/tls/cert.pem` for an https URL when that file exists.
    func trust() throws -> CoordinatorTLS {
        let certificate = dataDirectory.appendingPathComponent("tls/cert.pem")
        if ca == nil, pinSHA256 == nil, coordinator.lowercased().hasPrefix("https://"),
           FileManager.default.fileExists(atPath: certificate.path) {
            let leaf = try CoordinatorTLS.loadCertificates(path: certificate.path, what: "the coordinator's certificate")[0]
            return CoordinatorTLS(trust: .pinned(try CertificateFingerprint(leaf),
                                                 source: "\(certificate.path) (pinned because it is there; choose with --ca or --pin-sha256)"),
                                  allowsPlainHTTP: insecureHTTP)
        }
        return try CoordinatorTLS.fromOptions(ca: ca, pinSHA256: pinSHA256, insecureHTTP: insecureHTTP)
    }

    /// The operator token and where it came from, if there is one.
    func token() -> (value: String, source: String)? {
        if let operatorToken, !operatorToken.isEmpty { return (operatorToken, "--operator-token") }
        if let value = ProcessInfo.processInfo.environment["KOINON_OPERATOR_TOKEN"], !value.isEmpty {
            return (value, "$KOINON_OPERATOR_TOKEN")
        }
        let file = dataDirectory.appendingPathComponent("operator-token")
        if let text = try? String(contentsOf: file, encoding: .utf8) {
            let value = text.trimmingCharacters(in: .whitespacesAndNewlines)
            if !value.isEmpty { return (value, file.path) }
        }
        return nil
    }

    /// Runs `body` with a connection to the coordinator (one HTTP client, shut down afterwards).
    func session<T>(_ body: (OperatorAPI) async throws -> T) async throws -> T {
        let http: HTTPClient
        do { http = try await trust().makeHTTPClient(for: coordinator) } catch {
            throw OperatorCommandError(OperatorAPI.describe(error, coordinator: coordinator))
        }
        let api = OperatorAPI(http: http, baseURL: coordinator.hasSuffix("/") ? String(coordinator.dropLast()) : coordinator,
                              token: token(), dataDirectory: dataDirectory)
        do {
            let value = try await body(api)
            try await http.shutdown()
            return value
        } catch {
            try? await http.shutdown()
            throw error
        }
    }
}

/// A failed operator command, as one sentence.
struct OperatorCommandError: Error, CustomStringConvertible {
    var description: String
    init(_ description: String) { self.description = description }
}

/// Requests to a running coordinator on the operator's behalf.
struct OperatorAPI {
    let http: HTTPClient
    let baseURL: String
    let token: (value: String, source: String)?
    let dataDirectory: URL

    func send(_ method: HTTPMethod, _ path: String, body: Data? = nil) async throws -> (Int, Data) {
        var request = HTTPClientRequest(url: baseURL + path)
        request.method = method
        if let token { request.headers.add(name: "Authorization", value: "Bearer \(token.value)") }
        if let body {
            request.body = .bytes(ByteBuffer(bytes: body))
            request.headers.add(name: "Content-Type", value: "application/json")
        }
        do {
            let response = try await http.execute(request, timeout: .seconds(600))
            let bytes = try await response.body.collect(upTo: 1 << 31)
            return (Int(response.status.code), Data(bytes.readableBytesView))
        } catch {
            throw OperatorCommandError(Self.describe(error, coordinator: baseURL))
        }
    }

    /// The answer's body when it is a 2xx, else an error with the coordinator's message.
    func json(_ method: HTTPMethod, _ path: String, body: Data? = nil) async throws -> Data {
        let (status, data) = try await send(method, path, body: body)
        guard (200..<300).contains(status) else {
            let message = (try? WireProtocol.makeDecoder().decode(ErrorResponse.self, from: data))?.message
            if status == 401 {
                let used = token.map { "the token from \($0.source)" } ?? "no token (none given, and no \(dataDirectory.path)/operator-token)"
                throw OperatorCommandError("""
                    the coordinator refused the operator request (401\(message.map { ": \($0)" } ?? "")); sent \(used). \
                    Pass --operator-token, set $KOINON_OPERATOR_TOKEN, or point --data-dir at the coordinator's data directory
                    """)
            }
            throw OperatorCommandError("\(method) \(path): the coordinator answered \(status)\(message.map { ": \($0)" } ?? "")")
        }
        return data
    }

    static func describe(_ error: any Error, coordinator: String) -> String {
        if let e = error as? OperatorCommandError { return e.description }
        if let e = error as? CoordinatorTLSError { return e.message }
        if let sentence = CoordinatorTLS.trustFailure(error) { return sentence }
        return "cannot reach the coordinator at \(coordinator): \(WorkerMessages.cause(of: error))"
    }
}
