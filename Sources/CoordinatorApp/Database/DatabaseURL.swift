import Foundation
import PostgresNIO

/// A libpq-style connection URL for an external PostgreSQL:
///
///     postgres://USER[:PASSWORD]@HOST[:PORT]/DATABASE[?sslmode=MODE]
///     postgresql://USER@/DATABASE?host=/var/run/postgresql      (unix socket directory)
///
/// User name, password and database are percent-decoded. The port defaults to 5432, the
/// database to the user name (as in libpq), `sslmode` to `prefer`. Parameters: `sslmode`
/// (`disable`, `prefer`, `require`, `verify-ca`, `verify-full`), `host` (a unix socket
/// directory), `sslrootcert` (a PEM file of trusted CA certificates for the verify modes).
public struct DatabaseURL: Sendable, Equatable, CustomStringConvertible {
    public enum Endpoint: Sendable, Equatable {
        case tcp(host: String, port: Int)
        /// The socket file (`DIR/.s.PGSQL.PORT`).
        case unixSocket(path: String)
    }

    /// libpq's `sslmode` values that PostgresNIO can honour.
    public enum SSLMode: String, Sendable, CaseIterable {
        case disable, prefer, require
        case verifyCA = "verify-ca"
        case verifyFull = "verify-full"
    }

    public var endpoint: Endpoint
    public var username: String
    public var password: String?
    public var database: String?
    public var sslMode: SSLMode
    public var sslRootCertificate: String?

    /// The URL with its password replaced by `***`, for logs and errors.
    public var description: String {
        var text = "postgres://" + username + (password == nil ? "" : ":***") + "@"
        switch endpoint {
        case .tcp(let host, let port): text += (host.contains(":") ? "[\(host)]" : host) + ":\(port)"
        case .unixSocket: break
        }
        text += "/" + (database ?? "")
        var parameters = ["sslmode=\(sslMode.rawValue)"]
        if case .unixSocket(let path) = endpoint {
            parameters.append("host=\(URL(fileURLWithPath: path).deletingLastPathComponent().path)")
        }
        if let sslRootCertificate { parameters.append("sslrootcert=\(sslRootCertificate)") }
        return text + "?" + parameters.joined(separator: "&")
    }

    /// Parses `string`; throws ``DatabaseURLError`` (which never repeats the password).
    public init(_ string: String) throws(DatabaseURLError) {
        self = try DatabaseURLParser.parse(string)
    }

    init(
        endpoint: Endpoint, username: String, password: String?, database: String?, sslMode: SSLMode,
        sslRootCertificate: String?
    ) {
        self.endpoint = endpoint
        self.username = username
        self.password = password
        self.database = database
        self.sslMode = sslMode
        self.sslRootCertificate = sslRootCertificate
    }

    /// The `PostgresClient` configuration this URL describes.
    public func clientConfiguration() -> PostgresClient.Configuration {
        switch endpoint {
        case .unixSocket(let path):
            return PostgresClient.Configuration(
                unixSocketPath: path, username: username, password: password, database: database)
        case .tcp(let host, let port):
            return PostgresClient.Configuration(
                host: host, port: port, username: username, password: password, database: database, tls: tls)
        }
    }

    private var tls: PostgresClient.Configuration.TLS {
        var configuration = TLSConfiguration.makeClientConfiguration()
        if let sslRootCertificate { configuration.trustRoots = .file(sslRootCertificate) }
        switch sslMode {
        case .disable:
            return .disable
        case .prefer:
            // As libpq: encryption if the server offers it, no certificate checks.
            configuration.certificateVerification = .none
            return .prefer(configuration)
        case .require:
            configuration.certificateVerification = .none
            return .require(configuration)
        case .verifyCA:
            configuration.certificateVerification = .noHostnameVerification
            return .require(configuration)
        case .verifyFull:
            configuration.certificateVerification = .fullVerification
            return .require(configuration)
        }
    }
}

/// A malformed database URL; the message shows the expected form and hides any password.
public struct DatabaseURLError: Error, Sendable, Equatable, CustomStringConvertible {
    /// The URL with the password masked.
    public var url: String
    public var problem: String

    public var description: String {
        """
        invalid database URL \(url): \(problem). Expected \
        postgres://USER[:PASSWORD]@HOST[:PORT]/DATABASE[?sslmode=disable|prefer|require|verify-ca|verify-full] \
        (percent-encode special characters in the user name and password).
        """
    }
}
