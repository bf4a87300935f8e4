import Foundation
import Testing
import Wire

/// The lease cycle's answers written by `WireJSONWriter` are byte for byte
/// what `WireProtocol.encoder` writes, with every optional member set and
/// unset, awkward strings and numbers included.
@Suite struct WireJSONWriterTests {
    static let evaluation = EvaluationSpec(sequences: 24, index: 3)
    static let localSteps = LocalStepsSpec(
        steps: 8, firstInnerStep: 16, learningRate: 6e-4, minLearningRate: 6e-5, warmupSteps: 100, decaySteps: 2000,
        beta1: 0.9, beta2: 0.95, epsilon: 1e-8, weightDecay: 0.1, gradClip: 1.0)

    static func assignment(evaluation: EvaluationSpec? = nil, localSteps: LocalStepsSpec? = nil,
                           heartbeat: Double = 20, seed: UInt64 = 1337, deadline: Date = sampleDate) -> Assignment {
        Assignment(
            leaseID: sampleUUID, runID: 3, step: 41, unitIndex: 5,
            parameters: ParameterVersion(version: 41, sha256: sampleHash),
            modelConfigSHA256: String(repeating: "cd", count: 32),
            data: UnitDataSpec(datasetID: "tiny/shakespeare \"char\"", manifestSHA256: String(repeating: "ef", count: 32),
                               seed: seed, sequences: 12, sequenceLength: 64),
            resultDType: .bfloat16, deadline: deadline, heartbeatIntervalSeconds: heartbeat,
            evaluation: evaluation, localSteps: localSteps)
    }

    static let assignments: [Assignment] = [
        assignment(),
        assignment(evaluation: evaluation),
        assignment(localSteps: localSteps),
        assignment(localSteps: LocalStepsSpec(
            steps: 1, firstInnerStep: 0, learningRate: 0, minLearningRate: 1.5, warmupSteps: 0, decaySteps: 0,
            beta1: 0, beta2: 0.999, epsilon: 1e-300, weightDecay: 123_456_789.125, gradClip: nil)),
        assignment(evaluation: evaluation, localSteps: localSteps, heartbeat: 0.25, seed: .max,
                   deadline: Date(timeIntervalSince1970: -1.5)),
        assignment(heartbeat: 1e21, seed: 0, deadline: Date(timeIntervalSince1970: 4_102_444_800.999)),
    ]

    static let messages = ["", "plain words", "quote \" backslash \\ slash / tab \t newline \n return \r",
                           "\u{08}\u{0C}\u{01}\u{1F}\u{7F} ünïcödé ✓ 🚀"]

    func expectSameBytes(_ value: some WireJSONWritable, sourceLocation: SourceLocation = #_sourceLocation) throws {
        let expected = try WireProtocol.encoder.encode(value)
        let written = try value.wireJSON()
        #expect(String(decoding: written, as: UTF8.self) == String(decoding: expected, as: UTF8.self),
                sourceLocation: sourceLocation)
    }

    @Test func leaseAnswers() throws {
        for assignment in Self.assignments {
            try expectSameBytes(LeaseResponse.assigned(assignment))
        }
        for message in Self.messages {
            for seconds in [0, 5, 0.1, 2.5e-7, 86_400] as [Double] {
                try expectSameBytes(LeaseResponse.retry(RetryLater(retryAfterSeconds: seconds, reason: .unitsOutstanding,
                                                                   message: message)))
            }
        }
    }

    @Test func resultAnswers() throws {
        for next in [nil] + Self.assignments.map(Optional.some) {
            try expectSameBytes(SubmitResultResponse(status: .accepted, verification: .unreplicated, next: next))
        }
        for message in Self.messages {
            try expectSameBytes(SubmitResultResponse(status: .rejected, reason: .leaseExpired, message: message))
        }
        try expectSameBytes(SubmitResultResponse(status: .superseded, reason: .superseded, message: "another copy won"))
        for verification in [SubmitResultResponse.Verification.pending, .verified, nil] {
            try expectSameBytes(SubmitResultResponse(status: .accepted, verification: verification))
        }
    }

    @Test func numbersJSONCannotHoldAreAnError() {
        for seconds in [Double.nan, .infinity, -.infinity] {
            let retry = LeaseResponse.retry(RetryLater(retryAfterSeconds: seconds, reason: .unitsOutstanding, message: "x"))
            #expect(throws: EncodingError.self) { try WireProtocol.encoder.encode(retry) }
            #expect(throws: EncodingError.self) { try retry.wireJSON() }
        }
    }

    @Test func negativeAndExtremeIntegers() throws {
        for value in [0, -1, 9, 10, -10, Int.max, Int.min] {
            try expectSameBytes(LeaseResponse.assigned(Assignment(
                leaseID: sampleUUID, runID: value, step: value, unitIndex: value,
                parameters: ParameterVersion(version: value, sha256: ""), modelConfigSHA256: "",
                data: UnitDataSpec(datasetID: "", manifestSHA256: "", seed: 7, sequences: value, sequenceLength: value),
                deadline: sampleDate, heartbeatIntervalSeconds: 1)))
        }
    }
}

/// A stored property added to one of these messages must be written by the
/// writer too: with every optional set, each message writes one member per
/// stored property (`Mirror` counts them).
@Suite struct WireJSONWriterCoverageTests {
    func memberCount(_ value: some WireJSONWritable) throws -> Int {
        let object = try #require(try JSONSerialization.jsonObject(with: Data(value.wireJSON())) as? [String: Any])
        return object.count
    }

    @Test func everyStoredPropertyIsWritten() throws {
        let assignment = WireJSONWriterTests.assignment(evaluation: WireJSONWriterTests.evaluation,
                                                        localSteps: WireJSONWriterTests.localSteps)
        let answer = SubmitResultResponse(status: .rejected, reason: .leaseExpired, message: "late",
                                          verification: .pending, next: assignment)
        let retry = RetryLater(retryAfterSeconds: 1, reason: .unitsOutstanding, message: "wait")
        let messages: [(String, any WireJSONWritable, Int)] = [
            ("Assignment", assignment, Mirror(reflecting: assignment).children.count),
            ("UnitDataSpec", assignment.data, Mirror(reflecting: assignment.data).children.count),
            ("ParameterVersion", assignment.parameters, Mirror(reflecting: assignment.parameters).children.count),
            ("EvaluationSpec", WireJSONWriterTests.evaluation, Mirror(reflecting: WireJSONWriterTests.evaluation).children.count),
            ("LocalStepsSpec", WireJSONWriterTests.localSteps, Mirror(reflecting: WireJSONWriterTests.localSteps).children.count),
            ("SubmitResultResponse", answer, Mirror(reflecting: answer).children.count),
            ("RetryLater", retry, Mirror(reflecting: retry).children.count),
        ]
        for (name, message, properties) in messages {
            #expect(try memberCount(message) == properties, "\(name): write(to:) in LeaseMessages+wireJSON.swift misses a member")
        }
    }
}
