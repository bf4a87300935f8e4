import CoordinatorApp
import Foundation
import Testing

/// The long-poll wake-up: lease requests waiting for work wake at a signal,
/// do not miss one that came between their look and their wait, and give up
/// at their timeout.
@Suite struct WorkSignalTests {
    @Test func aSignalWakesEveryWaiter() async throws {
        let signal = WorkSignal()
        let seen = signal.generation
        let start = ContinuousClock.now
        try await withThrowingTaskGroup(of: Void.self) { group in
            for _ in 0..<3 { group.addTask { await signal.wait(since: seen, timeout: .seconds(30)) } }
            group.addTask {
                try await Task.sleep(for: .milliseconds(100))
                signal.signal()
            }
            try await group.waitForAll()
        }
        #expect(ContinuousClock.now - start < .seconds(10))
        #expect(signal.generation == seen + 1)
    }

    @Test func aSignalBeforeTheWaitIsNotMissed() async {
        let signal = WorkSignal()
        let seen = signal.generation
        signal.signal()  // work appeared after the look, before the wait
        let start = ContinuousClock.now
        await signal.wait(since: seen, timeout: .seconds(30))
        #expect(ContinuousClock.now - start < .seconds(1))
    }

    @Test func withoutASignalTheWaitEndsAtItsTimeout() async {
        let signal = WorkSignal()
        let start = ContinuousClock.now
        await signal.wait(since: signal.generation, timeout: .milliseconds(200))
        let waited = ContinuousClock.now - start
        #expect(waited >= .milliseconds(200) && waited < .seconds(10))
    }

    @Test func aLookThatFoundNothingIsRememberedUntilASignalOrASecond() {
        let signal = WorkSignal()
        let t0 = ContinuousClock.now
        #expect(!signal.knownIdle(now: t0))
        let seen = signal.generation
        signal.foundNothing(since: seen, now: t0)
        #expect(signal.knownIdle(now: t0 + .milliseconds(500)))
        #expect(!signal.knownIdle(now: t0 + .seconds(1)))  // time alone may make work (backups)
        signal.signal()
        #expect(!signal.knownIdle(now: t0 + .milliseconds(1)))
        // A look that began before a signal says nothing about the work the signal announced.
        let before = signal.generation
        signal.signal()
        signal.foundNothing(since: before, now: t0)
        #expect(!signal.knownIdle(now: t0))
    }
}
