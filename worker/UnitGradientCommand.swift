import ArgumentParser
import Dataset
import Foundation
import KoinonCore
import NeoModel
import WorkerKit

/// `koinon-worker unit-gradient`: one unit's gradient exactly as a volunteer
/// computes it for a lease (the run's windows for (seed, step, unit),
/// `Trainer.computeGradients`), without a coordinator. For measuring how far
/// honest copies of a unit differ (thread counts, BLAS cores, kernel
/// variants, machines: `benchmarks/honest_disagreement.sh`) and for checking
/// a disputed result by hand.
struct UnitGradientCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "unit-gradient",
        abstract: "Compute units' gradients of a run as a volunteer would; prints one JSON line per unit.",
        discussion: "In a local-steps run (local_steps: in the YAML) a unit's result is its pseudo-gradient: the parameters' change over its local AdamW steps, negated.")

    @Option(help: "The run's YAML file.") var config: String
    @Option(help: "The (0-based) step whose data the unit trains on.") var step: Int
    @Option(help: "Consecutive steps from --step to compute.") var steps = 1
    @Option(help: "The unit (default: every unit of each step).") var unit: Int?
    @Option(help: "Parameters to compute at: a checkpoint directory or a TensorPayload file (default: version 0).")
    var parameters: String?
    @Option(help: "Write the gradient as a float32 TensorPayload here (one step and one --unit only).") var out: String?
    @OptionGroup var compute: ComputeOptions

    func validate() throws {
        guard step >= 0, steps >= 1 else { throw ValidationError("--step must be ≥ 0 and --steps ≥ 1") }
        if out != nil, unit == nil || steps != 1 {
            throw ValidationError("--out writes one gradient: give --unit and at most one step")
        }
    }

    func run() throws {
        let logger = makeLogger()
        try failing {
            let (runConfig, runDirectory) = try readRunConfig(config)
            let units = runConfig.batch.unitsPerStep
            if let unit, !(0..<units).contains(unit) {
                throw ModelInputError("--unit \(unit): the run has units 0..<\(units) per step")
            }
            let backend = compute.backend(logger: logger)
            let run = try LocalRun(config: runConfig, runDirectory: runDirectory, backend: backend)
            if let parameters { try run.loadParameters(from: URL(fileURLWithPath: parameters)) }
            for s in step..<(step + steps) {
                for u in unit.map({ [$0] }) ?? Array(0..<units) {
                    let (payload, loss, norm) = try run.unitGradientPayload(step: s, unit: u)
                    if let out { try payload.write(to: URL(fileURLWithPath: out)) }
                    let line: [String: Any] = [
                        "step": s, "unit": u, "loss": loss, "norm": norm, "elements": run.model.layout.count,
                        "threads": backend.threads, "backend": backend.summary,
                    ]
                    let json = try JSONSerialization.data(withJSONObject: line, options: [.sortedKeys])
                    print(String(decoding: json, as: UTF8.self))
                }
            }
        }
    }
}
