@testable import CoordinatorApp
import Foundation
import Kernels
import KoinonCore
import Testing
import Wire
import WorkerKit

/// Local-steps mode on the coordinator (DiLoCo, DESIGN §2): `RunEngine`
/// applies a step's pseudo-gradients with the outer SGD exactly as
/// `train --local` does, and a checkpoint (parameters + the outer momentum)
/// restores it so that the run goes on bit for bit.
@Suite struct LocalStepsEngineTests {
    static func config() throws -> RunConfig {
        try RunConfig(yaml: TinyRun.yaml(steps: 4, localSteps: 3))
    }

    /// The coordinator's limit on inner steps is the one workers enforce (they are separate modules).
    @Test func runsAndWorkersAgreeOnTheLargestUnit() {
        #expect(RunConfig.LocalSteps.maximumSteps == LocalStepsSpec.maximumSteps)
    }

    /// `run create` warns where honest replicas on other CPU kernels would not agree (above 5 local steps).
    @Test func runCreateWarnsAboutReplicatingLongUnits() throws {
        func warning(_ localSteps: Int?) throws -> String? {
            try Coordinator.replicationWarning(RunConfig(yaml: TinyRun.yaml(steps: 4, localSteps: localSteps)),
                                               tolerance: ReplicaTolerance())
        }
        #expect(try warning(nil) == nil)
        #expect(try warning(5) == nil)
        let long = try #require(try warning(10))
        #expect(long.hasPrefix("10 local steps a unit") && long.contains("--replica-relative-error") && long.contains("0.001"))
    }

    @Test func engineEqualsLocalRunAndResumesFromACheckpoint() throws {
        let config = try Self.config()
        #expect(config.localSteps?.outerMomentum == 0.5)  // the momentum buffer is in play
        let local = try LocalRun(config: config, runDirectory: TinyRun.directory, backend: CPUBackend(threads: 1))
        let engine = try RunEngine(runConfig: config, modelConfig: local.model.config, backend: CPUBackend(threads: 1))
        var saved: (parameters: Data, optimizer: Data)?
        var resumed: RunEngine?
        for step in 0..<config.steps {
            let payloads = try (0..<config.batch.unitsPerStep).map { try local.unitGradientPayload(step: step, unit: $0).payload }
            let outcome = try engine.apply(unitGradients: payloads)
            _ = try resumed?.apply(unitGradients: payloads)
            let record = try local.runStep(step)
            #expect(outcome.gradientNorm == record.gradientNorm && outcome.learningRate == record.learningRate)
            #expect(record.learningRate == config.adamW.schedule.rate(at: step * 3))
            #expect(engine.model.parameters.array == local.model.parameters.array, "step \(step)")
            #expect(engine.version == step + 1)
            if let resumed { #expect(resumed.model.parameters.array == engine.model.parameters.array, "resumed, step \(step)") }
            if step == 1 {
                saved = (engine.parametersPayload(), engine.optimizerPayload())
                let fresh = try RunEngine(runConfig: config, modelConfig: local.model.config, backend: CPUBackend(threads: 1))
                try fresh.restore(version: 2, parameters: saved!.parameters, optimizerState: saved!.optimizer)
                #expect(fresh.version == 2)
                resumed = fresh
            }
        }
        // The checkpoint held a non-zero momentum buffer, one parameter vector long (not AdamW's two).
        let momentum = try TensorPayload(decoding: saved!.optimizer, expectedElementCount: engine.parameterCount)
        #expect(momentum.values.contains { $0 != 0 })
        // Restored without the momentum, the run would differ: the buffer matters.
        let forgetful = try RunEngine(runConfig: config, modelConfig: local.model.config, backend: CPUBackend(threads: 1))
        try forgetful.restore(version: 2, parameters: saved!.parameters, optimizerState: nil)
        let again = try LocalRun(config: config, runDirectory: TinyRun.directory, backend: CPUBackend(threads: 1))
        for step in 0..<2 { try again.runStep(step) }
        let payloads = try (0..<config.batch.unitsPerStep).map { try again.unitGradientPayload(step: 2, unit: $0).payload }
        _ = try forgetful.apply(unitGradients: payloads)
        try again.runStep(2)
        #expect(forgetful.model.parameters.array != again.model.parameters.array)
    }
}
