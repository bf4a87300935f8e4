import Foundation

/// What the worker is doing with the unit in hand.
public enum UnitPhase: Sendable, Equatable {
    /// Just leased: reading the cache, setting the model up.
    case preparing
    /// Fetching something the unit needs: "parameters", "model config", "data shard 2 of 5", ...
    case downloading(String)
    /// Forward and backward pass.
    case computing
    /// Sending the gradient.
    case uploading
}

/// The unit in hand and how far along it is, as honestly as the code knows.
public struct UnitProgress: Sendable, Equatable {
    public var runID: Int
    public var step: Int
    public var unit: Int
    public var phase: UnitPhase
    public var phaseStarted: Date
    /// Bytes received of a download, and its size when the coordinator said.
    public var bytesDone: Int64?
    public var bytesTotal: Int64?
    /// For `computing`: how long the previous unit of the same shape took.
    public var expectedSeconds: Double?

    public init(runID: Int, step: Int, unit: Int, phase: UnitPhase, phaseStarted: Date,
                bytesDone: Int64? = nil, bytesTotal: Int64? = nil, expectedSeconds: Double? = nil) {
        self.runID = runID
        self.step = step
        self.unit = unit
        self.phase = phase
        self.phaseStarted = phaseStarted
        self.bytesDone = bytesDone
        self.bytesTotal = bytesTotal
        self.expectedSeconds = expectedSeconds
    }

    /// 0...1 where known: a download's bytes, or (computing) the elapsed share
    /// of the previous unit's time, capped below 1 since it is an estimate.
    public func fraction(now: Date) -> Double? {
        switch phase {
        case .downloading:
            guard let done = bytesDone, let total = bytesTotal, total > 0 else { return nil }
            return min(1, max(0, Double(done) / Double(total)))
        case .computing:
            guard let expected = expectedSeconds, expected > 0 else { return nil }
            return min(0.99, max(0, now.timeIntervalSince(phaseStarted) / expected))
        case .preparing, .uploading:
            return nil
        }
    }
}

/// Everything the status line shows that the worker itself knows.
public struct WorkerActivity: Sendable, Equatable {
    /// This worker's id at the coordinator (to find it in `/v1/status`), once known.
    public var workerID: UUID?
    /// The run of the most recent lease, and its name when the coordinator said.
    public var runID: Int?
    public var runName: String?
    public var unit: UnitProgress?
    /// Why there is no unit in hand: "no unit is free right now", "registering", ...
    public var idle: String?
    /// Set while the coordinator cannot be reached; cleared on the next answer.
    public var trouble: Trouble?
    public var unitsAccepted = 0
    public var unitsSuperseded = 0
    public var unitsRejected = 0
    /// Units computed in the last minute: when each finished and its tokens.
    public var recentUnits: [FinishedUnit] = []
    /// When this process started its first unit (tokens/s over less than a minute before then).
    public var firstUnitStarted: Date?

    /// Requests failing: what is wrong, and when the next attempt goes out.
    public struct Trouble: Sendable, Equatable {
        /// "coordinator unreachable (connection refused)"
        public var what: String
        public var attempt: Int
        public var retryAt: Date
        public init(what: String, attempt: Int, retryAt: Date) {
            self.what = what
            self.attempt = attempt
            self.retryAt = retryAt
        }
    }

    public struct FinishedUnit: Sendable, Equatable {
        public var at: Date
        public var tokens: Int
        public init(at: Date, tokens: Int) {
            self.at = at
            self.tokens = tokens
        }
    }

    /// How far back `tokensPerSecond` looks.
    public static let rateWindow: TimeInterval = 60

    public init() {}

    /// Tokens computed per second over the last minute (or since the first
    /// unit, when that is more recent); nil before any unit finished.
    public func tokensPerSecond(now: Date) -> Double? {
        guard let first = firstUnitStarted, !recentUnits.isEmpty || now.timeIntervalSince(first) >= Self.rateWindow else {
            return nil
        }
        let since = now.addingTimeInterval(-Self.rateWindow)
        let tokens = recentUnits.filter { $0.at > since }.reduce(0) { $0 + $1.tokens }
        let span = min(Self.rateWindow, now.timeIntervalSince(first))
        return span > 0 ? Double(tokens) / span : nil
    }

    /// Records a computed unit (dropping those older than the window).
    public mutating func finished(tokens: Int, at now: Date) {
        recentUnits.append(FinishedUnit(at: now, tokens: tokens))
        let since = now.addingTimeInterval(-Self.rateWindow)
        recentUnits.removeAll { $0.at <= since }
    }
}

/// The worker's activity under a lock: the loop writes it, the status line reads it.
public final class WorkerProgress: @unchecked Sendable {
    private var state = WorkerActivity()
    private let lock = NSLock()

    public init() {}

    public var snapshot: WorkerActivity { lock.withLock { state } }

    public func update(_ body: (inout WorkerActivity) -> Void) { lock.withLock { body(&state) } }

    /// Moves the unit in hand to `phase` (no-op without one).
    func phase(_ phase: UnitPhase, expectedSeconds: Double? = nil, now: Date = Date()) {
        update {
            guard var u = $0.unit else { return }
            u.phase = phase
            u.phaseStarted = now
            u.bytesDone = nil
            u.bytesTotal = nil
            u.expectedSeconds = expectedSeconds
            $0.unit = u
        }
    }

    /// Bytes of the current download.
    func bytes(_ done: Int64, of total: Int64?) {
        update {
            $0.unit?.bytesDone = done
            $0.unit?.bytesTotal = total
        }
    }
}
