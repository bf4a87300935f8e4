import Dataset
import Foundation
import Hummingbird
import KoinonCore
import Logging
import NeoModel
import Wire

/// The coordinator's HTTP API (docs/protocol.md).
public struct CoordinatorRoutes: Sendable {
    let coordinator: Coordinator
    let leaseSeconds: Double

    public init(coordinator: Coordinator) {
        self.coordinator = coordinator
        leaseSeconds = coordinator.settings.leaseSeconds
    }

    public func register(on router: Router<CoordinatorContext>) {
        let settings = coordinator.settings
        router.add(middleware: MetricsMiddleware())
        router.add(middleware: UploadTimeLimitMiddleware(idleSeconds: settings.uploadIdleSeconds,
                                                         totalSeconds: settings.uploadTotalSeconds))
        router.add(middleware: ErrorMiddleware())
        let v1 = router.group("v1")
        v1.group().add(middleware: RateLimitMiddleware.registrations(SharedRateLimiter(
            .perMinute(settings.registrationsPerMinute, burst: settings.registrationBurst))))
            .post("workers", use: registerWorker)
        v1.get("status", use: status)
        v1.get("runs/:run/parameters/:version", use: parameters)
        v1.get("runs/:run/config", use: modelConfig)
        v1.get("shards/:sha", use: shard)
        let authed = v1.group().add(middleware: WorkerAuthenticator(sessions: coordinator.sessions))
            .add(middleware: RateLimitMiddleware.workerRequests(SharedRateLimiter(
                .init(ratePerSecond: settings.workerRequestsPerSecond, burst: settings.workerRequestBurst))))
        authed.post("leases", use: lease)
        authed.post("leases/:lease/heartbeat", use: heartbeat)
        authed.put("leases/:lease/result", use: submit)
        authed.delete("leases/:lease", use: release)
        registerOperator(on: router)
        registerOpenAPI(on: router)
        registerDashboard(on: router)
    }

    /// A worker's `threads` above this counts as this (the column is a 32-bit integer).
    static let maximumThreads = 1 << 20

    @Sendable func registerWorker(_ request: Request, context: CoordinatorContext) async throws -> Response {
        let body = try await request.decode(as: RegisterWorkerRequest.self, context: context)
        let name = body.name.trimmingCharacters(in: .whitespacesAndNewlines)
        // Counted as PostgreSQL counts (code points), not as grapheme clusters.
        guard (1...64).contains(name.unicodeScalars.count) else {
            return try WireResponse.error(.badRequest, code: "bad_request", "name must be 1 to 64 characters")
        }
        guard !name.unicodeScalars.contains(where: { $0.properties.generalCategory == .control }),
              !body.backend.unicodeScalars.contains(where: { $0.properties.generalCategory == .control }),
              !(body.owner ?? "").unicodeScalars.contains(where: { $0.properties.generalCategory == .control }),
              !body.version.unicodeScalars.contains(where: { $0.properties.generalCategory == .control }) else {
            return try WireResponse.error(.badRequest, code: "bad_request", "name, backend, version and owner must not contain control characters")
        }
        let owner = (body.owner ?? "").trimmingCharacters(in: .whitespacesAndNewlines)
        guard owner.unicodeScalars.count <= 64 else {
            return try WireResponse.error(.badRequest, code: "bad_request", "owner must be at most 64 characters")
        }
        let (id, token) = try await coordinator.workers.register(
            name: name, backend: String(body.backend.prefix(200)), threads: min(max(0, body.threads), Self.maximumThreads),
            version: String(body.version.prefix(40)), address: context.remoteAddress ?? "", owner: owner)
        return try WireResponse.json(RegisterWorkerResponse(workerID: id, token: token), status: .created)
    }

