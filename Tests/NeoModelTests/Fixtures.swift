import Foundation
import Kernels
import NeoModel

/// Where scripts/make_fixtures.py writes the PyTorch / transformers references.
enum Fixtures {
    static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("Fixtures")

    static func cases(_ kind: String) -> [String] {
        let dir = root.appendingPathComponent(kind)
        return ((try? FileManager.default.contentsOfDirectory(atPath: dir.path)) ?? []).sorted()
    }

    static func dir(_ kind: String, _ name: String) -> URL { root.appendingPathComponent(kind).appendingPathComponent(name) }

    static func json(_ url: URL) throws -> [String: Any] {
        try JSONSerialization.jsonObject(with: Data(contentsOf: url)) as! [String: Any]
    }
}

/// The reference record of one training case (reference.json).
struct TrainingReference {
    var inputIDs: [Int32]
    var targets: [Int32]
    var batch: Int
    var seqLen: Int
    var loss: Double
    var gradNorm: Double
    var adamw: AdamWConfig
    var trainLosses: [Double]

    init(_ url: URL) throws {
        let o = try Fixtures.json(url)
        let ids = o["input_ids"] as! [[Int]], targets = o["targets"] as! [[Int]]
        batch = ids.count
        seqLen = ids[0].count
        inputIDs = ids.flatMap { $0 }.map(Int32.init)
        self.targets = targets.flatMap { $0 }.map(Int32.init)
        loss = o["loss"] as! Double
        gradNorm = o["grad_norm"] as! Double
        let a = o["adamw"] as! [String: Double]
        adamw = AdamWConfig(schedule: .constant(a["lr"]!), beta1: a["beta1"]!, beta2: a["beta2"]!, epsilon: a["eps"]!,
                            weightDecay: a["weight_decay"]!, maxGradNorm: a["max_grad_norm"]!)
        trainLosses = o["train_losses"] as! [Double]
    }
}

/// Largest |a − b| over two equally long sequences, and the largest |b|.
func maxDifference(_ a: some Collection<Float>, _ b: some Collection<Float>) -> (diff: Float, scale: Float) {
    precondition(a.count == b.count)
    var diff: Float = 0, scale: Float = 0
    for (x, y) in zip(a, b) {
        diff = max(diff, abs(x - y))
        scale = max(scale, abs(y))
    }
    return (diff, scale)
}
