import Foundation
import Wire

/// Asks the coordinator's `GET /v1/status` every `interval` seconds (in the
/// background) for this worker's credit and its run's ETA. Only decoration
/// for the status line: a failed fetch keeps the last view, and says nothing.
public final class StatusPoller: @unchecked Sendable {
    let worker: VolunteerWorker
    let interval: Double
    private let lock = NSLock()
    private var latest: CoordinatorView?
    private var task: Task<Void, Never>?

    public init(worker: VolunteerWorker, interval: Double = 10) {
        self.worker = worker
        self.interval = interval
    }

    /// The last view fetched, if any.
    public var view: CoordinatorView? { lock.withLock { latest } }

    /// Fetches every `interval` seconds; the first time once the worker has
    /// joined a run (so the answer has it), or after `interval`.
    public func start() {
        let t = Task { [weak self, interval, progress = worker.progress] in
            let start = ContinuousClock.now
            while !Task.isCancelled, progress.snapshot.runID == nil, ContinuousClock.now - start < .seconds(interval) {
                try? await Task.sleep(for: .milliseconds(250))
            }
            while !Task.isCancelled {
                await self?.poll()
                try? await Task.sleep(for: .seconds(interval))
            }
        }
        lock.withLock { task = t }
    }

    public func stop() { lock.withLock { task?.cancel() } }

    func poll() async {
        guard let status = try? await worker.client.status() else { return }
        let a = worker.progress.snapshot
        let v = CoordinatorView(status, workerID: a.workerID, workerName: worker.options.name, runID: a.runID)
        lock.withLock { latest = v }
    }
}
