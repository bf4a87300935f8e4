/// The worker's software version: in the start-up banner and sent when
/// registering (`RegisterWorkerRequest.version`), so a coordinator can turn
/// away an incompatible worker.
public enum WorkerVersion {
    public static let current = "0.2.0"
}
