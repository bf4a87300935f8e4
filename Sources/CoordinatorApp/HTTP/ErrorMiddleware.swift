import Hummingbird
import Logging
import PostgresNIO
import Wire

/// The last word on errors no route turned into an answer: every one is
/// logged (an operator needs to know), the database being unreachable or
/// restarting is 503 with Retry-After (workers back off and retry), anything
/// else is 500, both with the protocol's JSON error body. `HTTPError`s pass
/// through unchanged.
struct ErrorMiddleware: RouterMiddleware {
    typealias Context = CoordinatorContext

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        do {
            return try await next(request, context)
        } catch let error as HTTPError {
            throw error
        } catch {
            context.logger.error("\(request.method) \(request.uri.path) failed: \(error)")
            if Self.isDatabaseUnavailable(error) {
                var response = try WireResponse.error(.serviceUnavailable, code: "unavailable",
                                                      "the coordinator's database is unavailable; retry shortly")
                response.headers[.retryAfter] = "2"
                return response
            }
            return try WireResponse.error(.internalServerError, code: "internal_error", "the coordinator failed to answer; retry later")
        }
    }

    static func isDatabaseUnavailable(_ error: any Error) -> Bool {
        if let e = error as? PSQLError {
            return [.connectionError, .serverClosedConnection, .clientClosedConnection, .uncleanShutdown].contains(e.code)
        }
        if let e = error as? PostgresTransactionError {
            return [e.beginError, e.closureError, e.commitError].contains { $0.map(isDatabaseUnavailable) ?? false }
        }
        return String(describing: type(of: error)).contains("ConnectionPoolError")
    }
}
