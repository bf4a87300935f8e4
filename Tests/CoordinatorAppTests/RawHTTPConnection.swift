import Foundation
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// A hand-driven HTTP/1.1 client over a loopback TCP socket, for clients
/// that misbehave: a header that promises a body which then trickles or
/// stops. Blocking calls run on Dispatch's threads, not the test's.
final class RawHTTPConnection: @unchecked Sendable {
    struct Failure: Error, CustomStringConvertible { let description: String }

    struct Answer {
        var status: Int
        var headers: [String: String]
        var body: Data
    }

    private let fd: Int32
    private var buffered = Data()

    init(port: Int, readTimeoutSeconds: Int = 15) throws {
        #if canImport(Glibc)
        fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        #else
        fd = socket(AF_INET, SOCK_STREAM, 0)
        #endif
        guard fd >= 0 else { throw Failure(description: "socket: \(errno)") }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = in_port_t(UInt16(port).bigEndian)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        let connected = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        guard connected == 0 else {
            close(fd)
            throw Failure(description: "connect: \(errno)")
        }
        var timeout = timeval(tv_sec: readTimeoutSeconds, tv_usec: 0)
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
    }

    deinit { close(fd) }

    private static func blocking<T: Sendable>(_ work: @escaping @Sendable () throws -> T) async throws -> T {
        try await withCheckedThrowingContinuation { continuation in
            DispatchQueue.global().async { continuation.resume(with: Result { try work() }) }
        }
    }

    /// Writes all of `bytes`; false when the server has closed the connection.
    @discardableResult
    func send(_ bytes: Data) async throws -> Bool {
        try await Self.blocking { [self] in
            var offset = 0
            while offset < bytes.count {
                let n = bytes.withUnsafeBytes { raw in
                    Glibc.send(fd, raw.baseAddress! + offset, bytes.count - offset, Int32(MSG_NOSIGNAL))
                }
                if n <= 0 { return false }
                offset += n
            }
            return true
        }
    }

    @discardableResult
    func send(_ text: String) async throws -> Bool { try await send(Data(text.utf8)) }

    /// Up to `count` more bytes; empty at the end of the stream (the server closed).
    private func receive(_ count: Int = 65536) throws -> Data {
        var chunk = [UInt8](repeating: 0, count: count)
        let n = recv(fd, &chunk, count, 0)
        if n < 0 { throw Failure(description: "recv: errno \(errno) (timed out?)") }
        return Data(chunk.prefix(n))
    }

    /// The next answer: status line, headers and a Content-Length body.
    func readAnswer() async throws -> Answer {
        try await Self.blocking { [self] in
            let separator = Data("\r\n\r\n".utf8)
            while buffered.range(of: separator) == nil {
                let more = try receive()
                if more.isEmpty { throw Failure(description: "closed before an answer; got \(String(decoding: buffered, as: UTF8.self))") }
                buffered.append(more)
            }
            let end = buffered.range(of: separator)!
            let head = String(decoding: buffered[..<end.lowerBound], as: UTF8.self)
            buffered = Data(buffered[end.upperBound...])
            var lines = head.components(separatedBy: "\r\n")
            let statusLine = lines.removeFirst().split(separator: " ")
            guard statusLine.count >= 2, let status = Int(statusLine[1]) else { throw Failure(description: "bad status line in \(head)") }
            var headers: [String: String] = [:]
            for line in lines {
                guard let colon = line.firstIndex(of: ":") else { continue }
                headers[line[..<colon].lowercased()] = line[line.index(after: colon)...].trimmingCharacters(in: .whitespaces)
            }
            let length = Int(headers["content-length"] ?? "0") ?? 0
            while buffered.count < length {
                let more = try receive()
                if more.isEmpty { throw Failure(description: "closed in the middle of the body") }
                buffered.append(more)
            }
            let body = Data(buffered.prefix(length))
            buffered = Data(buffered.dropFirst(length))
            return Answer(status: status, headers: headers, body: body)
        }
    }

    /// Whether the server closes the connection (end of stream or reset) within the read timeout.
    func closedByServer() async throws -> Bool {
        try await Self.blocking { [self] in
            do {
                while true {
                    if try receive().isEmpty { return true }
                }
            } catch {
                return errno == ECONNRESET
            }
        }
    }
}
