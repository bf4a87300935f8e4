import CoordinatorApp
import Foundation
import Hummingbird
import HummingbirdTesting
import HTTPTypes
import Logging
import NIOCore
import Testing
import Wire

/// The repository's openapi.yaml: it is well formed enough to read, describes
/// every route the coordinator registers (and no other), and is served at
/// `GET /openapi.yaml`.
@Suite struct OpenAPITests {
    static let repositoryRoot = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
    static let specURL = repositoryRoot.appendingPathComponent("openapi.yaml")

    /// Every route `CoordinatorRoutes.register(on:)` adds, as Hummingbird
    /// writes them (`{name}` for a `:name` capture). `routesMatchTheRouter`
    /// checks this list against the real router.
    static let registeredRoutes: Set<String> = [
        "POST /v1/workers",
        "GET /v1/status",
        "GET /v1/runs/{run}/parameters/{version}",
        "GET /v1/runs/{run}/config",
        "GET /v1/shards/{sha}",
        "POST /v1/leases",
        "POST /v1/leases/{lease}/heartbeat",
        "PUT /v1/leases/{lease}/result",
        "DELETE /v1/leases/{lease}",
        "POST /v1/runs",
        "GET /v1/runs",
        "POST /v1/runs/{run}/pause",
        "POST /v1/runs/{run}/resume",
        "GET /v1/workers",
        "POST /v1/workers/{worker}/ban",
        "POST /v1/workers/{worker}/unban",
        "GET /openapi.yaml",
        "GET /",
        "GET /runs/{run}",
        "GET /workers/{name}",
        "GET /metrics",
    ]

    /// The routes that never touch the database, so never answer `503`.
    static let databaseFreeRoutes: Set<String> = ["GET /v1/shards/{sha}", "GET /openapi.yaml"]

    /// The routes behind `Authorization: Bearer` with a worker's token.
    static let workerRoutes: Set<String> = [
        "POST /v1/leases", "POST /v1/leases/{lease}/heartbeat", "PUT /v1/leases/{lease}/result", "DELETE /v1/leases/{lease}",
    ]

    /// The routes behind the operator token.
    static let operatorRoutes: Set<String> = [
        "POST /v1/runs", "GET /v1/runs", "POST /v1/runs/{run}/pause", "POST /v1/runs/{run}/resume",
        "GET /v1/workers", "POST /v1/workers/{worker}/ban", "POST /v1/workers/{worker}/unban",
    ]

    /// The routes that read a request body: they may answer 408 (the body
    /// stopped arriving) and 413 (too large).
    static let bodyRoutes: Set<String> = [
        "POST /v1/workers", "POST /v1/leases", "PUT /v1/leases/{lease}/result", "POST /v1/runs", "POST /v1/workers/{worker}/ban",
    ]

