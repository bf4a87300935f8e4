import Foundation
import Hummingbird
import KoinonCore
import Wire

extension CoordinatorRoutes {
    @Sendable func submit(_ request: Request, context: CoordinatorContext) async throws -> Response {
        let worker = try context.worker()
        let lease = try Self.leaseID(context)
        guard let (standing, leased) = try await coordinator.leases.submissionContext(lease: lease, worker: worker) else {
            return try Self.refused(.unauthorized, "unauthorized", "unknown worker; register again")
        }
        guard let unit = leased else { return try Self.refused(.notFound, "unknown_lease", "no such lease") }
        if let (reason, message) = Self.refusal(standing, policy: coordinator.settings.trust) {
            return try Self.refused(.forbidden, reason, message)
        }
        // A result that fails a check is recorded with its reason (a strike for its worker) and told to the worker.
        func rejected(_ status: HTTPResponse.Status, _ reason: ReasonCode, _ message: String) async throws -> Response {
            try await coordinator.reject(worker: worker, lease: lease, run: unit.run, step: unit.step, unit: unit.unit,
                                         reason: reason.rawValue, message: message)
            return try WireResponse.json(SubmitResultResponse(status: .rejected, reason: reason, message: message), status: status)
        }
        func header(_ name: String) -> String? {
            let wanted = name.lowercased()
            return request.headers.first { $0.name.canonicalName == wanted }?.value
        }
        // A 200 answer carries the worker's next unit when it asked for one (Koinon-Next-Lease):
        // a pending unit is claimed in the statement that records an accepted result.
        let nextLease = NextLease.request(from: header(NextLease.header))
        let signal = coordinator.workSignal, seen = signal.generation
        let claimWithResult = nextLease != nil && !signal.knownIdle()
        var claimed: (tried: Bool, grant: LeaseGrant?) = (false, nil)
        // (Not when this result completed its step: nothing is left to claim until the step is applied.)
        func respond(_ answer: SubmitResultResponse, completedStep: Bool) async throws -> Response {
            var answer = answer
            if let nextLease, !completedStep {
                answer.next = await next(worker: worker, nextLease, claimed: claimed, seen: seen)
            }
            return try WireResponse.json(answer)
        }
        let metadata: ResultMetadata
        do {
            metadata = try ResultMetadata(headerValue: header)
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
        do { body = try await request.collectBody(upTo: limit) } catch let error as UploadTimedOut { throw error } catch {
            return try await rejected(.contentTooLarge, "payload_too_large", "a result for this unit is at most \(limit) bytes")
        }
        let data = Data(buffer: body)
        let (sha, decoded) = await Self.hashAndDecode(data, expectedElementCount: elements)
        guard sha == metadata.payloadSHA256 else {
            return try await rejected(.unprocessableContent, "invalid_result", "the body's SHA-256 is not Koinon-Payload-SHA256 (corrupted upload?)")
        }
        let payload: TensorPayload
        do { payload = try decoded.get() } catch {
            return try await rejected(.unprocessableContent, "invalid_result", "\(error)")
        }
        // Σx² of finite floats, in Double, is always finite: a norm that is not means a NaN or infinity.
        let norm = ClippedMean.norm(payload.values)
        guard norm.isFinite else {
            return try await rejected(.unprocessableContent, "invalid_result", "the gradient has NaN or infinite values")
        }
        // The coordinator knows how many tokens a unit has: credit and the validation mean are weighted by it.
        // (A local-steps unit trains on a batch per inner step.)
        let tokens = info.sequencesPerUnit * info.sequenceLength * (unit.isEvaluation ? 1 : info.innerStepsPerUnit)
        guard metadata.tokenCount == tokens else {
            return try await rejected(.unprocessableContent, "invalid_result", "a unit of this run has \(tokens) tokens, not \(metadata.tokenCount)")
        }
        guard metadata.loss.isFinite, (0...Self.maximumLoss).contains(metadata.loss) else {
            return try await rejected(.unprocessableContent, "invalid_result",
                                      "the loss must be a cross-entropy between 0 and \(Int(Self.maximumLoss)), not \(metadata.loss)")
        }
        if !unit.isEvaluation,
           case .outlier(let median) = coordinator.normVerdict(run: unit.run, step: unit.step, unit: unit.unit, worker: worker, norm: norm) {
            return try await rejected(.unprocessableContent, "gradient_norm_outlier", String(
                format: "the gradient's L2 norm %.4g is out of bounds (at most %g times, at least 1/%g² of, the median %.4g of this run's recent results)",
                norm, coordinator.settings.maxNormRatio, coordinator.settings.maxNormRatio, median))
        }
        // Not synced: a result lost with the machine is found when its step is applied, and computed again.
        try coordinator.blobs.put(data, sha256: sha, synced: false)
        // Evaluation units are replicated like training units: a wrong validation loss misleads everyone watching.
        let suspicious = !unit.isEvaluation
            && coordinator.pointsAgainstItsStep(run: unit.run, step: unit.step, values: payload.values, norm: norm)
        let replicate = suspicious || coordinator.drawsReplica(standing)
        let (outcome, grant) = try await coordinator.leases.submitClaimingNext(
            lease: lease, worker: worker, payload: sha, loss: metadata.loss, tokens: metadata.tokenCount, replicate: replicate,
            replicateDuplicates: coordinator.settings.trust.replicates,
            distinctAddresses: coordinator.settings.replicasFromDistinctAddresses,
            nextLeaseSeconds: claimWithResult ? leaseSeconds : nil)
        if claimWithResult, case .accepted(stepComplete: false) = outcome { claimed = (true, grant) }
        if case .accepted = outcome, !unit.isEvaluation { coordinator.normAccepted(run: unit.run, norm: norm) }
        if case .compare = outcome {
            let settlement = try await coordinator.settle(run: unit.run, step: unit.step, unit: unit.unit)
            return try await copyAnswer(settlement.verdicts[lease] ?? .settled, worker: worker, tokens: metadata.tokenCount,
                                        respond: respond)
        }
        return try await answer(outcome, worker: worker, tokens: metadata.tokenCount,
                                verification: unit.isEvaluation ? nil : .unreplicated, respond: respond, rejected: rejected)
    }

    /// The worker's next unit, asked for with its result: the one `claimed` with the result
    /// (in the statement that recorded it), else other work (any work, where no claim was
    /// `tried`). The result is recorded whatever happens here: a claim that fails here only
    /// leaves the worker to ask `POST /v1/leases`.
    func next(worker: UUID, _ request: LeaseRequest, claimed: (tried: Bool, grant: LeaseGrant?),
              seen: UInt64) async -> Assignment? {
        let signal = coordinator.workSignal
        do {
            if let grant = claimed.grant {
                return try await assign(grant, worker: worker, acceptsLocalSteps: request.acceptsLocalSteps == true)
            }
            // A look that just found nothing, with no work since, spares this one its statements.
            if signal.knownIdle() { return nil }
            let assigned = try await claimAssignment(worker: worker, acceptsEvaluation: request.acceptsEvaluation == true,
                                                     acceptsLocalSteps: request.acceptsLocalSteps == true,
                                                     pendingTried: claimed.tried)
            if assigned == nil, request.acceptsEvaluation == true { signal.foundNothing(since: seen) }
            return assigned
        } catch {
            coordinator.logger.warning("no next unit for worker \(worker) with its result: \(Database.describe(error))")
            return nil
        }
    }

    /// Why a worker may not work now (banned, quarantined): a 403's reason and message; nil if it may.
    static func refusal(_ standing: WorkerTrust, policy: TrustPolicy) -> (ReasonCode, String)? {
        switch standing.state(at: Date(), policy: policy) {
        case .banned:
            return (.workerBanned, "this worker is banned: \(standing.banReason ?? "by the operator")")
        case .quarantined:
            let until = standing.quarantinedUntil.map { WireTimestamp.string(from: $0) } ?? "later"
            return (.workerQuarantined, "too many of this worker's results were wrong or rejected; it may work again after \(until)")
        case .probation, .trusted:
            return nil
        }
    }

    /// The answer to a copy of a replicated unit, once the copies are compared; `respond` answers 200.
    func copyAnswer(_ verdict: CopyVerdict, worker: UUID, tokens: Int,
                    respond: (SubmitResultResponse, _ completedStep: Bool) async throws -> Response) async throws -> Response {
        switch verdict {
        case .verified:
            coordinator.activity.record(worker: worker, tokens: tokens)
            CoordinatorMetrics.resultReceived(outcome: "accepted")
            return try await respond(SubmitResultResponse(status: .accepted, verification: .verified), false)
        case .pending:
            CoordinatorMetrics.resultReceived(outcome: "pending")
            return try await respond(SubmitResultResponse(
                status: .accepted, message: "the copies of this unit disagree so far; another copy will decide",
                verification: .pending), false)
        case .wrong(let message):
            return try WireResponse.json(SubmitResultResponse(status: .rejected, reason: .replicaMismatch, message: message),
                                         status: .unprocessableContent)
        case .setAside:
            CoordinatorMetrics.resultReceived(outcome: "superseded")
            return try await respond(SubmitResultResponse(
                status: .superseded, reason: .superseded,
                message: "the copies of this unit did not agree; it will be computed afresh"), false)
        case .settled:
            CoordinatorMetrics.resultReceived(outcome: "superseded")
            return try await respond(SubmitResultResponse(status: .superseded, reason: .superseded,
                                                          message: "the unit was settled by other copies"), false)
        }
    }

    /// The body's SHA-256 and its decoded payload (the payload's own checksum
    /// verified). For a large body the two hashes run side by side: at the
    /// end of a step the other workers wait for this result, and a core is free.
    static func hashAndDecode(_ data: Data, expectedElementCount: Int) async -> (String, Result<TensorPayload, TensorPayloadError>) {
        func decode() -> Result<TensorPayload, TensorPayloadError> {
            Result { () throws(TensorPayloadError) in try TensorPayload(decoding: data, expectedElementCount: expectedElementCount) }
        }
        guard data.count >= parallelHashBytes else { return (BlobStore.sha256(data), decode()) }
        async let decoded = decode()
        let sha = BlobStore.sha256(data)
        return (sha, await decoded)
    }

    /// Below this, a second thread costs more than the hash it would take over.
    static let parallelHashBytes = 256 << 10

    /// A cross-entropy above this is not a loss a unit can report (ln of the
    /// largest vocabulary is about 12; a diverging run stays far below).
    static let maximumLoss = 1000.0

    /// The answer to a recorded submission; `respond` answers 200.
    func answer(_ outcome: SubmitOutcome, worker: UUID, tokens: Int, verification: SubmitResultResponse.Verification?,
                respond: (SubmitResultResponse, _ completedStep: Bool) async throws -> Response,
                rejected: (HTTPResponse.Status, ReasonCode, String) async throws -> Response) async throws -> Response {
        switch outcome {
        case .accepted(let complete):
            if complete { coordinator.stepCompleted() }
            coordinator.activity.record(worker: worker, tokens: tokens)
            CoordinatorMetrics.resultReceived(outcome: "accepted")
            return try await respond(SubmitResultResponse(status: .accepted, verification: verification), complete)
        case .provisional, .compare:
            coordinator.workSignal.signal()  // a replica is wanted now: wake waiting workers
            CoordinatorMetrics.resultReceived(outcome: "pending")
            return try await respond(SubmitResultResponse(
                status: .accepted, message: "another worker will compute this unit too, to verify it", verification: .pending), false)
        case .dropped:
            return try Self.refused(.conflict, "result_dropped",
                                    "this result was set aside before its step was applied (see the worker's rejections)")
        case .foundWrong:
            return try Self.refused(.unprocessableContent, .replicaMismatch, "other copies of this unit outvoted this result")
        case .superseded:
            CoordinatorMetrics.resultReceived(outcome: "superseded")
            return try await respond(SubmitResultResponse(status: .superseded, reason: .superseded,
                                                          message: "another copy of this unit was accepted first"), false)
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
}
