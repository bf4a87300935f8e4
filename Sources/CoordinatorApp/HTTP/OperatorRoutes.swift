import Foundation
import Hummingbird
import Wire

/// Operator messages (run create/list/pause/resume). Every operator endpoint
/// needs `Authorization: Bearer <operator token>` (`OperatorAuthenticator`).
public struct CreateRunRequest: Codable, Sendable {
    public var configYAML: String
    /// Where relative paths in the YAML start (the YAML file's directory).
    public var baseDirectory: String
    public init(configYAML: String, baseDirectory: String) {
        self.configYAML = configYAML
        self.baseDirectory = baseDirectory
    }
    enum CodingKeys: String, CodingKey { case configYAML = "config_yaml", baseDirectory = "base_directory" }
}

public struct RunSummary: Codable, Sendable {
    public var runID: Int
    public var name: String
    public var state: String
    public var step: Int
    public var totalSteps: Int
    public var tokenizerVocabSHA256: String
    public var tokenizerMergesSHA256: String
    enum CodingKeys: String, CodingKey {
        case runID = "run_id", name, state, step, totalSteps = "total_steps"
        case tokenizerVocabSHA256 = "tokenizer_vocab_sha256", tokenizerMergesSHA256 = "tokenizer_merges_sha256"
    }
}

extension CoordinatorRoutes {
    /// The operator endpoints, under `/v1` behind the operator token (the
    /// token reaches the context through `OperatorTokenProvider`, which
    /// `CoordinatorServer.application` adds; without it they answer 401).
    func registerOperator(on router: Router<CoordinatorContext>) {
        let operatorGroup = router.group("v1").add(middleware: OperatorAuthenticator())
        let runs = operatorGroup.group("runs")
        runs.post(use: createRun)
        runs.get(use: listRuns)
        runs.post(":run/pause") { try await setState($1, "paused") }
        runs.post(":run/resume") { try await setState($1, "active") }
        // GET /v1/workers, POST /v1/workers/{id}/ban and /unban (OperatorRoutes+workers.swift), paths relative to /v1.
        registerWorkerAdministration(on: operatorGroup)
    }

    @Sendable func createRun(_ request: Request, context: CoordinatorContext) async throws -> Response {
        let body = try await request.decode(as: CreateRunRequest.self, context: context)
        do {
            let id = try await coordinator.createRun(yaml: body.configYAML, baseDirectory: URL(fileURLWithPath: body.baseDirectory))
            return try WireResponse.json(["run_id": id], status: .created)
        } catch {
            return try WireResponse.error(.badRequest, code: "invalid_run", "\(error)")
        }
    }

    @Sendable func listRuns(_ request: Request, context: CoordinatorContext) async throws -> Response {
        let list = try await coordinator.runs.list().map {
            RunSummary(runID: $0.id, name: $0.name, state: $0.state, step: $0.currentStep, totalSteps: $0.totalSteps,
                       tokenizerVocabSHA256: $0.tokenizerVocabSHA256, tokenizerMergesSHA256: $0.tokenizerMergesSHA256)
        }
        return try WireResponse.json(list)
    }

    func setState(_ context: CoordinatorContext, _ state: String) async throws -> Response {
        guard let run = context.parameters.get("run", as: Int.self), try await coordinator.runs.setState(run, to: state) else {
            return try WireResponse.error(.notFound, code: "not_found", "no such run, or it has finished")
        }
        if state == "active" { coordinator.workSignal.signal() }
        return try WireResponse.json(["run_id": run])
    }
}