    @Test func specParsesAndDescribesEveryRoute() throws {
        let spec = try OpenAPIOutline(text: String(contentsOf: Self.specURL, encoding: .utf8))
        #expect(spec.version == "3.0.3")
        #expect(Set(spec.operations.keys) == Self.registeredRoutes)
        // Operation ids: present and unique.
        let ids = spec.operations.values.map(\.operationID)
        #expect(!ids.contains(""))
        #expect(Set(ids).count == ids.count)
        // Every operation has responses; the worker routes (only they) need a worker's token, the
        // operator routes (only they) the operator token, and both answer 401.
        for (route, operation) in spec.operations {
            #expect(!operation.responses.isEmpty, "\(route) has no responses")
            #expect(operation.needsWorkerToken == Self.workerRoutes.contains(route), "\(route): security")
            #expect(operation.needsOperatorToken == Self.operatorRoutes.contains(route), "\(route): operator security")
            if Self.operatorRoutes.contains(route) {
                #expect(operation.responseRefs["401"] == "#/components/responses/OperatorUnauthorized", "\(route): 401")
            }
            if Self.workerRoutes.contains(route) {
                #expect(operation.responses.contains("401"), "\(route): 401")
                #expect(operation.responseRefs["429"] == "#/components/responses/TooManyRequests", "\(route): 429")
            }
            // Reading a body: 408 when it stops arriving, 413 when it is too large.
            #expect(operation.responses.contains("408") == Self.bodyRoutes.contains(route), "\(route): 408")
            #expect(operation.responses.contains("413") == Self.bodyRoutes.contains(route), "\(route): 413")
        }
        #expect(spec.components["securitySchemes"]?.isSuperset(of: ["workerToken", "operatorToken"]) == true)
        // Every $ref points at a defined component.
        for ref in spec.refs {
            let parts = ref.split(separator: "/").map(String.init)
            #expect(parts.count == 4 && parts[0] == "#" && parts[1] == "components"
                    && spec.components[parts[2]]?.contains(parts[3]) == true, "dangling \(ref)")
        }
        // The codes the handlers answer with.
        #expect(spec.operations["PUT /v1/leases/{lease}/result"]?.responses
                == ["200", "400", "401", "403", "404", "408", "409", "413", "422", "429", "500", "503"])
        #expect(spec.operations["DELETE /v1/leases/{lease}"]?.responses
                == ["200", "400", "401", "404", "409", "429", "500", "503"])
        #expect(spec.operations["POST /v1/leases/{lease}/heartbeat"]?.responses
                == ["200", "400", "401", "404", "409", "429", "500", "503"])
        #expect(spec.operations["POST /v1/leases"]?.responses == ["200", "400", "401", "403", "408", "413", "429", "500", "503"])
        #expect(spec.operations["POST /v1/workers"]?.responses == ["201", "400", "408", "413", "429", "500", "503"])
        #expect(spec.operations["POST /v1/workers"]?.responseRefs["429"] == "#/components/responses/TooManyRequests")
        #expect(spec.operations["GET /v1/runs/{run}/parameters/{version}"]?.responses.isSuperset(of: ["200", "206", "304", "404"]) == true)
        #expect(spec.operations["GET /v1/shards/{sha}"]?.responses.isSuperset(of: ["200", "206", "304", "404"]) == true)
        #expect(spec.operations["POST /v1/workers"]?.responses.contains("201") == true)
        #expect(spec.operations["GET /openapi.yaml"]?.responses == ["200", "404"])
        // Every error goes through ErrorMiddleware: 500 everywhere but the
        // static description, 503 (with Retry-After) wherever the database is
        // touched, all with the protocol's ErrorResponse body.
        for (route, operation) in spec.operations where route != "GET /openapi.yaml" {
            #expect(operation.responseRefs["500"] == "#/components/responses/InternalError", "\(route): 500")
            if !Self.databaseFreeRoutes.contains(route) {
                #expect(operation.responseRefs["503"] == "#/components/responses/Unavailable", "\(route): 503")
            }
        }
        for name in ["Unavailable", "InternalError", "BodyTooLarge", "BadLeaseID", "Unauthorized", "OperatorUnauthorized",
                     "TooManyRequests", "RequestTimeout", "BadWorkerID", "NoSuchWorker", "WorkerRefused"] {
            #expect(spec.componentText["responses/\(name)"]?.contains("$ref: \"#/components/schemas/ErrorResponse\"") == true,
                    "\(name) has no ErrorResponse body")
        }
        #expect(spec.componentText["responses/Unavailable"]?.contains("Retry-After:") == true)
        #expect(spec.componentText["responses/TooManyRequests"]?.contains("Retry-After:") == true)
        #expect(spec.componentText["responses/TooManyRequests"]?.contains("rate_limited") == true)
        #expect(spec.componentText["responses/RequestTimeout"]?.contains("request_timeout") == true)
        // The messages of the operator endpoints and the registration's optional owner.
        for schema in ["OperatorWorkerSummary", "BanWorkerRequest", "BanWorkerResponse"] {
            #expect(spec.components["schemas"]?.contains(schema) == true, "\(schema) is missing")
        }
        #expect(spec.componentText["schemas/RegisterWorkerRequest"]?.contains("owner:") == true)
        #expect(spec.components["schemas"]?.contains("FrameworkError") == false)
        let text = try String(contentsOf: Self.specURL, encoding: .utf8)
        #expect(!text.contains("FrameworkError"))
        // The result route's reason codes (superseded and conflicting_result, not the old names).
        for code: ReasonCode in [.superseded, .conflictingResult, .unavailable, .internalError, .payloadTooLarge] {
            #expect(text.contains(code.rawValue), "\(code) is not in openapi.yaml")
        }
        #expect(!text.contains("result_conflict"))
        // The wire names it has to agree with.
        for name in [ResultMetadata.Header.leaseID, ResultMetadata.Header.loss, ResultMetadata.Header.tokenCount,
                     ResultMetadata.Header.payloadSHA256, WireProtocol.tensorContentType] {
            #expect(text.contains(name), "\(name) is not in openapi.yaml")
        }
    }

    @Test func lookupFindsTheFileInAParentOfTheExecutable() throws {
        let root = FileManager.default.temporaryDirectory.appendingPathComponent("koinon-openapi-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: root) }
        let binDirectory = root.appendingPathComponent(".build/debug")
        let elsewhere = root.appendingPathComponent("elsewhere")
        for directory in [binDirectory, elsewhere] {
            try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        }
        let executable = binDirectory.appendingPathComponent("koinon-coordinator")
        let missing = OpenAPIDocument.load(currentDirectory: elsewhere, executable: executable)
        #expect(missing.contents == nil)
        #expect(missing.searched.first == elsewhere.appendingPathComponent("openapi.yaml").standardizedFileURL.path)
        #expect(missing.searched.contains(root.appendingPathComponent("openapi.yaml").standardizedFileURL.path))
        try Data("openapi: 3.0.3\n".utf8).write(to: root.appendingPathComponent("openapi.yaml"))
        let found = OpenAPIDocument.load(currentDirectory: elsewhere, executable: executable)
        #expect(found.contents == Data("openapi: 3.0.3\n".utf8))
        // Migrations are looked for the same way.
        #expect(MigrationDirectory.candidates(currentDirectory: elsewhere, executable: executable)
                == RepositoryResource.candidates(named: "migrations", currentDirectory: elsewhere, executable: executable))
    }

    @Test func missingFileAnswers404() async throws {
        let router = Router(context: CoordinatorContext.self)
        CoordinatorRoutes.registerOpenAPI(on: router, document: OpenAPIDocument(contents: nil, searched: ["/nowhere/openapi.yaml"]))
        try await Application(router: router).test(.router) { client in
            try await client.execute(uri: "/openapi.yaml", method: .get) { response in
                #expect(response.status == .notFound)
                let error = try WireProtocol.makeDecoder().decode(ErrorResponse.self, from: Data(response.body.readableBytesView))
                #expect(error.error == "not_found")
                #expect(error.message.contains("/nowhere/openapi.yaml"))
            }
        }
    }

    @Test func servedByTheCoordinatorAndRoutesMatchTheRouter() async throws {
        try await TestDatabase.withFresh(migrated: true) { db in
            let blobDirectory = try TestDatabase.scratchDirectory("openapi-blobs")
            defer { try? FileManager.default.removeItem(at: blobDirectory) }
            let coordinator = Coordinator(db: db.client, blobs: try BlobStore(root: blobDirectory), settings: CoordinatorSettings(),
                                          logger: Logger(label: "test"))
            // The real router's routes are the list above.
            let router = Router(context: CoordinatorContext.self)
            CoordinatorRoutes(coordinator: coordinator).register(on: router)
            #expect(Set(router.routes.map { "\($0.method.rawValue) \($0.path)" }) == Self.registeredRoutes)

            let expected = try Data(contentsOf: Self.specURL)
            let app = CoordinatorServer.application(coordinator: coordinator, host: "127.0.0.1", port: 0, services: [],
                                                    logger: Logger(label: "test"))
            try await app.test(.router) { client in
                // No token needed.
                try await client.execute(uri: "/openapi.yaml", method: .get) { response in
                    #expect(response.status == .ok)
                    #expect(response.headers[.contentType] == "application/yaml")
                    #expect(Data(response.body.readableBytesView) == expected)
                }
            }
        }
    }
}

