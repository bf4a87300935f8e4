import AsyncHTTPClient
import Foundation
import KoinonCore
import Logging
import NIOCore
import NIOHTTP1
import Wire

/// A failed exchange with the coordinator, worded for the volunteer's log.
public struct CoordinatorError: Error, CustomStringConvertible {
    public var message: String
    /// Worth retrying later (unreachable, 5xx) rather than a hard refusal.
    public var transient: Bool
    public var description: String { message }
}

/// The coordinator's HTTP API as async calls (docs/protocol.md). Connection
/// failures and 5xx answers are retried with exponential backoff and jitter.
public final class CoordinatorClient: Sendable {
    public let baseURL: String
    let http: HTTPClient
    let logger: Logger
    let token: LockedValue<String?>

    public init(baseURL: String, logger: Logger) {
        self.baseURL = baseURL.hasSuffix("/") ? String(baseURL.dropLast()) : baseURL
        self.http = HTTPClient(eventLoopGroupProvider: .singleton)
        self.logger = logger
        self.token = LockedValue(nil)
    }

    public func shutdown() async { try? await http.shutdown() }

    public func setToken(_ t: String) { token.set(t) }

    /// One request, retried while the coordinator is unreachable or answers 5xx.
    func send(_ method: HTTPMethod, _ path: String, body: Data? = nil, headers: [(String, String)] = [],
              maxBytes: Int = 1 << 20, retry: Bool = true) async throws -> (status: Int, body: Data) {
        var backoff = RetryBackoff()
        var random = SystemRandomNumberGenerator()
        while true {
            var request = HTTPClientRequest(url: baseURL + path)
            request.method = method
            if let t = token.get() { request.headers.add(name: "Authorization", value: "Bearer \(t)") }
            for (name, value) in headers { request.headers.add(name: name, value: value) }
            if let body {
                request.body = .bytes(ByteBuffer(bytes: body))
                if !headers.contains(where: { $0.0 == "Content-Type" }) { request.headers.add(name: "Content-Type", value: WireProtocol.jsonContentType) }
            }
            do {
                let response = try await http.execute(request, timeout: .seconds(120))
                let bytes = try await response.body.collect(upTo: maxBytes)
                let status = Int(response.status.code)
                if status >= 500 && retry {
                    throw CoordinatorError(message: "coordinator answered \(status)", transient: true)
                }
                return (status, Data(bytes.readableBytesView))
            } catch let error where retry && Self.isTransient(error) && !Task.isCancelled {
                let wait = backoff.delayAfterFailure(using: &random)
                logger.warning("coordinator unreachable (\(error)); retrying in \(String(format: "%.1f", wait)) s")
                try await Task.sleep(for: .seconds(wait))
            }
        }
    }

    static func isTransient(_ error: any Error) -> Bool {
        if let e = error as? CoordinatorError { return e.transient }
        return !(error is CancellationError)
    }

    func decode<T: Decodable>(_ type: T.Type, _ data: Data) throws -> T {
        do { return try WireProtocol.makeDecoder().decode(T.self, from: data) } catch {
            let message = (try? WireProtocol.makeDecoder().decode(ErrorResponse.self, from: data))?.message
            throw CoordinatorError(message: message ?? "unexpected answer from the coordinator: \(String(decoding: data.prefix(200), as: UTF8.self))",
                                   transient: false)
        }
    }

    public func register(_ request: RegisterWorkerRequest) async throws -> RegisterWorkerResponse {
        let (status, body) = try await send(.POST, "/v1/workers", body: try WireProtocol.makeEncoder().encode(request))
        guard status == 201 else { throw CoordinatorError(message: "registration refused (\(status)): \(String(decoding: body, as: UTF8.self))", transient: false) }
        return try decode(RegisterWorkerResponse.self, body)
    }

    /// Asks for work; 401 means the token is unknown (register again).
    public func lease(maxWait: Double) async throws -> LeaseResponse {
        let (status, body) = try await send(.POST, "/v1/leases", body: try WireProtocol.makeEncoder().encode(LeaseRequest(maxWaitSeconds: maxWait)))
        if status == 401 { throw CoordinatorError(message: "the coordinator does not know this worker's token", transient: false) }
        return try decode(LeaseResponse.self, body)
    }

    public func heartbeat(_ lease: UUID) async throws -> HeartbeatResponse {
        let (_, body) = try await send(.POST, "/v1/leases/\(lease.uuidString.lowercased())/heartbeat")
        return try decode(HeartbeatResponse.self, body)
    }

    public func release(_ lease: UUID) async throws {
        _ = try await send(.DELETE, "/v1/leases/\(lease.uuidString.lowercased())", retry: false)
    }

    public func submit(lease: UUID, payload: Data, loss: Double, tokens: Int) async throws -> SubmitResultResponse {
        let metadata = ResultMetadata(leaseID: lease, loss: loss, tokenCount: tokens, payloadSHA256: SHA256Hex.digest(of: [UInt8](payload)))
        var headers = metadata.headerFields.map { ($0.name, $0.value) }
        headers.append(("Content-Type", WireProtocol.tensorContentType))
        let (_, body) = try await send(.PUT, "/v1/leases/\(lease.uuidString.lowercased())/result", body: payload, headers: headers)
        return try decode(SubmitResultResponse.self, body)
    }

    /// An immutable download (parameters, config, manifest, shard), checked against its SHA-256 when given.
    public func download(_ path: String, sha256: String?, maxBytes: Int) async throws -> Data {
        let (status, body) = try await send(.GET, path, maxBytes: maxBytes)
        guard status == 200 else { throw CoordinatorError(message: "GET \(path) answered \(status)", transient: false) }
        if let sha256, SHA256Hex.digest(of: [UInt8](body)) != sha256 {
            throw CoordinatorError(message: "GET \(path): the bytes do not match their SHA-256 (corrupted download)", transient: true)
        }
        return body
    }
}

/// A value shared across tasks under a lock.
final class LockedValue<T: Sendable>: @unchecked Sendable {
    private var value: T
    private let lock = NSLock()
    init(_ value: T) { self.value = value }
    func get() -> T { lock.withLock { value } }
    func set(_ v: T) { lock.withLock { value = v } }
}