    @Sendable func lease(_ request: Request, context: CoordinatorContext) async throws -> Response {
        let worker = try context.worker()
        var request = request
        let buffer = try await request.collectBody(upTo: context.maxUploadSize)
        let body: LeaseRequest
        do {
            body = buffer.readableBytes == 0 ? LeaseRequest()
                : try WireProtocol.decoder.decode(LeaseRequest.self, from: Data(buffer: buffer))
        } catch {
            throw HTTPError(.badRequest, message: "the body is not a LeaseRequest: \(error)")
        }
        let wait = min(max(body.maxWaitSeconds ?? 0, 0), 10)
        let deadline = ContinuousClock.now + .seconds(wait)
        var checkedStanding = false
        while true {
            let seen = coordinator.workSignal.generation
            let assigned: Assignment?
            do {
                assigned = try await claimAssignment(worker: worker, acceptsEvaluation: body.acceptsEvaluation == true,
                                                     acceptsLocalSteps: body.acceptsLocalSteps == true)
            } catch let outdated as UnsupportedUnit {
                let retry = RetryLater(retryAfterSeconds: UnsupportedUnit.retryAfterSeconds, reason: .workerOutdated,
                                       message: outdated.description)
                return try WireResponse.json(LeaseResponse.retry(retry),
                                             headers: [.retryAfter: String(Int(UnsupportedUnit.retryAfterSeconds))])
            }
            if let assigned { return try WireResponse.json(LeaseResponse.assigned(assigned)) }
            // (Recorded for next units asked with results: a look at everything that found nothing.)
            if body.acceptsEvaluation == true { coordinator.workSignal.foundNothing(since: seen) }
            // Claims skip banned and quarantined workers; tell them why rather than "no work".
            if !checkedStanding {
                checkedStanding = true
                if let standing = try await coordinator.trust.refusingStanding(worker, policy: coordinator.settings.trust),
                   let (reason, message) = Self.refusal(standing, policy: coordinator.settings.trust) {
                    return try WireResponse.error(.forbidden, code: reason, message)
                }
            }
            let now = ContinuousClock.now
            if now >= deadline { break }
            // Until work appears here, or a second passes (another process may have made some).
            await coordinator.workSignal.wait(since: seen, timeout: min(deadline - now, .seconds(1)))
        }
        // From the status snapshot (a second old at most); if there is none yet, assume work is coming.
        let anyActive = (try? await coordinator.statusBoard.snapshot())?.status.runs.contains { $0.state == .active } ?? true
        let retry = anyActive
            ? RetryLater(retryAfterSeconds: 1, reason: "units_outstanding",
                         message: "every unit of the current step is out; ask again shortly")
            : RetryLater(retryAfterSeconds: 5, reason: "no_active_run",
                         message: "no run is active right now (paused, finished or not created yet)")
        let seconds = Int(retry.retryAfterSeconds.rounded(.up))
        return try WireResponse.json(LeaseResponse.retry(retry), headers: [.retryAfter: String(seconds)])
    }

    /// A unit for the worker if one is free now (pending, a replica, a straggler's backup, an evaluation).
    /// A local-steps unit claimed for a worker that does not compute them goes
    /// straight back to the queue, and the worker is told to upgrade (`UnsupportedUnit`).
    /// `pendingTried`: a pending unit was just claimed for this worker without success (with its result).
    func claimAssignment(worker: UUID, acceptsEvaluation: Bool, acceptsLocalSteps: Bool,
                         pendingTried: Bool = false) async throws -> Assignment? {
        guard let grant = try await coordinator.leases.claim(worker: worker, leaseSeconds: leaseSeconds,
                                                             maxCopies: coordinator.settings.maxCopies,
                                                             backupAfterSeconds: coordinator.settings.backupAfterSeconds,
                                                             evaluation: acceptsEvaluation,
                                                             distinctAddresses: coordinator.settings.replicasFromDistinctAddresses,
                                                             pendingTried: pendingTried)
        else { return nil }
        return try await assign(grant, worker: worker, acceptsLocalSteps: acceptsLocalSteps)
    }

    /// The assignment of a unit leased to `worker`; a local-steps unit for a worker that
    /// cannot compute them goes back to the queue (and the worker is told so).
    func assign(_ grant: LeaseGrant, worker: UUID, acceptsLocalSteps: Bool) async throws -> Assignment {
        let assigned = assignment(grant, try await coordinator.runInfo(grant.runID))
        if assigned.localSteps != nil, !acceptsLocalSteps {
            _ = try await coordinator.leases.release(lease: grant.leaseID, worker: worker)
            coordinator.workSignal.signal()
            throw UnsupportedUnit(runID: grant.runID)
        }
        return assigned
    }

    func assignment(_ grant: LeaseGrant, _ info: RunInfo) -> Assignment {
        Assignment(
            leaseID: grant.leaseID, runID: grant.runID, step: grant.step, unitIndex: grant.unit,
            parameters: ParameterVersion(version: grant.step, sha256: grant.parametersSHA256),
            modelConfigSHA256: info.modelConfigSHA256,
            data: UnitDataSpec(datasetID: info.datasetName, manifestSHA256: info.manifestSHA256, seed: info.seed,
                               sequences: info.sequencesPerUnit, sequenceLength: info.sequenceLength),
            deadline: grant.deadline, heartbeatIntervalSeconds: leaseSeconds / 3,
            evaluation: grant.isEvaluation
                ? EvaluationSpec(sequences: info.evaluationSequences, index: grant.unit - info.unitsPerStep) : nil,
            localSteps: grant.isEvaluation ? nil : info.localSteps(step: grant.step))
    }

    static func leaseID(_ context: CoordinatorContext) throws -> UUID {
        guard let text = context.parameters.get("lease"), let id = UUID(uuidString: text) else {
            throw HTTPError(.badRequest, message: "lease id must be a UUID")
        }
        return id
    }

    static func stop(_ outcome: HeartbeatOutcome) -> (HTTPResponse.Status, ReasonCode, String) {
        switch outcome {
        case .extended: (.ok, "", "")
        case .unknownLease: (.notFound, "unknown_lease", "no such lease")
        case .foreignLease: (.conflict, "foreign_lease", "this lease belongs to another worker")
        case .leaseNotActive(let state):
            switch state {
            case "expired": (.conflict, "lease_expired", "the lease's deadline passed; the unit may be someone else's now")
            case "released": (.conflict, "lease_released", "the lease was released")
            case "submitted": (.conflict, "result_submitted", "a result was already submitted under this lease")
            default: (.conflict, "unit_finished", "another copy of this unit was accepted")
            }
        }
    }

