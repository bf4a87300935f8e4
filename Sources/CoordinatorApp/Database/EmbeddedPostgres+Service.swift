import ServiceLifecycle

/// Run in a `ServiceGroup`, the cluster starts (if ``EmbeddedPostgres/start()`` was not called
/// already) and stops on graceful shutdown or cancellation.
///
/// Start it before building the group (`try await postgres.start()`) so that the services that
/// connect to it find it ready, and list it first: a group shuts its services down in reverse
/// order, so PostgreSQL stops after everything that uses it.
extension EmbeddedPostgres: Service {
    public func run() async throws {
        try await start()
        // Returns on graceful shutdown, throws CancellationError on cancellation: stop either way.
        try? await gracefulShutdown()
        try await stop()
    }
}
