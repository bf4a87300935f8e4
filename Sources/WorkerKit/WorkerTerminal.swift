import Foundation
import Logging

/// How `koinon-worker` talks to the person running it, on standard error:
///
/// - `statusLine`: stderr is a terminal: the banner as a block, log lines
///   scrolling above a live status line.
/// - `plain`: not a terminal (a pipe, a file): the banner and everything
///   else as plain log lines, nothing redrawn, no escapes.
/// - `json`: `--json-logs`: every line one JSON object, no status line.
public final class WorkerTerminal: Sendable {
    public enum Mode: Sendable, Equatable {
        case statusLine
        case plain
        case json
    }

    public let mode: Mode
    let line: StatusLine?
    let poller = LockedValue<StatusPoller?>(nil)

    /// The mode for these settings: a status line only on a terminal without `--json-logs`.
    public static func mode(jsonLogs: Bool, isTerminal: Bool) -> Mode {
        jsonLogs ? .json : isTerminal ? .statusLine : .plain
    }

    init(mode: Mode, line: StatusLine?) {
        self.mode = mode
        self.line = line
    }

    /// Sets swift-log up for the mode (once per process) and returns the terminal.
    public static func bootstrap(jsonLogs: Bool, logLevel: Logger.Level = .info) -> WorkerTerminal {
        let mode = mode(jsonLogs: jsonLogs, isTerminal: TerminalOutput.isTerminal(STDERR_FILENO))
        let line = mode == .statusLine ? StatusLine(fd: STDERR_FILENO) : nil
        LoggingSystem.bootstrap { label in
            var handler: any LogHandler
            switch mode {
            case .json: handler = JSONLogHandler(label: label)
            case .statusLine: handler = StreamLogHandler(label: label, stream: StatusLineStream(line!))
            case .plain: handler = StreamLogHandler.standardError(label: label)
            }
            handler.logLevel = logLevel
            return handler
        }
        return WorkerTerminal(mode: mode, line: line)
    }

    /// The start-up banner: a block on a terminal, log lines otherwise.
    public func showBanner(_ banner: StartupBanner, logger: Logger) {
        if let line {
            line.printAbove(banner.text)
        } else {
            for text in banner.logLines { logger.info("\(text)") }
        }
    }

    /// On a terminal: starts the status line and the background `/v1/status` fetches.
    public func attach(_ worker: VolunteerWorker) {
        guard let line else { return }
        let poller = StatusPoller(worker: worker)
        self.poller.set(poller)
        poller.start()
        line.start { [progress = worker.progress] width in
            WorkerConsole.statusLine(activity: progress.snapshot, coordinator: poller.view, now: Date(), width: width)
        }
    }

    /// Clears the status line (the terminal is as it was); call before exiting.
    public func restore() {
        poller.get()?.stop()
        line?.stop()
    }

    /// The error that ends the worker, as its last line: `error: ...`, or a JSON log line.
    public func fatal(_ error: any Error, logger: Logger) {
        restore()
        if mode == .json {
            logger.critical("\(error)")
        } else {
            TerminalOutput.write("error: \(error)\n", to: STDERR_FILENO)
        }
    }
}
