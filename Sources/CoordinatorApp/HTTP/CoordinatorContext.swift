import Foundation
import Hummingbird
import NIOCore
import Wire

/// Request context: carries the authenticated worker (set by `WorkerAuthenticator`).
public struct CoordinatorContext: RequestContext {
    public var coreContext: CoreRequestContextStorage
    /// The calling worker, on routes behind the authenticator.
    public var workerID: UUID?
    /// The token the operator endpoints expect (set by `OperatorTokenProvider`
    /// for every request; nil: none was configured, and they refuse everyone).
    public var operatorToken: OperatorToken?
    /// The connection: the client's address, and closing it after the
    /// answer (`closeConnectionAfterResponse`).
    let channel: (any Channel)?
    /// The client's IP address, without the port (`ClientAddress.ip`); nil
    /// when the connection has none (in-process tests).
    public var remoteAddress: String? { ClientAddress.ip(of: channel?.remoteAddress) }

    public init(source: ApplicationRequestContextSource) {
        coreContext = .init(source: source)
        workerID = nil
        operatorToken = nil
        channel = source.channel
    }

    /// JSON control messages are small; result bodies are read with their own limit.
    public var maxUploadSize: Int { 64 * 1024 }
    public var requestDecoder: JSONDecoder { WireProtocol.decoder }
    public var responseEncoder: JSONEncoder { WireProtocol.encoder }

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

/// Hands the operator token to every request's context, for
/// `OperatorAuthenticator` (added to the router before any route).
struct OperatorTokenProvider: RouterMiddleware {
    typealias Context = CoordinatorContext
    let token: OperatorToken

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        var context = context
        context.operatorToken = token
        return try await next(request, context)
    }
}

/// Lets a request through to an operator endpoint only with `Authorization:
/// Bearer <operator token>` (compared in constant time), else answers 401.
struct OperatorAuthenticator: RouterMiddleware {
    typealias Context = CoordinatorContext

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        guard let expected = context.operatorToken else {
            return try Self.refuse("this coordinator has no operator token set up, so its operator endpoints are closed")
        }
        guard let header = request.headers[.authorization], header.hasPrefix("Bearer ") else {
            return try Self.refuse("""
                operator endpoints need Authorization: Bearer <operator token> (the token is in the file operator-token \
                in the coordinator's data directory)
                """)
        }
        guard expected.matches(String(header.dropFirst(7))) else {
            return try Self.refuse("wrong operator token (the right one is in the file operator-token in the coordinator's data directory)")
        }
        return try await next(request, context)
    }

    static func refuse(_ message: String) throws -> Response {
        try WireResponse.json(ErrorResponse(error: "unauthorized", message: message), status: .unauthorized,
                              headers: [.wwwAuthenticate: "Bearer realm=\"koinon-operator\""])
    }
}

/// JSON answers in the protocol's encoding with a chosen status.
enum WireResponse {
    static func json<T: Encodable>(_ value: T, status: HTTPResponse.Status = .ok, headers: HTTPFields = [:]) throws -> Response {
        var fields = headers
        fields[.contentType] = WireProtocol.jsonContentType
        let data = try WireProtocol.encoder.encode(value)
        return Response(status: status, headers: fields, body: .init(byteBuffer: ByteBuffer(bytes: data)))
    }

    /// The lease cycle's answers, the same bytes without `JSONEncoder` (WireJSONWriter.swift).
    static func json<T: WireJSONWritable>(_ value: T, status: HTTPResponse.Status = .ok, headers: HTTPFields = [:]) throws -> Response {
        var fields = headers
        fields[.contentType] = WireProtocol.jsonContentType
        return Response(status: status, headers: fields, body: .init(byteBuffer: ByteBuffer(bytes: try value.wireJSON())))
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
