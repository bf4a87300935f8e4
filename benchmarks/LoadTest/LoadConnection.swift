import NIOCore
import NIOHTTP1
import NIOPosix

/// One simulated worker's keep-alive HTTP/1.1 connection, driven by NIO
/// directly. The load generator shares the machine's 2 cores with the
/// coordinator and PostgreSQL, so what it spends per request is taken from
/// what it measures: through AsyncHTTPClient (connection pool, request and
/// response streams, tracing) it used about a quarter of both cores at 1,000
/// cycles/s. Requests on a connection are answered in order (no pipelining:
/// a simulated worker waits for each answer, as the real one does).
final class LoadConnection: Sendable {
    private let channel: any Channel
    private let host: String

    private init(channel: any Channel, host: String) {
        self.channel = channel
        self.host = host
    }

    static func connect(host: String, port: Int, group: any EventLoopGroup) async throws -> LoadConnection {
        let channel = try await ClientBootstrap(group: group)
            .channelOption(.socketOption(.tcp_nodelay), value: 1)
            .channelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.addHTTPClientHandlers()
                    try channel.pipeline.syncOperations.addHandler(ResponseCollector())
                }
            }
            .connect(host: host, port: port).get()
        return LoadConnection(channel: channel, host: "\(host):\(port)")
    }

    /// Sends a request and waits for its whole answer.
    func send(_ method: HTTPMethod, _ uri: String, headers: [(String, String)] = [], body: ByteBuffer? = nil) async throws
        -> LoadResponse {
        var head = HTTPRequestHead(version: .http1_1, method: method, uri: uri)
        head.headers.add(name: "Host", value: host)
        for (name, value) in headers { head.headers.add(name: name, value: value) }
        head.headers.add(name: "Content-Length", value: String(body?.readableBytes ?? 0))
        let answer = channel.eventLoop.makePromise(of: LoadResponse.self)
        channel.writeAndFlush(PendingRequest(head: head, body: body, answer: answer), promise: nil)
        return try await answer.futureResult.get()
    }

    func close() async {
        try? await channel.close()
    }
}

struct LoadResponse: Sendable {
    var status: Int
    var body: ByteBuffer
}

struct PendingRequest: Sendable {
    var head: HTTPRequestHead
    var body: ByteBuffer?
    var answer: EventLoopPromise<LoadResponse>
}

/// Writes a request's parts and pairs each answer with the oldest request
/// still waiting; a failed or closed connection fails every waiting request.
final class ResponseCollector: ChannelDuplexHandler {
    typealias InboundIn = HTTPClientResponsePart
    typealias OutboundIn = PendingRequest
    typealias OutboundOut = HTTPClientRequestPart

    private var waiting = CircularBuffer<EventLoopPromise<LoadResponse>>()
    private var status = 0
    private var body = ByteBuffer()

    func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
        let request = unwrapOutboundIn(data)
        waiting.append(request.answer)
        context.write(wrapOutboundOut(.head(request.head)), promise: nil)
        if let body = request.body { context.write(wrapOutboundOut(.body(.byteBuffer(body))), promise: nil) }
        context.write(wrapOutboundOut(.end(nil)), promise: promise)
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch unwrapInboundIn(data) {
        case .head(let head):
            status = Int(head.status.code)
            body.clear()
        case .body(var part):
            body.writeBuffer(&part)
        case .end:
            guard let answer = waiting.popFirst() else { return }
            answer.succeed(LoadResponse(status: status, body: body))
            body = ByteBuffer()
        }
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        failWaiting(error)
        context.close(promise: nil)
    }

    func channelInactive(context: ChannelHandlerContext) {
        failWaiting(ChannelError.ioOnClosedChannel)
        context.fireChannelInactive()
    }

    private func failWaiting(_ error: any Error) {
        while let answer = waiting.popFirst() { answer.fail(error) }
    }
}
