import Foundation
import Kernels
import KoinonCore
import Testing
import WorkerKit

/// Replication (DESIGN §4): two honest copies of a unit, computed with
/// different thread counts, agree within the default `ReplicaTolerance`;
/// the tampered copies a cheater could send (sign-flipped, scaled, another
/// unit's gradient) do not. The model is char-small (4 layers, 128 wide,
/// context 64), big enough that the thread split changes how products and
/// reductions are summed.
@Suite struct ReplicaAgreementTests {
    static let yaml = """
        name: replicas
        model:
          preset: char-small
        dataset: data
        batch:
          sequence_length: 64
          global_sequences: 12
          sequences_per_unit: 6
        steps: 10
        seed: 1337
        """

    static func unit(_ step: Int, _ unit: Int, threads: Int) throws -> (gradient: [Float], loss: Double) {
        let run = try LocalRun(config: RunConfig(yaml: yaml), runDirectory: TinyRun.directory,
                               backend: CPUBackend(threads: threads))
        let loss = try run.unitGradient(step: step, unit: unit)
        return (run.gradients.array, loss)
    }

    @Test func honestCopiesAgreeAndTamperedOnesDoNot() throws {
        let tolerance = ReplicaTolerance()
        let one = try Self.unit(3, 1, threads: 1), two = try Self.unit(3, 1, threads: 2)
        let honest = GradientAgreement.measure(one.gradient, two.gradient, lossA: one.loss, lossB: two.loss)
        #expect(honest.agrees(within: tolerance), "1 vs 2 threads: \(honest)")
        // Far inside the tolerance, not just inside it.
        #expect(honest.relativeL2Error < tolerance.relativeL2Error / 10)

        func tampered(_ g: [Float], loss: Double) -> GradientAgreement {
            GradientAgreement.measure(one.gradient, g, lossA: one.loss, lossB: loss)
        }
        let flipped = tampered(two.gradient.map { -$0 }, loss: two.loss)
        let scaled = tampered(two.gradient.map { $0 * 100 }, loss: two.loss)
        let other = try Self.unit(3, 0, threads: 2)
        let otherUnit = tampered(other.gradient, loss: other.loss)
        let otherUnitSameLoss = tampered(other.gradient, loss: two.loss)  // a lie about the loss does not help
        let slightlyScaled = tampered(two.gradient.map { $0 * 1.01 }, loss: two.loss)
        for (name, a) in [("sign-flipped", flipped), ("×100", scaled), ("other unit", otherUnit),
                          ("other unit, copied loss", otherUnitSameLoss), ("×1.01", slightlyScaled)] {
            #expect(!a.agrees(within: tolerance), "\(name) passed as a replica: \(a)")
        }
        #expect(abs(flipped.relativeL2Error - 2) < 1e-6 && flipped.cosine < -0.999)
    }
}
