import CoordinatorApp
import Foundation
import Hummingbird
import HummingbirdTesting
import HTTPTypes
import Logging
import NeoModel
import NIOCore
import PostgresNIO
import Testing
import Wire
import WorkerKit

/// `/v1/status`, the pages and `/metrics` after a real distributed run on a
/// real PostgreSQL: validation from evaluation units equals `train --local`,
/// credit is tokens × FLOPs per token, a rejected result is stored with its
/// reason, the status comes from the once-a-second snapshot, and
/// `promtool check metrics` accepts the metrics.
@Suite(.serialized) struct StatusSnapshotTests {
    static let logger = Logger(label: "test")

    func decode<T: Decodable>(_ t: T.Type, _ b: ByteBuffer) throws -> T {
        try WireProtocol.makeDecoder().decode(T.self, from: Data(b.readableBytesView))
    }

    @Test func figuresAfterARunWithARejectedResult() async throws {
        let fixture = DistributedTrainingTests.fixture
        let local = try TinyRun.local(steps: 4)
        try await TestDatabase.withFresh(migrated: true, function: "status-snapshot") { db in
            let blobs = try BlobStore(root: fixture.dir.appendingPathComponent("blobs-status-\(UUID())"))
            let coordinator = Coordinator(db: db.client, blobs: blobs, settings: CoordinatorSettings(), logger: Self.logger)
            let run = try await coordinator.createRun(yaml: fixture.yaml, baseDirectory: fixture.dir)
            let info = try await coordinator.runInfo(run)
            let app = CoordinatorServer.application(coordinator: coordinator, host: "127.0.0.1", port: 0, services: [],
                                                    logger: Self.logger)
            try await app.test(.live) { client in
                try await submitGarbage(client, parameterCount: info.parameterCount)
                // Snapshots during the run too: the last one is built from the steps cached by earlier ones
                // plus what came since (new steps, validation losses recorded after their step).
                try await train(url: "http://127.0.0.1:\(client.port!)", db: db.client, run: run) { _ in
                    _ = try await coordinator.statusBoard.refresh()
                }
                try await coordinator.statusBoard.refresh()
                let status = try await client.execute(uri: "/v1/status", method: .get) { try decode(StatusResponse.self, $0.body) }
                try checkRun(status, local: local, info: info)
                try checkWorkers(status)
                try await checkSnapshotIsServed(client, status)
                try await checkPages(client)
                try await checkMetrics(client)
            }
        }
    }

    /// "mallory" leases a unit, hands in three bad results (each rejected, 422, and stored), then gives the unit back.
    /// A name with a control character is refused at registration.
    func submitGarbage(_ client: some TestClientProtocol, parameterCount: Int) async throws {
        try await client.execute(uri: "/v1/workers", method: .post,
                                 body: ByteBuffer(bytes: try WireProtocol.makeEncoder().encode(
                                     RegisterWorkerRequest(name: "bad\u{1B}[2Jname", backend: "cpu", threads: 1, version: "0")))) {
            #expect($0.status == .badRequest)
        }
        let token = try await client.execute(uri: "/v1/workers", method: .post,
                                             body: ByteBuffer(bytes: try WireProtocol.makeEncoder().encode(
                                                 RegisterWorkerRequest(name: "mallory", backend: "cpu", threads: 1, version: "0")))) {
            try decode(RegisterWorkerResponse.self, $0.body).token
        }
        let auth: HTTPFields = [.authorization: "Bearer \(token)"]
        let lease: Assignment = try await client.execute(uri: "/v1/leases", method: .post, headers: auth) {
            guard case .assigned(let a) = try decode(LeaseResponse.self, $0.body) else { throw EngineError("no assignment") }
            return a
        }
        let id = lease.leaseID.uuidString.lowercased()
        let zeros = Data(TensorPayload(values: [Float](repeating: 0, count: parameterCount)).encoded())
        // A body that is not what its header says; a token count the unit cannot have; a negative loss.
        for (body, sha, tokens, loss, says) in [(zeros, String(repeating: "0", count: 64), 32, 2.0, "SHA-256"),
                                                (zeros, nil, 1_000_000, 2.0, "tokens"), (zeros, nil, 32, -1.0, "cross-entropy")] {
            var headers = auth
            for (name, value) in ResultMetadata(leaseID: lease.leaseID, loss: loss, tokenCount: tokens,
                                                payloadSHA256: sha ?? BlobStore.sha256(body)).headerFields {
                headers[HTTPField.Name(name)!] = value
            }
            try await client.execute(uri: "/v1/leases/\(id)/result", method: .put, headers: headers, body: ByteBuffer(bytes: body)) {
                #expect($0.status == .unprocessableContent)
                let answer = try decode(SubmitResultResponse.self, $0.body)
                #expect(answer.status == .rejected && answer.reason == "invalid_result" && answer.message?.contains(says) == true,
                        "\(answer)")
            }
        }
        try await client.execute(uri: "/v1/leases/\(id)", method: .delete, headers: auth) { #expect($0.status == .ok) }
    }

