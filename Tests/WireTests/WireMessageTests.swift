import Foundation
import Testing
import Wire

/// Encodes with the protocol's encoder and returns the JSON object.
func jsonObject(_ value: some Encodable) throws -> [String: Any] {
    let data = try WireProtocol.makeEncoder().encode(value)
    return try #require(try JSONSerialization.jsonObject(with: data) as? [String: Any])
}

func roundTrip<T: Codable & Equatable>(_ value: T) throws -> T {
    try WireProtocol.makeDecoder().decode(T.self, from: WireProtocol.makeEncoder().encode(value))
}

func decodeJSON<T: Decodable>(_ type: T.Type, _ text: String) throws -> T {
    try WireProtocol.makeDecoder().decode(T.self, from: Data(text.utf8))
}

let sampleDate = WireTimestamp.date(from: "2025-01-02T03:04:05.678Z")!
let sampleUUID = UUID(uuidString: "0F1E2D3C-4B5A-4978-8695-A4B3C2D1E0F9")!
let sampleHash = String(repeating: "ab", count: 32)

@Suite struct WireMessageTests {
    static let assignment = Assignment(
        leaseID: sampleUUID, runID: 3, step: 41, unitIndex: 5,
        parameters: ParameterVersion(version: 41, sha256: sampleHash),
        modelConfigSHA256: String(repeating: "cd", count: 32),
        data: UnitDataSpec(datasetID: "tinyshakespeare-char", manifestSHA256: String(repeating: "ef", count: 32),
                           seed: 1337, sequences: 12, sequenceLength: 64),
        resultDType: .bfloat16, deadline: sampleDate, heartbeatIntervalSeconds: 20)

    @Test func registration() throws {
        let request = RegisterWorkerRequest(name: "alice", backend: "cpu avx512 openblas", threads: 2, version: "0.4.0")
        #expect(try roundTrip(request) == request)
        #expect(Set(try jsonObject(request).keys) == ["name", "backend", "threads", "version"])
        let response = RegisterWorkerResponse(workerID: sampleUUID, token: "kn_secret")
        #expect(try roundTrip(response) == response)
        let object = try jsonObject(response)
        #expect(Set(object.keys) == ["worker_id", "token"])
        #expect(object["worker_id"] as? String == sampleUUID.uuidString)
    }

    @Test func leaseRequest() throws {
        #expect(try roundTrip(LeaseRequest(maxWaitSeconds: 10)) == LeaseRequest(maxWaitSeconds: 10))
        #expect(Set(try jsonObject(LeaseRequest(maxWaitSeconds: 10)).keys) == ["max_wait_seconds"])
        #expect(try decodeJSON(LeaseRequest.self, "{}") == LeaseRequest())
    }

