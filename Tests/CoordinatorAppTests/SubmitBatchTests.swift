import CoordinatorApp
import Foundation
import Logging
import PostgresNIO
import Testing

/// `koinon_submit_batch` (migrations 0006, 0008) records a batch set-wise where it
/// can; whatever it does must be what `koinon_submit`, one result after the
/// other in batch order, does. Each test plays the same submissions on two
/// identical runs, batched on one and one by one on the other, and compares
/// every answer and every row they leave.
@Suite struct SubmitBatchTests {
    /// One submission of a scenario: which lease (by the unit it is for and its copy), who hands it in, what.
    struct Submission {
        var unit: Int
        var copy = 0
        var worker: Int
        var payload: String
        var replicate = false
        var duplicates = false
        /// A lease id no one holds.
        var unknownLease = false
    }

    /// A lease to open before the submissions: unit, worker, copy, and whether its deadline has passed.
    struct Lease {
        var unit: Int
        var worker: Int
        var copy = 0
        var expired = false
    }

    static func payload(_ k: Int) -> String { String(repeating: String(k % 10), count: 64) }

    @Test func aMixedBatchGetsTheAnswersAndRowsOfOneByOne() async throws {
        let leases = (0..<12).map { Lease(unit: $0, worker: $0 % 3) } + [
            Lease(unit: 1, worker: 2, copy: 1),  // a backup copy of unit 1
            Lease(unit: 3, worker: 0, copy: 1, expired: true),
            Lease(unit: 4, worker: 2, copy: 1),  // the replica of unit 4
            Lease(unit: 12, worker: 1, expired: true),
        ]
        let batches: [[Submission]] = [
            // A result whose payload a later unit hands in again.
            [Submission(unit: 8, worker: 2, payload: Self.payload(8))],
            [
                Submission(unit: 0, worker: 0, payload: Self.payload(0)),
                Submission(unit: 1, worker: 1, payload: Self.payload(1)),
                Submission(unit: 1, copy: 1, worker: 2, payload: Self.payload(2)),  // the unit is accepted first: superseded
                Submission(unit: 0, worker: 0, payload: Self.payload(0)),  // the same again: the same answer
                Submission(unit: 0, worker: 0, payload: Self.payload(3)),  // another result on that lease: conflict
                Submission(unit: 2, worker: 1, payload: Self.payload(4)),  // worker 2's lease: foreign
                Submission(unit: 0, worker: 0, payload: Self.payload(5), unknownLease: true),
                Submission(unit: 3, copy: 1, worker: 0, payload: Self.payload(6)),  // past its deadline
                Submission(unit: 4, worker: 1, payload: Self.payload(7), replicate: true),
                // The same gradient for two units in one batch, replication on.
                Submission(unit: 5, worker: 2, payload: Self.payload(9), duplicates: true),
                Submission(unit: 6, worker: 0, payload: Self.payload(9), duplicates: true),
                // A gradient accepted for another unit before.
                Submission(unit: 7, worker: 1, payload: Self.payload(8), duplicates: true),
                // Replication on, nothing seen twice: the common case.
                Submission(unit: 9, worker: 0, payload: "a" + Self.payload(9).dropFirst(), duplicates: true),
                Submission(unit: 10, worker: 1, payload: Self.payload(0).replacingOccurrences(of: "0", with: "b")),
                Submission(unit: 12, worker: 1, payload: Self.payload(1)),  // its only lease expired
            ],
            // The replica of a unit being verified, and a plain result.
            [Submission(unit: 4, copy: 1, worker: 2, payload: Self.payload(7)), Submission(unit: 11, worker: 2, payload: Self.payload(5))],
        ]
        try await compare(units: 16, leases: leases, batches: batches)
    }

    @Test func theResultThatCompletesAStepIsTheOnlyOneToSaySo() async throws {
        let leases = (0..<8).map { Lease(unit: $0, worker: $0 % 3) } + [Lease(unit: 7, worker: 0, copy: 1)]
        let batches: [[Submission]] = [
            (0..<3).map { Submission(unit: $0, worker: $0 % 3, payload: Self.payload($0)) },
            (3..<8).map { Submission(unit: $0, worker: $0 % 3, payload: Self.payload($0)) } + [
                Submission(unit: 7, copy: 1, worker: 0, payload: Self.payload(7)),
                Submission(unit: 4, worker: 1, payload: Self.payload(4)),
            ],
        ]
        let answers = try await compare(units: 8, leases: leases, batches: batches)
        #expect(answers.flatMap { $0 }.filter { $0.complete }.count == 1)
    }

