import ArgumentParser
import Dispatch
import Foundation
import Logging
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
    @Option(help: "Who runs this worker: replicas of a unit go to workers of different owners.") var owner: String?
    @Option(help: "Stop after this many units.") var maxUnits: Int?
    @OptionGroup(title: "TLS") var tls: CoordinatorTLSOptions
    @Flag(help: "Log one JSON object per line on standard error (time, level, label, message, metadata); no status line.")
    var jsonLogs = false
    @OptionGroup var compute: ComputeOptions

    func validate() throws {
        do { _ = try ByteSize.parse(cacheSize, what: "cache size") } catch { throw ValidationError("\(error)") }
    }

    func run() async throws {
        // A refused URL or certificate file is one clear line, before anything starts.
        let trust: CoordinatorTLS
        do {
            trust = try tls.resolve()
            _ = try trust.endpoint(coordinator)
        } catch {
            FileHandle.standardError.write(Data("error: \(error)\n".utf8))
            throw ExitCode.failure
        }
        // A live status line when stderr is a terminal; plain log lines on a pipe; JSON with --json-logs.
        let terminal = WorkerTerminal.bootstrap(jsonLogs: jsonLogs)
        let logger = Logger(label: "koinon-worker")
        let cache = URL(fileURLWithPath: (cacheDir as NSString).expandingTildeInPath)
        let cacheLimit = try ByteSize.parse(cacheSize, what: "cache size")
        var options = VolunteerWorker.Options(name: name, threads: compute.threads, cacheDirectory: cache, maxUnits: maxUnits,
                                              cacheLimitBytes: cacheLimit)
        options.owner = owner
        options.tls = trust
        let worker = VolunteerWorker(coordinatorURL: coordinator, options: options, logger: logger)
        terminal.showBanner(worker.startupBanner, logger: logger)
        terminal.attach(worker)
        defer { terminal.restore() }
        // First Ctrl-C / SIGTERM: finish the unit in hand, upload it, stop. Second: stop now.
        let signals = [SIGINT, SIGTERM].map { sig -> DispatchSourceSignal in
            signal(sig, SIG_IGN)
            let source = DispatchSource.makeSignalSource(signal: sig, queue: .main)
            source.setEventHandler {
                if worker.stopRequested.isSet || !worker.busy.isSet {  // no unit in hand: nothing to lose
                    terminal.restore()
                    Foundation.exit(130)
                }
                logger.info("finishing the current unit, then stopping (press Ctrl-C again to stop at once)")
                worker.stopRequested.set()
            }
            source.resume()
            return source
        }
        defer { signals.forEach { $0.cancel() } }
        do { try await worker.run() } catch {
            terminal.fatal(error, logger: logger)
            throw ExitCode.failure
        }
    }
}

/// How the worker trusts the coordinator's certificate (the operator's
/// commands in `koinon-coordinator` take the same options).
struct CoordinatorTLSOptions: ParsableArguments {
    @Option(help: ArgumentHelp("Trust only the certificates in this PEM file (the coordinator's own cert.pem, or its authority) instead of the system's.",
                               valueName: "file"))
    var ca: String?
    @Option(name: .customLong("pin-sha256"),
            help: ArgumentHelp("Accept exactly the certificate with this SHA-256 fingerprint (hex, colons optional), as `koinon-coordinator serve` prints it.",
                               valueName: "fingerprint"))
    var pinSHA256: String?
    @Flag(help: "Allow a plain http:// coordinator URL (unencrypted; for a trusted network only).")
    var insecureHTTP = false

    func resolve() throws -> CoordinatorTLS {
        try CoordinatorTLS.fromOptions(ca: ca, pinSHA256: pinSHA256, insecureHTTP: insecureHTTP)
    }
}