    @Test func assignmentIsSnakeCaseThroughout() throws {
        let response = LeaseResponse.assigned(Self.assignment)
        #expect(try roundTrip(response) == response)
        let object = try jsonObject(response)
        #expect(Set(object.keys) == ["status", "assignment"])
        #expect(object["status"] as? String == "assigned")
        let assignment = try #require(object["assignment"] as? [String: Any])
        #expect(Set(assignment.keys) == [
            "lease_id", "run_id", "step", "unit_index", "parameters", "model_config_sha256", "data",
            "result_dtype", "deadline", "heartbeat_interval_seconds",
        ])
        #expect(assignment["deadline"] as? String == "2025-01-02T03:04:05.678Z")
        #expect(assignment["result_dtype"] as? String == "bfloat16")
        #expect(Set(try #require(assignment["parameters"] as? [String: Any]).keys) == ["version", "sha256"])
        #expect(Set(try #require(assignment["data"] as? [String: Any]).keys)
            == ["dataset_id", "manifest_sha256", "seed", "sequences", "sequence_length"])
    }

    @Test func localStepsAssignment() throws {
        var a = Self.assignment
        a.localSteps = LocalStepsSpec(steps: 10, firstInnerStep: 410, learningRate: 1e-3, minLearningRate: 1e-4, warmupSteps: 100,
                                      decaySteps: 2000, beta1: 0.9, beta2: 0.99, epsilon: 1e-8, weightDecay: 0.1, gradClip: nil)
        #expect(try roundTrip(a) == a)
        #expect(a.localSteps?.innerSteps == 410..<420)
        let spec = try #require(try jsonObject(a)["local_steps"] as? [String: Any])
        #expect(Set(spec.keys) == [
            "steps", "first_inner_step", "learning_rate", "min_learning_rate", "warmup_steps", "decay_steps",
            "beta1", "beta2", "epsilon", "weight_decay",
        ])  // no clipping: no grad_clip
        // A spec no worker could compute fails the unit with a clear error, not the worker.
        let spec0 = try #require(a.localSteps)
        #expect(throws: Never.self) { try spec0.validate() }
        for (edit, words) in [({ (s: inout LocalStepsSpec) in s.steps = 0 }, "steps 0"),
                              ({ $0.steps = -3 }, "steps -3"),
                              ({ $0.steps = LocalStepsSpec.maximumSteps + 1 }, "steps 100001"),
                              ({ $0.firstInnerStep = -1 }, "first_inner_step"),
                              ({ $0.firstInnerStep = Int.max - 2 }, "first_inner_step"),
                              ({ $0.beta2 = 1 }, "beta1 and beta2"),
                              ({ $0.epsilon = 0 }, "epsilon"),
                              ({ $0.learningRate = .nan }, "learning rates"),
                              ({ $0.gradClip = -1 }, "grad_clip")] as [((inout LocalStepsSpec) -> Void, String)] {
            var bad = spec0
            edit(&bad)
            #expect { try bad.validate() } throws: { ($0 as? InvalidLocalStepsSpec)?.description.contains(words) == true }
        }
        let request = LeaseRequest(maxWaitSeconds: 0, acceptsEvaluation: true, acceptsLocalSteps: true)
        #expect(try roundTrip(request) == request)
        #expect(try jsonObject(request)["accepts_local_steps"] as? Bool == true)
    }

    @Test func retryLater() throws {
        let response = LeaseResponse.retry(RetryLater(retryAfterSeconds: 4.5, reason: .unitsOutstanding, message: "all units are out"))
        #expect(try roundTrip(response) == response)
        let object = try jsonObject(response)
        #expect(Set(object.keys) == ["status", "retry"])
        #expect(Set(try #require(object["retry"] as? [String: Any]).keys) == ["retry_after_seconds", "reason", "message"])
        let decoded = try decodeJSON(LeaseResponse.self, """
            {"status": "retry", "retry": {"retry_after_seconds": 5, "reason": "step_complete", "message": "aggregating"}}
            """)
        #expect(decoded == .retry(RetryLater(retryAfterSeconds: 5, reason: .stepComplete, message: "aggregating")))
    }

    @Test func unknownStatusesAreErrorsThatSaySo() {
        do {
            _ = try decodeJSON(LeaseResponse.self, #"{"status": "maybe"}"#)
            Issue.record("decoded an unknown status")
        } catch {
            #expect("\(error)".contains("unknown lease status \"maybe\""))
        }
        #expect(throws: DecodingError.self) { try decodeJSON(HeartbeatResponse.self, #"{"status": "later"}"#) }
        #expect(throws: DecodingError.self) { try decodeJSON(SubmitResultResponse.self, #"{"status": "maybe"}"#) }
    }

    @Test func heartbeat() throws {
        let extended = HeartbeatResponse.extended(deadline: sampleDate)
        #expect(try roundTrip(extended) == extended)
        #expect(Set(try jsonObject(extended).keys) == ["status", "deadline"])
        let stop = HeartbeatResponse.stop(reason: .leaseExpired, message: "the lease expired at ...")
        #expect(try roundTrip(stop) == stop)
        #expect(Set(try jsonObject(stop).keys) == ["status", "reason", "message"])
        #expect(try decodeJSON(HeartbeatResponse.self, #"{"status": "extended", "deadline": "2025-01-02T03:04:05Z"}"#)
            == .extended(deadline: WireTimestamp.date(from: "2025-01-02T03:04:05.000Z")!))
        #expect(throws: DecodingError.self) {
            try decodeJSON(HeartbeatResponse.self, #"{"status": "extended", "deadline": "tomorrow"}"#)
        }
    }

    @Test func submitAnswersAndRelease() throws {
        let accepted = SubmitResultResponse(status: .accepted)
        #expect(try roundTrip(accepted) == accepted)
        #expect(Set(try jsonObject(accepted).keys) == ["status"])
        let rejected = SubmitResultResponse(status: .rejected, reason: .foreignLease, message: "the lease belongs to another worker")
        #expect(try roundTrip(rejected) == rejected)
        #expect(Set(try jsonObject(rejected).keys) == ["status", "reason", "message"])
        #expect(try decodeJSON(SubmitResultResponse.self, #"{"status": "superseded", "reason": "superseded"}"#)
            == SubmitResultResponse(status: .superseded, reason: .superseded))
        // The next unit, when the worker asked for one with its result.
        let withNext = SubmitResultResponse(status: .accepted, verification: .unreplicated, next: Self.assignment)
        #expect(try roundTrip(withNext) == withNext)
        let nextObject = try #require(try jsonObject(withNext)["next"] as? [String: Any])
        #expect(nextObject["lease_id"] as? String == sampleUUID.uuidString)
        let released = ReleaseResponse(status: .refused, reason: .resultSubmitted, message: "too late")
        #expect(try roundTrip(released) == released)
        #expect(try jsonObject(ReleaseResponse(status: .released))["status"] as? String == "released")
    }

    @Test func nextLeaseHeader() {
        #expect(NextLease.request(from: nil) == nil)
        #expect(NextLease.request(from: "") == nil)
        #expect(NextLease.request(from: "eval") == nil)  // no "train": nothing asked
        #expect(NextLease.request(from: "train") == LeaseRequest(maxWaitSeconds: 0, acceptsEvaluation: false, acceptsLocalSteps: false))
        #expect(NextLease.request(from: " Train ,\tEVAL, later") == LeaseRequest(maxWaitSeconds: 0, acceptsEvaluation: true, acceptsLocalSteps: false))
        #expect(NextLease.request(from: "train, Local-Steps") == LeaseRequest(maxWaitSeconds: 0, acceptsEvaluation: false, acceptsLocalSteps: true))
        for evaluation in [false, true] {
            for localSteps in [false, true] {
                let asked = NextLease.request(from: NextLease.value(acceptsEvaluation: evaluation, acceptsLocalSteps: localSteps))
                #expect(asked?.acceptsEvaluation == evaluation && asked?.acceptsLocalSteps == localSteps)
            }
        }
        #expect(NextLease.value(acceptsEvaluation: true, acceptsLocalSteps: true) == "train, eval, local-steps")
    }

    @Test func resultMetadataAsJSON() throws {
        let metadata = ResultMetadata(leaseID: sampleUUID, loss: 2.3456, tokenCount: 768, payloadSHA256: sampleHash)
        #expect(try roundTrip(metadata) == metadata)
        #expect(Set(try jsonObject(metadata).keys) == ["lease_id", "loss", "token_count", "payload_sha256"])
    }

    @Test func errorBody() throws {
        let error = ErrorResponse(error: .unauthorized, message: "unknown token")
        #expect(try roundTrip(error) == error)
        #expect(try WireProtocol.makeEncoder().encode(error) == Data(#"{"error":"unauthorized","message":"unknown token"}"#.utf8))
    }

    @Test func reasonCodesAreOpenEnded() throws {
        // A newer coordinator's code still decodes in an older worker.
        let decoded = try decodeJSON(ErrorResponse.self, #"{"error": "quota_exceeded", "message": "slow down"}"#)
        #expect(decoded.error == ReasonCode("quota_exceeded"))
        #expect(decoded.error.description == "quota_exceeded")
        #expect(ReasonCode.leaseExpired.rawValue == "lease_expired")
        #expect(ReasonCode(rawValue: "x") == "x")
    }

    @Test func status() throws {
        let worker = WorkerStatus(workerID: sampleUUID, name: "alice", backend: "cpu", threads: 2, version: "0.1.0",
                                  lastSeen: sampleDate, online: true, acceptedUnits: 88, rejectedResults: 1,
                                  consecutiveValid: 40, activeLeases: 1, tokensPerSecond: 512.5, creditFLOPs: 1.5e12)
        let status = StatusResponse(
            generatedAt: sampleDate,
            runs: [
                RunStatus(runID: 1, name: "shakespeare-char", state: .active, step: 120, parameterVersion: 120, totalSteps: 2000,
                          createdAt: sampleDate, tokensTrained: 92_160, tokensPerSecond: Throughput(lastMinute: 700, last10Minutes: 650),
                          etaSeconds: 300, lossHistory: [LossPoint(step: 1, loss: 4.17), LossPoint(step: 100, loss: 2.4)],
                          validationHistory: [LossPoint(step: 100, loss: 2.5)],
                          units: UnitCounts(pending: 1, leased: 2, submitted: 0, accepted: 5), evaluationUnitsOutstanding: 3,
                          verification: VerificationStatus(acceptedResults: 240, supersededResults: 2, rejectedResults: 1,
                                                           replicatedShare: 0.01, rejectionsByReason: ["invalid_result": 1]),
                          topContributors: [Contributor(workerID: sampleUUID, name: "alice", units: 88, tokens: 67_584,
                                                        creditFLOPs: 1.5e12)]),
            ],
            workers: [worker], workersOnline: ["cpu": 1],
            recentRejections: [RejectionRecord(at: sampleDate, workerID: sampleUUID, workerName: "alice", runID: 1, step: 7,
                                               unit: 0, reason: "invalid_result", message: "NaN")])
        #expect(try roundTrip(status) == status)
        let object = try jsonObject(status)
        #expect(Set(object.keys) == ["generated_at", "runs", "workers", "workers_online", "recent_rejections"])
        #expect(object["generated_at"] as? String == "2025-01-02T03:04:05.678Z")
        let run = try #require((object["runs"] as? [[String: Any]])?.first)
        #expect(Set(run.keys) == ["run_id", "name", "state", "step", "parameter_version", "total_steps", "created_at",
                                  "tokens_trained", "tokens_per_second", "eta_seconds", "loss_history", "validation_history",
                                  "units", "evaluation_units_outstanding", "verification", "top_contributors"])
        #expect(Set(try #require((run["loss_history"] as? [[String: Any]])?.last).keys) == ["step", "loss"])
        #expect(Set(try #require(run["tokens_per_second"] as? [String: Any]).keys) == ["last_minute", "last_10_minutes"])
        #expect(Set(try #require(run["verification"] as? [String: Any]).keys)
            == ["accepted_results", "superseded_results", "rejected_results", "verified_copies", "replicated_share",
                "rejections_by_reason"])
        #expect(Set(try #require((run["top_contributors"] as? [[String: Any]])?.first).keys)
            == ["worker_id", "name", "units", "tokens", "credit_flops"])
        #expect(Set(try #require((object["workers"] as? [[String: Any]])?.first).keys)
            == ["worker_id", "name", "backend", "threads", "version", "last_seen", "online", "accepted_units",
                "rejected_results", "consecutive_valid", "active_leases", "tokens_per_second", "credit_flops"])
        #expect(Set(try #require((object["recent_rejections"] as? [[String: Any]])?.first).keys)
            == ["at", "worker_id", "worker_name", "run_id", "step", "unit", "reason", "message"])
        #expect(Set(try #require(run["units"] as? [String: Any]).keys) == ["pending", "leased", "submitted", "verifying", "accepted"])
    }

    @Test func assignmentCarriesItsEvaluation() throws {
        let spec = EvaluationSpec(sequences: 20, index: 3)
        #expect(spec.windowRange(sequencesPerUnit: 6) == 18..<20)
        #expect(EvaluationSpec(sequences: 20, index: 0).windowRange(sequencesPerUnit: 6) == 0..<6)
        #expect(try roundTrip(spec) == spec)
        #expect(Set(try jsonObject(spec).keys) == ["sequences", "index"])
    }

    @Test func timestampsDoNotDependOnTheEncodersDateStrategy() throws {
        // A server framework's plain JSONEncoder (default date strategy) must write the same wire format.
        let plain = try JSONSerialization.jsonObject(with: JSONEncoder().encode(HeartbeatResponse.extended(deadline: sampleDate)))
        #expect((plain as? [String: Any])?["deadline"] as? String == "2025-01-02T03:04:05.678Z")
        #expect(WireTimestamp.string(from: sampleDate) == "2025-01-02T03:04:05.678Z")
        #expect(WireTimestamp.date(from: "2025-01-02T03:04:05Z") == WireTimestamp.date(from: "2025-01-02T03:04:05.000Z"))
        #expect(WireTimestamp.date(from: "yesterday") == nil)
    }

    @Test func dtypesAreNamedInJSON() throws {
        #expect(try WireProtocol.makeEncoder().encode([TensorDType.float16]) == Data(#"["float16"]"#.utf8))
        #expect(throws: DecodingError.self) { try decodeJSON([TensorDType].self, #"["int4"]"#) }
    }

    /// The examples in docs/protocol.md decode as documented.
    @Test func documentedExamplesDecode() throws {
        let assignment = try decodeJSON(LeaseResponse.self, """
            {"status": "assigned", "assignment": {
              "lease_id": "0f1e2d3c-4b5a-4978-8695-a4b3c2d1e0f9", "run_id": 3, "step": 41, "unit_index": 5,
              "parameters": {"version": 41, "sha256": "\(sampleHash)"},
              "model_config_sha256": "\(String(repeating: "cd", count: 32))",
              "data": {"dataset_id": "tinyshakespeare-char", "manifest_sha256": "\(String(repeating: "ef", count: 32))",
                       "seed": 1337, "sequences": 12, "sequence_length": 64},
              "result_dtype": "bfloat16", "deadline": "2025-01-02T03:04:05.678Z", "heartbeat_interval_seconds": 20}}
            """)
        #expect(assignment == .assigned(Self.assignment))
    }
}

