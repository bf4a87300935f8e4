import ArgumentParser
import Dataset
import Foundation
import Kernels
import KoinonCore
import Logging
import NeoModel
import WorkerKit

struct KoinonWorker: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "koinon-worker",
        abstract: "Koinon worker: trains GPT-Neo models on donated compute.",
        subcommands: [WorkCommand.self, ModelCommand.self, BenchCommand.self, GenerateCommand.self, TrainCommand.self,
                      UnitGradientCommand.self],
        defaultSubcommand: WorkCommand.self)
}

/// Options every compute command shares.
struct ComputeOptions: ParsableArguments {
    @Option(help: "CPU threads (default: all cores).")
    var threads: Int?

    func backend(logger: Logger) -> CPUBackend {
        let backend = CPUBackend(threads: threads)
        logger.info("backend \(backend.summary)")
        return backend
    }
}

func makeLogger() -> Logger {
    LoggingSystem.bootstrap { StreamLogHandler.standardError(label: $0) }
    return Logger(label: "koinon-worker")
}

/// Turns a thrown error into one clear line on stderr and a failing exit
/// code (argument mistakes keep ArgumentParser's usage message).
/// A run's YAML file: its configuration and the directory its paths are relative to.
func readRunConfig(_ path: String) throws -> (config: RunConfig, directory: URL) {
    let url = URL(fileURLWithPath: path)
    guard let text = try? String(contentsOf: url, encoding: .utf8) else { throw DatasetReadError("cannot read \(path)") }
    return (try RunConfig(yaml: text), url.deletingLastPathComponent())
}

func failing<T>(_ body: () throws -> T) throws -> T {
    do { return try body() } catch let e as ValidationError { throw e } catch let e as ExitCode { throw e } catch {
        FileHandle.standardError.write(Data("error: \(error)\n".utf8))
        throw ExitCode.failure
    }
}
