import Hummingbird
import Logging
import PostgresNIO
import Wire

/// The last word on errors no route turned into an answer, so that every
/// error has the protocol's JSON body (`ErrorResponse`): HTTP errors (bad
/// JSON, bad path parameter, body too large, no such route) keep their status;
/// anything else is logged (an operator needs to know) and becomes 503 with
/// Retry-After when the database is unreachable or restarting (workers back
/// off and retry), else 500.
struct ErrorMiddleware: RouterMiddleware {
    typealias Context = CoordinatorContext

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        do {
            return try await next(request, context)
        } catch let error as HTTPError {
            var response = try WireResponse.error(error.status, code: Self.code(for: error.status),
                                                  error.body ?? error.status.reasonPhrase)
            for field in error.headers { response.headers.append(field) }
            return response
        } catch where String(describing: type(of: error)) == "NIOTooManyBytesError" {
            // A body over the route's limit (collectBody(upTo:)).
            return try WireResponse.error(.contentTooLarge, code: .payloadTooLarge, "the request body is too large")
        } catch {
            context.logger.error("\(request.method) \(request.uri.path) failed: \(error)")
            if Self.isDatabaseUnavailable(error) {
                var response = try WireResponse.error(.serviceUnavailable, code: .unavailable,
                                                      "the coordinator's database is unavailable; retry shortly")
                response.headers[.retryAfter] = "2"
                return response
            }
            return try WireResponse.error(.internalServerError, code: .internalError, "the coordinator failed to answer; retry later")
        }
    }

    static func code(for status: HTTPResponse.Status) -> ReasonCode {
        switch status {
        case .unauthorized: .unauthorized
        case .notFound: .notFound
        case .methodNotAllowed: "method_not_allowed"
        case .contentTooLarge: .payloadTooLarge
        default: status.code >= 500 ? .internalError : .badRequest
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
