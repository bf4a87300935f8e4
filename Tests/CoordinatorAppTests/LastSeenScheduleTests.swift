@testable import CoordinatorApp
import Foundation
import Testing

/// "Last seen" is written once per interval per worker, and a sighting that
/// could not be written is never lost.
@Suite struct LastSeenScheduleTests {
    let start = ContinuousClock.now
    func at(_ seconds: Double) -> ContinuousClock.Instant { start + .seconds(seconds) }

    @Test func aWorkerSeenAtEachRequestIsWrittenOncePerInterval() {
        var schedule = LastSeenSchedule(interval: .seconds(15))
        let worker = UUID()
        var written: [Double] = []
        // A request every 0.25 s and a flush every second, for a minute.
        for tick in 0..<240 {
            let t = Double(tick) * 0.25
            schedule.saw(worker, at: at(t))
            if tick % 4 == 3, !schedule.take(at: at(t)).isEmpty { written.append(t) }
        }
        #expect(written == [0.75, 15.75, 30.75, 45.75])
    }

    @Test func differentWorkersAreScheduledOnTheirOwn() {
        var schedule = LastSeenSchedule(interval: .seconds(15))
        let a = UUID(), b = UUID()
        schedule.saw(a, at: at(0))
        #expect(schedule.take(at: at(1)) == [a])
        schedule.saw(a, at: at(2))
        schedule.saw(b, at: at(2))  // b's first sighting is written at once
        #expect(schedule.take(at: at(3)) == [b])
        schedule.saw(a, at: at(15))
        #expect(schedule.take(at: at(16)) == [a])
    }

    @Test func aSightingThatWasNotWrittenIsWrittenAtTheNextFlush() {
        var schedule = LastSeenSchedule(interval: .seconds(15))
        let busy = UUID(), idle = UUID()
        schedule.saw(busy, at: at(0))
        schedule.saw(idle, at: at(0))
        #expect(Set(schedule.take(at: at(1))) == [busy, idle])
        schedule.putBack([busy])  // its row was held by a result, or the statement failed
        schedule.saw(busy, at: at(1.5))  // not due again, but still pending
        #expect(schedule.take(at: at(2)) == [busy])
        #expect(schedule.take(at: at(3)).isEmpty)
    }

    @Test func workersNotSeenForAnIntervalAreForgottenAndWrittenAtTheirNextSighting() {
        var schedule = LastSeenSchedule(interval: .seconds(15))
        let gone = UUID(), back = UUID()
        schedule.saw(gone, at: at(0))
        schedule.saw(back, at: at(0))
        _ = schedule.take(at: at(1))
        #expect(schedule.remembered == 2)
        #expect(schedule.take(at: at(20)).isEmpty)
        #expect(schedule.remembered == 0)
        schedule.saw(back, at: at(21))
        #expect(schedule.take(at: at(22)) == [back])
    }
}
