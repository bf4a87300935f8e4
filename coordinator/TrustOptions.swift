import ArgumentParser
import CoordinatorApp
import KoinonCore

/// `serve`'s verification settings (DESIGN §4): adaptive replication and the
/// tolerance replicas are compared with.
struct TrustOptions: ParsableArguments {
    @Flag(inversion: .prefixedNo,
          help: "Recompute results on other workers to verify them (adaptive replication: every result of a new worker, then by chance).")
    var replication = true
    @Option(help: "Valid results in a row before a worker's results are replicated only by chance.")
    var probationResults = TrustPolicy().probationResults
    @Option(help: "The least chance that a trusted worker's result is replicated.")
    var minReplication = TrustPolicy().minimumReplicationProbability
    @Option(help: "Strikes (results found wrong or rejected) that quarantine a worker.")
    var strikesToQuarantine = TrustPolicy().strikesToQuarantine
    @Option(help: "Hours a quarantine lasts (then the worker starts over on probation).")
    var quarantineHours = TrustPolicy().quarantineSeconds / 3600
    @Option(help: "Largest relative L2 error between two copies of a unit that still agree.")
    var replicaRelativeError = ReplicaTolerance().relativeL2Error
    @Option(help: "Smallest cosine between two copies of a unit that still agree.")
    var replicaMinCosine = ReplicaTolerance().minimumCosine
    @Option(help: "Largest difference between two copies' reported losses that still agree.")
    var replicaLossDifference = ReplicaTolerance().lossDifference
    @Option(help: "A training result whose cosine with its step's earlier results is below this is replicated, whatever its worker's trust (--direction-min-cosine=-1: never).")
    var directionMinCosine = GradientDirectionCheck.defaultMinimumCosine
    @Flag(help: "Let a worker at the same address as a unit's first copy verify it (only where every worker shares an address: a demo on one machine).")
    var replicasFromSameAddress = false

    func validate() throws {
        guard probationResults >= 0, strikesToQuarantine >= 1, quarantineHours >= 0 else {
            throw ValidationError("--probation-results and --quarantine-hours must not be negative, --strikes-to-quarantine at least 1")
        }
        guard (0...1).contains(minReplication) else { throw ValidationError("--min-replication is a probability (0 to 1)") }
        guard (-1...1).contains(directionMinCosine) else { throw ValidationError("--direction-min-cosine is a cosine (-1 to 1)") }
        guard replicaRelativeError >= 0, (-1...1).contains(replicaMinCosine), replicaLossDifference >= 0 else {
            throw ValidationError("--replica-relative-error and --replica-loss-difference must not be negative, --replica-min-cosine is in [-1, 1]")
        }
    }

    func apply(to settings: inout CoordinatorSettings) {
        settings.trust = TrustPolicy(replicates: replication, probationResults: probationResults,
                                     minimumReplicationProbability: minReplication, strikesToQuarantine: strikesToQuarantine,
                                     quarantineSeconds: quarantineHours * 3600)
        settings.replicaTolerance = ReplicaTolerance(relativeL2Error: replicaRelativeError, minimumCosine: replicaMinCosine,
                                                     lossDifference: replicaLossDifference)
        settings.replicasFromDistinctAddresses = !replicasFromSameAddress
        // (No cosine is below -1: the check would only cost its pass over every result.)
        settings.directionMinimumCosine = directionMinCosine > -1 ? directionMinCosine : nil
    }
}
