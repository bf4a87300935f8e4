import ArgumentParser
import Dataset
import Dispatch
import Foundation
import KoinonCore
import WorkerKit

struct TrainCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "train",
        abstract: "Train a run in this process (--local): the reference the distributed run must match.")

    @Flag(help: "Train in this process, without a coordinator.") var local = false
    @Option(help: "The run's YAML file.") var config: String
    @Option(help: "Where to write the final checkpoint (default: <run name>-local beside the config).") var out: String?
    @Option(help: "Print a line every N steps.") var logEvery = 10
    @OptionGroup var compute: ComputeOptions

    func validate() throws {
        guard local else { throw ValidationError("only --local training exists so far; pass --local") }
    }

    func run() throws {
        let logger = makeLogger()
        try failing {
            let (runConfig, runDirectory) = try readRunConfig(config)
            let run = try LocalRun(config: runConfig, runDirectory: runDirectory,
                                   backend: compute.backend(logger: logger))
            let local = runConfig.localSteps.map { " of \($0.steps) local AdamW steps each" } ?? ""
            print("run \(runConfig.name): \(run.model.layout.count) parameters, \(runConfig.steps) steps of "
                  + "\(runConfig.batch.globalSequences) × \(runConfig.batch.sequenceLength) tokens in "
                  + "\(runConfig.batch.unitsPerStep) units\(local)")
            let start = DispatchTime.now().uptimeNanoseconds
            for step in 0..<runConfig.steps {
                let r = try run.runStep(step)
                let elapsed = Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9
                if (step + 1) % max(1, logEvery) == 0 || r.validationLoss != nil || step == 0 {
                    var line = String(format: "step %5d  loss %.4f  lr %.2e  %.1f s", step + 1, r.trainLoss, r.learningRate, elapsed)
                    if let v = r.validationLoss { line += String(format: "  validation %.4f", v) }
                    print(line)
                }
            }
            let dir = out.map { URL(fileURLWithPath: $0) }
                ?? runDirectory.appendingPathComponent("\(runConfig.name)-local")
            try run.export(to: dir)
            print("checkpoint: \(dir.path)")
        }
    }
}