    @Sendable func heartbeat(_ request: Request, context: CoordinatorContext) async throws -> Response {
        let outcome = try await coordinator.leases.heartbeat(lease: Self.leaseID(context), worker: context.worker(),
                                                             leaseSeconds: leaseSeconds)
        if case .extended(let deadline) = outcome { return try WireResponse.json(HeartbeatResponse.extended(deadline: deadline)) }
        let (status, reason, message) = Self.stop(outcome)
        return try WireResponse.json(HeartbeatResponse.stop(reason: reason, message: message), status: status)
    }

    @Sendable func release(_ request: Request, context: CoordinatorContext) async throws -> Response {
        let outcome = try await coordinator.leases.release(lease: Self.leaseID(context), worker: context.worker())
        switch outcome {
        case .extended, .leaseNotActive(state: "released"):  // releasing twice is releasing
            coordinator.workSignal.signal()
            return try WireResponse.json(ReleaseResponse(status: .released))
        default: break
        }
        let (status, reason, message) = Self.stop(outcome)
        return try WireResponse.json(ReleaseResponse(status: .refused, reason: reason, message: message), status: status)
    }

    @Sendable func parameters(_ request: Request, context: CoordinatorContext) async throws -> Response {
        guard let run = context.parameters.get("run", as: Int.self), let version = context.parameters.get("version", as: Int.self),
              let sha = try await coordinator.runs.parameterVersion(run: run, version: version)?.parameters else {
            return try WireResponse.error(.notFound, code: "not_found", "no such run or parameter version")
        }
        return try serveBlob(sha, request: request, contentType: WireProtocol.tensorContentType)
    }

    @Sendable func modelConfig(_ request: Request, context: CoordinatorContext) async throws -> Response {
        guard let run = context.parameters.get("run", as: Int.self), let record = try await coordinator.runs.get(run) else {
            return try WireResponse.error(.notFound, code: "not_found", "no such run")
        }
        return WireResponse.binary(Data(record.modelConfigJSON.utf8), contentType: WireProtocol.jsonContentType)
    }

    @Sendable func shard(_ request: Request, context: CoordinatorContext) async throws -> Response {
        guard let sha = context.parameters.get("sha"), coordinator.blobs.contains(sha) else {
            return try WireResponse.error(.notFound, code: "not_found", "no such dataset file")
        }
        return try serveBlob(sha, request: request, contentType: "application/octet-stream")
    }

    /// An immutable blob: ETag = its hash, If-None-Match → 304, single byte ranges → 206.
    func serveBlob(_ sha: String, request: Request, contentType: String) throws -> Response {
        if request.headers[.ifNoneMatch] == "\"\(sha)\"" {
            return Response(status: .notModified, headers: [.eTag: "\"\(sha)\""])
        }
        guard coordinator.blobs.contains(sha) else {
            return try WireResponse.error(.notFound, code: "not_found", "this version's bytes are no longer kept (pruned after a checkpoint)")
        }
        let data = try coordinator.blobs.get(sha)
        if let range = request.headers[.range], let (lo, hi) = Self.byteRange(range, count: data.count) {
            return WireResponse.binary(data.subdata(in: lo..<(hi + 1)), contentType: contentType, etag: sha,
                                       status: .partialContent, extra: [.contentRange: "bytes \(lo)-\(hi)/\(data.count)"])
        }
        return WireResponse.binary(data, contentType: contentType, etag: sha)
    }

    /// "bytes=a-b", "bytes=a-" or "bytes=-n" within `count` bytes.
    static func byteRange(_ header: String, count: Int) -> (Int, Int)? {
        guard header.hasPrefix("bytes="), !header.contains(","), count > 0 else { return nil }
        let parts = header.dropFirst(6).split(separator: "-", omittingEmptySubsequences: false)
        guard parts.count == 2 else { return nil }
        if parts[0].isEmpty, let n = Int(parts[1]), n > 0 { return (max(0, count - n), count - 1) }
        guard let lo = Int(parts[0]), lo < count else { return nil }
        let hi = parts[1].isEmpty ? count - 1 : min(Int(parts[1]) ?? -1, count - 1)
        return hi >= lo ? (lo, hi) : nil
    }

    @Sendable func status(_ request: Request, context: CoordinatorContext) async throws -> Response {
        let snapshot = try await coordinator.statusBoard.snapshot()
        return Response(status: .ok, headers: [.contentType: WireProtocol.jsonContentType, .cacheControl: "no-cache"],
                        body: .init(byteBuffer: snapshot.json))
    }
}

/// A worker that did not say it computes local-steps units (`LeaseRequest.acceptsLocalSteps`,
/// an older `koinon-worker`) was about to get one.
struct UnsupportedUnit: Error, CustomStringConvertible {
    /// When such a worker is told to ask again (it will not get other work from this run before it upgrades).
    static let retryAfterSeconds = 300.0
    var runID: Int
    var description: String {
        "run \(runID) trains in local-steps mode, which this worker does not compute; upgrade koinon-worker"
    }
}
