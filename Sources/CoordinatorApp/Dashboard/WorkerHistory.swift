import Foundation
import Wire

/// One worker's page (`GET /workers/{name}`): its status line and its most
/// recent results, newest first.
public struct WorkerHistory: Sendable, Hashable {
    public struct Entry: Sendable, Hashable {
        public var at: Date
        public var runID: Int
        public var step: Int
        public var unit: Int
        /// "accepted", "superseded" or "rejected".
        public var outcome: String
        /// The reason code of a rejection or supersession.
        public var reason: String?
        public var loss: Double?
        public var tokens: Int

        public init(at: Date, runID: Int, step: Int, unit: Int, outcome: String, reason: String? = nil, loss: Double? = nil,
                    tokens: Int = 0) {
            self.at = at
            self.runID = runID
            self.step = step
            self.unit = unit
            self.outcome = outcome
            self.reason = reason
            self.loss = loss
            self.tokens = tokens
        }
    }

    public var worker: WorkerStatus
    public var entries: [Entry]

    public init(worker: WorkerStatus, entries: [Entry]) {
        self.worker = worker
        self.entries = entries
    }
}
