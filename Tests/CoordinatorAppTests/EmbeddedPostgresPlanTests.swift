import Foundation
import Testing

@testable import CoordinatorApp

/// The embedded cluster's pure parts: layout, settings, start plan, server account, installation choice.
@Suite struct EmbeddedPostgresPlanTests {
    @Test func layoutKeepsEverythingInTheDirectory() {
        let layout = EmbeddedPostgresLayout(directory: URL(fileURLWithPath: "/srv/koinon/./data/postgres"))
        #expect(layout.directory.path == "/srv/koinon/data/postgres")
        #expect(layout.dataDirectory.path == "/srv/koinon/data/postgres/pgdata")
        #expect(layout.lockFile.path == "/srv/koinon/data/postgres/koinon.lock")
        #expect(layout.logFile.path == "/srv/koinon/data/postgres/server.log")
        #expect(layout.settingsFile.path == "/srv/koinon/data/postgres/pgdata/koinon.conf")
        #expect(!layout.usesShortSocketDirectory)
        #expect(layout.socketPath == "/srv/koinon/data/postgres/.s.PGSQL.5432")
    }

    @Test func longDirectoryMovesTheSocketToAShortPerClusterDirectory() {
        // 93 + "/.s.PGSQL.5432" (14) = 107 bytes: the longest that fits.
        let fits = "/" + String(repeating: "a", count: 92)
        #expect(EmbeddedPostgresLayout(directory: URL(fileURLWithPath: fits)).socketPath.utf8.count == 107)
        #expect(!EmbeddedPostgresLayout(directory: URL(fileURLWithPath: fits)).usesShortSocketDirectory)

        let long = EmbeddedPostgresLayout(directory: URL(fileURLWithPath: fits + "b"))
        #expect(long.usesShortSocketDirectory)
        #expect(long.socketDirectory.path.hasPrefix("/tmp/koinon-pg-"))
        #expect(long.socketDirectory.lastPathComponent.count == "koinon-pg-".count + 16)
        #expect(long.socketPath.utf8.count < 50)
        // Stable for one directory, different for another.
        #expect(EmbeddedPostgresLayout(directory: URL(fileURLWithPath: fits + "b")).socketPath == long.socketPath)
        #expect(EmbeddedPostgresLayout(directory: URL(fileURLWithPath: fits + "c")).socketPath != long.socketPath)
    }

    @Test func settingsListenOnlyOnTheSocket() {
        let text = EmbeddedPostgresSettings(socketDirectory: "/srv/it's, here\\", durability: .full).render()
        #expect(text.contains("listen_addresses = ''\n"))
        #expect(text.contains("unix_socket_directories = '\"/srv/it''s, here\\\\\"'\n"))
        #expect(text.contains("unix_socket_permissions = 0700\n"))
        #expect(!text.contains("fsync"))
        let throwaway = EmbeddedPostgresSettings(socketDirectory: "/s", durability: .throwaway).render()
        #expect(throwaway.contains("fsync = off\n") && throwaway.contains("synchronous_commit = off\n"))
    }

