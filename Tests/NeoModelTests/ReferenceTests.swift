import Foundation
import Kernels
import NeoModel
import Testing
import WorkerKit

/// Koinon against PyTorch + transformers (fixtures from scripts/make_fixtures.py).
///
/// Tolerances (float32 throughout; PyTorch and Koinon sum in different orders):
/// - logits: max |Δ| ≤ 1e-4 · max(1, max |ref|)
/// - loss: |Δ| ≤ 1e-5; `model eval`: |Δ| ≤ 1e-4 (the bound)
/// - every gradient, by HF name: max |Δ| ≤ 1e-5 + 1e-3 · max |ref grad|
/// - parameters after one AdamW step: |Δ| ≤ 1e-5 + 1e-2 · lr + lr · |u(g+δ) − u(g−δ)|
///   per weight, where Adam's first step is lr · u(g), u(g) = g / (|g| + ε), and δ
///   is the gradient tolerance above: for the few gradients within float noise of
///   zero (MLP weights behind near-zero gelu inputs) the step's direction is not
///   determined by float32 agreement (it differed between AVX-512 and AVX2 runs).
/// - the 10 training losses: |Δ| ≤ 1e-4 each
@Suite struct ReferenceTests {
    let backend = CPUBackend(threads: 2)

    @Test(arguments: Fixtures.cases("train"))
    func forwardBackwardAndAdamW(name: String) throws {
        let dir = Fixtures.dir("train", name)
        let ref = try TrainingReference(dir.appendingPathComponent("reference.json"))
        let tensors = try SafeTensorsFile(contentsOf: dir.appendingPathComponent("reference.safetensors"))
        let model = try Checkpoint.load(from: dir, backend: backend)
        let trainer = try Trainer(model: model, optimizer: ref.adamw, batch: ref.batch, seqLen: ref.seqLen)
        let acts = trainer.activations

        // Logits.
        try model.setBatch(tokens: ref.inputIDs, targets: ref.targets, acts: acts)
        model.forward(acts)
        let refLogits = try tensors.floats("logits")
        let (dl, sl) = maxDifference(acts.logits.buffer, refLogits)
        #expect(dl <= 1e-4 * max(1, sl), "logits differ by \(dl)")

        // Loss and every gradient by name.
        let loss = try trainer.computeGradients(tokens: ref.inputIDs, targets: ref.targets)
        #expect(abs(loss - ref.loss) <= 1e-5, "loss \(loss) vs \(ref.loss)")
        for t in model.layout.tensors {
            let expected = try tensors.floats("grad." + t.name)
            let got = UnsafeBufferPointer(start: trainer.gradients.pointer + t.offset, count: t.count)
            let (d, s) = maxDifference(got, expected)
            #expect(d <= 1e-5 + 1e-3 * s, "gradient of \(t.name) differs by \(d) (scale \(s))")
        }

        // One AdamW step (with clipping) against torch.optim.AdamW.
        let report = trainer.optimizer.update(parameters: model.parameters, gradients: trainer.gradients, backend: backend)
        #expect(abs(report.gradientNorm - ref.gradNorm) <= 1e-4 * ref.gradNorm)
        let lr = Float(ref.adamw.schedule.maxRate), eps = Float(ref.adamw.epsilon)
        for t in model.layout.tensors {
            let expected = try tensors.floats("step1." + t.name), refGrad = try tensors.floats("grad." + t.name)
            let gradTolerance = 1e-5 + 1e-3 * maxDifference(refGrad, refGrad.map { _ in 0 }).scale
            // Adam's first step moves a weight by lr · u(g), u(g) = g / (|g| + ε): allow what the
            // gradient's own tolerance allows, lr · |u(g + δ) − u(g − δ)| (up to 2 lr for the few
            // gradients within δ of zero, whose direction float noise decides).
            func u(_ g: Float) -> Float { g / (abs(g) + eps) }
            var worst: Float = 0, worstIndex = 0
            for (i, (x, y)) in zip(model.tensor(t.name)!, expected).enumerated() {
                let g = refGrad[i]
                let excess = abs(x - y) - (1e-5 + 1e-2 * lr + lr * abs(u(g + gradTolerance) - u(g - gradTolerance)))
                if excess > worst { (worst, worstIndex) = (excess, i) }
            }
            #expect(worst <= 0, "\(t.name)[\(worstIndex)] after one AdamW step exceeds its bound by \(worst)")
        }

        // Nine more steps: the loss curve follows PyTorch's.
        var losses = [loss]
        for _ in 1..<ref.trainLosses.count {
            losses.append(try trainer.step(tokens: ref.inputIDs, targets: ref.targets).loss)
        }
        for (i, (a, b)) in zip(losses, ref.trainLosses).enumerated() {
            #expect(abs(a - b) <= 1e-4, "training loss \(i): \(a) vs \(b)")
        }
    }

    @Test(arguments: Fixtures.cases("eval"))
    func evalMatchesTransformers(name: String) throws {
        let dir = Fixtures.dir("eval", name)
        let expected = try Fixtures.json(dir.appendingPathComponent("expected.json"))
        let model = try Checkpoint.load(from: dir, backend: backend)
        let sequences = try TokenFile.read(dir.appendingPathComponent("tokens.txt"))
        let (sum, count) = try model.evaluate(sequences: sequences)
        #expect(count == expected["tokens"] as! Int)
        let loss = sum / Double(count), want = expected["loss"] as! Double
        #expect(abs(loss - want) <= 1e-4, "\(name): loss \(loss) vs transformers \(want)")
    }

    @Test func fixturesArePresent() {
        #expect(Fixtures.cases("train").count >= 2)
        #expect(Fixtures.cases("eval").count >= 5)
    }
}
