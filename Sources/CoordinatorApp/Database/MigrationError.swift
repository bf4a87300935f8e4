import Foundation

/// Why migrations cannot be planned or applied. Each description names the file and says what
/// to do.
public enum MigrationError: Error, Sendable, Equatable, CustomStringConvertible {
    case directoryNotFound(searched: [String])
    case directoryUnreadable(path: String, message: String)
    /// A `.sql` file not named `NNNN_name.sql`.
    case invalidFileName(String)
    case notUTF8(String)
    /// Two files with one number.
    case duplicateVersion(Int, fileNames: [String])
    /// The numbers do not run 1, 2, 3, … : `fileName` came where `expected` should have.
    case gap(expected: Int, fileName: String)
    /// An applied migration's file changed since it was applied.
    case checksumMismatch(fileName: String, applied: String, file: String)
    /// An applied migration's file was renamed (same number, same contents).
    case nameMismatch(fileName: String, appliedName: String)
    /// The database has a migration applied that has no file.
    case appliedMigrationMissing(label: String, directory: String?)
    /// A migration is pending although a later one is applied.
    case outOfOrder(pending: String, laterApplied: String)
    /// The file cannot be split into statements.
    case unparsable(fileName: String, line: Int, problem: String)
    /// The file contains BEGIN/COMMIT/ROLLBACK, which would break the runner's transaction.
    case transactionControl(fileName: String, line: Int, statement: String)
    /// A statement failed; the migration was rolled back.
    case statementFailed(fileName: String, line: Int, column: Int, server: ServerMessage)

    /// What PostgreSQL said about a failed statement.
    public struct ServerMessage: Sendable, Equatable, CustomStringConvertible {
        public var sqlState: String?
        public var message: String
        public var detail: String?
        public var hint: String?
        /// Where inside a function body (PL/pgSQL) it failed, if there.
        public var context: String?

        public init(sqlState: String?, message: String, detail: String?, hint: String?, context: String?) {
            self.sqlState = sqlState
            self.message = message
            self.detail = detail
            self.hint = hint
            self.context = context
        }

        public var description: String {
            var text = message + (sqlState.map { " (SQLSTATE \($0))" } ?? "")
            if let detail { text += "\nDETAIL: \(detail)" }
            if let hint { text += "\nHINT: \(hint)" }
            if let context { text += "\nCONTEXT: \(context)" }
            return text
        }
    }

    public var description: String {
        switch self {
        case .directoryNotFound(let searched):
            return searched.count == 1
                ? "migrations directory \(searched[0]) does not exist; pass --migrations DIR"
                : "no migrations directory found (looked in \(searched.joined(separator: ", "))); pass --migrations DIR"
        case .directoryUnreadable(let path, let message):
            return "cannot read migrations from \(path): \(message)"
        case .invalidFileName(let name):
            return """
                migration file \(name) is not named NNNN_name.sql (a number, an underscore, a name of \
                letters, digits, _ and -); rename it, or move it out of the migrations directory
                """
        case .notUTF8(let name):
            return "migration file \(name) is not valid UTF-8; save it as UTF-8"
        case .duplicateVersion(let version, let names):
            return """
                migrations \(names.joined(separator: " and ")) share number \(version); \
                give each file its own number
                """
        case .gap(let expected, let name):
            return """
                migration \(name) is out of sequence: expected number \(expected) next (numbers start at 1 \
                and increase by one, without gaps); renumber the files
                """
        case .checksumMismatch(let name, let applied, let file):
            return """
                migration \(name) was changed after it was applied (applied SHA-256 \(applied.prefix(12))…, \
                file now \(file.prefix(12))…). Applied migrations must not change: restore the file (git \
                checkout) and put the change in a new migration
                """
        case .nameMismatch(let name, let appliedName):
            return """
                migration \(name) was applied under the name \(appliedName); rename the file back (applied \
                migrations must not change)
                """
        case .appliedMigrationMissing(let label, let directory):
            let place = directory.map { " in \($0)" } ?? ""
            return """
                the database has migration \(label) applied, but there is no \(label).sql\(place). The \
                database is newer than these migrations: use the coordinator version (or --migrations \
                directory) that created it
                """
        case .outOfOrder(let pending, let later):
            return """
                migration \(pending) is not applied, but the later \(later) is; migrations must be added \
                only after the newest applied one: renumber \(pending) after it
                """
        case .unparsable(let name, _, let problem):
            return "migration \(name): \(problem)"
        case .transactionControl(let name, let line, let statement):
            return """
                migration \(name), line \(line): `\(statement)` is not allowed; each migration runs in its \
                own transaction, so remove BEGIN/COMMIT/ROLLBACK from the file
                """
        case .statementFailed(let name, let line, let column, let server):
            return "migration \(name) failed at line \(line), column \(column), and was rolled back: \(server)"
        }
    }
}
