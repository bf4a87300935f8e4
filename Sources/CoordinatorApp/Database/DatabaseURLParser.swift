import Foundation

/// Parses ``DatabaseURL``s (pure).
enum DatabaseURLParser {
    static let supportedParameters = ["sslmode", "host", "port", "user", "password", "dbname", "sslrootcert"]

    static func parse(_ string: String) throws(DatabaseURLError) -> DatabaseURL {
        let masked = mask(string)
        func fail(_ problem: String) -> DatabaseURLError { DatabaseURLError(url: masked, problem: problem) }

        guard let schemeEnd = string.range(of: "://"),
            ["postgres", "postgresql"].contains(string[..<schemeEnd.lowerBound].lowercased())
        else { throw fail("it must start with postgres:// or postgresql://") }
        var rest = Substring(string[schemeEnd.upperBound...])
        guard !rest.contains("#") else { throw fail("fragments (#…) are not allowed") }

        var parameters: [String: String] = [:]
        if let question = rest.firstIndex(of: "?") {
            for pair in rest[rest.index(after: question)...].split(separator: "&") where !pair.isEmpty {
                let parts = pair.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
                guard parts.count == 2, let key = parts[0].removingPercentEncoding,
                    let value = parts[1].removingPercentEncoding
                else { throw fail("parameter '\(pair.prefix { $0 != "=" })' is not KEY=VALUE") }
                guard supportedParameters.contains(key) else {
                    throw fail(
                        "unsupported parameter '\(key)' (supported: \(supportedParameters.joined(separator: ", ")))")
                }
                parameters[key] = value
            }
            rest = rest[..<question]
        }

        let slash = rest.firstIndex(of: "/") ?? rest.endIndex
        var authority = rest[..<slash]
        let path = slash < rest.endIndex ? rest[rest.index(after: slash)...] : ""

        var username = parameters["user"]
        var password = parameters["password"]
        if let at = authority.lastIndex(of: "@") {
            let userInfo = authority[..<at]
            authority = authority[authority.index(after: at)...]
            let colon = userInfo.firstIndex(of: ":")
            guard let user = userInfo[..<(colon ?? userInfo.endIndex)].removingPercentEncoding else {
                throw fail("invalid percent-encoding in the user name")
            }
            if !user.isEmpty { username = user }
            if let colon {
                guard let decoded = userInfo[userInfo.index(after: colon)...].removingPercentEncoding else {
                    throw fail("invalid percent-encoding in the password")
                }
                password = decoded
            }
        }

        var host: String
        var portText: Substring?
        if authority.hasPrefix("[") {
            guard let close = authority.firstIndex(of: "]") else { throw fail("missing ']' after the IPv6 address") }
            host = String(authority[authority.index(after: authority.startIndex)..<close])
            let after = authority[authority.index(after: close)...]
            if !after.isEmpty {
                guard after.hasPrefix(":") else { throw fail("unexpected '\(after)' after the IPv6 address") }
                portText = after.dropFirst()
            }
        } else {
            guard !authority.contains(",") else { throw fail("several hosts are not supported") }
            let colons = authority.filter { $0 == ":" }.count
            guard colons <= 1 else { throw fail("an IPv6 address must be written in brackets, e.g. [::1]") }
            let colon = authority.firstIndex(of: ":")
            guard let decoded = authority[..<(colon ?? authority.endIndex)].removingPercentEncoding else {
                throw fail("invalid percent-encoding in the host")
            }
            host = decoded
            if let colon { portText = authority[authority.index(after: colon)...] }
        }
        if let parameterHost = parameters["host"] { host = parameterHost }
        if let parameterPort = parameters["port"] { portText = Substring(parameterPort) }

        var port = 5432
        if let portText {
            guard let value = Int(portText), (1...65_535).contains(value) else {
                throw fail("port '\(portText)' is not a number from 1 to 65535")
            }
            port = value
        }

        guard let decodedPath = path.removingPercentEncoding else {
            throw fail("invalid percent-encoding in the database name")
        }
        guard !path.contains("/") else { throw fail("the path must be just /DATABASE") }
        let database = parameters["dbname"] ?? (decodedPath.isEmpty ? nil : decodedPath)

        guard let username, !username.isEmpty else { throw fail("no user name (postgres://USER@HOST/DATABASE)") }
        guard !host.isEmpty else {
            throw fail("no host (give HOST, or ?host=/socket/directory for a unix socket)")
        }
        let sslText = parameters["sslmode"] ?? DatabaseURL.SSLMode.prefer.rawValue
        guard let sslMode = DatabaseURL.SSLMode(rawValue: sslText) else {
            let modes = DatabaseURL.SSLMode.allCases.map(\.rawValue).joined(separator: ", ")
            throw fail("sslmode '\(sslText)' is not one of \(modes)")
        }
        let endpoint: DatabaseURL.Endpoint =
            host.hasPrefix("/")
            ? .unixSocket(path: URL(fileURLWithPath: host).appendingPathComponent(".s.PGSQL.\(port)").path)
            : .tcp(host: host, port: port)
        return DatabaseURL(
            endpoint: endpoint, username: username, password: password, database: database, sslMode: sslMode,
            sslRootCertificate: parameters["sslrootcert"])
    }

    /// `string` with the password (in the user info or a `password=` parameter) replaced by `***`.
    static func mask(_ string: String) -> String {
        var text = string
        if let schemeEnd = text.range(of: "://") {
            let rest = text[schemeEnd.upperBound...]
            let authorityEnd = rest.firstIndex { $0 == "/" || $0 == "?" || $0 == "#" } ?? rest.endIndex
            let authority = rest[..<authorityEnd]
            if let at = authority.lastIndex(of: "@"), let colon = authority[..<at].firstIndex(of: ":") {
                text.replaceSubrange(text.index(after: colon)..<at, with: "***")
            }
        }
        if let range = text.range(of: "password=") {
            let end = text[range.upperBound...].firstIndex { $0 == "&" || $0 == "#" } ?? text.endIndex
            text.replaceSubrange(range.upperBound..<end, with: "***")
        }
        return text
    }
}
