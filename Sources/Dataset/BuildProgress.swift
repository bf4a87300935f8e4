/// The stages of a build, in order, and of `dataset inspect`.
public enum BuildStage: String, Sendable, CaseIterable {
    case reading = "reading inputs"
    case trainingTokenizer = "training tokenizer"
    case tokenizing = "tokenizing"
    case writingShards = "writing shards"
    case verifying = "verifying shards"
}

/// How far a stage has got; `total` is in the same unit as `completed`.
public struct BuildProgress: Sendable, Equatable {
    public init(stage: BuildStage, completed: Int, total: Int, unit: String) {
        self.stage = stage
        self.completed = completed
        self.total = total
        self.unit = unit
    }

    public var stage: BuildStage
    public var completed: Int
    public var total: Int
    /// What is counted: "bytes", "documents", "tokens".
    public var unit: String
}

/// Receives a build's progress and its log lines (malformed lines, warnings,
/// stage summaries). Called on the building thread only.
public struct BuildObserver {
    public var progress: (BuildProgress) -> Void
    public var log: (String) -> Void

    public init(progress: @escaping (BuildProgress) -> Void = { _ in }, log: @escaping (String) -> Void = { _ in }) {
        self.progress = progress
        self.log = log
    }

    public static var silent: BuildObserver { BuildObserver() }
}
