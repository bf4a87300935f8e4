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
    /// The HTTP status that caused it, when there was an answer.
    public var httpStatus: Int?
    public var description: String { message }

    public init(message: String, transient: Bool, httpStatus: Int? = nil) {
        self.message = message
        self.transient = transient
        self.httpStatus = httpStatus
    }
}

/// The coordinator's HTTP API as async calls (docs/protocol.md). Connection
/// failures and 5xx answers are retried with exponential backoff and jitter.
public final class CoordinatorClient: Sendable {
    public let baseURL: String
    /// The HTTP client, made on first use (a pinned certificate is checked then).
    let connection: CoordinatorConnection
    let logger: Logger
    let token: LockedValue<String?>
    /// Where retries are shown (the status line's "coordinator unreachable ..."), if anywhere.
    let progress: WorkerProgress?
    /// Requests failed in a row (any request); the first success after some says so.
    let failuresInARow = LockedValue(0)

    /// `tls` says which certificates are trusted and whether `http://` is
    /// allowed; the default allows it (tests and embedders choose the URL),
    /// `koinon-worker` allows it only with `--insecure-http`.
    public init(baseURL: String, logger: Logger, progress: WorkerProgress? = nil,
                tls: CoordinatorTLS = CoordinatorTLS(allowsPlainHTTP: true)) {
        self.baseURL = baseURL.hasSuffix("/") ? String(baseURL.dropLast()) : baseURL
        self.connection = CoordinatorConnection(url: self.baseURL, tls: tls)
        self.logger = logger
        self.token = LockedValue(nil)
        self.progress = progress
    }

    public func shutdown() async { await connection.shutdown() }

    public func setToken(_ t: String) { token.set(t) }

    /// Called with the bytes received so far and the expected total (when the answer said).
    public typealias ByteProgress = @Sendable (_ received: Int64, _ total: Int64?) -> Void

