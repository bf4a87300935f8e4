import Foundation

/// Reading the migration files of a directory.
public enum MigrationDirectory {
    /// The `*.sql` files of `directory` (other files, such as a README, are ignored), in no
    /// particular order; ``MigrationPlan`` checks the numbering.
    public static func load(_ directory: URL) throws(MigrationError) -> [MigrationFile] {
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: directory.path, isDirectory: &isDirectory), isDirectory.boolValue
        else { throw .directoryNotFound(searched: [directory.path]) }
        let names: [String]
        do { names = try FileManager.default.contentsOfDirectory(atPath: directory.path) } catch {
            throw .directoryUnreadable(path: directory.path, message: error.localizedDescription)
        }
        var files: [MigrationFile] = []
        for name in names.sorted() where name.hasSuffix(".sql") && !name.hasPrefix(".") {
            let url = directory.appendingPathComponent(name)
            let contents: Data
            do { contents = try Data(contentsOf: url) } catch {
                throw .directoryUnreadable(path: url.path, message: error.localizedDescription)
            }
            files.append(try MigrationFile(fileName: name, contents: contents))
        }
        return files
    }

    /// The places a migrations directory is looked for, in order: `migrations/` in the current
    /// directory, then next to the executable and in each of its parent directories (so a
    /// binary in `.build/debug/` finds the repository's `migrations/`).
    public static func candidates(currentDirectory: URL, executable: URL?) -> [URL] {
        RepositoryResource.candidates(named: "migrations", currentDirectory: currentDirectory, executable: executable)
    }

    /// The first existing directory among ``candidates(currentDirectory:executable:)``.
    public static func locate(
        currentDirectory: URL = URL(fileURLWithPath: FileManager.default.currentDirectoryPath),
        executable: URL? = Bundle.main.executableURL?.resolvingSymlinksInPath()
    ) throws(MigrationError) -> URL {
        let candidates = candidates(currentDirectory: currentDirectory, executable: executable)
        for candidate in candidates {
            var isDirectory: ObjCBool = false
            if FileManager.default.fileExists(atPath: candidate.path, isDirectory: &isDirectory), isDirectory.boolValue
            {
                return candidate
            }
        }
        throw .directoryNotFound(searched: candidates.map(\.path))
    }
}
