import Foundation
import Hummingbird
import Logging
import PostgresNIO
import Wire

/// The last word on errors no route turned into an answer, so that every
/// error has the protocol's JSON body (`ErrorResponse`) and no client input
/// gets a 5xx: HTTP errors (bad JSON, bad path parameter, body too large, no
/// such route) keep their status; a body that stopped arriving is `408`;
/// a JSON decoding error that a handler let through is `400`, and so is a
/// value the database refuses as data (a safety net: handlers check their
/// input first; it is logged). Anything else is logged (an operator needs to
/// know) and becomes 503 with Retry-After when the database is unreachable
/// or restarting (workers back off and retry), else 500.
struct ErrorMiddleware: RouterMiddleware {
    typealias Context = CoordinatorContext

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        do {
            return try await next(request, context)
        } catch let error as UploadTimedOut {
            return try UploadTimeLimitMiddleware.timeoutResponse(error)
        } catch let error as any HTTPResponseError {
            // HTTPError, and NIOTooManyBytesError (a body over the route's limit, collectBody(upTo:)).
            let message: String
            if let error = error as? HTTPError, let body = error.body, !body.isEmpty {
                message = body
            } else if error.status == .contentTooLarge {
                message = "the request body is too large"
            } else {
                message = error.status.reasonPhrase
            }
            var response = try WireResponse.error(error.status, code: Self.code(for: error.status), message)
            if let error = error as? HTTPError {
                for field in error.headers { response.headers.append(field) }
            }
            return response
        } catch let error as DecodingError {
            return try WireResponse.error(.badRequest, code: .badRequest, "the body is not valid: \(Self.describe(error))")
        } catch where Self.isRefusedData(error) {
            // A handler let through a value the schema refuses: the client's fault, but a gap to close.
            context.logger.warning("\(request.method) \(request.uri.path): the database refused a value: \(String(reflecting: error))")
            return try WireResponse.error(.badRequest, code: .badRequest, "the request has a value the coordinator cannot store")
        } catch {
            context.logger.error("\(request.method) \(request.uri.path) failed: \(Database.describe(error))")
            if Database.isUnavailable(error) {
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
        case .requestTimeout: UploadTimeLimitMiddleware.code
        case .tooManyRequests: RateLimitMiddleware.code
        case .unsupportedMediaType: "unsupported_media_type"
        case .serviceUnavailable: .unavailable
        default: status.code >= 500 ? .internalError : .badRequest
        }
    }

    /// A decoding error in words (the coding path and what was wrong).
    static func describe(_ error: DecodingError) -> String {
        func path(_ context: DecodingError.Context) -> String {
            let keys = context.codingPath.map { $0.intValue.map { "[\($0)]" } ?? $0.stringValue }
            return keys.isEmpty ? "" : " at `\(keys.joined(separator: "."))`"
        }
        switch error {
        case .dataCorrupted(let context): return "not valid JSON\(path(context))"
        case .keyNotFound(let key, let context): return "`\(key.stringValue)` is missing\(path(context))"
        case .valueNotFound(_, let context): return "a value is missing\(path(context))"
        case .typeMismatch(let type, let context): return "expected \(type)\(path(context))"
        @unknown default: return "\(error)"
        }
    }

    /// SQLSTATE class 22 (data exception: a string with NUL, a number out of
    /// range, ...) and 23514 (a CHECK constraint): the value, not the server.
    static func isRefusedData(_ error: any Error) -> Bool {
        guard let e = error as? PSQLError, e.code == .server, let state = e.serverInfo?[.sqlState] else { return false }
        return state.hasPrefix("22") || state == "23514"
    }
}