    /// Two coordinator processes' batches racing for the same units (each unit's two copies handed in
    /// through different processes at once): one copy accepted per unit, the other superseded, no deadlock.
    @Test func twoCoordinatorsRacingForTheSameUnitsAcceptOneCopyEach() async throws {
        try await TestDatabase.withFresh(migrated: true) { db in
            let other = PostgresClient(configuration: db.clientConfiguration, backgroundLogger: Logger(label: "test"))
            try await other.runningDuring { otherClient in
                let blobs = try BlobStore(root: try TestDatabase.scratchDirectory("blobs"))
                let first = Coordinator(db: db.client, blobs: blobs, settings: CoordinatorSettings(), logger: Logger(label: "test"))
                let second = Coordinator(db: otherClient, blobs: blobs, settings: CoordinatorSettings(), logger: Logger(label: "test"))
                let units = 48
                let yaml = TinyRun.yaml(steps: 2)
                    .replacingOccurrences(of: "global_sequences: 6", with: "global_sequences: \(units)")
                    .replacingOccurrences(of: "sequences_per_unit: 2", with: "sequences_per_unit: 1")
                let run = try await first.createRun(yaml: yaml, baseDirectory: TinyRun.directory)
                var workers: [UUID] = []
                for i in 0..<2 {
                    workers.append(try await first.workers.register(name: "w\(i)", backend: "cpu", threads: 1, version: "0",
                                                                    address: "10.0.0.\(i)").id)
                }
                let owners = workers
                let ids = try await open((0..<units).flatMap { [Lease(unit: $0, worker: 0), Lease(unit: $0, worker: 1, copy: 1)] },
                                         run: run, workers: owners, db: db.client)
                let outcomes = try await withThrowingTaskGroup(of: SubmitOutcome.self) { group in
                    for unit in 0..<units {
                        for (copy, coordinator) in [first, second].enumerated() {
                            group.addTask {
                                try await coordinator.leases.submit(lease: ids["\(unit)/\(copy)"]!, worker: owners[copy],
                                                                    payload: Self.payload(unit + copy), loss: 1, tokens: 16)
                            }
                        }
                    }
                    return try await group.reduce(into: [SubmitOutcome]()) { $0.append($1) }
                }
                #expect(outcomes.filter { if case .accepted = $0 { true } else { false } }.count == units)
                #expect(outcomes.filter { $0 == .superseded }.count == units)
                #expect(outcomes.filter { $0 == .accepted(stepComplete: true) }.count == 1)
                for try await (deadlocks,) in try await db.client.query(
                    "SELECT deadlocks FROM pg_stat_database WHERE datname = current_database()").decode((Int,).self) {
                    #expect(deadlocks == 0)
                }
            }
        }
    }

