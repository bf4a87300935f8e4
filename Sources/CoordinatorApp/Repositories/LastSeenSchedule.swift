import Foundation

/// Which workers' "last seen" times the next flush writes. A worker's time is
/// written at most once per `interval`, not at each of its requests' flushes:
/// "online" means seen within the last minute, and writing every worker's row
/// each second (a row whose last-seen indexes change with it) was about 6% of
/// a core at 1,000 workers. A sighting that could not be written is put back
/// and written at the next flush.
struct LastSeenSchedule: Sendable {
    let interval: Duration
    /// When each recently written worker's next sighting is written.
    private var due: [UUID: ContinuousClock.Instant] = [:]
    /// Sightings the next flush writes.
    private var pending: Set<UUID> = []
    /// Workers whose next sighting waits for its interval.
    var remembered: Int { due.count }

    init(interval: Duration) {
        self.interval = interval
    }

    mutating func saw(_ worker: UUID, at now: ContinuousClock.Instant) {
        if let next = due[worker], now < next { return }
        due[worker] = now + interval
        pending.insert(worker)
    }

    /// The sightings to write now; forgets workers whose next write is due
    /// anyway (their next sighting is written, as it would be), so the
    /// schedule holds only the workers seen in the last `interval`.
    mutating func take(at now: ContinuousClock.Instant) -> [UUID] {
        defer { pending.removeAll(keepingCapacity: true) }
        due = due.filter { $0.value > now }
        return Array(pending)
    }

    /// Sightings that were taken but not written: the next flush writes them.
    mutating func putBack<S: Sequence<UUID>>(_ workers: S) {
        pending.formUnion(workers)
    }
}