    @Test func startPlanFollowsWhatIsOnDisk() throws {
        #expect(
            try ClusterStartPlan.steps(contents: .none, postmaster: .stopped, directory: "/d")
                == [.createCluster, .start, .ensureDatabase])
        #expect(
            try ClusterStartPlan.steps(contents: .cluster(majorVersion: 15), postmaster: .stopped, directory: "/d")
                == [.start, .ensureDatabase])
        #expect(
            try ClusterStartPlan.steps(
                contents: .cluster(majorVersion: 15), postmaster: .orphaned(pid: 42), directory: "/d")
                == [.stopOrphanedServer(pid: 42), .start, .ensureDatabase])
        #expect(
            try ClusterStartPlan.steps(
                contents: .cluster(majorVersion: 15), postmaster: .stale(pid: 42), directory: "/d")
                == [.clearStalePIDFile(pid: 42), .start, .ensureDatabase])
        #expect(throws: EmbeddedPostgresError.notACluster(path: "/d", entries: ["photos"])) {
            try ClusterStartPlan.steps(
                contents: .notACluster(entries: ["photos"]), postmaster: .stopped, directory: "/d")
        }
    }

    @Test func postmasterPIDIsTheFirstLine() {
        #expect(ClusterStartPlan.postmasterPID(fromPIDFile: "7405\n/tmp/pgt/pgdata\n1795725021\n5432\n") == 7405)
        #expect(ClusterStartPlan.postmasterPID(fromPIDFile: "") == nil)
        #expect(ClusterStartPlan.postmasterPID(fromPIDFile: "-3\n") == nil)
        #expect(ClusterStartPlan.postmasterPID(fromPIDFile: "garbage") == nil)
    }

    @Test func rootRunsTheServerAsThePostgresUser() throws {
        let root = ServerAccount.Environment(
            effectiveUID: 0, currentUser: .init(name: "root", uid: 0, gid: 0),
            systemUser: .init(name: "postgres", uid: 101, gid: 104), runuserPath: "/usr/sbin/runuser",
            setprivPath: "/usr/bin/setpriv")
        let account = try ServerAccount.decide(root)
        #expect(account.userName == "postgres" && account.uid == 101 && account.gid == 104)
        let command = account.command(URL(fileURLWithPath: "/pg/bin/initdb"), ["-D", "/d"])
        #expect(command.executable.path == "/usr/sbin/runuser")
        #expect(command.arguments == ["-u", "postgres", "--", "/pg/bin/initdb", "-D", "/d"])

        var noRunuser = root
        noRunuser.runuserPath = nil
        #expect(
            try ServerAccount.decide(noRunuser).launcher
                == ["/usr/bin/setpriv", "--reuid=101", "--regid=104", "--init-groups", "--"])
        noRunuser.setprivPath = nil
        #expect(throws: EmbeddedPostgresError.noPrivilegeDropTool(userName: "postgres")) {
            try ServerAccount.decide(noRunuser)
        }
        var noUser = root
        noUser.systemUser = nil
        #expect(throws: EmbeddedPostgresError.rootWithoutServerUser(userName: "postgres")) {
            try ServerAccount.decide(noUser)
        }
        #expect(EmbeddedPostgresError.rootWithoutServerUser(userName: "postgres").description.contains("useradd"))
    }

    @Test func unprivilegedUserRunsTheServerItself() throws {
        let account = try ServerAccount.decide(
            .init(
                effectiveUID: 1000, currentUser: .init(name: "ada", uid: 1000, gid: 1000), systemUser: nil,
                runuserPath: nil, setprivPath: nil))
        #expect(account.userName == "ada" && account.uid == 1000 && !account.switchesUser)
        let command = account.command(URL(fileURLWithPath: "/pg/bin/pg_ctl"), ["start"])
        #expect(command.executable.path == "/pg/bin/pg_ctl" && command.arguments == ["start"])
    }

    @Test func newestInstallationForNewClustersMatchingOneForExisting() throws {
        let v14 = PostgresInstallation(
            majorVersion: 14, binDirectory: URL(fileURLWithPath: "/usr/lib/postgresql/14/bin"))
        let v16 = PostgresInstallation(
            majorVersion: 16, binDirectory: URL(fileURLWithPath: "/usr/lib/postgresql/16/bin"))
        #expect(
            try PostgresInstallation.choose(required: nil, candidates: [v14, v16], override: nil, searched: "") == v16)
        #expect(
            try PostgresInstallation.choose(required: 14, candidates: [v16, v14], override: nil, searched: "") == v14)
        #expect(
            throws: EmbeddedPostgresError.clusterVersionNotInstalled(required: 15, installed: [16, 14], searched: "x")
        ) {
            try PostgresInstallation.choose(required: 15, candidates: [v14, v16], override: nil, searched: "x")
        }
        #expect(throws: EmbeddedPostgresError.serverNotInstalled(searched: "x")) {
            try PostgresInstallation.choose(required: nil, candidates: [], override: nil, searched: "x")
        }
        #expect(
            EmbeddedPostgresError.serverNotInstalled(searched: "x").description.contains("apt-get install postgresql"))
        #expect(PostgresInstallation.parseMajorVersion("pg_ctl (PostgreSQL) 15.8 (Debian 15.8-0+deb12u1)\n") == 15)
        #expect(PostgresInstallation.parseMajorVersion("pg_ctl (PostgreSQL) 9.6.24") == 9)
        #expect(PostgresInstallation.parseMajorVersion("something else") == nil)
    }

    @Test func installedVersionsAreFoundOnThisMachine() throws {
        // scripts/install-deps.sh installs the Debian `postgresql` package.
        let installed = PostgresInstallation.installed()
        #expect(!installed.isEmpty)
        let chosen = try PostgresInstallation.find(forClusterVersion: nil, environment: [:])
        #expect(chosen.majorVersion == installed.map(\.majorVersion).max())
        #expect(throws: EmbeddedPostgresError.self) {
            try PostgresInstallation.find(
                forClusterVersion: nil, environment: [PostgresInstallation.binDirectoryVariable: "/nonexistent"])
        }
        let viaVariable = try PostgresInstallation.find(
            forClusterVersion: nil,
            environment: [PostgresInstallation.binDirectoryVariable: chosen.binDirectory.path])
        #expect(viaVariable == chosen)
    }
}