    /// Two workers until the run has finished and its last evaluation is recorded.
    func train(url: String, db: PostgresClient, run: Int,
               meanwhile: @escaping @Sendable (Int) async throws -> Void) async throws {
        let pool = (0..<2).map { i in
            var options = VolunteerWorker.Options(name: "w\(i)", threads: 1,
                                                  cacheDirectory: TinyRun.directory.appendingPathComponent("cache-status-\(i)-\(UUID())"),
                                                  maxUnits: nil)
            options.leaseWait = 0.5
            return VolunteerWorker(coordinatorURL: url, options: options, logger: Self.logger)
        }
        try await TinyRun.train(pool, until: run, on: db, timeout: .seconds(120), meanwhile: meanwhile)
    }

    func checkRun(_ status: StatusResponse, local: LocalRun, info: RunInfo) throws {
        let run = try #require(status.runs.first)
        #expect(run.state == .finished && run.step == 4 && run.parameterVersion == 4 && run.etaSeconds == nil)
        #expect(run.tokensTrained == 4 * 6 * 16)  // 4 steps × 6 sequences × 16 tokens
        #expect(run.lossHistory.map(\.step) == [1, 2, 3, 4])
        for (point, record) in zip(run.lossHistory, local.history) { #expect(abs(point.loss - record.trainLoss) < 1e-4) }
        // Validation from the workers' evaluation units equals the local run's, version by version.
        let localValidation = local.history.enumerated().compactMap { i, r in r.validationLoss.map { (i + 1, $0) } }
        #expect(run.validationHistory.map(\.step) == localValidation.map(\.0))
        for (point, (_, loss)) in zip(run.validationHistory, localValidation) { #expect(abs(point.loss - loss) < 1e-4) }
        #expect(run.evaluationUnitsOutstanding == 0)
        // 12 training units + 2 evaluations × 2 units, all credited; one rejection.
        let v = run.verification
        #expect(v.acceptedResults == 16 && v.rejectedResults == 3 && v.rejectionsByReason == ["invalid_result": 3])
        let evalTokens = 2 * 4 * 16
        #expect(run.topContributors.reduce(0) { $0 + $1.units } == 16)
        #expect(run.topContributors.reduce(0) { $0 + $1.tokens } == run.tokensTrained + evalTokens)
        let credit = run.topContributors.reduce(0) { $0 + $1.creditFLOPs }
        let expected = Double(run.tokensTrained) * info.trainingFLOPsPerToken + Double(evalTokens) * info.evaluationFLOPsPerToken
        #expect(abs(credit - expected) / expected < 1e-9)
        #expect(zip(run.topContributors, run.topContributors.dropFirst()).allSatisfy { $0.creditFLOPs >= $1.creditFLOPs })
    }

    func checkWorkers(_ status: StatusResponse) throws {
        let mallory = try #require(status.workers.first { $0.name == "mallory" })
        #expect(mallory.rejectedResults == 3 && mallory.consecutiveValid == 0 && mallory.acceptedUnits == 0)
        let honest = status.workers.filter { $0.name != "mallory" }
        #expect(honest.count == 2 && honest.reduce(0) { $0 + $1.acceptedUnits } == 16)
        // Valid results in a row count training results as they are accepted (the trust machine);
        // accepted units count credited units, evaluation units included.
        #expect(honest.allSatisfy { $0.consecutiveValid > 0 && $0.consecutiveValid <= $0.acceptedUnits && $0.rejectedResults == 0 && $0.online })
        #expect(honest.reduce(0) { $0 + $1.tokensPerSecond } > 0)
        #expect(status.workersOnline.values.reduce(0, +) == 3)
        let rejection = try #require(status.recentRejections.first)
        #expect(rejection.workerName == "mallory" && rejection.reason == "invalid_result" && rejection.message.contains("cross-entropy"))
        #expect(status.recentRejections.count == 3)
    }

    /// Two requests between refreshes get the same bytes: the snapshot, not a query.
    func checkSnapshotIsServed(_ client: some TestClientProtocol, _ status: StatusResponse) async throws {
        let first = try await client.execute(uri: "/v1/status", method: .get) { Data($0.body.readableBytesView) }
        let second = try await client.execute(uri: "/v1/status", method: .get) { Data($0.body.readableBytesView) }
        #expect(first == second)
        #expect(try WireProtocol.makeDecoder().decode(StatusResponse.self, from: first).generatedAt == status.generatedAt)
    }

    func checkPages(_ client: some TestClientProtocol) async throws {
        for (uri, code) in [("/", HTTPResponse.Status.ok), ("/runs/1", .ok), ("/runs/99", .notFound), ("/workers/mallory", .ok),
                            ("/workers/nobody", .notFound)] {
            try await client.execute(uri: uri, method: .get) { response in
                #expect(response.status == code, "\(uri)")
                #expect(response.headers[.contentType] == "text/html; charset=utf-8", "\(uri)")
                if uri == "/workers/mallory" { #expect(String(buffer: response.body).contains("invalid_result")) }
            }
        }
    }

    func checkMetrics(_ client: some TestClientProtocol) async throws {
        let text = try await client.execute(uri: "/metrics", method: .get) { response in
            #expect(response.status == .ok)
            return String(buffer: response.body)
        }
        for family in ["koinon_http_request_duration_seconds_bucket{", "koinon_http_requests_total{", "koinon_units{",
                       "koinon_results_total{outcome=\"rejected\"}", "koinon_rejections_total{reason=\"invalid_result\"}",
                       "koinon_results_total{outcome=\"accepted\"}", "koinon_step_duration_seconds_bucket{",
                       "koinon_tokens_per_second{", "koinon_database_connections{", "koinon_workers_online{"] {
            #expect(text.contains(family), "no \(family) in /metrics")
        }
        #expect(text.contains("http_route=\"/v1/leases\""), "latency is not broken down by route")
        // Backend labels come from a fixed set whatever workers call themselves.
        let backends = text.split(separator: "\n").filter { $0.hasPrefix("koinon_workers_online{") }
        #expect(Set(backends.compactMap { $0.split(separator: "\"").dropFirst().first.map(String.init) }) == ["cpu", "cuda", "metal", "other"])
        let (code, output) = try Promtool.checkMetrics(text)
        #expect(code == 0, "promtool check metrics: \(output)")
    }
}

/// `promtool check metrics` (Debian's prometheus package; scripts/install-deps.sh installs it).
enum Promtool {
    static func checkMetrics(_ text: String) throws -> (Int32, String) {
        let path = ["/usr/bin/promtool", "/usr/local/bin/promtool"].first { FileManager.default.isExecutableFile(atPath: $0) }
        guard let path else {
            Issue.record("promtool is not installed: run scripts/install-deps.sh (it installs Debian's prometheus package)")
            return (-1, "")
        }
        let process = Process()
        process.executableURL = URL(fileURLWithPath: path)
        process.arguments = ["check", "metrics"]
        let input = Pipe(), output = Pipe()
        process.standardInput = input
        process.standardOutput = output
        process.standardError = output
        try process.run()
        input.fileHandleForWriting.write(Data(text.utf8))
        try input.fileHandleForWriting.close()
        let data = output.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        return (process.terminationStatus, String(decoding: data, as: UTF8.self))
    }
}