    /// One request, retried while the coordinator is unreachable or answers 5xx.
    func send(_ method: HTTPMethod, _ path: String, body: Data? = nil, headers: [(String, String)] = [],
              maxBytes: Int = 1 << 20, retry: Bool = true, timeout: Int64 = 120,
              onBytes: ByteProgress? = nil) async throws -> (status: Int, body: Data) {
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
                let http = try await connection.client()
                let response = try await http.execute(request, timeout: .seconds(timeout))
                let status = Int(response.status.code)
                let data: Data
                if let onBytes {
                    data = try await Self.collect(response, upTo: maxBytes, onBytes: onBytes)
                } else {
                    data = Data(try await response.body.collect(upTo: maxBytes).readableBytesView)
                }
                // Too many requests (rate limited) is, like a 5xx, a reason to wait and try again.
                if (status >= 500 || status == 429) && retry {
                    let said = (try? WireProtocol.decoder.decode(ErrorResponse.self, from: data))?.message
                    throw CoordinatorError(message: "HTTP \(status)\(said.map { ": \($0)" } ?? "")", transient: true, httpStatus: status)
                }
                recovered()
                return (status, data)
            } catch let error where retry && Self.isTransient(error) && !Task.isCancelled {
                let wait = backoff.delayAfterFailure(using: &random)
                failed(error, retryIn: wait, attempt: backoff.consecutiveFailures + 1)
                try await Task.sleep(for: .seconds(wait))
            } catch {
                throw Self.clarified(error)
            }
        }
    }

    /// A refused TLS set-up or certificate as a non-transient `CoordinatorError` saying what to do.
    static func clarified(_ error: any Error) -> any Error {
        if let e = error as? CoordinatorTLSError { return CoordinatorError(message: e.message, transient: false) }
        if let sentence = CoordinatorTLS.trustFailure(error) { return CoordinatorError(message: sentence, transient: false) }
        return error
    }

    /// Says why a request failed and when it is tried again as attempt
    /// `attempt` (log and status line).
    func failed(_ error: any Error, retryIn wait: Double, attempt: Int) {
        failuresInARow.update { $0 += 1 }
        let cause = WorkerMessages.cause(of: error)
        let unavailable = (error as? CoordinatorError)?.httpStatus != nil
        logger.warning("\(WorkerMessages.unreachable(coordinator: baseURL, cause: cause, retryIn: wait, attempt: attempt, answered: unavailable))")
        progress?.update {
            $0.trouble = .init(what: "coordinator \(unavailable ? "unavailable" : "unreachable") (\(cause))", attempt: attempt,
                               retryAt: Date().addingTimeInterval(wait))
        }
    }

    /// An answer came: if requests had been failing, say it is back.
    func recovered() {
        let failures = failuresInARow.update { n in defer { n = 0 }; return n }
        guard failures > 0 else { return }
        logger.info("\(WorkerMessages.reachableAgain(coordinator: baseURL, after: failures))")
        progress?.update { $0.trouble = nil }
    }

    /// The body, reporting progress per chunk; at most `maxBytes` (like `collect(upTo:)`).
    static func collect(_ response: HTTPClientResponse, upTo maxBytes: Int, onBytes: ByteProgress) async throws -> Data {
        let total = response.headers.first(name: "content-length").flatMap { Int64($0) }
        if let total, total > maxBytes { throw NIOTooManyBytesError(maxBytes: maxBytes) }
        var data = Data()
        if let total { data.reserveCapacity(Int(total)) }
        onBytes(0, total)
        for try await chunk in response.body {
            guard data.count + chunk.readableBytes <= maxBytes else { throw NIOTooManyBytesError(maxBytes: maxBytes) }
            data.append(contentsOf: chunk.readableBytesView)
            onBytes(Int64(data.count), total)
        }
        return data
    }

    static func isTransient(_ error: any Error) -> Bool {
        if let e = error as? CoordinatorError { return e.transient }
        // A refused URL or certificate stays refused: retrying would only hide it.
        if error is CoordinatorTLSError || CoordinatorTLS.trustFailure(error) != nil { return false }
        return !(error is CancellationError)
    }

    func decode<T: Decodable>(_ type: T.Type, _ data: Data) throws -> T {
        do { return try WireProtocol.decoder.decode(T.self, from: data) } catch {
            let message = (try? WireProtocol.decoder.decode(ErrorResponse.self, from: data))?.message
            throw CoordinatorError(message: message ?? "unexpected answer from the coordinator: \(String(decoding: data.prefix(200), as: UTF8.self))",
                                   transient: false)
        }
    }

    public func register(_ request: RegisterWorkerRequest) async throws -> RegisterWorkerResponse {
        let (status, body) = try await send(.POST, "/v1/workers", body: try WireProtocol.encoder.encode(request))
        guard status == 201 else {
            let said = (try? WireProtocol.decoder.decode(ErrorResponse.self, from: body))?.message
                ?? String(decoding: body.prefix(300), as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
            throw CoordinatorError(message: "the coordinator refused to register this worker (HTTP \(status)\(said.isEmpty ? "" : ": \(said)"))",
                                   transient: false, httpStatus: status)
        }
        return try decode(RegisterWorkerResponse.self, body)
    }

    /// Asks for work; 401 means the token is unknown (register again).
    public func lease(maxWait: Double) async throws -> LeaseResponse {
        let (status, body) = try await send(.POST, "/v1/leases", body: try WireProtocol.encoder.encode(LeaseRequest(maxWaitSeconds: maxWait, acceptsEvaluation: true, acceptsLocalSteps: true)))
        if status == 401 { throw CoordinatorError(message: "the coordinator does not know this worker's token", transient: false) }
        if status == 403 {  // banned or quarantined: registering again would not be honest
            let said = (try? decode(ErrorResponse.self, body))?.message ?? "HTTP 403"
            throw CoordinatorError(message: "the coordinator refuses work to this worker: \(said)", transient: false, httpStatus: 403)
        }
        return try decode(LeaseResponse.self, body)
    }

    public func heartbeat(_ lease: UUID) async throws -> HeartbeatResponse {
        let (_, body) = try await send(.POST, "/v1/leases/\(lease.uuidString.lowercased())/heartbeat")
        return try decode(HeartbeatResponse.self, body)
    }

    public func release(_ lease: UUID) async throws {
        _ = try await send(.DELETE, "/v1/leases/\(lease.uuidString.lowercased())", retry: false)
    }

    /// Hands in a result; with `askingNext`, the answer may carry the worker's next unit (`NextLease`).
    public func submit(lease: UUID, payload: Data, loss: Double, tokens: Int,
                       claimedSHA256: String? = nil, askingNext: Bool = false) async throws -> SubmitResultResponse {
        let metadata = ResultMetadata(leaseID: lease, loss: loss, tokenCount: tokens,
                                      payloadSHA256: claimedSHA256 ?? payload.withUnsafeBytes { SHA256Hex.digest(of: $0) })
        var headers = metadata.headerFields.map { ($0.name, $0.value) }
        headers.append(("Content-Type", WireProtocol.tensorContentType))
        if askingNext { headers.append((NextLease.header, NextLease.value(acceptsEvaluation: true, acceptsLocalSteps: true))) }
        let (_, body) = try await send(.PUT, "/v1/leases/\(lease.uuidString.lowercased())/result", body: payload, headers: headers)
        return try decode(SubmitResultResponse.self, body)
    }

    /// The coordinator's public status (`GET /v1/status`): one try, no retries
    /// (it is decoration for the status line and the "joined run" line).
    public func status(timeout: Int64 = 10) async throws -> StatusResponse {
        let (status, body) = try await send(.GET, "/v1/status", maxBytes: 64 << 20, retry: false, timeout: timeout)
        guard status == 200 else { throw CoordinatorError(message: "GET /v1/status answered \(status)", transient: true, httpStatus: status) }
        return try decode(StatusResponse.self, body)
    }

    /// An immutable download (parameters, config, manifest, shard), checked against its SHA-256 when given.
    public func download(_ path: String, sha256: String?, maxBytes: Int, onBytes: ByteProgress? = nil) async throws -> Data {
        let (status, body) = try await send(.GET, path, maxBytes: maxBytes, onBytes: onBytes)
        guard status == 200 else { throw CoordinatorError(message: "GET \(path) answered \(status)", transient: false) }
        if let sha256, body.withUnsafeBytes({ SHA256Hex.digest(of: $0) }) != sha256 {
            throw CoordinatorError(message: "GET \(path): the bytes do not match their SHA-256 (corrupted download)", transient: true)
        }
        return body
    }
}

