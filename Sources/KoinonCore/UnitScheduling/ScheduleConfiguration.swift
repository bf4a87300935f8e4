import Foundation

/// The tunable rules of a step's schedule, checked once when built so the
/// schedule itself never meets a nonsensical setting.
public struct ScheduleConfiguration: Sendable, Hashable {
    /// How long a lease lives without a heartbeat (seconds).
    public let leaseDuration: TimeInterval
    public let backups: BackupPolicy
    /// "Ask again after N seconds" is always inside these bounds: the lower
    /// bound keeps idle workers from hammering the coordinator, the upper one
    /// keeps them from sleeping through work that appears unannounced (a
    /// release, a rejected result).
    public let retryAfterBounds: ClosedRange<TimeInterval>

    public init(
        leaseDuration: TimeInterval,
        backups: BackupPolicy = BackupPolicy(),
        retryAfterBounds: ClosedRange<TimeInterval> = 1...30
    ) throws(ScheduleConfigurationError) {
        guard leaseDuration.isFinite, leaseDuration > 0 else {
            throw ScheduleConfigurationError("lease duration must be a positive number of seconds, got \(leaseDuration)")
        }
        guard backups.maxCopies >= 1 else {
            throw ScheduleConfigurationError("backups.max_copies must be at least 1 (1 turns backups off), got \(backups.maxCopies)")
        }
        if let limit = backups.maxOutstandingUnits, limit < 1 {
            throw ScheduleConfigurationError("backups.max_outstanding_units must be at least 1 when set, got \(limit)")
        }
        guard backups.minimumLeaseAge.isFinite, backups.minimumLeaseAge >= 0 else {
            throw ScheduleConfigurationError("backups.minimum_lease_age must be ≥ 0 seconds, got \(backups.minimumLeaseAge)")
        }
        guard retryAfterBounds.lowerBound.isFinite, retryAfterBounds.upperBound.isFinite,
              retryAfterBounds.lowerBound >= 0
        else {
            throw ScheduleConfigurationError("retry-after bounds must be finite and ≥ 0 seconds, got \(retryAfterBounds)")
        }
        self.leaseDuration = leaseDuration
        self.backups = backups
        self.retryAfterBounds = retryAfterBounds
    }

    /// How often a worker should heartbeat: three chances before its lease
    /// runs out, so one lost request does not cost the unit.
    public var heartbeatInterval: TimeInterval { leaseDuration / 3 }
}

/// When an idle worker may get a backup copy of a unit someone else holds.
///
/// Backups are only ever handed out when no unit is pending (a pending unit is
/// always the better gift), which is what "near the end of a step" means;
/// `maxOutstandingUnits` narrows it further to the last few units.
public struct BackupPolicy: Sendable, Hashable {
    /// Most active leases a unit may have at once, the first included; 1 turns backups off.
    public let maxCopies: Int
    /// Backups only once at most this many units are unfinished; nil: whenever none is pending.
    public let maxOutstandingUnits: Int?
    /// A unit is backed up only when its oldest active lease is at least this
    /// old, so work just handed out is not duplicated at once.
    public let minimumLeaseAge: TimeInterval

    public init(maxCopies: Int = 2, maxOutstandingUnits: Int? = nil, minimumLeaseAge: TimeInterval = 0) {
        self.maxCopies = maxCopies
        self.maxOutstandingUnits = maxOutstandingUnits
        self.minimumLeaseAge = minimumLeaseAge
    }

    /// One copy per unit: stragglers are only replaced after their lease expires.
    public static let disabled = BackupPolicy(maxCopies: 1)
}

/// A setting the schedule cannot work with, said in words an operator can act on.
public struct ScheduleConfigurationError: Error, Equatable, CustomStringConvertible {
    public let description: String
    init(_ description: String) { self.description = description }
}
