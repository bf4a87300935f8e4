import AsyncHTTPClient
import Crypto
import Foundation
import NIOCore
import NIOPosix
import NIOSSL
import NIOTLS
import X509

/// A certificate's SHA-256 fingerprint: the digest of its DER encoding,
/// written as lowercase hex pairs joined by colons (`3f:a1:...`), the form
/// `koinon-coordinator serve` prints and `--pin-sha256` takes.
public struct CertificateFingerprint: Hashable, Sendable, CustomStringConvertible {
    /// The 32 digest bytes.
    public let bytes: [UInt8]

    /// The fingerprint of a DER-encoded certificate.
    public init(der: [UInt8]) {
        bytes = Array(SHA256.hash(data: der))
    }

    public init(_ certificate: NIOSSLCertificate) throws {
        self.init(der: try certificate.toDERBytes())
    }

    /// Hex with or without colons (spaces and a `sha256:` prefix are
    /// tolerated too), upper or lower case.
    public init(parsing text: String) throws {
        var hex = text.trimmingCharacters(in: .whitespacesAndNewlines).lowercased()
        for prefix in ["sha256:", "sha-256:", "sha256=", "sha-256="] where hex.hasPrefix(prefix) {
            hex = String(hex.dropFirst(prefix.count))
        }
        let digits = hex.filter { $0 != ":" && $0 != " " }
        let bad = CoordinatorTLSError(
            "'\(text)' is not a SHA-256 fingerprint: expected 64 hex digits, with or without colons (as `koinon-coordinator serve` prints it)")
        guard digits.count == 64, digits.allSatisfy(\.isHexDigit) else { throw bad }
        var bytes: [UInt8] = []
        var index = digits.startIndex
        while index < digits.endIndex {
            let next = digits.index(index, offsetBy: 2)
            guard let byte = UInt8(digits[index..<next], radix: 16) else { throw bad }
            bytes.append(byte)
            index = next
        }
        self.bytes = bytes
    }

    public var description: String {
        bytes.map { String(format: "%02x", $0) }.joined(separator: ":")
    }
}

/// A TLS set-up that must not be used, worded for the person running the command.
public struct CoordinatorTLSError: Error, CustomStringConvertible, Equatable {
    public var message: String
    public var description: String { message }
    public init(_ message: String) { self.message = message }
}

/// How a client (the worker, the operator's commands) reaches the
/// coordinator: which certificates it trusts, and whether plain HTTP is
/// allowed at all.
public struct CoordinatorTLS: Sendable {
    public enum Trust: Sendable {
        /// The system's trust store, with host name verification (the default).
        case system
        /// Only these roots (`--ca FILE`), with host name verification.
        case certificateAuthorities([NIOSSLCertificate], source: String)
        /// Exactly the certificate with this fingerprint (`--pin-sha256`), whatever
        /// name it carries; `source` says where the pin came from, for messages.
        case pinned(CertificateFingerprint, source: String)
    }

    public var trust: Trust
    /// Whether an `http://` URL may be used (`--insecure-http`).
    public var allowsPlainHTTP: Bool

    public init(trust: Trust = .system, allowsPlainHTTP: Bool = false) {
        self.trust = trust
        self.allowsPlainHTTP = allowsPlainHTTP
    }

    /// From the command-line options both binaries take: `--ca FILE`,
    /// `--pin-sha256 FP` (at most one of them) and `--insecure-http`.
    public static func fromOptions(ca: String?, pinSHA256: String?, insecureHTTP: Bool) throws -> CoordinatorTLS {
        switch (ca, pinSHA256) {
        case (.some, .some):
            throw CoordinatorTLSError("give --ca or --pin-sha256, not both")
        case (let path?, nil):
            return CoordinatorTLS(trust: .certificateAuthorities(try loadCertificates(path: path, what: "--ca"), source: path),
                                  allowsPlainHTTP: insecureHTTP)
        case (nil, let pin?):
            return CoordinatorTLS(trust: .pinned(try CertificateFingerprint(parsing: pin), source: "--pin-sha256"),
                                  allowsPlainHTTP: insecureHTTP)
        case (nil, nil):
            return CoordinatorTLS(trust: .system, allowsPlainHTTP: insecureHTTP)
        }
    }

