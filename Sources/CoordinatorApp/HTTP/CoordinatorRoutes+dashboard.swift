import Foundation
import Hummingbird
import Wire

extension CoordinatorRoutes {
    /// The HTML pages and the Prometheus metrics, all from the status snapshot.
    func registerDashboard(on router: Router<CoordinatorContext>) {
        router.get("/", use: home)
        router.get("runs/:run", use: runPage)
        router.get("workers/:name", use: workerPage)
        router.get("metrics", use: metrics)
    }

    static func html(_ body: ByteBuffer, status: HTTPResponse.Status = .ok) -> Response {
        Response(status: status, headers: [.contentType: "text/html; charset=utf-8", .cacheControl: "no-cache"],
                 body: .init(byteBuffer: body))
    }

    @Sendable func home(_ request: Request, context: CoordinatorContext) async throws -> Response {
        Self.html(try await coordinator.statusBoard.snapshot().home)
    }

    @Sendable func runPage(_ request: Request, context: CoordinatorContext) async throws -> Response {
        let status = try await coordinator.statusBoard.snapshot().status
        guard let id = context.parameters.get("run", as: Int.self), let run = status.runs.first(where: { $0.runID == id }) else {
            return Self.html(ByteBuffer(string: DashboardPage.notFound("There is no such run.")), status: .notFound)
        }
        return Self.html(ByteBuffer(string: DashboardPage.run(run, status: status)))
    }

    @Sendable func workerPage(_ request: Request, context: CoordinatorContext) async throws -> Response {
        let status = try await coordinator.statusBoard.snapshot().status
        // A name no worker can have (too long, control characters: NUL cannot even be queried) is simply not found.
        guard let name = context.parameters.get("name")?.removingPercentEncoding,
              (1...64).contains(name.unicodeScalars.count),
              !name.unicodeScalars.contains(where: { $0.properties.generalCategory == .control }),
              var history = try await coordinator.statusBoard.repository.history(workerNamed: name) else {
            return Self.html(ByteBuffer(string: DashboardPage.notFound("There is no worker of that name.")), status: .notFound)
        }
        // Its rate and leases as the snapshot has them (a worker not seen for a day is not in it).
        if let seen = status.workers.first(where: { $0.workerID == history.worker.workerID }) {
            history.worker.tokensPerSecond = seen.tokensPerSecond
            history.worker.activeLeases = seen.activeLeases
        }
        return Self.html(ByteBuffer(string: DashboardPage.worker(history, status: status)))
    }

    @Sendable func metrics(_ request: Request, context: CoordinatorContext) async throws -> Response {
        _ = try? await coordinator.statusBoard.snapshot()  // the gauges exist from the first scrape
        return Response(status: .ok, headers: [.contentType: "text/plain; version=0.0.4; charset=utf-8"],
                        body: .init(byteBuffer: ByteBuffer(string: CoordinatorMetrics.exposition())))
    }
}
