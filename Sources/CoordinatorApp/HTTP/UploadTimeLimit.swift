import Foundation
import Hummingbird
import NIOCore
import Wire

/// A request body that stopped arriving in time (``UploadTimeLimitMiddleware``).
public struct UploadTimedOut: Error, CustomStringConvertible, Sendable {
    /// The limit that ran out: "idle" (no bytes for `seconds`) or "total".
    public var limit: String
    public var seconds: Double
    public var description: String {
        limit == "idle"
            ? "the request body stopped arriving: nothing for \(Self.format(seconds)) s"
            : "the request body took longer than \(Self.format(seconds)) s to arrive"
    }

    static func format(_ seconds: Double) -> String {
        seconds == seconds.rounded() ? String(Int(seconds)) : String(format: "%.3g", seconds)
    }
}

/// Time limits on reading request bodies, so a client that trickles bytes
/// (or stops) cannot hold a connection, a handler and its buffers forever:
/// each read of the body must bring bytes within `idle`, and the whole body
/// must be in within `total` of the first read. A body that runs out of time
/// is answered `408 request_timeout` (JSON) and the connection is closed
/// after the answer.
///
/// A body the handler did not read to its end (an early answer: unknown
/// lease, no token, a body on a route that takes none) is read and dropped
/// here, under the same limits, before the answer goes out: the client gets
/// its answer once it has sent what it announced (as a client that does not
/// read answers early expects), and the connection serves the next request.
/// A body too large (`413`) is not read on; the connection is closed after
/// the answer instead, as it is after a body that ran out of time.
///
/// Goes outside `ErrorMiddleware`, which turns ``UploadTimedOut`` into the 408.
public struct UploadTimeLimitMiddleware: RouterMiddleware {
    public typealias Context = CoordinatorContext
    public let idle: Duration?
    public let total: Duration?

    /// 0 (or less) turns a limit off.
    public init(idleSeconds: Double, totalSeconds: Double) {
        idle = idleSeconds > 0 && idleSeconds.isFinite ? .seconds(idleSeconds) : nil
        total = totalSeconds > 0 && totalSeconds.isFinite ? .seconds(totalSeconds) : nil
    }

    public func handle(_ request: Request, context: Context,
                       next: (Request, Context) async throws -> Response) async throws -> Response {
        guard idle != nil || total != nil, Self.mayHaveBody(request) else { return try await next(request, context) }
        let body = TimedRequestBody(request.body, idle: idle, total: total)
        var timed = request
        timed.body = RequestBody(asyncSequence: body)
        var response: Response
        do {
            response = try await next(timed, context)
        } catch {
            await finish(body, answer: nil, context: context)
            throw error
        }
        if let timedOut = body.timedOut, response.status != .requestTimeout {
            // A handler turned the timeout into another answer: the client gets the 408.
            response = try Self.timeoutResponse(timedOut)
        }
        if await !finish(body, answer: response.status, context: context) { response.headers[.connection] = "close" }
        return response
    }

    /// Reads and drops what is left of the body (within the limits); false
    /// when the connection will be closed after the answer instead.
    @discardableResult
    func finish(_ body: TimedRequestBody, answer: HTTPResponse.Status?, context: Context) async -> Bool {
        if body.timedOut == nil, !body.finished, answer != .contentTooLarge {
            do {
                while try await body.next() != nil {}
            } catch {}
        }
        guard body.timedOut != nil || !body.finished else { return true }
        context.closeConnectionAfterResponse()
        return false
    }

    static func timeoutResponse(_ error: UploadTimedOut) throws -> Response {
        var response = try WireResponse.error(.requestTimeout, code: code, error.description)
        response.headers[.connection] = "close"
        return response
    }

    public static let code: ReasonCode = "request_timeout"

    /// Whether the request says it has a body (a length above 0, or chunked).
    static func mayHaveBody(_ request: Request) -> Bool {
        if request.headers[.transferEncoding] != nil { return true }
        guard let length = request.headers[.contentLength] else { return false }
        return HeaderText.trimmed(length) != "0"
    }
}

/// The request body, read against the clock: the first read starts the
/// total limit, each read gets the idle limit. One reader at a time (the
/// handler, then the middleware), as a request body is.
final class TimedRequestBody: AsyncSequence, @unchecked Sendable {
    typealias Element = ByteBuffer

    struct AsyncIterator: AsyncIteratorProtocol {
        let body: TimedRequestBody
        mutating func next() async throws -> ByteBuffer? { try await body.next() }
    }

    func makeAsyncIterator() -> AsyncIterator { AsyncIterator(body: self) }

    private let source: RequestBody
    private var iterator: RequestBody.AsyncIterator?
    let idle: Duration?
    let total: Duration?
    private var started: ContinuousClock.Instant?
    /// The body's end was read.
    private(set) var finished = false
    /// Set once a limit ran out; every later read throws it.
    private(set) var timedOut: UploadTimedOut?

    init(_ source: RequestBody, idle: Duration?, total: Duration?) {
        self.source = source
        self.idle = idle
        self.total = total
    }

    /// The next chunk, or nil at the end; throws ``UploadTimedOut`` when none came in time.
    func next() async throws -> ByteBuffer? {
        if let timedOut { throw timedOut }
        if finished { return nil }
        let now = ContinuousClock.now
        let start = started ?? now
        started = start
        // The nearest deadline, and what it was.
        var deadline: (at: ContinuousClock.Instant, why: UploadTimedOut)?
        func consider(_ at: ContinuousClock.Instant?, _ why: @autoclosure () -> UploadTimedOut) {
            guard let at else { return }
            if let nearest = deadline, nearest.at <= at { return }
            deadline = (at, why())
        }
        consider(idle.map { now + $0 }, UploadTimedOut(limit: "idle", seconds: idle!.inSeconds))
        consider(total.map { start + $0 }, UploadTimedOut(limit: "total", seconds: total!.inSeconds))
        guard let deadline else { return try await read() }
        // The read runs in a task of its own, left behind (cancelled) when late: its stream
        // ends, and the connection goes after the 408.
        let why = deadline.why
        do {
            return try await withDeadline(deadline.at, late: { why }) { try await self.read() }
        } catch let late as UploadTimedOut {
            timedOut = late
            throw late
        }
    }

    private func read() async throws -> ByteBuffer? {
        if iterator == nil { iterator = source.makeAsyncIterator() }
        let chunk = try await iterator!.next()
        if chunk == nil { finished = true }
        return chunk
    }
}

extension CoordinatorContext {
    /// Closes the connection once the answer to this request is written
    /// (Hummingbird's connection handler does it on `ChannelShouldQuiesceEvent`).
    func closeConnectionAfterResponse() {
        guard let channel else { return }
        channel.eventLoop.execute {
            channel.pipeline.fireUserInboundEventTriggered(ChannelShouldQuiesceEvent())
        }
    }
}
