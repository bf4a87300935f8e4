import ArgumentParser
import Dispatch
import Foundation
import WorkerKit

/// `koinon-worker --coordinator URL`: donate compute to a training run.
struct WorkCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "work", abstract: "Compute work units for a coordinator (the default command).")

    @Option(help: "The coordinator's URL, e.g. https://koinon.example.org") var coordinator: String
    @Option(help: "Your name on the status page.") var name = ProcessInfo.processInfo.hostName
    @Option(help: "Where downloads and the worker's token are kept.") var cacheDir = "~/.cache/koinon"
    @Option(help: ArgumentHelp("The cache directory's size limit: bytes, or with a suffix K, M, G, T (powers of 1024), e.g. 500M, 2GiB. Least recently used downloads are deleted first.",
                               valueName: "size")) var cacheSize = "10G"
    @Option(help: "Stop after this many units.") var maxUnits: Int?
    @OptionGroup var compute: ComputeOptions

    func validate() throws {
        do { _ = try ByteSize.parse(cacheSize, what: "cache size") } catch { throw ValidationError("\(error)") }
    }

    func run() async throws {
        let logger = makeLogger()
        let cache = URL(fileURLWithPath: (cacheDir as NSString).expandingTildeInPath)
        let cacheLimit = try ByteSize.parse(cacheSize, what: "cache size")
        let worker = VolunteerWorker(coordinatorURL: coordinator,
                                     options: .init(name: name, threads: compute.threads, cacheDirectory: cache, maxUnits: maxUnits,
                                                    cacheLimitBytes: cacheLimit),
                                     logger: logger)
        // First Ctrl-C / SIGTERM: finish the unit in hand, upload it, stop. Second: stop now.
        let signals = [SIGINT, SIGTERM].map { sig -> DispatchSourceSignal in
            signal(sig, SIG_IGN)
            let source = DispatchSource.makeSignalSource(signal: sig, queue: .main)
            source.setEventHandler {
                if worker.stopRequested.isSet || !worker.busy.isSet { Foundation.exit(130) }  // no unit in hand: nothing to lose
                logger.info("finishing the current unit, then stopping (press Ctrl-C again to stop at once)")
                worker.stopRequested.set()
            }
            source.resume()
            return source
        }
        defer { signals.forEach { $0.cancel() } }
        do { try await worker.run() } catch {
            FileHandle.standardError.write(Data("error: \(error)\n".utf8))
            throw ExitCode.failure
        }
    }
}
