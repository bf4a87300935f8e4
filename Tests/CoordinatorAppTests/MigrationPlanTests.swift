import Foundation
import Testing

@testable import CoordinatorApp

/// MigrationPlan and MigrationFile, without a database.
@Suite struct MigrationPlanTests {
    static func file(_ fileName: String, _ sql: String = "SELECT 1;") -> MigrationFile {
        try! MigrationFile(fileName: fileName, contents: Data(sql.utf8))
    }

    static func applied(_ file: MigrationFile) -> AppliedMigration {
        AppliedMigration(
            version: file.version, name: file.name, checksum: file.checksum, appliedAt: Date(timeIntervalSince1970: 0))
    }

    let one = file("0001_init.sql", "CREATE TABLE a (id int);")
    let two = file("0002_add_b.sql", "CREATE TABLE b (id int);")
    let three = file("0003_more-things.sql", "CREATE TABLE c (id int);")

    @Test func fileNamesAreParsed() {
        let parsed = MigrationFile.parse(fileName: "0001_init.sql")
        #expect(parsed?.version == 1 && parsed?.name == "init")
        let other = MigrationFile.parse(fileName: "12_add-index_2.sql")
        #expect(other?.version == 12 && other?.name == "add-index_2")
        for bad in [
            "init.sql", "0001init.sql", "0001_.sql", "_init.sql", "0001_init.SQL", "0001_in it.sql", "x001_a.sql",
        ] {
            #expect(MigrationFile.parse(fileName: bad) == nil, "\(bad)")
        }
        #expect(throws: MigrationError.invalidFileName("01-init.sql")) {
            try MigrationFile(fileName: "01-init.sql", contents: Data())
        }
    }

    @Test func checksumIsSHA256OfTheBytes() {
        #expect(
            MigrationFile.checksum(Data("abc".utf8))
                == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad")
        #expect(Self.file("0001_a.sql", "SELECT 1;").checksum != Self.file("0001_a.sql", "SELECT 1; ").checksum)
    }

    @Test func pendingInNumericOrderWhateverTheInputOrder() throws {
        let plan = try MigrationPlan(files: [three, one, two], applied: [])
        #expect(plan.pending.map(\.file.fileName) == ["0001_init.sql", "0002_add_b.sql", "0003_more-things.sql"])
        #expect(plan.applied.isEmpty)
        #expect(plan.pending[0].statements.map(\.text) == ["CREATE TABLE a (id int)"])
    }

    @Test func appliedMigrationsAreSkipped() throws {
        let plan = try MigrationPlan(files: [one, two, three], applied: [Self.applied(two), Self.applied(one)])
        #expect(plan.applied.map(\.version) == [1, 2])
        #expect(plan.pending.map(\.file.version) == [3])
        let done = try MigrationPlan(files: [one, two, three], applied: [one, two, three].map(Self.applied))
        #expect(done.isUpToDate)
    }

    @Test func noFilesIsAnEmptyPlan() throws {
        #expect(try MigrationPlan(files: [], applied: []).isUpToDate)
    }

    @Test func gapNamesTheFileAfterIt() {
        #expect(throws: MigrationError.gap(expected: 2, fileName: "0003_more-things.sql")) {
            try MigrationPlan(files: [one, three], applied: [])
        }
        #expect(throws: MigrationError.gap(expected: 1, fileName: "0002_add_b.sql")) {
            try MigrationPlan(files: [two, three], applied: [])
        }
        let error = MigrationError.gap(expected: 2, fileName: "0003_more-things.sql")
        #expect(error.description.contains("0003_more-things.sql") && error.description.contains("expected number 2"))
    }

    @Test func duplicateNumbersNameBothFiles() {
        let other = Self.file("0002_other.sql")
        #expect(throws: MigrationError.duplicateVersion(2, fileNames: ["0002_add_b.sql", "0002_other.sql"])) {
            try MigrationPlan(files: [other, one, two], applied: [])
        }
        #expect(throws: MigrationError.duplicateVersion(1, fileNames: ["001_x.sql", "0001_init.sql"].sorted())) {
            try MigrationPlan(files: [one, Self.file("001_x.sql")], applied: [])
        }
    }

    @Test func changedAppliedFileIsRefused() {
        let edited = Self.file("0001_init.sql", "CREATE TABLE a (id bigint);")
        #expect(
            throws: MigrationError.checksumMismatch(
                fileName: "0001_init.sql", applied: one.checksum, file: edited.checksum)
        ) {
            try MigrationPlan(files: [edited, two], applied: [Self.applied(one)])
        }
        // A file changed after it was applied is refused even when later ones are pending.
        #expect(throws: MigrationError.self) {
            try MigrationPlan(files: [edited, two, three], applied: [Self.applied(one)])
        }
        let description = MigrationError.checksumMismatch(
            fileName: "0001_init.sql", applied: one.checksum, file: edited.checksum
        )
        .description
        #expect(description.contains("0001_init.sql") && description.contains("new migration"))
    }

    @Test func renamedAppliedFileIsRefused() {
        let renamed = Self.file("0001_schema.sql", "CREATE TABLE a (id int);")
        #expect(throws: MigrationError.nameMismatch(fileName: "0001_schema.sql", appliedName: "0001_init")) {
            try MigrationPlan(files: [renamed], applied: [Self.applied(one)])
        }
    }

    @Test func appliedMigrationWithoutFileIsRefused() {
        #expect(throws: MigrationError.appliedMigrationMissing(label: "0003_more-things", directory: "/srv/migrations"))
        {
            try MigrationPlan(
                files: [one, two], applied: [one, two, three].map(Self.applied), directory: "/srv/migrations")
        }
    }

    @Test func pendingBeforeAppliedIsRefused() {
        #expect(throws: MigrationError.outOfOrder(pending: "0002_add_b.sql", laterApplied: "0003_more-things")) {
            try MigrationPlan(files: [one, two, three], applied: [one, three].map(Self.applied))
        }
    }

    @Test func transactionControlInAFileIsRefused() {
        for sql in [
            "BEGIN;\nCREATE TABLE x ();\nCOMMIT;", "CREATE TABLE x ();\ncommit", "start transaction;", "ROLLBACK;",
        ] {
            #expect(throws: MigrationError.self, "\(sql)") {
                try MigrationPlan(files: [Self.file("0001_a.sql", sql)], applied: [])
            }
        }
        #expect(throws: MigrationError.transactionControl(fileName: "0001_a.sql", line: 3, statement: "COMMIT")) {
            try MigrationPlan(files: [Self.file("0001_a.sql", "CREATE TABLE x ();\n\nCOMMIT;")], applied: [])
        }
        // Savepoints stay inside the transaction and are fine.
        #expect(throws: Never.self) {
            try MigrationPlan(
                files: [Self.file("0001_a.sql", "SAVEPOINT s; CREATE TABLE x (); ROLLBACK TO SAVEPOINT s; RELEASE s;")],
                applied: [])
        }
    }

    @Test func unterminatedQuoteInPendingFileIsRefused() {
        #expect(
            throws: MigrationError.unparsable(
                fileName: "0001_a.sql", line: 2, problem: "unterminated dollar-quoted string $body$ starting at line 2")
        ) {
            try MigrationPlan(files: [Self.file("0001_a.sql", "SELECT 1;\nDO $body$ BEGIN END;")], applied: [])
        }
    }

    @Test func dryRunPlanIsOnlyPending() throws {
        // What `migrate --dry-run` prints: the pending files with their statement counts.
        let plan = try MigrationPlan(
            files: [one, two, Self.file("0003_x.sql", "CREATE TABLE c (id int);\nCREATE INDEX ON c (id);")],
            applied: [Self.applied(one)])
        #expect(plan.pending.map(\.file.label) == ["0002_add_b", "0003_x"])
        #expect(plan.pending.map(\.statements.count) == [1, 2])
    }

    @Test func directoryCandidatesStartAtTheCurrentDirectoryThenWalkUpFromTheExecutable() {
        let candidates = MigrationDirectory.candidates(
            currentDirectory: URL(fileURLWithPath: "/work/run"),
            executable: URL(fileURLWithPath: "/repo/.build/debug/koinon-coordinator"))
        #expect(
            candidates.map(\.path) == [
                "/work/run/migrations", "/repo/.build/debug/migrations", "/repo/.build/migrations", "/repo/migrations",
                "/migrations",
            ])
    }

    @Test func loadReadsOnlySQLFiles() throws {
        let directory = try TestDatabase.scratchDirectory("migrations")
        defer { try? FileManager.default.removeItem(at: directory) }
        try Data("CREATE TABLE a ();".utf8).write(to: directory.appendingPathComponent("0001_a.sql"))
        try Data("notes".utf8).write(to: directory.appendingPathComponent("README.md"))
        let files = try MigrationDirectory.load(directory)
        #expect(files.map(\.fileName) == ["0001_a.sql"])
        try Data().write(to: directory.appendingPathComponent("2_b c.sql"))
        #expect(throws: MigrationError.invalidFileName("2_b c.sql")) { try MigrationDirectory.load(directory) }
        let missing = directory.appendingPathComponent("missing").path
        #expect(throws: MigrationError.directoryNotFound(searched: [missing])) {
            try MigrationDirectory.load(directory.appendingPathComponent("missing"))
        }
        #expect(MigrationError.directoryNotFound(searched: [missing]).description.contains("\(missing) does not exist"))
    }
}
