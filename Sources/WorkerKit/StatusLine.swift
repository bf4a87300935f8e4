import Dispatch
import Foundation
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Low-level terminal output: whole writes, TTY detection, width.
public enum TerminalOutput {
    /// Writes all of `text` to `fd` (retrying short writes and EINTR).
    public static func write(_ text: String, to fd: Int32) {
        var bytes = Array(text.utf8)
        var offset = 0
        while offset < bytes.count {
            let n = bytes.withUnsafeMutableBytes { systemWrite(fd, $0.baseAddress! + offset, $0.count - offset) }
            if n > 0 { offset += n } else if n < 0 && errno == EINTR { continue } else { return }
        }
        bytes.removeAll()
    }

    #if canImport(Glibc)
    private static let systemWrite = Glibc.write
    #else
    private static let systemWrite = Darwin.write
    #endif

    /// A terminal that understands `\r` and `ESC[2K` (not a pipe, a file, or TERM=dumb).
    public static func isTerminal(_ fd: Int32) -> Bool {
        isatty(fd) != 0 && ProcessInfo.processInfo.environment["TERM"] != "dumb"
    }

    /// The terminal's width in columns, when it says.
    public static func width(of fd: Int32) -> Int? {
        var size = winsize()
        guard ioctl(fd, UInt(TIOCGWINSZ), &size) == 0, size.ws_col > 0 else { return nil }
        return Int(size.ws_col)
    }
}

/// The live status line at the bottom of a terminal: redrawn in place
/// (`\r` + clear line) at most `interval` apart, truncated to the terminal's
/// width, cleared while a log line is printed (then put back) so the two
/// never interleave, and cleared for good by `stop()`.
public final class StatusLine: @unchecked Sendable {
    /// `ESC[2K` after a carriage return: clear the whole line, cursor at column 0.
    public static let clearLine = "\r\u{1B}[2K"

    let fd: Int32
    let interval: Double
    private let lock = NSLock()
    /// The text for a given width (called under the line's lock, from a timer); set by `start`.
    private var render: (@Sendable (Int) -> String)?
    /// What is on screen now (nil: nothing).
    private var shown: String?
    private var stopped = false
    private var timer: DispatchSourceTimer?

    /// Log lines can go through `printAbove` before the line starts.
    public init(fd: Int32 = STDERR_FILENO, interval: Double = 0.25) {
        self.fd = fd
        self.interval = interval
    }

    /// Starts drawing `render(width)` every `interval` seconds.
    public func start(render: @escaping @Sendable (Int) -> String) {
        let t: DispatchSourceTimer? = lock.withLock {
            guard !stopped, timer == nil else { return nil }
            self.render = render
            let t = DispatchSource.makeTimerSource(queue: DispatchQueue(label: "koinon.status-line"))
            t.schedule(deadline: .now(), repeating: interval, leeway: .milliseconds(50))
            t.setEventHandler { [weak self] in self?.redraw() }
            timer = t
            return t
        }
        t?.resume()
    }

    /// Renders and draws the line if its text changed.
    public func redraw() {
        lock.withLock {
            guard !stopped, let render else { return }
            // One column spare: writing the last column makes some terminals wrap.
            let width = max(1, (TerminalOutput.width(of: fd) ?? 80) - 1)
            let text = WorkerConsole.truncate(render(width), width: width)
            guard text != shown else { return }
            TerminalOutput.write(Self.clearLine + text, to: fd)
            shown = text
        }
    }

    /// Prints `text` (whole lines, newline included) above the status line.
    public func printAbove(_ text: String) {
        lock.withLock {
            let line = shown
            var out = line == nil ? "" : Self.clearLine
            out += text
            if let line, !stopped { out += line } else { shown = nil }
            TerminalOutput.write(out, to: fd)
        }
    }

    /// Stops redrawing and clears the line, leaving the cursor at column 0.
    public func stop() {
        lock.withLock {
            timer?.cancel()
            timer = nil
            if shown != nil { TerminalOutput.write(Self.clearLine, to: fd) }
            shown = nil
            stopped = true
        }
    }
}

/// A `TextOutputStream` for swift-log's `StreamLogHandler` that prints each
/// log line above a status line.
public struct StatusLineStream: TextOutputStream, Sendable {
    let line: StatusLine
    public init(_ line: StatusLine) { self.line = line }
    public mutating func write(_ string: String) { line.printAbove(string) }
}
