import Logging
import PostgresNIO
import Synchronization

/// The coordinator's PostgreSQL: a `PostgresClient` whose every statement has
/// a time limit.
///
/// Why: PostgresNIO 1.33 writes a query to its connection without a promise
/// for the write. A query that meets a connection the server closed a moment
/// before (a restart, a failover) is dropped, and its caller waits for an
/// answer that never comes. That once held a worker's request, and the test
/// watching the run, for good. Here such a wait ends after `timeLimit` with
/// `TimeLimitExceeded`: a worker gets 503 and asks again, a background loop
/// tries again on its next round.
///
/// The limit is per statement, not per transaction: a transaction may wait
/// on the caller's own work (a step's blobs reaching the disk) as long as
/// that takes.
public struct Database: Sendable {
    public let client: PostgresClient
    /// The longest one statement may take to answer.
    public let timeLimit: Duration

    public init(_ client: PostgresClient, timeLimit: Duration = .seconds(30)) {
        self.client = client
        self.timeLimit = timeLimit
    }

    static let statement = "a database statement"

    @discardableResult
    public func query(_ query: PostgresQuery, logger: Logger) async throws -> PostgresRowSequence {
        try await withTimeLimit(timeLimit, Self.statement) { [client] in try await client.query(query, logger: logger) }
    }

    public func execute<Statement: PostgresPreparedStatement>(
        _ statement: Statement, logger: Logger
    ) async throws -> AsyncThrowingMapSequence<PostgresRowSequence, Statement.Row> {
        try await withTimeLimit(timeLimit, Self.statement) { [client] in
            Handover(try await client.execute(statement, logger: logger))
        }.value
    }

    /// `body` with a connection of the pool to itself (a session-level lock,
    /// say). A connection on which a statement timed out is closed before it
    /// goes back: that statement may still run there, late (a `BEGIN`, a lock).
    public func withConnection<T>(
        isolation: isolated (any Actor)? = #isolation, _ body: (Connection) async throws -> sending T
    ) async throws -> sending T {
        try await client.withConnection(isolation: isolation) { raw in
            let conn = Connection(connection: raw, timeLimit: timeLimit)
            do {
                let value = try await body(conn)
                if conn.inDoubt { await conn.close() }
                return value
            } catch {
                if conn.inDoubt { await conn.close() }
                throw error
            }
        }
    }

    /// `body` in a transaction: committed when it returns, rolled back when it
    /// throws. A connection left in doubt (a statement of it timed out, or its
    /// ROLLBACK failed) is closed, which ends the transaction, rather than
    /// handed to the next caller mid-transaction.
    @discardableResult
    public func withTransaction<T>(
        logger: Logger, isolation: isolated (any Actor)? = #isolation, _ body: (Connection) async throws -> sending T
    ) async throws -> sending T {
        try await withConnection(isolation: isolation) { conn in
            do {
                try await conn.query("BEGIN", logger: logger)
                let value = try await body(conn)
                try await conn.query("COMMIT", logger: logger)
                return value
            } catch {
                // (After a time-out a ROLLBACK would only queue behind the statement that did not answer.)
                if !conn.inDoubt {
                    do { try await conn.query("ROLLBACK", logger: logger) } catch { conn.doubt.set() }
                }
                throw error
            }
        }
    }

    /// A leased connection whose statements have the time limit.
    public struct Connection: Sendable {
        let connection: PostgresConnection
        let timeLimit: Duration
        /// Set when a statement timed out: it may still run on this session.
        let doubt = Flag()

        var inDoubt: Bool { doubt.isSet }

        @discardableResult
        public func query(_ query: PostgresQuery, logger: Logger) async throws -> PostgresRowSequence {
            do {
                return try await withTimeLimit(timeLimit, Database.statement) { [connection] in
                    try await connection.query(query, logger: logger)
                }
            } catch let error as TimeLimitExceeded {
                doubt.set()
                throw error
            }
        }

        /// Closes the session (which ends its transaction and releases its locks).
        public func close() async { try? await connection.close() }
    }

    /// A flag set once, read from any task.
    final class Flag: Sendable {
        private let value = Mutex(false)
        func set() { value.withLock { $0 = true } }
        var isSet: Bool { value.withLock { $0 } }
    }
}

/// A value handed from the task that made it to the one that awaited it, and
/// used by that one only (a row sequence whose decoding closure is not marked
/// `Sendable`).
struct Handover<Value>: @unchecked Sendable {
    let value: Value
    init(_ value: Value) { self.value = value }
}

extension Database {
    /// An error for an operator's log: PostgreSQL's own message and SQLSTATE
    /// (PostgresNIO describes every `PSQLError` as "Generic description…";
    /// its full reflection would print the statement's values, tokens among them).
    public static func describe(_ error: any Error) -> String {
        guard let e = error as? PSQLError else { return "\(error)" }
        if let info = e.serverInfo {
            return "PostgreSQL \(info[.severity] ?? "ERROR") \(info[.sqlState] ?? "?"): \(info[.message] ?? "")"
        }
        return "PostgreSQL client: \(e.code)\(e.underlying.map { " (\($0))" } ?? "")"
    }

    /// The database is unreachable, restarting or not answering (workers
    /// should back off and retry) rather than refusing the request.
    public static func isUnavailable(_ error: any Error) -> Bool {
        if error is TimeLimitExceeded { return true }
        if let e = error as? PSQLError {
            if [.connectionError, .serverClosedConnection, .clientClosedConnection, .uncleanShutdown].contains(e.code) { return true }
            // 57P0x: shutting down, crashed, starting up; 08xxx: connection exceptions.
            let state = e.serverInfo?[.sqlState] ?? ""
            return state.hasPrefix("57P") || state.hasPrefix("08")
        }
        return String(describing: type(of: error)).contains("ConnectionPoolError")
    }
}
