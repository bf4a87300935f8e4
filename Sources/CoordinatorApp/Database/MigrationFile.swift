import Crypto
import Foundation

/// A migration file `NNNN_name.sql` as read from disk.
public struct MigrationFile: Sendable, Equatable {
    public var version: Int
    /// The part after the number: `init` for `0001_init.sql`.
    public var name: String
    /// `0001_init.sql`.
    public var fileName: String
    /// Lower-case hex SHA-256 of the file's bytes.
    public var checksum: String
    public var sql: String

    public init(version: Int, name: String, fileName: String, checksum: String, sql: String) {
        self.version = version
        self.name = name
        self.fileName = fileName
        self.checksum = checksum
        self.sql = sql
    }

    /// A migration from its file name and contents.
    public init(fileName: String, contents: Data) throws(MigrationError) {
        guard let parsed = Self.parse(fileName: fileName) else { throw .invalidFileName(fileName) }
        guard let sql = String(data: contents, encoding: .utf8) else { throw .notUTF8(fileName) }
        self.init(
            version: parsed.version, name: parsed.name, fileName: fileName, checksum: Self.checksum(contents), sql: sql)
    }

    /// `0001_init.sql` → (1, "init"): at least one digit, an underscore, a name of letters,
    /// digits, `_` and `-`, and `.sql`.
    public static func parse(fileName: String) -> (version: Int, name: String)? {
        guard fileName.hasSuffix(".sql") else { return nil }
        let stem = fileName.dropLast(4)
        guard let underscore = stem.firstIndex(of: "_") else { return nil }
        let digits = stem[..<underscore]
        let name = stem[stem.index(after: underscore)...]
        guard !digits.isEmpty, digits.allSatisfy(\.isASCII), digits.allSatisfy(\.isNumber), let version = Int(digits),
            !name.isEmpty, name.allSatisfy({ $0.isASCII && ($0.isLetter || $0.isNumber || $0 == "_" || $0 == "-") })
        else { return nil }
        return (version, String(name))
    }

    public static func checksum(_ contents: Data) -> String {
        SHA256.hash(data: contents).map { String(format: "%02x", $0) }.joined()
    }

    /// `NNNN_name`, as migrations are named in messages.
    public var label: String { String(fileName.dropLast(4)) }
}

/// A row of `schema_migrations`: a migration applied to the database.
public struct AppliedMigration: Sendable, Equatable {
    public var version: Int
    public var name: String
    public var checksum: String
    public var appliedAt: Date

    public init(version: Int, name: String, checksum: String, appliedAt: Date) {
        self.version = version
        self.name = name
        self.checksum = checksum
        self.appliedAt = appliedAt
    }

    /// `NNNN_name`, as migrations are named in messages.
    public var label: String { String(format: "%04d_", version) + name }
}
