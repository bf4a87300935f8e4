@testable import CoordinatorApp
import Foundation
import Logging
import PostgresNIO
import Synchronization
import Testing

#if canImport(Glibc)
    import Glibc
#endif

/// A statement that never answers (PostgresNIO drops a query written to a
/// connection that has just closed) must not hold its caller: `withTimeLimit`
/// and `Database`.
@Suite struct DatabaseTimeLimitTests {
    static let logger = Logger(label: "time-limit-tests")

    // MARK: - withTimeLimit

    @Test func anAnswerInTimeIsPassedThroughValueOrError() async throws {
        #expect(try await withTimeLimit(.seconds(5), "sum") { 2 + 3 } == 5)
        await #expect(throws: Oops.self) { try await withTimeLimit(.seconds(5), "failing") { () async throws -> Int in throw Oops() } }
    }

    @Test func anOperationThatNeverAnswersTimesOutAndIsCancelled() async throws {
        let cancelled = Mutex(false)
        let started = ContinuousClock.now
        await #expect(throws: TimeLimitExceeded(what: "a stuck call", limit: .milliseconds(200))) {
            try await withTimeLimit(.milliseconds(200), "a stuck call") {
                // Ignores cancellation for an hour, as a dropped query's wait does; notes that it was asked.
                await withTaskCancellationHandler {
                    try? await Task.sleep(for: .seconds(3600))
                } onCancel: {
                    cancelled.withLock { $0 = true }
                }
                return 0
            }
        }
        #expect(ContinuousClock.now - started < .seconds(5))
        #expect(cancelled.withLock { $0 })
    }

    @Test func cancellingTheCallerCancelsTheOperation() async throws {
        let reachedEnd = Mutex(false)
        let caller = Task {
            try await withTimeLimit(.seconds(60), "a long call") {
                try await Task.sleep(for: .seconds(30))  // throws once cancelled
                reachedEnd.withLock { $0 = true }
                return 0
            }
        }
        try await Task.sleep(for: .milliseconds(100))
        caller.cancel()
        await #expect(throws: CancellationError.self) { try await caller.value }
        #expect(!reachedEnd.withLock { $0 })
    }

    // MARK: - Database on a real server

    @Test func aStatementOverTheLimitFailsAndTheDatabaseStaysUsable() async throws {
        try await TestDatabase.withFresh { (db: TestDatabase) async throws in
            let database = Database(db.client, timeLimit: .milliseconds(500))
            let started = ContinuousClock.now
            await #expect(throws: TimeLimitExceeded.self) { try await database.query("SELECT pg_sleep(20)", logger: Self.logger) }
            #expect(ContinuousClock.now - started < .seconds(10))
            #expect(try await Self.count(database, "SELECT 7") == 7)
            #expect(Database.isUnavailable(TimeLimitExceeded(what: Database.statement, limit: .seconds(1))))
        }
    }

    @Test func aTransactionWhoseStatementTimesOutCommitsNothingAndLeavesNoSessionInTransaction() async throws {
        try await TestDatabase.withFresh { (db: TestDatabase) async throws in
            try await db.client.query("CREATE TABLE t (x int)", logger: Self.logger)
            let database = Database(db.client, timeLimit: .milliseconds(500))
            await #expect(throws: TimeLimitExceeded.self) {
                try await database.withTransaction(logger: Self.logger) { conn in
                    try await conn.query("INSERT INTO t VALUES (1)", logger: Self.logger)
                    try await conn.query("SELECT pg_sleep(20)", logger: Self.logger)
                }
            }
            try await database.withTransaction(logger: Self.logger) { conn in
                try await conn.query("INSERT INTO t VALUES (2)", logger: Self.logger)
            }
            #expect(try await Self.count(database, "SELECT coalesce(sum(x), 0)::int FROM t") == 2)
            // The timed-out session was rolled back or closed, not left holding its transaction.
            #expect(try await Self.countFallsToZero(database, """
                SELECT count(*)::int FROM pg_stat_activity WHERE datname = current_database() AND state LIKE 'idle in transaction%'
                """))
        }
    }

    @Test func aSessionWhoseStatementTimedOutIsClosedNotPooled() async throws {
        try await TestDatabase.withFresh { (db: TestDatabase) async throws in
            let database = Database(db.client, timeLimit: .milliseconds(300))
            // A session-level lock, then a statement over the limit: the session must not go back to the
            // pool holding the lock (or with the late statement still to run there).
            await #expect(throws: TimeLimitExceeded.self) {
                try await database.withConnection { conn in
                    try await conn.query("SELECT pg_advisory_lock(4242)", logger: Self.logger)
                    try await conn.query("SELECT pg_sleep(2)", logger: Self.logger)
                }
            }
            #expect(try await Self.countFallsToZero(database, "SELECT count(*)::int FROM pg_locks WHERE locktype = 'advisory' AND objid = 4242"))
        }
    }

    @Test func aServerClosingTheSessionCountsAsUnavailable() async throws {
        try await TestDatabase.withFresh { (db: TestDatabase) async throws in
            let database = Database(db.client, timeLimit: .seconds(2))
            let error = await #expect(throws: PSQLError.self) {
                for try await _ in try await database.query("SELECT pg_terminate_backend(pg_backend_pid())", logger: Self.logger) {}
            }
            #expect(error.map(Database.isUnavailable) == true, "\(error.map(Database.describe) ?? "")")
            #expect(error.map(Database.describe)?.contains("57P01") == true)
            // The pool connects again. (A statement right after may still meet the closed
            // connection: it fails as unavailable, or times out, and is not left hanging.)
            var answered = false
            for _ in 0..<20 where !answered {
                do { answered = try await Self.count(database, "SELECT 1") == 1 } catch {
                    #expect(Database.isUnavailable(error), "\(Database.describe(error))")
                    try await Task.sleep(for: .milliseconds(100))
                }
            }
            #expect(answered)
        }
    }

    @Test func aServerThatNeverAnswersTimesOut() async throws {
        // A listening socket nobody accepts on: the kernel completes the TCP handshake, PostgreSQL's never comes.
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        defer { close(fd) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        let listening = withUnsafeMutablePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, length) == 0 && listen(fd, 16) == 0 && getsockname(fd, $0, &length) == 0 }
        }
        try #require(listening)
        let port = Int(UInt16(bigEndian: address.sin_port))
        let configuration = PostgresClient.Configuration(host: "127.0.0.1", port: port, username: "koinon", password: nil,
                                                         database: "koinon", tls: .disable)
        let client = PostgresClient(configuration: configuration, backgroundLogger: Self.logger)
        try await client.runningDuring { client in
            let started = ContinuousClock.now
            await #expect(throws: TimeLimitExceeded.self) {
                try await Database(client, timeLimit: .milliseconds(500)).query("SELECT 1", logger: Self.logger)
            }
            #expect(ContinuousClock.now - started < .seconds(5))
        }
    }

    /// Whether `sql`'s count reaches 0 within 30 s (a closed session's backend ends when its statement does).
    static func countFallsToZero(_ database: Database, _ sql: String) async throws -> Bool {
        let deadline = ContinuousClock.now + .seconds(30)
        while ContinuousClock.now < deadline {
            if try await count(database, sql) == 0 { return true }
            try await Task.sleep(for: .milliseconds(100))
        }
        return false
    }

    static func count(_ database: Database, _ sql: String) async throws -> Int {
        for try await n in try await database.query(PostgresQuery(unsafeSQL: sql), logger: logger).decode(Int.self) { return n }
        return -1
    }

    struct Oops: Error {}
}