    /// The PEM certificates in `path` (at least one), or an error naming the file.
    public static func loadCertificates(path: String, what: String) throws -> [NIOSSLCertificate] {
        let expanded = (path as NSString).expandingTildeInPath
        guard FileManager.default.fileExists(atPath: expanded) else {
            throw CoordinatorTLSError("\(what) \(path): no such file")
        }
        guard let data = FileManager.default.contents(atPath: expanded) else {
            throw CoordinatorTLSError("\(what) \(path): cannot read the file (permissions?)")
        }
        let certificates: [NIOSSLCertificate]
        do { certificates = try NIOSSLCertificate.fromPEMBytes(Array(data)) } catch {
            throw CoordinatorTLSError("\(what) \(path): not a PEM certificate file (\(error))")
        }
        guard !certificates.isEmpty else { throw CoordinatorTLSError("\(what) \(path): holds no PEM certificate") }
        return certificates
    }

    /// The parts of a coordinator URL this set-up may use, or why not.
    public struct Endpoint: Sendable, Equatable {
        public var secure: Bool
        public var host: String
        public var port: Int
        public init(secure: Bool, host: String, port: Int) {
            self.secure = secure
            self.host = host
            self.port = port
        }
    }

    public func endpoint(_ url: String) throws -> Endpoint {
        guard let parsed = URL(string: url), let scheme = parsed.scheme?.lowercased(), let host = parsed.host, !host.isEmpty else {
            throw CoordinatorTLSError("'\(url)' is not a coordinator URL (expected https://HOST[:PORT])")
        }
        let bare = host.hasPrefix("[") && host.hasSuffix("]") ? String(host.dropFirst().dropLast()) : host
        switch scheme {
        case "https":
            return Endpoint(secure: true, host: bare, port: parsed.port ?? 443)
        case "http":
            guard allowsPlainHTTP else {
                throw CoordinatorTLSError("""
                    refusing plain HTTP to \(url): tokens and results would cross the network unencrypted. \
                    Use https:// (the coordinator serves HTTPS by default), or pass --insecure-http if you really mean it
                    """)
            }
            return Endpoint(secure: false, host: bare, port: parsed.port ?? 80)
        default:
            throw CoordinatorTLSError("'\(url)': the coordinator URL must start with https://")
        }
    }

    /// An HTTP client for the coordinator at `url`. With a pin, first opens
    /// one TLS connection to read the certificate the coordinator presents
    /// and refuses it unless its fingerprint is the pin; the client then
    /// trusts that certificate only (so every later connection must present
    /// the same one). The client follows no redirects (a redirect could carry
    /// a token elsewhere). Shut it down when done.
    public func makeHTTPClient(for url: String, probeTimeout: TimeAmount = .seconds(15)) async throws -> HTTPClient {
        let endpoint = try endpoint(url)
        var configuration = HTTPClient.Configuration()
        configuration.redirectConfiguration = .disallow
        if endpoint.secure {
            configuration.tlsConfiguration = try await clientTLSConfiguration(endpoint, probeTimeout: probeTimeout)
        }
        return HTTPClient(eventLoopGroupProvider: .singleton, configuration: configuration)
    }

    func clientTLSConfiguration(_ endpoint: Endpoint, probeTimeout: TimeAmount) async throws -> TLSConfiguration {
        var tls = TLSConfiguration.makeClientConfiguration()
        switch trust {
        case .system:
            break
        case .certificateAuthorities(let roots, _):
            tls.trustRoots = .certificates(roots)
        case .pinned(let pin, let source):
            let leaf = try await Self.presentedCertificate(host: endpoint.host, port: endpoint.port, timeout: probeTimeout)
            let presented = try CertificateFingerprint(leaf)
            guard presented == pin else {
                throw CoordinatorTLSError("""
                    the coordinator at \(endpoint.host):\(endpoint.port) presented a TLS certificate with SHA-256 fingerprint \
                    \(presented), but \(source) expects \(pin): refusing to connect (a different server, or the coordinator's \
                    certificate changed)
                    """)
            }
            let parsed = try Certificate(derEncoded: try leaf.toDERBytes())
            guard parsed.issuer == parsed.subject else {
                throw CoordinatorTLSError("""
                    the pinned certificate (SHA-256 \(pin)) is issued by "\(parsed.issuer)", not self-signed: a pin works \
                    with a self-signed certificate such as the one the coordinator makes for itself; for a certificate \
                    from a certificate authority use the system trust store (the default) or --ca FILE
                    """)
            }
            // The pin names the certificate, so its host names do not matter.
            tls.trustRoots = .certificates([leaf])
            tls.certificateVerification = .noHostnameVerification
        }
        return tls
    }

