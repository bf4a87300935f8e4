import Foundation

/// The PostgreSQL server programs (`initdb`, `pg_ctl`) of one installed major version.
public struct PostgresInstallation: Sendable, Hashable, CustomStringConvertible {
    /// Major version, e.g. 15.
    public var majorVersion: Int
    /// Directory holding `initdb`, `pg_ctl` and `postgres`.
    public var binDirectory: URL

    public init(majorVersion: Int, binDirectory: URL) {
        self.majorVersion = majorVersion
        self.binDirectory = binDirectory
    }

    public var initdb: URL { binDirectory.appendingPathComponent("initdb") }
    public var pgCtl: URL { binDirectory.appendingPathComponent("pg_ctl") }

    public var description: String { "PostgreSQL \(majorVersion) (\(binDirectory.path))" }
}

extension PostgresInstallation {
    /// Where Debian and Ubuntu put each major version's server programs: `ROOT/<major>/bin`.
    public static let debianRoot = URL(fileURLWithPath: "/usr/lib/postgresql")
    /// Environment variable naming a directory with `initdb` and `pg_ctl`, overriding the search.
    public static let binDirectoryVariable = "KOINON_POSTGRES_BIN"

    /// Picks the installation to run a cluster with.
    ///
    /// - `required`: the major version an existing cluster was created with (its `PG_VERSION`);
    ///   `nil` for a new cluster, which gets the newest installed version.
    /// - `candidates`: the installed versions, e.g. from ``installed(root:)``.
    /// - `override`: an explicit installation (from ``binDirectoryVariable``), used as is when
    ///   its version fits.
    static func choose(
        required: Int?, candidates: [PostgresInstallation], override: PostgresInstallation?, searched: String
    ) throws(EmbeddedPostgresError) -> PostgresInstallation {
        if let override {
            if let required, override.majorVersion != required {
                throw .clusterVersionNotInstalled(
                    required: required, installed: [override.majorVersion], searched: searched)
            }
            return override
        }
        let sorted = candidates.sorted { $0.majorVersion > $1.majorVersion }
        guard let newest = sorted.first else { throw .serverNotInstalled(searched: searched) }
        guard let required else { return newest }
        guard let match = sorted.first(where: { $0.majorVersion == required }) else {
            throw .clusterVersionNotInstalled(
                required: required, installed: sorted.map(\.majorVersion), searched: searched)
        }
        return match
    }

    /// The installations under `root` (`root/<major>/bin` with both `initdb` and `pg_ctl`).
    public static func installed(root: URL = debianRoot) -> [PostgresInstallation] {
        let fm = FileManager.default
        guard let entries = try? fm.contentsOfDirectory(atPath: root.path) else { return [] }
        return entries.compactMap { entry in
            guard let major = Int(entry), major > 0 else { return nil }
            let bin = root.appendingPathComponent(entry).appendingPathComponent("bin")
            let installation = PostgresInstallation(majorVersion: major, binDirectory: bin)
            guard fm.isExecutableFile(atPath: installation.initdb.path),
                fm.isExecutableFile(atPath: installation.pgCtl.path)
            else { return nil }
            return installation
        }
    }

    /// The installation to use for a cluster: `KOINON_POSTGRES_BIN` if set, else the newest
    /// (or, for an existing cluster, the matching) version under `/usr/lib/postgresql`.
    public static func find(
        forClusterVersion required: Int?, environment: [String: String] = ProcessInfo.processInfo.environment,
        root: URL = debianRoot
    ) throws(EmbeddedPostgresError) -> PostgresInstallation {
        if let path = environment[binDirectoryVariable], !path.isEmpty {
            let bin = URL(fileURLWithPath: path)
            let version = try majorVersion(ofBinDirectory: bin)
            return try choose(
                required: required, candidates: [],
                override: PostgresInstallation(majorVersion: version, binDirectory: bin),
                searched: "\(binDirectoryVariable)=\(path)")
        }
        return try choose(
            required: required, candidates: installed(root: root), override: nil,
            searched: "\(root.path)/<version>/bin")
    }

    /// The major version of the programs in `bin`, read from `pg_ctl --version`
    /// ("pg_ctl (PostgreSQL) 15.8 (Debian 15.8-0+deb12u1)").
    static func majorVersion(ofBinDirectory bin: URL) throws(EmbeddedPostgresError) -> Int {
        let pgCtl = bin.appendingPathComponent("pg_ctl")
        guard FileManager.default.isExecutableFile(atPath: pgCtl.path),
            FileManager.default.isExecutableFile(atPath: bin.appendingPathComponent("initdb").path)
        else { throw .serverNotInstalled(searched: "\(binDirectoryVariable)=\(bin.path)") }
        let output: String
        do { output = try ProcessRunner.runSynchronously(pgCtl, ["--version"]) } catch {
            throw .serverNotInstalled(
                searched: "\(binDirectoryVariable)=\(bin.path) (pg_ctl --version failed: \(error))")
        }
        guard let version = parseMajorVersion(output) else {
            throw .serverNotInstalled(
                searched: "\(binDirectoryVariable)=\(bin.path) (unrecognised pg_ctl --version: \(output))")
        }
        return version
    }

    /// "pg_ctl (PostgreSQL) 15.8 (Debian …)" → 15; "… 9.6.24" → 9.
    static func parseMajorVersion(_ versionLine: String) -> Int? {
        guard let range = versionLine.range(of: "(PostgreSQL) ") else { return nil }
        let digits = versionLine[range.upperBound...].prefix(while: \.isNumber)
        return Int(digits)
    }
}