    /// Migration 0008 plans `koinon_submit_batch` once per connection. A plan made while the
    /// tables were young must not scan them once they have grown: on one connection, a first
    /// batch while a run has a handful of leases and no results, then 20,000 active leases and
    /// their results more, then a second batch, which reads only the rows of its own results.
    @Test func aPlanMadeOnYoungTablesStillReadsOnlyTheBatchsRows() async throws {
        try await TestDatabase.withFresh(migrated: true) { db in
            let blobs = try BlobStore(root: try TestDatabase.scratchDirectory("blobs"))
            let coordinator = Coordinator(db: db.client, blobs: blobs, settings: CoordinatorSettings(), logger: Logger(label: "test"))
            let units = 64
            let yaml = TinyRun.yaml(steps: 2)
                .replacingOccurrences(of: "global_sequences: 6", with: "global_sequences: \(units)")
                .replacingOccurrences(of: "sequences_per_unit: 2", with: "sequences_per_unit: 1")
            let run = try await coordinator.createRun(yaml: yaml, baseDirectory: TinyRun.directory)
            let worker = try await coordinator.workers.register(name: "w", backend: "cpu", threads: 1, version: "0",
                                                                address: "10.0.0.1").id
            let ids = try await open((0..<4).map { Lease(unit: $0, worker: 0) }, run: run, workers: [worker], db: db.client)
            try await db.client.withConnection { conn in
                func submit(_ units: [Int]) async throws -> [String] {
                    let leases = units.map { ids["\($0)/0"]! }, workers = units.map { _ in worker }
                    let payloads = units.map(Self.payload), losses = units.map { _ in 1.0 }, tokens = units.map { _ in 16 }
                    let no = units.map { _ in false }
                    var outcomes: [String] = []
                    for try await (outcome,) in try await conn.query("""
                        SELECT outcome FROM koinon_submit_batch(\(leases)::uuid[], \(workers)::uuid[], \(payloads)::text[],
                            \(losses)::float8[], \(tokens)::int8[], \(no)::bool[], \(no)::bool[], \(no)::bool[]) ORDER BY n
                        """, logger: Logger(label: "test")).decode((String,).self) { outcomes.append(outcome) }
                    return outcomes
                }
                #expect(try await submit([0, 1]) == ["accepted", "accepted"])
                // Active leases on the other units, each with a result handed in before.
                try await conn.query("""
                    WITH l AS (
                        INSERT INTO leases (id, run_id, step, unit, worker_id, deadline)
                        SELECT gen_random_uuid(), \(run), 0, 8 + g % \(units - 8), \(worker), now() + interval '1 hour'
                        FROM generate_series(1, 20000) AS g
                        RETURNING id, unit)
                    INSERT INTO results (lease_id, run_id, step, unit, worker_id, payload_sha256, loss, tokens, status)
                    SELECT l.id, \(run), 0, l.unit, \(worker), md5(l.id::text) || md5(l.unit::text), 1, 16, 'superseded' FROM l
                    """, logger: Logger(label: "test"))
                // (The counters of this session not yet reported include earlier transactions': the
                // batch's reads are the difference.)
                func reads() async throws -> [String: (scans: Int, rows: Int)] {
                    var out: [String: (scans: Int, rows: Int)] = [:]
                    for try await (table, scans, rows) in try await conn.query("""
                        SELECT relname::text, seq_scan, coalesce(idx_tup_fetch, 0) + seq_tup_read FROM pg_stat_xact_user_tables
                        WHERE relname IN ('leases', 'results', 'units', 'workers')
                        """, logger: Logger(label: "test")).decode((String, Int, Int).self) { out[table] = (scans, rows) }
                    return out
                }
                try await conn.query("BEGIN", logger: Logger(label: "test"))
                let before = try await reads()
                #expect(try await submit([2, 3]) == ["accepted", "accepted"])
                for (table, after) in try await reads() {
                    let scans = after.scans - (before[table]?.scans ?? 0), rows = after.rows - (before[table]?.rows ?? 0)
                    #expect(scans == 0, "\(table) was scanned")
                    #expect(rows < 50, "\(table): \(rows) rows read for a batch of two")
                }
                try await conn.query("COMMIT", logger: Logger(label: "test"))
            }
        }
    }

    // MARK: - Playing a scenario

    struct Answer: Equatable, CustomStringConvertible {
        var outcome: String
        var detail: String?
        var complete: Bool
        var description: String { "\(outcome)\(detail.map { "(\($0))" } ?? "")\(complete ? " complete" : "")" }
    }

    /// Plays `batches` on two fresh runs of `units` units, batched and one by one, and expects the same
    /// answers and rows; returns the answers.
    @discardableResult
    func compare(units: Int, leases: [Lease], batches: [[Submission]]) async throws -> [[Answer]] {
        try await TestDatabase.withFresh(migrated: true) { db in
            let blobs = try BlobStore(root: try TestDatabase.scratchDirectory("blobs"))
            let coordinator = Coordinator(db: db.client, blobs: blobs, settings: CoordinatorSettings(), logger: Logger(label: "test"))
            let yaml = TinyRun.yaml(steps: 2)
                .replacingOccurrences(of: "global_sequences: 6", with: "global_sequences: \(units)")
                .replacingOccurrences(of: "sequences_per_unit: 2", with: "sequences_per_unit: 1")
            var workers: [UUID] = []
            for i in 0..<3 {
                workers.append(try await coordinator.workers.register(
                    name: "w\(i)", backend: "cpu", threads: 1, version: "0", address: "10.0.0.\(i)", owner: "owner\(i)").id)
            }
            var played: [[[Answer]]] = []
            var rows: [[String]] = []
            for batched in [true, false] {
                let run = try await coordinator.createRun(yaml: yaml, baseDirectory: TinyRun.directory)
                let ids = try await open(leases, run: run, workers: workers, db: db.client)
                let before = try await consecutiveValid(workers, db: db.client)
                var answers: [[Answer]] = []
                for batch in batches {
                    let arguments = batch.map { s in
                        (lease: s.unknownLease ? UUID() : ids["\(s.unit)/\(s.copy)"]!, worker: workers[s.worker], s: s)
                    }
                    answers.append(try await submit(arguments.map { ($0.lease, $0.worker, $0.s) }, batched: batched, db: db.client))
                }
                let after = try await consecutiveValid(workers, db: db.client)
                played.append(answers)
                rows.append(try await state(run: run, workers: workers, db: db.client)
                            + ["consecutive valid +" + zip(before, after).map { "\($1 - $0)" }.joined(separator: ",")])
            }
            #expect(played[0] == played[1])
            #expect(rows[0] == rows[1])
            return played[0]
        }
    }

