/// What to do with the migrations on disk, given those the database has applied (pure).
///
/// Files must be numbered 1, 2, 3, … without gaps or duplicates. Every applied migration must
/// still have its file, unchanged (same name and SHA-256). The applied ones must be the first
/// files in order; the rest are pending and are applied in order.
public struct MigrationPlan: Sendable, Equatable {
    /// The migrations already applied, in order.
    public var applied: [AppliedMigration]
    /// The migrations to apply, in order, split into statements.
    public var pending: [PendingMigration]

    /// A migration to apply.
    public struct PendingMigration: Sendable, Equatable {
        public var file: MigrationFile
        public var statements: [SQLStatement]
    }

    public init(files: [MigrationFile], applied: [AppliedMigration], directory: String? = nil) throws(MigrationError) {
        let files = try Self.checkSequence(files)
        let byVersion = Dictionary(uniqueKeysWithValues: files.map { ($0.version, $0) })
        let applied = applied.sorted { $0.version < $1.version }
        for row in applied {
            guard let file = byVersion[row.version] else {
                throw .appliedMigrationMissing(label: row.label, directory: directory)
            }
            guard file.name == row.name else { throw .nameMismatch(fileName: file.fileName, appliedName: row.label) }
            guard file.checksum == row.checksum else {
                throw .checksumMismatch(fileName: file.fileName, applied: row.checksum, file: file.checksum)
            }
        }
        let appliedVersions = Set(applied.map(\.version))
        let pending = files.filter { !appliedVersions.contains($0.version) }
        if let first = pending.first, let later = applied.last, later.version > first.version {
            throw .outOfOrder(pending: first.fileName, laterApplied: later.label)
        }
        self.applied = applied
        self.pending = try pending.map { file throws(MigrationError) in
            PendingMigration(file: file, statements: try Self.statements(of: file))
        }
    }

    /// The file's statements; refuses transaction control, which would end the transaction the
    /// runner applies the file in.
    static func statements(of file: MigrationFile) throws(MigrationError) -> [SQLStatement] {
        let statements: [SQLStatement]
        do { statements = try SQLScript.statements(in: file.sql) } catch {
            throw .unparsable(fileName: file.fileName, line: error.line, problem: error.problem)
        }
        for statement in statements {
            let words = statement.leadingWords
            let first = words.first ?? ""
            let second = words.dropFirst().first
            let controls =
                ["begin", "start", "commit", "end", "abort"].contains(first)
                || (first == "rollback" && second != "to")
                || (first == "prepare" && second == "transaction")
            if controls {
                throw .transactionControl(
                    fileName: file.fileName, line: statement.line, statement: String(statement.text.prefix(40)))
            }
        }
        return statements
    }

    /// `files` sorted by number, after checking the numbers run 1, 2, 3, … .
    static func checkSequence(_ files: [MigrationFile]) throws(MigrationError) -> [MigrationFile] {
        let sorted = files.sorted { ($0.version, $0.fileName) < ($1.version, $1.fileName) }
        var expected = 1
        for (index, file) in sorted.enumerated() {
            if index > 0 && sorted[index - 1].version == file.version {
                let names = sorted.filter { $0.version == file.version }.map(\.fileName)
                throw .duplicateVersion(file.version, fileNames: names)
            }
            guard file.version == expected else { throw .gap(expected: expected, fileName: file.fileName) }
            expected += 1
        }
        return sorted
    }

    public var isUpToDate: Bool { pending.isEmpty }
}
