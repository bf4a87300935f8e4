import ArgumentParser
import Foundation
import NIOCore
import NIOFoundationCompat
import NIOHTTP1
import NIOPosix
import NeoModel
import Wire

/// `koinon-loadtest`: N simulated workers over loopback, each on its own
/// connection, doing lease → submit cycles against a running coordinator
/// with tiny payloads: as fast as they can (the coordinator's saturation), or
/// with `--compute-seconds T` spending about T seconds "computing" between
/// lease and submit, as volunteers do (an offered load of about N / T cycles
/// a second). Prints cycles/s and the distribution of a cycle's latency, the
/// lease's plus the submission's (benchmarks/load.sh starts the coordinator
/// and a run). Plain
/// HTTP: load.sh starts that coordinator with `--insecure-http`, so the
/// benchmark measures the lease/submit path rather than TLS handshakes.
struct LoadTest: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "koinon-loadtest", abstract: "Lease → submit cycles from N simulated workers against a coordinator.")

    @Option(help: "The coordinator's URL.") var coordinator = "http://127.0.0.1:8080"
    @Option(help: "Simulated workers (one connection each).") var workers = 100
    @Option(help: "Seconds to measure (after the warm-up).") var seconds = 15.0
    @Option(help: "Seconds of warm-up, not measured.") var warmup = 3.0
    @Option(help: "Seconds each simulated worker spends between lease and submit (uniform within ±50%; 0: none).")
    var computeSeconds = 0.0
    @Flag(help: "Print one JSON object instead of text.") var json = false
    @Flag(help: "Lease with POST /v1/leases only, not with the previous result (Koinon-Next-Lease): two requests a cycle.")
    var separateLeases = false
    @Flag(help: "A different gradient for every unit (a blob of its own each), as real results are; default: the same zeros.")
    var distinctPayloads = false

    func run() async throws {
        guard let url = URL(string: coordinator), url.scheme == "http", let host = url.host else {
            throw ValidationError("--coordinator must be an http:// URL (the load test speaks plain HTTP: serve --insecure-http)")
        }
        let port = url.port ?? 80
        let connections = try await withThrowingTaskGroup(of: LoadConnection.self) { group in
            for _ in 0..<workers {
                group.addTask { try await LoadConnection.connect(host: host, port: port, group: MultiThreadedEventLoopGroup.singleton) }
            }
            return try await group.reduce(into: [LoadConnection]()) { $0.append($1) }
        }
        do {
            try await measure(connections)
        } catch {
            for c in connections { await c.close() }
            throw error
        }
        for c in connections { await c.close() }
    }

    func measure(_ connections: [LoadConnection]) async throws {
        // Register everyone first (not measured).
        let registered = try await withThrowingTaskGroup(of: (LoadConnection, String).self) { group in
            for (i, connection) in connections.enumerated() {
                group.addTask {
                    let body = try WireProtocol.encoder.encode(
                        RegisterWorkerRequest(name: "load-\(i)", backend: "simulated", threads: 1, version: "load"))
                    let answer = try await connection.send(.POST, "/v1/workers", headers: Self.json, body: ByteBuffer(bytes: body))
                    guard answer.status == 201 else { throw ValidationError("registration answered \(answer.status)") }
                    return (connection, try WireProtocol.decoder.decode(RegisterWorkerResponse.self, from: answer.body).token)
                }
            }
            return try await group.reduce(into: [(LoadConnection, String)]()) { $0.append($1) }
        }
        let payloads = PayloadCache()
        let start = ContinuousClock.now
        let measureFrom = start + .seconds(warmup), end = measureFrom + .seconds(seconds)
        let results = try await withThrowingTaskGroup(of: WorkerTally.self) { group in
            for (connection, token) in registered {
                group.addTask {
                    var tally = WorkerTally()
                    let authorization = ("Authorization", "Bearer \(token)")
                    // Workers that compute start spread over one compute time, as volunteers would.
                    if computeSeconds > 0 { try await Task.sleep(for: .seconds(Double.random(in: 0..<computeSeconds))) }
                    // The unit the last result's answer brought (Koinon-Next-Lease), as the real worker asks.
                    var next: LeaseGrant?
                    while ContinuousClock.now < end {
                        // Ask; with no work ready (a step's tail), wait for it as the real worker does
                        // (a long poll the coordinator answers when units appear). A cycle that waited
                        // measures the step barrier, not the coordinator: it is counted, not timed.
                        // A unit that came with the last answer was timed with that request.
                        var t0 = ContinuousClock.now
                        var waited = false
                        var grant = next
                        next = nil
                        if grant == nil {
                            grant = try await lease(connection, authorization, maxWait: 0)
                        }
                        if grant == nil {
                            if t0 >= measureFrom { tally.idle += 1 }
                            waited = true
                            grant = try await lease(connection, authorization, maxWait: 5)
                            t0 = ContinuousClock.now
                        }
                        guard let a = grant else { continue }
                        let leased = ContinuousClock.now
                        var payload = try await payloads.payload(for: a, connection: connection)
                        if distinctPayloads { payload = PayloadCache.distinct(from: payload.bytes, unit: a.leaseID) }
                        if computeSeconds > 0 { try await Task.sleep(for: .seconds(computeSeconds * Double.random(in: 0.5...1.5))) }
                        let metadata = ResultMetadata(leaseID: a.leaseID, loss: 1, tokenCount: a.tokens, payloadSHA256: payload.sha)
                        var headers = metadata.headerFields.map { ($0.name, $0.value) }
                        headers.append(("Content-Type", WireProtocol.tensorContentType))
                        headers.append(authorization)
                        if !separateLeases { headers.append((NextLease.header, NextLease.value(acceptsEvaluation: false))) }
                        let t1 = ContinuousClock.now
                        let submitted = try await connection.send(.PUT, "/v1/leases/\(a.leaseID.uuidString.lowercased())/result",
                                                                  headers: headers, body: payload.bytes)
                        let t2 = ContinuousClock.now
                        if submitted.status == 200, !separateLeases {
                            next = try WireProtocol.decoder.decode(SubmitAnswer.self, from: submitted.body).next
                        }
                        // A cycle counts when it ends inside the window; its latency is the coordinator's
                        // part (lease answered, submission answered), not the simulated computing.
                        guard t2 >= measureFrom, t2 <= end else { continue }
                        if submitted.status != 200 {
                            tally.errors += 1
                        } else if waited {
                            tally.afterWaiting += 1
                        } else {
                            tally.latencies.append((leased - t0) + (t2 - t1))
                        }
                    }
                    // A unit that came with the last answer goes back, as a stopping worker's does.
                    if let unstarted = next {
                        _ = try await connection.send(.DELETE, "/v1/leases/\(unstarted.leaseID.uuidString.lowercased())",
                                                      headers: [authorization])
                    }
                    return tally
                }
            }
            return try await group.reduce(into: [WorkerTally]()) { $0.append($1) }
        }
        report(results)
    }

    func report(_ tallies: [WorkerTally]) {
        let ms = tallies.flatMap(\.latencies).map { Double($0.components.attoseconds) / 1e15 + Double($0.components.seconds) * 1e3 }.sorted()
        func pct(_ p: Double) -> Double { ms.isEmpty ? .nan : ms[min(ms.count - 1, Int(Double(ms.count) * p))] }
        let waited = tallies.reduce(0) { $0 + $1.afterWaiting }
        let cycles = ms.count + waited, rate = Double(cycles) / seconds
        let idle = tallies.reduce(0) { $0 + $1.idle }, errors = tallies.reduce(0) { $0 + $1.errors }
        if json {
            print(#"{"workers": \#(workers), "compute_seconds": \#(computeSeconds), "seconds": \#(seconds), "cycles": \#(cycles), "cycles_per_second": \#(rate), "p50_ms": \#(pct(0.5)), "p90_ms": \#(pct(0.9)), "p99_ms": \#(pct(0.99)), "no_work_answers": \#(idle), "cycles_after_waiting": \#(waited), "errors": \#(errors)}"#)
        } else {
            let pacing = computeSeconds > 0 ? String(format: " computing ~%.2g s", computeSeconds) : ""
            print(String(format: "%5d workers", workers) + pacing + String(format: ": %7.0f cycles/s  p50 %6.2f ms  p90 %6.2f ms  p99 %6.2f ms  (%d cycles in %.0f s, %d after waiting for a step, %d errors)",
                         rate, pct(0.5), pct(0.9), pct(0.99), cycles, seconds, waited, errors))
        }
    }

    static let json = [("Content-Type", "application/json")]

    /// A lease request; nil when the coordinator has no work (within `maxWait` seconds).
    func lease(_ connection: LoadConnection, _ authorization: (String, String), maxWait: Int) async throws -> LeaseGrant? {
        let answer = try await connection.send(.POST, "/v1/leases", headers: Self.json + [authorization],
                                               body: ByteBuffer(string: #"{"max_wait_seconds":\#(maxWait)}"#))
        guard answer.status == 200 else { return nil }
        return try WireProtocol.decoder.decode(LeaseGrantAnswer.self, from: answer.body).assignment
    }
}

/// The part of a result's answer (`SubmitResultResponse`) a simulated worker uses: its next unit.
struct SubmitAnswer: Decodable {
    var next: LeaseGrant?
}

/// The parts of a lease answer (`LeaseResponse`) a simulated worker uses: decoding the whole
/// `Assignment` with its dates and nested specs was a noticeable part of the generator's time.
struct LeaseGrantAnswer: Decodable {
    var assignment: LeaseGrant?
}

struct LeaseGrant: Decodable {
    var leaseID: UUID
    var runID: Int
    var modelConfigSHA256: String
    var data: Shape

    struct Shape: Decodable {
        var sequences: Int
        var sequenceLength: Int
        enum CodingKeys: String, CodingKey {
            case sequences
            case sequenceLength = "sequence_length"
        }
    }

    var tokens: Int { data.sequences * data.sequenceLength }

    enum CodingKeys: String, CodingKey {
        case leaseID = "lease_id"
        case runID = "run_id"
        case modelConfigSHA256 = "model_config_sha256"
        case data
    }
}

struct WorkerTally: Sendable {
    var latencies: [Duration] = []
    /// Lease requests answered "no work yet" (then the worker long-polls).
    var idle = 0
    /// Cycles whose unit came after such a wait (counted in cycles/s, not in the latencies).
    var afterWaiting = 0
    var errors = 0
}

/// One all-zero gradient per model (a valid result of the right size), built on first use.
actor PayloadCache {
    private var byConfig: [String: (bytes: ByteBuffer, sha: String)] = [:]

    func payload(for a: LeaseGrant, connection: LoadConnection) async throws -> (bytes: ByteBuffer, sha: String) {
        if let p = byConfig[a.modelConfigSHA256] { return p }
        let answer = try await connection.send(.GET, "/v1/runs/\(a.runID)/config")
        guard answer.status == 200 else { throw ValidationError("config answered \(answer.status)") }
        let count = ParameterLayout(config: try GPTNeoConfig(jsonData: Data(answer.body.readableBytesView))).count
        let bytes = TensorPayload(values: [Float](repeating: 0, count: count)).encoded()
        let p = (ByteBuffer(bytes: bytes), SHA256Hex.digest(of: bytes))
        byConfig[a.modelConfigSHA256] = p
        return p
    }

    /// The zeros with two elements made from the lease id: another valid gradient (and blob) per
    /// unit, of norm 1 whatever the id, so the coordinator's norm check sees no outliers.
    static func distinct(from zeros: ByteBuffer, unit lease: UUID) -> (bytes: ByteBuffer, sha: String) {
        var values = (try? TensorPayload(decoding: Array(zeros.readableBytesView)).values) ?? []
        let u = lease.uuid
        let c = Float(UInt32(u.0) << 16 | UInt32(u.1) << 8 | UInt32(u.2)) / Float(1 << 24)
        if values.count >= 2 {
            values[0] = c
            values[1] = (1 - c * c).squareRoot()
        }
        let bytes = TensorPayload(values: values).encoded()
        return (ByteBuffer(bytes: bytes), SHA256Hex.digest(of: bytes))
    }
}
