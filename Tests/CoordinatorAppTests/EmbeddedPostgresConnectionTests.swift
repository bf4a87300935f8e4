import Foundation
import PostgresNIO
import Testing

@testable import CoordinatorApp

/// Database URLs, choosing between an external and the embedded database, and connecting.
@Suite struct EmbeddedPostgresConnectionTests {
    @Test func fullURLIsParsed() throws {
        let url = try DatabaseURL("postgres://koinon:s%40cret%3A1@db.example.org:6543/training?sslmode=disable")
        #expect(url.endpoint == .tcp(host: "db.example.org", port: 6543))
        #expect(url.username == "koinon")
        #expect(url.password == "s@cret:1")
        #expect(url.database == "training")
        #expect(url.sslMode == .disable)
        let configuration = url.clientConfiguration()
        #expect(configuration.host == "db.example.org" && configuration.port == 6543)
        #expect(configuration.username == "koinon" && configuration.password == "s@cret:1")
        #expect(configuration.database == "training")
        #expect(url.description == "postgres://koinon:***@db.example.org:6543/training?sslmode=disable")
    }

    @Test func defaultsFollowLibpq() throws {
        let url = try DatabaseURL("postgresql://ada@localhost")
        #expect(url.endpoint == .tcp(host: "localhost", port: 5432))
        #expect(url.password == nil && url.database == nil)
        #expect(url.sslMode == .prefer)
        #expect(try DatabaseURL("postgres://ada@[::1]:5433/db").endpoint == .tcp(host: "::1", port: 5433))
        #expect(try DatabaseURL("POSTGRES://ada@h/d").endpoint == .tcp(host: "h", port: 5432))
        #expect(try DatabaseURL("postgres://ada@h/d?sslmode=verify-full").sslMode == .verifyFull)
    }

    @Test func unixSocketDirectoryInHostParameterOrEncodedHost() throws {
        let url = try DatabaseURL("postgres://ada@/db?host=/var/run/postgresql")
        #expect(url.endpoint == .unixSocket(path: "/var/run/postgresql/.s.PGSQL.5432"))
        #expect(url.clientConfiguration().unixSocketPath == "/var/run/postgresql/.s.PGSQL.5432")
        #expect(
            try DatabaseURL("postgres://ada@%2Ftmp%2Fpg:5999/db").endpoint == .unixSocket(path: "/tmp/pg/.s.PGSQL.5999")
        )
    }

    @Test func malformedURLsSayWhatIsWrongWithoutThePassword() {
        let cases: [(String, String)] = [
            ("mysql://ada:pw@h/d", "must start with postgres://"),
            ("postgres://ada:pw@h:99999/d", "port '99999'"),
            ("postgres://ada:pw@h:abc/d", "port 'abc'"),
            ("postgres://h/d", "no user name"),
            ("postgres://ada:pw@/d", "no host"),
            ("postgres://ada:pw@h/d?sslmode=sometimes", "sslmode 'sometimes'"),
            ("postgres://ada:pw@h/d?connect_timeout=3", "unsupported parameter 'connect_timeout'"),
            ("postgres://ada:pw@h1,h2/d", "several hosts"),
            ("postgres://ada:pw@::1/d", "brackets"),
            ("postgres://ada:pw@h/d/e", "just /DATABASE"),
            ("postgres://ada:p%zzw@h/d", "percent-encoding in the password"),
        ]
        for (text, problem) in cases {
            do {
                _ = try DatabaseURL(text)
                Issue.record("\(text) was accepted")
            } catch {
                #expect(error.problem.contains(problem), "\(text): \(error.problem)")
                #expect(!error.description.contains(":pw@") && !error.description.contains("p%zzw"), "\(error)")
                #expect(error.description.contains("postgres://USER[:PASSWORD]@HOST"))
            }
        }
        #expect(
            DatabaseURLParser.mask("postgres://a:secret@h/d?password=other&sslmode=disable")
                == "postgres://a:***@h/d?password=***&sslmode=disable")
    }

    @Test func flagThenEnvironmentThenEmbedded() throws {
        let data = URL(fileURLWithPath: "/srv/koinon-data")
        let env = [DatabaseSource.urlVariable: "postgres://env@envhost/db"]
        guard
            case .external(let flag) = try DatabaseSource.resolve(
                databaseURL: "postgres://flag@flaghost/db", environment: env, dataDirectory: data)
        else {
            Issue.record("flag ignored")
            return
        }
        #expect(flag.username == "flag")
        guard
            case .external(let fromEnvironment) = try DatabaseSource.resolve(
                databaseURL: nil, environment: env, dataDirectory: data)
        else {
            Issue.record("DATABASE_URL ignored")
            return
        }
        #expect(fromEnvironment.username == "env")
        for environment in [[:], [DatabaseSource.urlVariable: ""]] {
            guard
                case .embedded(let configuration) = try DatabaseSource.resolve(
                    databaseURL: nil, environment: environment, dataDirectory: data)
            else {
                Issue.record("expected the embedded cluster")
                return
            }
            #expect(configuration.directory.path == "/srv/koinon-data/postgres")
        }
        #expect(throws: DatabaseURLError.self) {
            try DatabaseSource.resolve(databaseURL: "localhost:5432", environment: [:], dataDirectory: data)
        }
    }

    @Test func urlClientReachesARealServer() async throws {
        try await TestDatabase.withFresh { db in
            let socketDirectory = URL(fileURLWithPath: db.endpoint.socketPath).deletingLastPathComponent().path
            let url = try DatabaseURL(
                "postgres://\(db.endpoint.username)@/\(db.name)?host=\(socketDirectory)&sslmode=disable")
            let answer = try await DatabaseSource.external(url).withClient(logger: TestDatabase.logger) { client in
                var names: [String] = []
                for try await name in try await client.query("SELECT current_database()::text").decode(String.self) {
                    names.append(name)
                }
                return names
            }
            #expect(answer == [db.name])
        }
    }

    @Test func embeddedSourceStartsAndStopsItsCluster() async throws {
        let data = try TestDatabase.scratchDirectory("data")
        guard
            case .embedded(var configuration) = try DatabaseSource.resolve(
                databaseURL: nil, environment: [:], dataDirectory: data)
        else {
            Issue.record("expected the embedded cluster")
            return
        }
        configuration.durability = .throwaway
        let source = DatabaseSource.embedded(configuration)
        let user = try await source.withClient(logger: TestDatabase.logger) { client in
            var users: [String] = []
            for try await name in try await client.query("SELECT current_user::text || '@' || current_database()")
                .decode(String.self)
            {
                users.append(name)
            }
            return users
        }
        #expect(user == ["koinon@koinon"])
        let layout = EmbeddedPostgresLayout(directory: configuration.directory)
        #expect(!FileManager.default.fileExists(atPath: layout.postmasterPIDFile.path))
    }
}