/// What the tests need of an OpenAPI YAML file, read with Foundation only (the
/// test target has no YAML parser): block-style YAML with two-space indents,
/// as the repository's openapi.yaml is written.
struct OpenAPIOutline {
    struct Operation {
        var operationID = ""
        var responses: Set<String> = []
        /// Status → the response's `$ref`, for responses that are one.
        var responseRefs: [String: String] = [:]
        var needsWorkerToken = false
        var needsOperatorToken = false
    }

    struct FormatError: Error, CustomStringConvertible {
        let description: String
    }

    var version = ""
    /// "METHOD /path" → operation.
    var operations: [String: Operation] = [:]
    /// Section (`schemas`, `responses`, ...) → the names defined in it.
    var components: [String: Set<String>] = [:]
    /// "section/name" (`responses/Unavailable`) → the component's lines below its name.
    var componentText: [String: String] = [:]
    /// Every `$ref` target.
    var refs: [String] = []

    static let methods: Set<String> = ["get", "put", "post", "delete", "patch", "head", "options", "trace"]

    init(text: String) throws {
        var topLevel = ""
        var path = ""
        var route: String?
        var section = ""
        var component: String?
        var response: String?
        var inResponses = false
        var inSecurity = false
        for (number, raw) in text.split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
            let line = String(raw)
            guard !line.contains("\t") else { throw FormatError(description: "line \(number + 1): a tab") }
            let trimmed = line.trimmingCharacters(in: .whitespaces)
            if trimmed.isEmpty || trimmed.hasPrefix("#") { continue }
            let indent = line.prefix { $0 == " " }.count
            var ref: String?
            if let range = trimmed.range(of: "$ref: ") {
                ref = trimmed[range.upperBound...].trimmingCharacters(in: CharacterSet(charactersIn: "\"' "))
                refs.append(ref!)
            }
            if indent > 4, let component { componentText[component, default: ""] += trimmed + "\n" }
            // The key and value of a "key: value" or "key:" line (empty for list items).
            var key = "", value = ""
            if !trimmed.hasPrefix("- "), let colon = trimmed.firstIndex(of: ":") {
                key = trimmed[..<colon].trimmingCharacters(in: CharacterSet(charactersIn: "\"'"))
                value = trimmed[trimmed.index(after: colon)...].trimmingCharacters(in: .whitespaces)
            }
            switch indent {
            case 0:
                guard !key.isEmpty else { throw FormatError(description: "line \(number + 1): not a top-level key") }
                topLevel = key
                route = nil
                component = nil
                if key == "openapi" { version = value.trimmingCharacters(in: CharacterSet(charactersIn: "\"'")) }
            case 2 where topLevel == "paths":
                guard key.hasPrefix("/") else { throw FormatError(description: "line \(number + 1): a path must start with /") }
                path = key
                route = nil
            case 2 where topLevel == "components":
                section = key
                component = nil
                components[section, default: []] = []
            case 4 where topLevel == "paths":
                if Self.methods.contains(key) {
                    let name = "\(key.uppercased()) \(path)"
                    guard operations[name] == nil else { throw FormatError(description: "line \(number + 1): \(name) twice") }
                    operations[name] = Operation()
                    route = name
                } else {
                    route = nil
                }
            case 4 where topLevel == "components" && !key.isEmpty:
                components[section, default: []].insert(key)
                component = "\(section)/\(key)"
            case 6 where route != nil:
                inResponses = key == "responses"
                response = nil
                inSecurity = key == "security"
                if key == "operationId" { operations[route!]?.operationID = value }
            case 8 where route != nil && inResponses && !key.isEmpty:
                operations[route!]?.responses.insert(key)
                response = key
            case 10 where route != nil && inResponses && response != nil && ref != nil && key == "$ref":
                operations[route!]?.responseRefs[response!] = ref
            case 8 where route != nil && inSecurity:
                if trimmed.hasPrefix("- workerToken:") { operations[route!]?.needsWorkerToken = true }
                if trimmed.hasPrefix("- operatorToken:") { operations[route!]?.needsOperatorToken = true }
            default:
                break
            }
        }
    }
}
