import Foundation
import Hummingbird
import Wire

/// Request context: carries the authenticated worker (set by `WorkerAuthenticator`).
public struct CoordinatorContext: RequestContext {
    public var coreContext: CoreRequestContextStorage
    /// The calling worker, on routes behind the authenticator.
    public var workerID: UUID?

    public init(source: ApplicationRequestContextSource) {
        coreContext = .init(source: source)
        workerID = nil
    }

    /// JSON control messages are small; result bodies are read with their own limit.
    public var maxUploadSize: Int { 64 * 1024 }
    public var requestDecoder: JSONDecoder { WireProtocol.makeDecoder() }
    public var responseEncoder: JSONEncoder { WireProtocol.makeEncoder() }

    /// The authenticated worker, or 401.
    func worker() throws -> UUID {
        guard let workerID else { throw HTTPError(.unauthorized, message: "missing or unknown worker token") }
        return workerID
    }
}

/// Resolves `Authorization: Bearer <token>` to a worker, or answers 401.
struct WorkerAuthenticator: RouterMiddleware {
    typealias Context = CoordinatorContext
    let sessions: WorkerSessions

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        guard let header = request.headers[.authorization], header.hasPrefix("Bearer ") else {
            return try WireResponse.error(.unauthorized, code: "unauthorized", "send Authorization: Bearer <token> (register at POST /v1/workers)")
        }
        guard let id = try await sessions.authenticate(token: String(header.dropFirst(7))) else {
            return try WireResponse.error(.unauthorized, code: "unauthorized", "unknown worker token; register again")
        }
        var context = context
        context.workerID = id
        return try await next(request, context)
    }
}

/// JSON answers in the protocol's encoding with a chosen status.
enum WireResponse {
    static func json<T: Encodable>(_ value: T, status: HTTPResponse.Status = .ok, headers: HTTPFields = [:]) throws -> Response {
        var fields = headers
        fields[.contentType] = WireProtocol.jsonContentType
        let data = try WireProtocol.makeEncoder().encode(value)
        return Response(status: status, headers: fields, body: .init(byteBuffer: ByteBuffer(bytes: data)))
    }

    static func error(_ status: HTTPResponse.Status, code: ReasonCode, _ message: String) throws -> Response {
        try json(ErrorResponse(error: code, message: message), status: status)
    }

    static func binary(_ data: Data, contentType: String, etag: String? = nil, status: HTTPResponse.Status = .ok,
                       extra: HTTPFields = [:]) -> Response {
        var fields = extra
        fields[.contentType] = contentType
        if let etag {
            fields[.eTag] = "\"\(etag)\""
            fields[.cacheControl] = "public, max-age=31536000, immutable"
        }
        fields[.acceptRanges] = "bytes"
        return Response(status: status, headers: fields, body: .init(byteBuffer: ByteBuffer(bytes: data)))
    }
}
