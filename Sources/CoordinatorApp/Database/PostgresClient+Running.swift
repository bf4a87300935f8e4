import PostgresNIO

extension PostgresClient {
    /// Runs the client while `body` runs, then shuts it down (closing its connections) before
    /// returning, whether `body` returned or threw.
    ///
    /// The client's `run()` goes in a task of its own rather than a child task, so cancelling
    /// the caller does not shut the pool down under `body` while it still uses connections;
    /// `body` runs to its end (PostgresNIO queries do not stop on cancellation anyway).
    public func runningDuring<Result>(
        _ body: (PostgresClient) async throws -> Result
    ) async throws -> Result {
        let running = Task { await self.run() }
        do {
            let result = try await body(self)
            running.cancel()
            await running.value
            return result
        } catch {
            running.cancel()
            await running.value
            throw error
        }
    }
}
