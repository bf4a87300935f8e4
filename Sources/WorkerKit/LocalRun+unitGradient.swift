import Foundation
import KoinonCore
import NeoModel
import Wire

extension LocalRun {
    /// Replaces the parameters with a saved version: a Hugging Face
    /// checkpoint directory (what `train --local --out` and `run export`
    /// write) or a TensorPayload file (what workers download as
    /// `/v1/runs/ID/parameters/VERSION`).
    public func loadParameters(from url: URL) throws {
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: url.path, isDirectory: &isDirectory) else {
            throw ModelInputError("parameters '\(url.path)': no such file or directory")
        }
        if isDirectory.boolValue {
            let saved = try Checkpoint.load(from: url, backend: model.backend)
            try setParameters(saved.parameters.array)
        } else {
            let payload = try TensorPayload(decoding: Data(contentsOf: url), expectedElementCount: model.layout.count)
            try setParameters(payload.values)
        }
    }

    /// One unit's gradient at the current parameters as a volunteer submits
    /// it (a float32 TensorPayload), with its loss and L2 norm.
    public func unitGradientPayload(step: Int, unit: Int) throws -> (payload: Data, loss: Double, norm: Double) {
        let loss = try unitGradient(step: step, unit: unit)
        let values = gradients.array
        return (Data(TensorPayload(values: values).encoded()), loss, ClippedMean.norm(values))
    }
}

