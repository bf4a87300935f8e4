import Dataset
import Foundation
import KoinonCore
import NeoModel
import Wire

extension VolunteerWorker {
    /// An evaluation unit: the mean loss of the loaded parameters (version
    /// `a.step`) on the unit's slice of the run's fixed evaluation windows on
    /// the validation split, with its token count and an empty payload. The
    /// windows and batches are those `train --local` evaluates, so the
    /// coordinator's token-weighted mean over the units is the local figure.
    func evaluate(_ a: Assignment, _ spec: EvaluationSpec, model: GPTNeo) async throws -> (Data, Double, Int) {
        let reader = try await splitReader(manifestSHA256: a.data.manifestSHA256, split: .validation)
        let seqLen = a.data.sequenceLength, per = a.data.sequences
        guard reader.totalTokens > seqLen else {
            throw WorkerError("run \(a.runID)'s dataset has no validation split longer than one window")
        }
        let windows = TrainingWindows(seed: a.data.seed, sequenceLength: seqLen, sequencesPerUnit: 1,
                                      totalTokens: reader.totalTokens)
        guard spec.index >= 0, spec.sequences > 0, per > 0 else {
            throw WorkerError("evaluation unit \(spec.index) of \(spec.sequences) windows is not a valid assignment")
        }
        let range = spec.windowRange(sequencesPerUnit: per)
        guard !range.isEmpty else { throw WorkerError("evaluation unit \(spec.index) is past the \(spec.sequences) windows") }
        let offsets = Array(windows.evaluationOffsets(count: spec.sequences)[range])
        try await fetchShards(covering: offsets, length: windows.windowLength, reader: reader)
        let batches = try reader.batches(offsets: offsets, sequenceLength: seqLen, batchSize: per)
        guard let loss = try model.meanLoss(batches: batches, batch: per, seqLen: seqLen) else {
            throw WorkerError("evaluation unit \(spec.index) has no tokens")
        }
        return (Data(TensorPayload(values: []).encoded()), loss, offsets.count * seqLen)
    }
}

/// A failure of the worker's own making, said in one sentence.
struct WorkerError: Error, CustomStringConvertible {
    var description: String
    init(_ description: String) { self.description = description }
}