/// The coordinator client's HTTP client, made once on first use: for a
/// pinned certificate that takes a TLS handshake, and concurrent first
/// requests share it. A failed attempt is forgotten (the next request tries again).
actor CoordinatorConnection {
    let url: String
    let tls: CoordinatorTLS
    private var making: Task<HTTPClient, any Error>?
    private var closed = false

    init(url: String, tls: CoordinatorTLS) {
        self.url = url
        self.tls = tls
    }

    func client() async throws -> HTTPClient {
        guard !closed else { throw CoordinatorError(message: "the coordinator client was shut down", transient: false) }
        if let making { return try await making.value }
        let task = Task { [url, tls] in try await tls.makeHTTPClient(for: url) }
        making = task
        do { return try await task.value } catch {
            if making == task { making = nil }
            throw error
        }
    }

    func shutdown() async {
        closed = true
        if let client = try? await making?.value { try? await client.shutdown() }
        making = nil
    }
}

/// A value shared across tasks under a lock.
final class LockedValue<T: Sendable>: @unchecked Sendable {
    private var value: T
    private let lock = NSLock()
    init(_ value: T) { self.value = value }
    func get() -> T { lock.withLock { value } }
    func set(_ v: T) { lock.withLock { value = v } }
    @discardableResult func update<R>(_ body: (inout T) -> R) -> R { lock.withLock { body(&value) } }
}
