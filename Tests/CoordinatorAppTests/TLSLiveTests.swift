import CoordinatorApp
import Foundation
import Hummingbird
import HummingbirdTesting
import Logging
import NIOCore
import Testing
import Wire
import WorkerKit

/// A coordinator serving HTTPS with its self-signed certificate, reached by
/// real TLS clients: the worker's client with the right pin, a wrong pin,
/// `--ca`, a certificate it must not trust and a plain `http://` URL; the
/// operator endpoints behind the operator token; and the real binaries
/// (`koinon-worker`, `koinon-coordinator run list`) against it.
@Suite(.serialized, .timeLimit(.minutes(5))) struct TLSLiveTests {
    static let logger: Logger = {
        var l = Logger(label: "tls-test")
        l.logLevel = .warning
        return l
    }()

    static func client(_ url: String, _ tls: CoordinatorTLS) -> CoordinatorClient {
        CoordinatorClient(baseURL: url, logger: logger, tls: tls)
    }

    static func registration(_ name: String) throws -> ByteBuffer {
        ByteBuffer(bytes: try WireProtocol.makeEncoder().encode(RegisterWorkerRequest(name: name, backend: "cpu", threads: 1, version: "0")))
    }

    static func error(_ response: TestResponse) throws -> ErrorResponse {
        try WireProtocol.makeDecoder().decode(ErrorResponse.self, from: Data(response.body.readableBytesView))
    }

    /// Serves `body` an HTTPS coordinator whose data directory (certificate, operator token) is `data`.
    static func withHTTPSCoordinator(
        _ body: @Sendable (_ client: any TestClientProtocol, _ url: String, _ data: URL, _ identity: ServerTLSIdentity,
                           _ token: OperatorToken) async throws -> Void
    ) async throws {
        try await TestDatabase.withFresh(migrated: true) { db in
            let data = try TestDatabase.scratchDirectory("tls-data")
            let identity = try ServerTLSIdentity.selfSigned(in: data.appendingPathComponent("tls"), names: [])
            let (token, _) = try OperatorToken.loadOrCreate(data.appendingPathComponent(OperatorToken.fileName))
            let coordinator = Coordinator(db: db.client, blobs: try BlobStore(root: data.appendingPathComponent("blobs")),
                                          settings: CoordinatorSettings(), logger: logger)
            let app = CoordinatorServer.application(coordinator: coordinator, host: "127.0.0.1", port: 0, services: [], logger: logger,
                                                    server: try CoordinatorServer.server(tls: identity.configuration),
                                                    operatorToken: token)
            // The test framework's own client does not verify certificates; the checks below use real ones.
            try await app.test(.ahc(.https)) { client in
                try await body(client, "https://127.0.0.1:\(client.port!)", data, identity, token)
            }
        }
    }

    @Test(.timeLimit(.minutes(2)))
    func operatorEndpointsNeedTheOperatorToken() async throws {
        try await Self.withHTTPSCoordinator { client, _, _, _, token in
            // Registration stays public, and so do status, parameters and config.
            let workerToken = try await client.execute(uri: "/v1/workers", method: .post, body: try Self.registration("w")) { response in
                #expect(response.status == .created)
                return try WireProtocol.makeDecoder().decode(RegisterWorkerResponse.self, from: Data(response.body.readableBytesView)).token
            }
            try await client.execute(uri: "/v1/status", method: .get) { #expect($0.status == .ok) }
            try await client.execute(uri: "/v1/runs/1/config", method: .get) { #expect($0.status == .notFound) }

            let createBody = ByteBuffer(bytes: try JSONEncoder().encode(CreateRunRequest(configYAML: "name: x", baseDirectory: "/")))
            let guarded: [(String, HTTPRequest.Method, ByteBuffer?)] = [
                ("/v1/runs", .get, nil), ("/v1/runs", .post, createBody), ("/v1/runs/1/pause", .post, nil), ("/v1/runs/1/resume", .post, nil),
            ]
            for (path, method, body) in guarded {
                for header in [nil, "Bearer wrong-token-wrong-token", "Bearer \(workerToken)", "Basic \(token.value)", token.value] {
                    let headers: HTTPFields = header.map { [.authorization: $0] } ?? [:]
                    try await client.execute(uri: path, method: method, headers: headers, body: body) { response in
                        #expect(response.status == .unauthorized, "\(method) \(path) with \(header ?? "no header")")
                        #expect(response.headers[.wwwAuthenticate] == "Bearer realm=\"koinon-operator\"")
                        let error = try Self.error(response)
                        #expect(error.error == "unauthorized")
                        #expect(error.message.contains(header?.hasPrefix("Bearer ") == true ? "wrong operator token" : "Authorization: Bearer"))
                    }
                }
            }
            // With the token they answer as before.
            let right: HTTPFields = [.authorization: "Bearer \(token.value)"]
            try await client.execute(uri: "/v1/runs", method: .get, headers: right) { response in
                #expect(response.status == .ok)
                #expect(String(buffer: response.body) == "[]")
            }
            try await client.execute(uri: "/v1/runs/7/pause", method: .post, headers: right) { #expect($0.status == .notFound) }
            try await client.execute(uri: "/v1/runs", method: .post, headers: right, body: createBody) { response in
                #expect(response.status == .badRequest)
                let error = try Self.error(response)
                #expect(error.error == "invalid_run")
            }
        }
    }

    @Test(.timeLimit(.minutes(2)))
    func workersReachItOnlyWithTheRightCertificate() async throws {
        try await Self.withHTTPSCoordinator { _, url, data, identity, _ in
            let pin = try CertificateFingerprint(parsing: identity.fingerprint)
            // The right pin (whatever the host name): registration and status work.
            for base in [url, url.replacingOccurrences(of: "127.0.0.1", with: "localhost")] {
                let pinned = Self.client(base, CoordinatorTLS(trust: .pinned(pin, source: "--pin-sha256")))
                let registered = try await pinned.register(RegisterWorkerRequest(name: "pinned", backend: "cpu", threads: 1, version: "0"))
                pinned.setToken(registered.token)
                #expect(try await pinned.status().runs.isEmpty)
                await pinned.shutdown()
            }

            // A wrong pin: refused at once, naming both fingerprints.
            let wrong = try CertificateFingerprint(parsing: String(repeating: "ab", count: 32))
            let mispinned = Self.client(url, CoordinatorTLS(trust: .pinned(wrong, source: "--pin-sha256")))
            await #expect {
                _ = try await mispinned.register(RegisterWorkerRequest(name: "x", backend: "cpu", threads: 1, version: "0"))
            } throws: { error in
                let text = "\(error)"
                return (error as? CoordinatorError)?.transient == false && text.contains(identity.fingerprint) && text.contains(wrong.description)
                    && text.contains("presented a TLS certificate with SHA-256 fingerprint") && text.contains("refusing to connect")
            }
            await mispinned.shutdown()

            // --ca with the coordinator's certificate: full verification, by address and by name.
            let roots = try CoordinatorTLS.loadCertificates(path: identity.certificateFile.path, what: "--ca")
            for base in [url, url.replacingOccurrences(of: "127.0.0.1", with: "localhost")] {
                let verified = Self.client(base, CoordinatorTLS(trust: .certificateAuthorities(roots, source: "--ca")))
                #expect(try await verified.status().runs.isEmpty)
                await verified.shutdown()
            }

            // A certificate it was not told to trust: --ca with another one, and the system trust store.
            let other = try ServerTLSIdentity.selfSigned(in: data.appendingPathComponent("other-tls"), names: [])
            let otherRoots = try CoordinatorTLS.loadCertificates(path: other.certificateFile.path, what: "--ca")
            for tls in [CoordinatorTLS(trust: .certificateAuthorities(otherRoots, source: "--ca")), CoordinatorTLS()] {
                let untrusting = Self.client(url, tls)
                await #expect {
                    _ = try await untrusting.register(RegisterWorkerRequest(name: "x", backend: "cpu", threads: 1, version: "0"))
                } throws: { error in
                    (error as? CoordinatorError)?.transient == false && "\(error)".contains("TLS certificate is not trusted")
                }
                await untrusting.shutdown()
            }

            // Plain http:// is refused unless allowed (and the coordinator here speaks TLS only anyway).
            let plain = Self.client(url.replacingOccurrences(of: "https://", with: "http://"), CoordinatorTLS())
            await #expect {
                _ = try await plain.register(RegisterWorkerRequest(name: "x", backend: "cpu", threads: 1, version: "0"))
            } throws: { error in
                (error as? CoordinatorError)?.transient == false && "\(error)".contains("refusing plain HTTP")
                    && "\(error)".contains("--insecure-http")
            }
            await plain.shutdown()
        }
    }

    /// The binaries as operators and volunteers run them.
    @Test(.timeLimit(.minutes(3)))
    func theBinariesUseTLSAndTheOperatorToken() async throws {
        try await Self.withHTTPSCoordinator { _, url, data, identity, _ in
            let logs = try TestDatabase.scratchDirectory("tls-logs")
            func run(_ name: String, _ arguments: [String]) async throws -> (Int32, String) {
                let log = logs.appendingPathComponent("\(name)-\(UUID().uuidString.prefix(6)).log")
                let process = try ChildProcess(name, arguments, log: log)
                let status = try await process.waitForExit(timeout: .seconds(60))
                return (status, (try? String(contentsOf: log, encoding: .utf8)) ?? "")
            }
            let cache = try TestDatabase.scratchDirectory("tls-worker-cache").path
            let wrongPin = String(repeating: "CD", count: 32)
            // koinon-worker: a wrong pin, then plain HTTP without --insecure-http: one clear line each, exit 1.
            let (mispinned, mispinnedLog) = try await run("koinon-worker", [
                "--coordinator", url, "--pin-sha256", wrongPin, "--cache-dir", cache, "--max-units", "1",
            ])
            #expect(mispinned == 1)
            #expect(mispinnedLog.contains("error: the coordinator at 127.0.0.1:"), "\(mispinnedLog)")
            #expect(mispinnedLog.contains(identity.fingerprint) && mispinnedLog.contains(wrongPin.lowercased().pairs))
            let (plain, plainLog) = try await run("koinon-worker", [
                "--coordinator", url.replacingOccurrences(of: "https://", with: "http://"), "--cache-dir", cache,
            ])
            #expect(plain == 1)
            #expect(plainLog.contains("error: refusing plain HTTP"), "\(plainLog)")
            // The right pin (colons dropped, upper case) and --ca: the worker registers, then stops (no units asked).
            for trust in [["--pin-sha256", identity.fingerprint.replacingOccurrences(of: ":", with: "").uppercased()],
                          ["--ca", identity.certificateFile.path]] {
                let (status, log) = try await run("koinon-worker", [
                    "--coordinator", url, "--cache-dir", try TestDatabase.scratchDirectory("tls-cache").path, "--max-units", "0",
                    "--owner", "tester", "--name", "tls\(trust[0])",
                ] + trust)
                #expect(status == 0, "\(trust[0]): \(log)")
                #expect(log.contains("registered as"), "\(trust[0]): \(log)")
            }

            // koinon-coordinator run list: the certificate pinned and the token read from --data-dir.
            let (listed, listLog) = try await run("koinon-coordinator", ["run", "list", "--coordinator", url, "--data-dir", data.path])
            #expect(listed == 0, "\(listLog)")
            #expect(listLog.contains("id  state"))
            // koinon-coordinator worker list | ban | unban, the same way.
            let (workers, workersLog) = try await run("koinon-coordinator", ["worker", "list", "--coordinator", url, "--data-dir", data.path])
            #expect(workers == 0, "\(workersLog)")
            #expect(workersLog.contains("CONSECUTIVE VALID") && workersLog.contains("tls--ca") && workersLog.contains("tester"), "\(workersLog)")
            let (json, jsonLog) = try await run("koinon-coordinator", ["worker", "list", "--json", "--coordinator", url, "--data-dir", data.path])
            #expect(json == 0, "\(jsonLog)")
            let summaries = try WireProtocol.makeDecoder().decode([OperatorWorkerSummary].self, from: Data(jsonLog.utf8))
            let pinnedWorker = try #require(summaries.first { $0.name == "tls--pin-sha256" })
            #expect(pinnedWorker.owner == "tester")
            let id = pinnedWorker.workerID.uuidString.lowercased()
            let (banned, banLog) = try await run("koinon-coordinator", [
                "worker", "ban", String(id.prefix(8)), "--reason", "testing bans", "--coordinator", url, "--data-dir", data.path,
            ])
            #expect(banned == 0, "\(banLog)")
            #expect(banLog.contains("banned worker \(id) (trust: banned)"), "\(banLog)")
            let (_, afterBan) = try await run("koinon-coordinator", ["worker", "list", "--coordinator", url, "--data-dir", data.path])
            #expect(afterBan.contains("\(id.prefix(8)) banned: testing bans"), "\(afterBan)")
            let (unbanned, unbanLog) = try await run("koinon-coordinator", ["worker", "unban", id, "--coordinator", url, "--data-dir", data.path])
            #expect(unbanned == 0, "\(unbanLog)")
            #expect(unbanLog.contains("unbanned worker \(id)"), "\(unbanLog)")
            // Elsewhere, without the token: 401 explained; with --operator-token and --pin-sha256: works.
            let elsewhere = try TestDatabase.scratchDirectory("tls-elsewhere").path
            let (refused, refusedLog) = try await run("koinon-coordinator", [
                "run", "list", "--coordinator", url, "--data-dir", elsewhere, "--pin-sha256", identity.fingerprint,
            ])
            #expect(refused != 0)
            #expect(refusedLog.contains("401") && refusedLog.contains("--operator-token"), "\(refusedLog)")
            let token = try String(contentsOf: data.appendingPathComponent("operator-token"), encoding: .utf8)
                .trimmingCharacters(in: .whitespacesAndNewlines)
            let (allowed, allowedLog) = try await run("koinon-coordinator", [
                "run", "list", "--coordinator", url, "--data-dir", elsewhere, "--pin-sha256", identity.fingerprint,
                "--operator-token", token,
            ])
            #expect(allowed == 0, "\(allowedLog)")
            // Without any trust settings, the self-signed certificate is not trusted.
            let (untrusted, untrustedLog) = try await run("koinon-coordinator", ["status", "--coordinator", url, "--data-dir", elsewhere])
            #expect(untrusted != 0)
            #expect(untrustedLog.contains("TLS certificate is not trusted"), "\(untrustedLog)")
        }
    }
}

extension String {
    /// "abcd" → "ab:cd".
    fileprivate var pairs: String {
        stride(from: 0, to: count, by: 2).map { i in
            let start = index(startIndex, offsetBy: i)
            return String(self[start..<index(start, offsetBy: 2)])
        }.joined(separator: ":")
    }
}
