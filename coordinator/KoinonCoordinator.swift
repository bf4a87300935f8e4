import ArgumentParser
import Foundation

struct KoinonCoordinator: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "koinon-coordinator",
        abstract: "Koinon coordinator: distributed training runs, datasets and tokenizers.",
        subcommands: [ServeCommand.self, RunCommand.self, StatusCommand.self, WorkerCommand.self, MigrateCommand.self, TokenizerCommand.self, DatasetCommand.self])
}

/// Runs `body`, turning any error into one clear line on stderr and exit code 1.
func reportingErrors<T>(_ body: () throws -> T) throws -> T {
    do { return try body() } catch let e as ValidationError { throw e } catch let e as ExitCode { throw e } catch {
        FileHandle.standardError.write(Data("error: \(error)\n".utf8))
        throw ExitCode.failure
    }
}