@Suite struct ResultHeaderTests {
    let metadata = ResultMetadata(leaseID: sampleUUID, loss: 1e-5, tokenCount: 768, payloadSHA256: sampleHash)

    func parse(_ headers: [String: String]) -> Result<ResultMetadata, ResultMetadataError> {
        let lowered = Dictionary(uniqueKeysWithValues: headers.map { ($0.key.lowercased(), $0.value) })
        return Result { () throws(ResultMetadataError) in try ResultMetadata(headerValue: { lowered[$0.lowercased()] }) }
    }

    var headers: [String: String] { Dictionary(uniqueKeysWithValues: metadata.headerFields.map { ($0.name, $0.value) }) }

    @Test func headersRoundTrip() throws {
        #expect(headers == [
            "Koinon-Lease-ID": "0f1e2d3c-4b5a-4978-8695-a4b3c2d1e0f9", "Koinon-Loss": "1e-05",
            "Koinon-Token-Count": "768", "Koinon-Payload-SHA256": sampleHash,
        ])
        #expect(try parse(headers).get() == metadata)
        // Every Double survives the text form exactly.
        var random = SeededRandom(seed: 5)
        for _ in 0..<1_000 {
            let loss = Double(bitPattern: random.next() >> 2)   // positive, finite
            let sent = ResultMetadata(leaseID: sampleUUID, loss: loss, tokenCount: 1, payloadSHA256: sampleHash)
            let received = Dictionary(uniqueKeysWithValues: sent.headerFields.map { ($0.name, $0.value) })
            #expect(try parse(received).get().loss == loss)
        }
    }

    @Test(arguments: [
        ("Koinon-Lease-ID", nil, "missing header Koinon-Lease-ID"),
        ("Koinon-Lease-ID", "lease-1", "not a UUID"),
        ("Koinon-Loss", "", "missing header Koinon-Loss"),
        ("Koinon-Loss", "nan", "not a finite number"),
        ("Koinon-Loss", "inf", "not a finite number"),
        ("Koinon-Loss", "2.5kg", "not a finite number"),
        ("Koinon-Token-Count", "0", "not a positive integer"),
        ("Koinon-Token-Count", "12.5", "not a positive integer"),
        ("Koinon-Payload-SHA256", String(repeating: "AB", count: 32), "64 lowercase hex digits"),
        ("Koinon-Payload-SHA256", "abc", "64 lowercase hex digits"),
    ] as [(String, String?, String)])
    func badHeadersAreNamed(name: String, value: String?, message: String) {
        var headers = headers
        headers[name] = value
        switch parse(headers) {
        case .success: Issue.record("accepted \(name): \(value ?? "nil")")
        case .failure(let error): #expect(error.description.contains(message), "\(error)")
        }
    }

    @Test func valuesMayCarryWhitespace() throws {
        var headers = headers
        headers["Koinon-Token-Count"] = " 768 "
        #expect(try parse(headers).get().tokenCount == 768)
    }

    @Test func sha256HexHelpers() {
        #expect(SHA256Hex.digest(of: Array("abc".utf8)) == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad")
        #expect(SHA256Hex.digest(of: []) == "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855")
        #expect(SHA256Hex.isValid(sampleHash))
        #expect(!SHA256Hex.isValid(sampleHash.uppercased()))
        #expect(!SHA256Hex.isValid(String(sampleHash.dropLast())))
        #expect(!SHA256Hex.isValid(String(repeating: "g", count: 64)))
    }
}
