import Foundation

/// A build is written to a staging directory beside `OUT` and moved into
/// place only when complete, so a failed or interrupted build never leaves a
/// half-written dataset, and an existing `OUT` is replaced only when it is an
/// earlier dataset build (nothing else in it can be lost).
struct OutputDirectory {
    /// What a dataset build writes at the top of `OUT`; anything else there
    /// means `OUT` is not (only) a dataset and must not be replaced.
    static let datasetEntries: Set<String> = [
        DatasetManifest.fileName, Datasheet.jsonFileName, Datasheet.markdownFileName, "shards", "tokenizer",
    ]

    let destination: URL
    let staging: URL

    /// Checks that `destination` may be written and creates an empty staging directory.
    static func prepare(_ destination: URL) throws -> OutputDirectory {
        let destination = destination.standardizedFileURL
        try checkReplaceable(destination)
        let parent = destination.deletingLastPathComponent()
        let staging = parent.appendingPathComponent(".\(destination.lastPathComponent).koinon-staging")
        let fm = FileManager.default
        do {
            try fm.createDirectory(at: parent, withIntermediateDirectories: true)
            // A leftover from an interrupted build: ours by its name, safe to remove.
            if fm.fileExists(atPath: staging.path) { try fm.removeItem(at: staging) }
            try fm.createDirectory(at: staging, withIntermediateDirectories: false)
        } catch {
            throw DatasetError.outputFailure(path: staging.path, reason: error.localizedDescription)
        }
        return OutputDirectory(destination: destination, staging: staging)
    }

    /// Throws unless `directory` is absent, empty, or an earlier dataset build.
    static func checkReplaceable(_ directory: URL) throws {
        let fm = FileManager.default
        var isDirectory: ObjCBool = false
        guard fm.fileExists(atPath: directory.path, isDirectory: &isDirectory) else { return }
        guard isDirectory.boolValue else {
            throw DatasetError.outputFailure(path: directory.path, reason: "it exists and is not a directory")
        }
        let entries: [String]
        do { entries = try fm.contentsOfDirectory(atPath: directory.path) } catch {
            throw DatasetError.outputFailure(path: directory.path, reason: error.localizedDescription)
        }
        if entries.isEmpty { return }
        guard Set(entries).isSubset(of: datasetEntries),
            (try? DatasetManifest.load(fromDatasetDirectory: directory)) != nil
        else {
            throw DatasetError.outputNotADataset(path: directory.path)
        }
    }

    /// Moves the finished build into place, replacing an earlier build.
    func commit() throws {
        let fm = FileManager.default
        try Self.checkReplaceable(destination)
        let previous = destination.deletingLastPathComponent()
            .appendingPathComponent(".\(destination.lastPathComponent).koinon-previous")
        do {
            if fm.fileExists(atPath: previous.path) { try fm.removeItem(at: previous) }
            let replacing = fm.fileExists(atPath: destination.path)
            if replacing { try fm.moveItem(at: destination, to: previous) }
            do { try fm.moveItem(at: staging, to: destination) } catch {
                // Put the earlier build back rather than leave no dataset at all.
                if replacing { try? fm.moveItem(at: previous, to: destination) }
                throw error
            }
            if replacing { try fm.removeItem(at: previous) }
        } catch {
            throw DatasetError.outputFailure(path: destination.path, reason: error.localizedDescription)
        }
    }

    /// Removes the staging directory after a failed build.
    func discard() {
        try? FileManager.default.removeItem(at: staging)
    }
}
