import Foundation
import Kernels
import KoinonCore
import Testing
import WorkerKit

/// How far honest unit gradients point from the rest of their step: the
/// ground for `GradientDirectionCheck.defaultMinimumCosine`. Every unit of
/// every step of the tiny run (or, with `KOINON_DIRECTION_CONFIG=run.yaml`
/// and `KOINON_DIRECTION_STEPS`, of any run: BENCHMARKS.md) is judged by
/// the check as the coordinator would, in every arrival order's worst case:
/// against the sum of all the step's other units.
@Suite struct HonestDirectionTests {
    @Test func honestUnitsPointAlongTheirStep() throws {
        let env = ProcessInfo.processInfo.environment
        let run: LocalRun
        let steps: Int
        if let path = env["KOINON_DIRECTION_CONFIG"] {
            let url = URL(fileURLWithPath: path)
            run = try LocalRun(config: RunConfig(yaml: String(contentsOf: url, encoding: .utf8)),
                               runDirectory: url.deletingLastPathComponent(), backend: CPUBackend(threads: 2))
            steps = Int(env["KOINON_DIRECTION_STEPS"] ?? "") ?? 400
        } else {
            steps = 60
            run = try LocalRun(config: RunConfig(yaml: TinyRun.yaml(steps: steps)), runDirectory: TinyRun.directory,
                               backend: CPUBackend(threads: 1))
        }
        let unitsPerStep = run.config.batch.unitsPerStep
        var cosines: [Double] = []
        for step in 0..<steps {
            let units = try (0..<unitsPerStep).map { unit in
                _ = try run.unitGradient(step: step, unit: unit)
                return run.gradients.array
            }
            for (i, unit) in units.enumerated() {
                // The other units first, then this one: the check's verdict against all of them.
                var check = GradientDirectionCheck()
                for (j, other) in units.enumerated() where j != i {
                    _ = other.withUnsafeBufferPointer { check.judge(step: step, values: $0, norm: ClippedMean.norm($0)) }
                }
                let verdict = unit.withUnsafeBufferPointer { check.judge(step: step, values: $0, norm: ClippedMean.norm($0)) }
                switch verdict {
                case .plausible(let c), .suspicious(let c): cosines.append(c)
                case .unknown: break
                }
            }
            try run.runStep(step)
        }
        let sorted = cosines.sorted()
        func at(_ q: Double) -> Double { sorted[min(sorted.count - 1, Int(q * Double(sorted.count)))] }
        let flagged = sorted.filter { $0 < GradientDirectionCheck.defaultMinimumCosine }.count
        print(String(format: "honest direction: %d units over %d steps; cosine with the step's others: min %.3f, 1%% %.3f, 5%% %.3f, median %.3f; below %.2f (replicated): %d (%.2f%%); a sign flip of them: %.1f%% caught",
                     sorted.count, steps, sorted[0], at(0.01), at(0.05), at(0.5), GradientDirectionCheck.defaultMinimumCosine,
                     flagged, 100 * Double(flagged) / Double(sorted.count),
                     100 * Double(sorted.filter { -$0 < GradientDirectionCheck.defaultMinimumCosine }.count) / Double(sorted.count)))
        #expect(sorted.count == steps * unitsPerStep)
        if env["KOINON_DIRECTION_CONFIG"] == nil {
            #expect(flagged == 0, "no honest unit of the tiny run would be replicated for its direction")
            #expect(at(0.5) > 0.2, "a sign flip of a typical unit is far below the bound")
        }
    }
}
