import ArgumentParser
import AsyncHTTPClient
import Foundation
import NIOCore
import NIOHTTP1
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
@main
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

    func run() async throws {
        var config = HTTPClient.Configuration()
        config.connectionPool = .init(idleTimeout: .seconds(60), concurrentHTTP1ConnectionsPerHostSoftLimit: workers + 8)
        let http = HTTPClient(eventLoopGroupProvider: .singleton, configuration: config)
        do {
            try await measure(http)
            try await http.shutdown()
        } catch {
            try? await http.shutdown()
            throw error
        }
    }

    func measure(_ http: HTTPClient) async throws {
        // Register everyone first (not measured).
        let tokens = try await withThrowingTaskGroup(of: String.self) { group in
            for i in 0..<workers {
                group.addTask {
                    let body = try WireProtocol.makeEncoder().encode(
                        RegisterWorkerRequest(name: "load-\(i)", backend: "simulated", threads: 1, version: "load"))
                    let (status, data) = try await send(http, .POST, "/v1/workers", body: body, token: nil)
                    guard status == 201 else { throw ValidationError("registration answered \(status)") }
                    return try WireProtocol.makeDecoder().decode(RegisterWorkerResponse.self, from: data).token
                }
            }
            return try await group.reduce(into: [String]()) { $0.append($1) }
        }
        let payloads = PayloadCache()
        let start = ContinuousClock.now
        let measureFrom = start + .seconds(warmup), end = measureFrom + .seconds(seconds)
        let results = try await withThrowingTaskGroup(of: WorkerTally.self) { group in
            for token in tokens {
                group.addTask {
                    var tally = WorkerTally()
                    // Workers that compute start spread over one compute time, as volunteers would.
                    if computeSeconds > 0 { try await Task.sleep(for: .seconds(Double.random(in: 0..<computeSeconds))) }
                    while ContinuousClock.now < end {
                        // Ask; with no work ready (a step's tail), wait for it as the real worker does
                        // (a long poll the coordinator answers when units appear). A cycle that waited
                        // measures the step barrier, not the coordinator: it is counted, not timed.
                        var t0 = ContinuousClock.now
                        var waited = false
                        var assignment = try await lease(http, token: token, maxWait: 0)
                        if assignment == nil {
                            if t0 >= measureFrom { tally.idle += 1 }
                            waited = true
                            assignment = try await lease(http, token: token, maxWait: 5)
                            t0 = ContinuousClock.now
                        }
                        guard let a = assignment else { continue }
                        let leased = ContinuousClock.now
                        let payload = try await payloads.payload(for: a, http: http, client: self)
                        if computeSeconds > 0 { try await Task.sleep(for: .seconds(computeSeconds * Double.random(in: 0.5...1.5))) }
                        let metadata = ResultMetadata(leaseID: a.leaseID, loss: 1, tokenCount: a.data.sequences * a.data.sequenceLength,
                                                      payloadSHA256: payload.sha)
                        var headers = metadata.headerFields.map { ($0.name, $0.value) }
                        headers.append(("Content-Type", WireProtocol.tensorContentType))
                        let t1 = ContinuousClock.now
                        let (submitStatus, _) = try await send(http, .PUT, "/v1/leases/\(a.leaseID.uuidString.lowercased())/result",
                                                               body: payload.bytes, token: token, headers: headers)
                        let t2 = ContinuousClock.now
                        // A cycle counts when it ends inside the window; its latency is the coordinator's
                        // part (lease answered, submission answered), not the simulated computing.
                        guard t2 >= measureFrom, t2 <= end else { continue }
                        if submitStatus != 200 {
                            tally.errors += 1
                        } else if waited {
                            tally.afterWaiting += 1
                        } else {
                            tally.latencies.append((leased - t0) + (t2 - t1))
                        }
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

    /// A lease request; nil when the coordinator has no work (within `maxWait` seconds).
    func lease(_ http: HTTPClient, token: String, maxWait: Int) async throws -> Assignment? {
        let (status, data) = try await send(http, .POST, "/v1/leases", body: Data(#"{"max_wait_seconds":\#(maxWait)}"#.utf8), token: token)
        guard status == 200, case .assigned(let a) = try WireProtocol.makeDecoder().decode(LeaseResponse.self, from: data) else {
            return nil
        }
        return a
    }

    func send(_ http: HTTPClient, _ method: HTTPMethod, _ path: String, body: Data?, token: String?,
              headers: [(String, String)] = [("Content-Type", "application/json")]) async throws -> (Int, Data) {
        var request = HTTPClientRequest(url: coordinator + path)
        request.method = method
        if let token { request.headers.add(name: "Authorization", value: "Bearer \(token)") }
        for (name, value) in headers { request.headers.add(name: name, value: value) }
        if let body { request.body = .bytes(ByteBuffer(bytes: body)) }
        let response = try await http.execute(request, timeout: .seconds(60))
        let bytes = try await response.body.collect(upTo: 64 << 20)
        return (Int(response.status.code), Data(bytes.readableBytesView))
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
    private var byConfig: [String: (bytes: Data, sha: String)] = [:]

    func payload(for a: Assignment, http: HTTPClient, client: LoadTest) async throws -> (bytes: Data, sha: String) {
        if let p = byConfig[a.modelConfigSHA256] { return p }
        let (status, data) = try await client.send(http, .GET, "/v1/runs/\(a.runID)/config", body: nil, token: nil)
        guard status == 200 else { throw ValidationError("config answered \(status)") }
        let count = ParameterLayout(config: try GPTNeoConfig(jsonData: data)).count
        let bytes = Data(TensorPayload(values: [Float](repeating: 0, count: count)).encoded())
        let p = (bytes, SHA256Hex.digest(of: [UInt8](bytes)))
        byConfig[a.modelConfigSHA256] = p
        return p
    }
}
