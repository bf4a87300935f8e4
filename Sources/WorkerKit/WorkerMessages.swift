import AsyncHTTPClient
import Foundation
import NIOCore
import Wire

/// One sentence for each thing that can go wrong (or just stall), saying
/// what happened and what the worker does next. Pure, so tests pin the words.
public enum WorkerMessages {
    /// "run 1 step 12 unit 3"
    public static func unitLabel(run: Int, step: Int, unit: Int) -> String { "run \(run) step \(step) unit \(unit)" }

    /// The coordinator could not be reached, or (`answered`) answered 5xx;
    /// the request is tried again as attempt `attempt`.
    public static func unreachable(coordinator: String, cause: String, retryIn seconds: Double, attempt: Int,
                                   answered: Bool = false) -> String {
        "coordinator \(coordinator) \(answered ? "unavailable" : "unreachable") (\(cause)); "
            + "retrying in \(WorkerConsole.seconds(seconds)) (attempt \(attempt))"
    }

    /// The coordinator answered again after failures.
    public static func reachableAgain(coordinator: String, after attempts: Int) -> String {
        "coordinator \(coordinator) reachable again after \(attempts) failed attempt\(attempts == 1 ? "" : "s")"
    }

    /// A submitted result was turned away.
    public static func rejected(_ label: String, reason: ReasonCode?, message: String?) -> String {
        let why = [reason?.rawValue, message].compactMap { $0?.isEmpty == false ? $0 : nil }.joined(separator: " — ")
        return "result for \(label) rejected: \(why.isEmpty ? "no reason given" : why); no credit for it, asking for new work"
    }

    /// Another copy of the unit won.
    public static func superseded(_ label: String) -> String {
        "result for \(label) superseded: another copy was accepted first; no credit for this one, asking for new work"
    }

    /// A heartbeat answered "stop": the lease is gone (expired, released, unit or step finished).
    public static func leaseLost(_ label: String, reason: ReasonCode, message: String) -> String {
        let what: String
        switch reason {
        case .leaseExpired: what = "expired"
        case .leaseReleased: what = "was released"
        case .unitFinished: what = "ended: another copy of the unit was accepted"
        case .stepFinished: what = "ended: the step was already aggregated"
        case .resultSubmitted: what = "ended: a result was already submitted under it"
        case .unknownLease: what = "is unknown to the coordinator"
        case .foreignLease: what = "belongs to another worker"
        default: what = "ended (\(reason.rawValue))"
        }
        let detail = message.isEmpty ? "" : " (\(message))"
        return "lease on \(label) \(what)\(detail); its result will not count, asking for new work after this unit"
    }

    /// The lease request found nothing to do. The coordinator's message is
    /// used as the explanation when it already says the same thing.
    public static func noWork(_ later: RetryLater) -> String {
        "\(whyNoWork(later)); asking again in \(WorkerConsole.seconds(later.retryAfterSeconds))"
    }

    /// No work for a long while (said once).
    public static func noWorkFor(_ seconds: Double, _ later: RetryLater) -> String {
        "no work for \(WorkerConsole.duration(seconds)): \(whyNoWork(later)); still asking every \(WorkerConsole.seconds(later.retryAfterSeconds))"
    }

    /// Why there is no work, in our words, the coordinator's, or both.
    static func whyNoWork(_ later: RetryLater) -> String {
        let ours: String
        switch later.reason {
        case .noActiveRun: ours = "no run is active right now (paused or finished)"
        case .unitsOutstanding: ours = "no unit is free right now (all are being computed)"
        case .stepComplete, .stepClosed: ours = "the step is complete and the next one is not open yet"
        default: ours = "no work right now (\(later.reason.rawValue))"
        }
        let message = later.message.trimmingCharacters(in: .whitespaces)
        if message.isEmpty { return ours }
        if sameStart(ours, message) { return message }
        return "\(ours): \(message)"
    }

    /// Whether two sentences open with the same two words ("no run ...", "no unit ...").
    static func sameStart(_ a: String, _ b: String) -> Bool {
        let words = { (s: String) in s.lowercased().split(separator: " ").prefix(2).map(String.init) }
        return words(a).count == 2 && words(a) == words(b)
    }

    /// The lease request was refused for the token: register again.
    public static func unknownToken(_ message: String, name: String) -> String {
        "\(message); registering again as '\(name)'"
    }

    /// Computing, downloading or uploading a unit failed for good.
    public static func unitFailed(_ label: String, error: any Error) -> String {
        "\(label) failed: \(error); releasing it and asking for other work"
    }

    /// The first unit of a run this process works on.
    public static func joinedRun(id: Int, name: String?, step: Int) -> String {
        "joined run \(id)\(name.map { " '\($0)'" } ?? "") at step \(step)"
    }

    /// A few words for why a request failed: "connection refused", "answered 503", ...
    public static func cause(of error: any Error) -> String {
        if let e = error as? CoordinatorError { return e.message }
        if let e = error as? HTTPClientError {
            switch e {
            case .connectTimeout: return "connection timed out"
            case .readTimeout, .deadlineExceeded: return "no answer in time"
            case .remoteConnectionClosed: return "the connection was closed"
            case .tlsHandshakeTimeout: return "TLS handshake timed out"
            case .getConnectionFromPoolTimeout: return "no connection available in time"
            default: return "\(e)"
            }
        }
        if error is NIOTooManyBytesError { return "the answer was larger than expected" }
        // NIOConnectionError and friends wrap the system error: find its errno or a DNS failure.
        if let errno = findErrno(in: error, depth: 0) {
            return String(cString: strerror(errno)).lowercased()
        }
        if containsType(named: "SocketAddressError", in: error, depth: 0) || containsType(named: "UnknownHost", in: error, depth: 0)
            || "\(error)".hasPrefix("DNS error") {
            return "cannot resolve the host name"
        }
        return "\(error)"
    }

    private static func findErrno(in value: Any, depth: Int) -> Int32? {
        if let io = value as? IOError { return io.errnoCode }
        guard depth < 6 else { return nil }
        for child in Mirror(reflecting: value).children {
            if let e = findErrno(in: child.value, depth: depth + 1) { return e }
        }
        return nil
    }

    private static func containsType(named name: String, in value: Any, depth: Int) -> Bool {
        if String(describing: type(of: value)).contains(name) { return true }
        guard depth < 6 else { return false }
        return Mirror(reflecting: value).children.contains { containsType(named: name, in: $0.value, depth: depth + 1) }
    }
}