    /// Opens the leases (units leased), returning their ids by "unit/copy".
    func open(_ leases: [Lease], run: Int, workers: [UUID], db: PostgresClient) async throws -> [String: UUID] {
        var ids: [String: UUID] = [:]
        for lease in leases {
            let id = UUID()
            ids["\(lease.unit)/\(lease.copy)"] = id
            let deadline = Date().addingTimeInterval(lease.expired ? -60 : 600)
            try await db.query("""
                INSERT INTO leases (id, run_id, step, unit, worker_id, deadline, is_backup)
                VALUES (\(id), \(run), 0, \(lease.unit), \(workers[lease.worker]), \(deadline), \(lease.copy > 0))
                """)
            try await db.query("UPDATE units SET state = 'leased' WHERE run_id = \(run) AND step = 0 AND unit = \(lease.unit)")
        }
        return ids
    }

    /// One batch: through `koinon_submit_batch`, or through `koinon_submit` one result after the other.
    func submit(_ batch: [(UUID, UUID, Submission)], batched: Bool, db: PostgresClient) async throws -> [Answer] {
        var answers: [Answer] = []
        if batched {
            let leases = batch.map(\.0), workers = batch.map(\.1), payloads = batch.map(\.2.payload)
            let losses = batch.map { _ in 1.0 }, tokens = batch.map { _ in 16 }
            let replicate = batch.map(\.2.replicate), duplicates = batch.map(\.2.duplicates)
            let distinct = batch.map { _ in true }
            let rows = try await db.query("""
                SELECT n, outcome, detail, step_complete FROM koinon_submit_batch(\(leases)::uuid[], \(workers)::uuid[],
                    \(payloads)::text[], \(losses)::float8[], \(tokens)::int8[], \(replicate)::bool[], \(duplicates)::bool[],
                    \(distinct)::bool[])
                """)
            var byPosition: [Int: Answer] = [:]
            for try await (n, outcome, detail, complete) in rows.decode((Int, String, String?, Bool).self) {
                #expect(byPosition[n] == nil)
                byPosition[n] = Answer(outcome: outcome, detail: detail, complete: complete)
            }
            #expect(byPosition.count == batch.count)
            for n in 1...batch.count { answers.append(try #require(byPosition[n])) }
        } else {
            for (lease, worker, s) in batch {
                let rows = try await db.query("""
                    SELECT outcome, detail, step_complete FROM koinon_submit(\(lease), \(worker), \(s.payload), 1.0::float8,
                        16::int8, \(s.replicate), \(s.duplicates), true)
                    """)
                for try await (outcome, detail, complete) in rows.decode((String, String?, Bool).self) {
                    answers.append(Answer(outcome: outcome, detail: detail, complete: complete))
                }
            }
        }
        return answers
    }

    func consecutiveValid(_ workers: [UUID], db: PostgresClient) async throws -> [Int] {
        var out: [Int] = []
        for w in workers {
            for try await (n,) in try await db.query("SELECT consecutive_valid FROM workers WHERE id = \(w)").decode((Int,).self) {
                out.append(n)
            }
        }
        return out
    }

    /// The run's units, leases and results as text, workers by their index.
    func state(run: Int, workers: [UUID], db: PostgresClient) async throws -> [String] {
        func name(_ id: UUID) -> String { workers.firstIndex(of: id).map { "w\($0)" } ?? "?" }
        var out: [String] = []
        for try await (unit, state, copies) in try await db.query(
            "SELECT unit, state, copies_needed FROM units WHERE run_id = \(run) ORDER BY step, unit").decode((Int, String, Int).self) {
            out.append("unit \(unit) \(state) copies \(copies)")
        }
        for try await (unit, worker, state, backup) in try await db.query("""
            SELECT unit, worker_id, state, is_backup FROM leases WHERE run_id = \(run) ORDER BY unit, is_backup, worker_id
            """).decode((Int, UUID, String, Bool).self) {
            out.append("lease \(unit) \(name(worker)) \(state)\(backup ? " backup" : "")")
        }
        for try await (unit, worker, payload, status, reason) in try await db.query("""
            SELECT r.unit, r.worker_id, r.payload_sha256, r.status, r.reason FROM results r WHERE r.run_id = \(run)
            ORDER BY r.unit, r.id
            """).decode((Int, UUID, String, String, String?).self) {
            out.append("result \(unit) \(name(worker)) \(payload.prefix(4)) \(status) \(reason ?? "")")
        }
        return out
    }
}