    /// The first certificate `host:port` presents in a TLS handshake. The
    /// connection sends nothing and is closed at once; it accepts any
    /// certificate, so what it returns must be checked before it is trusted.
    public static func presentedCertificate(host: String, port: Int, timeout: TimeAmount = .seconds(15)) async throws -> NIOSSLCertificate {
        var configuration = TLSConfiguration.makeClientConfiguration()
        configuration.certificateVerification = .noHostnameVerification  // not .none: the callback runs only then
        let context = try NIOSSLContext(configuration: configuration)
        let captured = LockedValue<NIOSSLCertificate?>(nil)
        let group = MultiThreadedEventLoopGroup.singleton
        let handshake = group.next().makePromise(of: Void.self)
        // Server name indication takes host names only, not address literals.
        let serverName = Self.isAddressLiteral(host) ? nil : host
        let channel: any Channel
        do {
            channel = try await ClientBootstrap(group: group)
                .connectTimeout(timeout)
                .channelInitializer { channel in
                    channel.eventLoop.makeCompletedFuture {
                        let tls = try NIOSSLClientHandler(context: context, serverHostname: serverName) { certificates, verdict in
                            captured.set(certificates.first)
                            verdict.succeed(.certificateVerified)
                        }
                        try channel.pipeline.syncOperations.addHandler(tls)
                        try channel.pipeline.syncOperations.addHandler(HandshakeWatcher(done: handshake))
                    }
                }
                .connect(host: host, port: port).get()
        } catch {
            handshake.fail(error)
            throw error
        }
        let timer = channel.eventLoop.scheduleTask(in: timeout) {
            // Transient, like an unreachable coordinator: the worker tries again later.
            handshake.fail(CoordinatorError(message: "no TLS handshake with \(host):\(port) within \(timeout.nanoseconds / 1_000_000_000) s",
                                            transient: true))
        }
        defer {
            timer.cancel()
            channel.close(promise: nil)
        }
        try await handshake.futureResult.get()
        guard let leaf = captured.get() else { throw CoordinatorTLSError("\(host):\(port) presented no TLS certificate") }
        return leaf
    }

    static func isAddressLiteral(_ host: String) -> Bool {
        (try? SocketAddress(ipAddress: host, port: 0)) != nil
    }

    /// A clear sentence when `error` is a refused certificate (untrusted,
    /// wrong host name) from a TLS handshake; nil for other errors.
    public static func trustFailure(_ error: any Error) -> String? {
        let text = String(describing: error)
        if let e = error as? NIOSSLExtraError, e == .failedToValidateHostname {
            return "the coordinator's TLS certificate does not name the host in the URL (\(e)); "
                + "use the name or address the certificate was made for (the coordinator's --tls-name), or --pin-sha256"
        }
        if error is NIOSSLError, text.contains("CERTIFICATE_VERIFY_FAILED") {
            return "the coordinator's TLS certificate is not trusted (certificate verification failed); pass --ca FILE with "
                + "the certificate (or its authority), or --pin-sha256 with the fingerprint the coordinator printed at start-up"
        }
        return nil
    }
}

/// Completes `done` when the TLS handshake completes, fails it on an error or
/// a closed connection first.
private final class HandshakeWatcher: ChannelInboundHandler {
    typealias InboundIn = NIOAny
    let done: EventLoopPromise<Void>
    init(done: EventLoopPromise<Void>) { self.done = done }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if case .handshakeCompleted = event as? TLSUserEvent { done.succeed(()) }
        context.fireUserInboundEventTriggered(event)
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        done.fail(error)
        context.close(promise: nil)
    }

    func channelInactive(context: ChannelHandlerContext) {
        done.fail(CoordinatorError(message: "the connection closed before the TLS handshake finished", transient: true))
        context.fireChannelInactive()
    }
}
