import Foundation

/// How much verification a worker's results get (DESIGN §4, BOINC's
/// adaptive replication): every result of a new worker is recomputed by
/// another worker; after `probationResults` valid results in a row the chance
/// of a replica falls to 1/consecutive_valid, never below
/// `minimumReplicationProbability`.
public struct TrustPolicy: Sendable, Equatable {
    /// Replicas on at all (off: every structurally valid result is accepted as it comes).
    public var replicates: Bool
    /// Valid results in a row before a worker's results are replicated only by chance.
    public var probationResults: Int
    /// The floor of the replication probability for trusted workers.
    public var minimumReplicationProbability: Double
    /// Strikes (results found wrong or rejected) that put a worker in quarantine.
    public var strikesToQuarantine: Int
    /// How long a quarantine lasts; afterwards the worker starts over on probation.
    public var quarantineSeconds: Double

    public init(replicates: Bool = true, probationResults: Int = 10, minimumReplicationProbability: Double = 0.05,
                strikesToQuarantine: Int = 3, quarantineSeconds: Double = 24 * 3600) {
        self.replicates = replicates
        self.probationResults = probationResults
        self.minimumReplicationProbability = minimumReplicationProbability
        self.strikesToQuarantine = strikesToQuarantine
        self.quarantineSeconds = quarantineSeconds
    }

    /// No replication (a single worker, or tests of other things): results count as they come.
    public static let off = TrustPolicy(replicates: false)
}

/// Where a worker stands.
public enum TrustState: String, Sendable, Equatable, CaseIterable {
    /// New, or caught out since: every result is replicated.
    case probation
    /// Enough valid results in a row: results are replicated by chance.
    case trusted
    /// Too many strikes: no work until the quarantine ends.
    case quarantined
    /// Banned by the operator until unbanned.
    case banned
}

/// What happened to one of a worker's results, or to the worker.
public enum TrustEvent: Sendable, Equatable {
    /// A result accepted without a replica.
    case acceptedUnreplicated
    /// A result a replica from another worker agreed with.
    case verified
    /// A result turned away by a structural check (bad size, NaN, norm outlier, ...).
    case rejected
    /// A result that the other copies of its unit outvoted.
    case foundWrong
    case banned(reason: String)
    case unbanned
}

/// What the caller must do after an event (the machine does no I/O).
public enum TrustAction: Sendable, Equatable {
    /// Drop the worker's results not yet applied and compute their units again.
    case dropUnappliedResults
    /// Give back the worker's active leases (it gets no more work for now).
    case releaseLeases
}

/// A worker's trust record. Pure: the caller loads it, applies events with
/// the current time, performs the returned actions and stores it.
public struct WorkerTrust: Sendable, Equatable {
    public var consecutiveValid: Int
    public var strikes: Int
    public var quarantinedUntil: Date?
    public var banReason: String?

    public init(consecutiveValid: Int = 0, strikes: Int = 0, quarantinedUntil: Date? = nil, banReason: String? = nil) {
        self.consecutiveValid = consecutiveValid
        self.strikes = strikes
        self.quarantinedUntil = quarantinedUntil
        self.banReason = banReason
    }

    public func state(at now: Date, policy: TrustPolicy) -> TrustState {
        if banReason != nil { return .banned }
        if let until = quarantinedUntil, until > now { return .quarantined }
        return consecutiveValid >= policy.probationResults ? .trusted : .probation
    }

    /// Whether the worker may be given units now.
    public func mayWork(at now: Date, policy: TrustPolicy) -> Bool {
        switch state(at: now, policy: policy) {
        case .probation, .trusted: true
        case .quarantined, .banned: false
        }
    }

    /// The probability that a result of this worker is replicated.
    public func replicationProbability(at now: Date, policy: TrustPolicy) -> Double {
        guard policy.replicates else { return 0 }
        switch state(at: now, policy: policy) {
        case .trusted: return min(1, max(policy.minimumReplicationProbability, 1 / Double(max(consecutiveValid, 1))))
        case .probation, .quarantined, .banned: return 1
        }
    }

    /// Whether a result is replicated, given a uniform draw in [0, 1).
    public func replicates(draw: Double, at now: Date, policy: TrustPolicy) -> Bool {
        draw < replicationProbability(at: now, policy: policy)
    }

    /// Applies an event at time `now`; returns what the caller must do.
    public mutating func apply(_ event: TrustEvent, at now: Date, policy: TrustPolicy) -> [TrustAction] {
        switch event {
        case .acceptedUnreplicated, .verified:
            consecutiveValid += 1
            return []
        case .rejected:
            return strike(at: now, policy: policy, dropping: false)
        case .foundWrong:
            return strike(at: now, policy: policy, dropping: true)
        case .banned(let reason):
            banReason = reason.isEmpty ? "banned by the operator" : reason
            consecutiveValid = 0
            return [.dropUnappliedResults, .releaseLeases]
        case .unbanned:
            self = WorkerTrust()
            return []
        }
    }

    /// A strike: back to probation; at `strikesToQuarantine` strikes, quarantine
    /// (the count starts over, so a worker that offends again after it is quarantined again).
    private mutating func strike(at now: Date, policy: TrustPolicy, dropping: Bool) -> [TrustAction] {
        consecutiveValid = 0
        strikes += 1
        var actions: [TrustAction] = dropping ? [.dropUnappliedResults] : []
        if strikes >= policy.strikesToQuarantine {
            strikes = 0
            quarantinedUntil = now.addingTimeInterval(policy.quarantineSeconds)
            actions.append(.releaseLeases)
        }
        return actions
    }
}
