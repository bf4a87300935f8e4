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
        router.add(middleware: MetricsMiddleware())
        router.add(middleware: ErrorMiddleware())
        let v1 = router.group("v1")
        v1.post("workers", use: registerWorker)
        v1.get("status", use: status)
        v1.get("runs/:run/parameters/:version", use: parameters)
        v1.get("runs/:run/config", use: modelConfig)
        v1.get("shards/:sha", use: shard)
        let authed = v1.group().add(middleware: WorkerAuthenticator(sessions: coordinator.sessions))
        authed.post("leases", use: lease)
        authed.post("leases/:lease/heartbeat", use: heartbeat)
        authed.put("leases/:lease/result", use: submit)
        authed.delete("leases/:lease", use: release)
        registerOperator(on: router)
        registerOpenAPI(on: router)
        registerDashboard(on: router)
    }

    @Sendable func registerWorker(_ request: Request, context: CoordinatorContext) async throws -> Response {
        let body = try await request.decode(as: RegisterWorkerRequest.self, context: context)
        let name = body.name.trimmingCharacters(in: .whitespacesAndNewlines)
        guard (1...64).contains(name.count) else {
            return try WireResponse.error(.badRequest, code: "bad_request", "name must be 1 to 64 characters")
        }
        guard !name.unicodeScalars.contains(where: { $0.properties.generalCategory == .control }),
              !body.backend.unicodeScalars.contains(where: { $0.properties.generalCategory == .control }) else {
            return try WireResponse.error(.badRequest, code: "bad_request", "name and backend must not contain control characters")
        }
        let (id, token) = try await coordinator.workers.register(
            name: name, backend: String(body.backend.prefix(200)), threads: max(0, body.threads),
            version: String(body.version.prefix(40)), address: "")
        return try WireResponse.json(RegisterWorkerResponse(workerID: id, token: token), status: .created)
    }

    @Sendable func lease(_ request: Request, context: CoordinatorContext) async throws -> Response {
        let worker = try context.worker()
        var request = request
        let buffer = try await request.collectBody(upTo: context.maxUploadSize)
        let body: LeaseRequest
        do {
            body = buffer.readableBytes == 0 ? LeaseRequest()
                : try WireProtocol.makeDecoder().decode(LeaseRequest.self, from: Data(buffer: buffer))
        } catch {
            throw HTTPError(.badRequest, message: "the body is not a LeaseRequest: \(error)")
        }
        let wait = min(max(body.maxWaitSeconds ?? 0, 0), 10)
        let deadline = ContinuousClock.now + .seconds(wait)
        while true {
            let seen = coordinator.workSignal.generation
            if let grant = try await coordinator.leases.claim(worker: worker, leaseSeconds: leaseSeconds,
                                                             maxCopies: coordinator.settings.maxCopies,
                                                             backupAfterSeconds: coordinator.settings.backupAfterSeconds,
                                                             evaluation: body.acceptsEvaluation == true) {
                let info = try await coordinator.runInfo(grant.runID)
                return try WireResponse.json(LeaseResponse.assigned(assignment(grant, info)))
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

    func assignment(_ grant: LeaseGrant, _ info: RunInfo) -> Assignment {
        Assignment(
            leaseID: grant.leaseID, runID: grant.runID, step: grant.step, unitIndex: grant.unit,
            parameters: ParameterVersion(version: grant.step, sha256: grant.parametersSHA256),
            modelConfigSHA256: info.modelConfigSHA256,
            data: UnitDataSpec(datasetID: info.datasetName, manifestSHA256: info.manifestSHA256, seed: info.seed,
                               sequences: info.sequencesPerUnit, sequenceLength: info.sequenceLength),
            deadline: grant.deadline, heartbeatIntervalSeconds: leaseSeconds / 3,
            evaluation: grant.isEvaluation
                ? EvaluationSpec(sequences: info.evaluationSequences, index: grant.unit - info.unitsPerStep) : nil)
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

    @Sendable func submit(_ request: Request, context: CoordinatorContext) async throws -> Response {
        let worker = try context.worker()
        let lease = try Self.leaseID(context)
        guard let unit = try await coordinator.leases.leasedUnit(lease) else {
            return try Self.refused(.notFound, "unknown_lease", "no such lease")
        }
        // A result that fails a check is recorded with its reason and told to the worker.
        func rejected(_ status: HTTPResponse.Status, _ reason: ReasonCode, _ message: String) async throws -> Response {
            try await coordinator.leases.recordRejection(worker: worker, lease: lease, unit: unit, reason: reason.rawValue,
                                                         message: message)
            CoordinatorMetrics.rejected(reason: reason.rawValue)
            return try WireResponse.json(SubmitResultResponse(status: .rejected, reason: reason, message: message), status: status)
        }
        let metadata: ResultMetadata
        do {
            metadata = try ResultMetadata { name in request.headers.first { $0.name.canonicalName == name.lowercased() }?.value }
        } catch {
            return try await rejected(.badRequest, "invalid_metadata", error.description)
        }
        guard metadata.leaseID == lease else { return try await rejected(.badRequest, "invalid_metadata", "Koinon-Lease-ID differs from the path") }
        let info = try await coordinator.runInfo(unit.run)
        // An evaluation unit hands in its loss only: an empty tensor.
        let elements = unit.isEvaluation ? 0 : info.parameterCount
        var request = request
        let limit = TensorPayload.encodedByteCount(elementCount: elements, dtype: .float32)
        let body: ByteBuffer
        do { body = try await request.collectBody(upTo: limit) } catch {
            return try await rejected(.contentTooLarge, "payload_too_large", "a result for this unit is at most \(limit) bytes")
        }
        let data = Data(buffer: body)
        let sha = BlobStore.sha256(data)
        guard sha == metadata.payloadSHA256 else {
            return try await rejected(.unprocessableContent, "invalid_result", "the body's SHA-256 is not Koinon-Payload-SHA256 (corrupted upload?)")
        }
        let payload: TensorPayload
        do { payload = try TensorPayload(decoding: data, expectedElementCount: elements) } catch {
            return try await rejected(.unprocessableContent, "invalid_result", "\(error)")
        }
        guard payload.values.allSatisfy(\.isFinite) else {
            return try await rejected(.unprocessableContent, "invalid_result", "the gradient has NaN or infinite values")
        }
        // The coordinator knows how many tokens a unit has: credit and the validation mean are weighted by it.
        let tokens = info.sequencesPerUnit * info.sequenceLength
        guard metadata.tokenCount == tokens else {
            return try await rejected(.unprocessableContent, "invalid_result", "a unit of this run has \(tokens) tokens, not \(metadata.tokenCount)")
        }
        guard metadata.loss.isFinite, (0...Self.maximumLoss).contains(metadata.loss) else {
            return try await rejected(.unprocessableContent, "invalid_result",
                                      "the loss must be a cross-entropy between 0 and \(Int(Self.maximumLoss)), not \(metadata.loss)")
        }
        let norm = unit.isEvaluation ? 0 : Self.l2Norm(payload.values)
        if !unit.isEvaluation,
           case .outlier(let median) = coordinator.normVerdict(run: unit.run, step: unit.step, unit: unit.unit, worker: worker, norm: norm) {
            return try await rejected(.unprocessableContent, "gradient_norm_outlier", String(
                format: "the gradient's L2 norm %.4g is more than %g times the median %.4g of this run's recent results",
                norm, coordinator.settings.maxNormRatio, median))
        }
        try coordinator.blobs.put(data, sha256: sha)
        let outcome = try await coordinator.leases.submit(lease: lease, worker: worker, payload: sha, loss: metadata.loss,
                                                          tokens: metadata.tokenCount)
        if case .accepted = outcome, !unit.isEvaluation { coordinator.normAccepted(run: unit.run, norm: norm) }
        return try await answer(outcome, worker: worker, tokens: metadata.tokenCount, rejected: rejected)
    }

    static func l2Norm(_ values: [Float]) -> Double {
        var sum = 0.0
        for v in values { sum += Double(v) * Double(v) }
        return sum.squareRoot()
    }

    /// A cross-entropy above this is not a loss a unit can report (ln of the
    /// largest vocabulary is about 12; a diverging run stays far below).
    static let maximumLoss = 1000.0

    /// The answer to a recorded submission.
    func answer(_ outcome: SubmitOutcome, worker: UUID, tokens: Int,
                rejected: (HTTPResponse.Status, ReasonCode, String) async throws -> Response) async throws -> Response {
        switch outcome {
        case .accepted(let complete):
            if complete { coordinator.stepCompleted() }
            coordinator.activity.record(worker: worker, tokens: tokens)
            CoordinatorMetrics.resultReceived(outcome: "accepted")
            return try WireResponse.json(SubmitResultResponse(status: .accepted))
        case .superseded:
            CoordinatorMetrics.resultReceived(outcome: "superseded")
            return try WireResponse.json(SubmitResultResponse(status: .superseded, reason: .superseded,
                                                              message: "another copy of this unit was accepted first"))
        case .conflict:
            return try await rejected(.conflict, .conflictingResult, "this lease already submitted a different result")
        case .unknownLease: return try Self.refused(.notFound, "unknown_lease", "no such lease")
        case .foreignLease: return try Self.refused(.conflict, "foreign_lease", "this lease belongs to another worker")
        case .leaseNotActive(let state):
            let (status, reason, message) = Self.stop(.leaseNotActive(state: state))
            return try Self.refused(status, reason, message)
        }
    }

    /// A submission refused for its lease, not its content (not a verification rejection).
    static func refused(_ status: HTTPResponse.Status, _ reason: ReasonCode, _ message: String) throws -> Response {
        try WireResponse.json(SubmitResultResponse(status: .rejected, reason: reason, message: message), status: status)
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
