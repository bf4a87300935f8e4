import CoordinatorApp
import Foundation
import AsyncHTTPClient
import Hummingbird
import HummingbirdTesting
import Kernels
import KoinonCore
import Logging
import NIOCore
import PostgresNIO
import Testing
import Wire
import WorkerKit

#if canImport(Glibc)
    import Glibc
#endif

/// Failures in the middle of a run: a worker killed with SIGKILL mid-unit, the
/// coordinator killed with SIGKILL mid-step and restarted, PostgreSQL restarted
/// under a running coordinator. Each run still completes and trains exactly
/// what an uninterrupted run trains.
@Suite(.serialized, .timeLimit(.minutes(5))) struct ChaosTests {
    static let logger: Logger = {
        var l = Logger(label: "chaos")
        l.logLevel = .warning
        return l
    }()

    static func worker(_ url: String, name: String, tls: CoordinatorTLS? = nil) throws -> VolunteerWorker {
        var options = VolunteerWorker.Options(
            name: name, threads: 1, cacheDirectory: try TestDatabase.scratchDirectory("cache-\(name)"), maxUnits: nil)
        options.leaseWait = 0.5
        if let tls { options.tls = tls }
        return VolunteerWorker(coordinatorURL: url, options: options, logger: logger)
    }

    static func losses(_ run: Int, _ client: PostgresClient) async throws -> [(Double, Double?)] {
        try await RunRepository(db: Database(client), logger: logger).history(run: run).map { ($0.trainLoss ?? .nan, $0.validationLoss) }
    }

    static func expectMatchesLocal(_ distributed: [(Double, Double?)], steps: Int, localSteps: Int? = nil) throws {
        let local = try TinyRun.local(steps: steps, localSteps: localSteps).history
        #expect(distributed.count == local.count)
        for (step, (d, l)) in zip(distributed, local).enumerated() {
            #expect(abs(d.0 - l.trainLoss) < 1e-4, "step \(step): train loss \(d.0) vs local \(l.trainLoss)")
            if let dv = d.1, let lv = l.validationLoss { #expect(abs(dv - lv) < 1e-4, "step \(step): validation \(dv) vs \(lv)") }
        }
    }

    // MARK: - kill -9 a worker mid-unit

    @Test func killedWorkersUnitIsReissuedAfterItsLeaseExpires() async throws {
        try await TestDatabase.withFresh(migrated: true) { db in
            let steps = 6
            var settings = CoordinatorSettings()
            settings.leaseSeconds = 2
            settings.maxCopies = 1  // no backup copies: the unit must come back through expiry
            let coordinator = Coordinator(db: db.client, blobs: try BlobStore(root: try TestDatabase.scratchDirectory("blobs")),
                                          settings: settings, logger: Self.logger)
            let run = try await coordinator.createRun(yaml: TinyRun.yaml(steps: steps), baseDirectory: TinyRun.directory)
            let app = CoordinatorServer.application(coordinator: coordinator, host: "127.0.0.1", port: 0, services: [],
                                                    logger: Self.logger)
            let scratch = try TestDatabase.scratchDirectory("victim")
            let killed = LockedBox<UUID?>(nil)
            try await app.test(.live) { client in
                let url = "http://127.0.0.1:\(client.port!)"
                let victim = try ChildProcess("koinon-worker", [
                    "--coordinator", url, "--insecure-http", "--name", "victim", "--threads", "1", "--cache-dir", scratch.path,
                ], log: scratch.appendingPathComponent("worker.log"))
                // Freeze the worker, look: holding a lease with no result yet → SIGKILL; else let it go on.
                let deadline = ContinuousClock.now + .seconds(60)
                while killed.value == nil {
                    guard victim.isRunning, ContinuousClock.now < deadline else {
                        victim.signal(SIGKILL)
                        throw ChaosError("never caught the worker mid-unit; log: \(victim.tail())")
                    }
                    victim.signal(SIGSTOP)
                    try await Task.sleep(for: .milliseconds(50))  // let a request already sent finish
                    let rows = try await db.client.query("""
                        SELECT l.id FROM leases l JOIN workers w ON w.id = l.worker_id
                        WHERE w.name = 'victim' AND l.state = 'active'
                          AND NOT EXISTS (SELECT 1 FROM results r WHERE r.lease_id = l.id)
                        """, logger: Self.logger)
                    for try await id in rows.decode(UUID.self) { killed.value = id }
                    victim.signal(killed.value == nil ? SIGCONT : SIGKILL)
                    if killed.value == nil { try await Task.sleep(for: .milliseconds(5)) }
                }
                #expect(try await victim.waitForExit() != 0)
                try await TinyRun.train([try Self.worker(url, name: "rescuer")], until: run, on: db.client)
            }
            let rows = try await db.client.query("""
                SELECT l.state, (SELECT w.name FROM results r JOIN workers w ON w.id = r.worker_id
                                 WHERE r.run_id = l.run_id AND r.step = l.step AND r.unit = l.unit AND r.status = 'accepted')
                FROM leases l WHERE l.id = \(killed.value!)
                """, logger: Self.logger)
            for try await (state, acceptedFrom) in rows.decode((String, String?).self) {
                #expect(state == "expired")
                #expect(acceptedFrom == "rescuer")
            }
            try Self.expectMatchesLocal(try await Self.losses(run, db.client), steps: steps)
        }
    }

    // MARK: - kill -9 the coordinator mid-step

    /// Also in local-steps mode, where the restart must restore the outer
    /// optimizer's momentum from the checkpoint and replay the steps after it.
    @Test(arguments: [nil, 3] as [Int?])
    func coordinatorKilledMidStepResumesToTheSameParameters(localSteps: Int?) async throws {
        try await TestDatabase.withFresh(migrated: false, function: "coordinatorKilled\(localSteps ?? 1)") { db in
            let steps = 8
            let scratch = try TestDatabase.scratchDirectory("coordinator")
            let port = try ChildProcess.freePort()
            let url = "https://127.0.0.1:\(port)"
            // The coordinator's own certificate, made here so the workers know its pin; the coordinator reuses it.
            let certificate = try ServerTLSIdentity.selfSigned(in: scratch.appendingPathComponent("tls"), names: [])
            let tls = CoordinatorTLS(trust: .pinned(try CertificateFingerprint(parsing: certificate.fingerprint), source: "test"))
            let socket = URL(fileURLWithPath: db.endpoint.socketPath)
            let socketPort = socket.pathExtension
            let databaseURL = "postgresql://\(db.endpoint.username)@/\(db.name)?host=\(socket.deletingLastPathComponent().path)&port=\(socketPort)"
            let arguments = [
                "serve", "--port", "\(port)", "--data-dir", scratch.path, "--database-url", databaseURL,
                "--migrations", TestDatabase.repositoryMigrations.path, "--lease-seconds", "3", "--threads", "1",
                "--checkpoint-every", "3",
                // Like the in-process tests (CoordinatorSettings' default): this one is about the coordinator dying.
                "--no-replication",
            ]
            let log = scratch.appendingPathComponent("coordinator.log")
            let first = try ChildProcess("koinon-coordinator", arguments, log: log)
            try await Self.waitForHTTP(url, first, tls: tls)
            #expect(first.tail(100).contains("self-signed, made at an earlier start"))
            let operatorToken = try String(contentsOf: scratch.appendingPathComponent("operator-token"), encoding: .utf8)
            try await Self.createRun(url: url, yaml: TinyRun.yaml(steps: steps, localSteps: localSteps), tls: tls,
                                     operatorToken: operatorToken.trimmingCharacters(in: .whitespacesAndNewlines))

            let killedAt = LockedBox<Int?>(nil)
            let restarted = LockedBox<ChildProcess?>(nil)
            let workers = [try Self.worker(url, name: "w1", tls: tls), try Self.worker(url, name: "w2", tls: tls)]
            try await TinyRun.train(workers, until: 1, on: db.client) { step in
                guard step >= 4, killedAt.value == nil else { return }
                first.signal(SIGKILL)
                _ = try await first.waitForExit()
                killedAt.value = step
                try await Task.sleep(for: .milliseconds(300))
                let next = try ChildProcess("koinon-coordinator", arguments, log: log)
                restarted.value = next
                try await Self.waitForHTTP(url, next, tls: tls)
            }
            #expect(killedAt.value != nil)
            let coordinator = restarted.value ?? first
            // The final parameters equal train --local's (bit for bit: same threads, same order).
            let rows = try await db.client.query("""
                SELECT parameters_sha256 FROM parameter_versions WHERE run_id = 1 AND version = \(steps)
                """, logger: Self.logger)
            var sha = ""
            for try await s in rows.decode(String.self) { sha = s }
            let blobs = try BlobStore(root: scratch.appendingPathComponent("blobs"))
            let local = try TinyRun.local(steps: steps, localSteps: localSteps)
            let trained = try TensorPayload(decoding: try blobs.get(sha), expectedElementCount: local.model.layout.count).values
            let expected = local.model.parameters.array
            let worst = zip(trained, expected).map { abs($0 - $1) }.max() ?? .infinity
            #expect(trained == expected, "largest difference from train --local: \(worst)")
            try Self.expectMatchesLocal(try await Self.losses(1, db.client), steps: steps, localSteps: localSteps)
            // A graceful stop after all that.
            coordinator.signal(SIGTERM)
            #expect(try await coordinator.waitForExit(timeout: .seconds(30)) == 0, "log: \(coordinator.tail())")
        }
    }

    static func waitForHTTP(_ url: String, _ process: ChildProcess, tls: CoordinatorTLS) async throws {
        let client = CoordinatorClient(baseURL: url, logger: logger, tls: tls)
        defer { Task { await client.shutdown() } }
        let deadline = ContinuousClock.now + .seconds(60)
        while ContinuousClock.now < deadline {
            guard process.isRunning else { throw ChaosError("the coordinator exited: \(process.tail())") }
            if (try? await client.status(timeout: 5)) != nil { return }
            try await Task.sleep(for: .milliseconds(100))
        }
        throw ChaosError("the coordinator did not answer in time: \(process.tail())")
    }

    static func createRun(url: String, yaml: String, tls: CoordinatorTLS, operatorToken: String) async throws {
        let http = try await tls.makeHTTPClient(for: url)
        var request = HTTPClientRequest(url: url + "/v1/runs")
        request.method = .POST
        request.headers.add(name: "Content-Type", value: "application/json")
        request.headers.add(name: "Authorization", value: "Bearer \(operatorToken)")
        request.body = .bytes(ByteBuffer(bytes: try JSONEncoder().encode(CreateRunRequest(configYAML: yaml, baseDirectory: TinyRun.directory.path))))
        let status: UInt
        let answer: ByteBuffer
        do {
            let response = try await http.execute(request, timeout: .seconds(120))
            status = response.status.code
            answer = try await response.body.collect(upTo: 1 << 20)
            try await http.shutdown()
        } catch {
            try? await http.shutdown()
            throw error
        }
        guard status == 201 else { throw ChaosError("run create answered \(status): \(String(buffer: answer))") }
    }

    // MARK: - PostgreSQL restarted mid-run

    @Test func postgresRestartMidRunLosesNoAcceptedResult() async throws {
        let steps = 6
        var configuration = EmbeddedPostgres.Configuration(directory: try TestDatabase.scratchDirectory("restart"))
        configuration.durability = .throwaway
        let postgres = EmbeddedPostgres(configuration: configuration, logger: Self.logger)
        let endpoint = try await postgres.start()
        defer { Task { try? await postgres.stop() } }
        let client = PostgresClient(configuration: endpoint.clientConfiguration(), backgroundLogger: Self.logger)
        try await client.runningDuring { client in
            try await MigrationRunner(client: client, directory: TestDatabase.repositoryMigrations, logger: Self.logger).migrate()
            var settings = CoordinatorSettings()
            settings.leaseSeconds = 10
            let coordinator = Coordinator(db: client, blobs: try BlobStore(root: try TestDatabase.scratchDirectory("blobs")),
                                          settings: settings, logger: Self.logger)
            let run = try await coordinator.createRun(yaml: TinyRun.yaml(steps: steps), baseDirectory: TinyRun.directory)
            let app = CoordinatorServer.application(coordinator: coordinator, host: "127.0.0.1", port: 0, services: [],
                                                    logger: Self.logger)
            let restartedAt = LockedBox<Int?>(nil)
            let workers = LockedBox<[VolunteerWorker]>([])
            try await app.test(.live) { http in
                let url = "http://127.0.0.1:\(http.port!)"
                workers.value = [try Self.worker(url, name: "w1"), try Self.worker(url, name: "w2")]
                try await TinyRun.train(workers.value, until: run, on: client) { step in
                    guard step >= 2, restartedAt.value == nil else { return }
                    restartedAt.value = step
                    try await postgres.stop()
                    try await Task.sleep(for: .seconds(1))
                    _ = try await postgres.start()
                }
            }
            #expect(restartedAt.value != nil)
            // Every result a worker was told "accepted" is accepted in the database.
            let told = workers.value.flatMap(\.acceptedLeases)
            var stored = Set<UUID>()
            let rows = try await client.query("SELECT lease_id FROM results WHERE status = 'accepted'", logger: Self.logger)
            for try await id in rows.decode(UUID.self) { stored.insert(id) }
            #expect(told.allSatisfy { stored.contains($0) }, "accepted results missing after the restart")
            // 3 training units a step, and 2 evaluation units at every second version.
            #expect(stored.count == steps * 3 + 2 * (steps / 2))
            try Self.expectMatchesLocal(try await Self.losses(run, client), steps: steps)
        }
    }
}

/// A value tests share between tasks.
final class LockedBox<T: Sendable>: @unchecked Sendable {
    private var stored: T
    private let lock = NSLock()
    init(_ value: T) { stored = value }
    var value: T {
        get { lock.withLock { stored } }
        set { lock.withLock { stored = newValue } }
    }
}
