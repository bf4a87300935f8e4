import Crypto
import Foundation

/// The secret the operator's commands send as `Authorization: Bearer
/// <token>` to the operator endpoints. It lives in `<data-dir>/operator-token`
/// (mode 0600): made at the first start (32 random bytes as 64 hex digits),
/// read at every later one.
public struct OperatorToken: Sendable, CustomStringConvertible {
    /// The token's text.
    public let value: String

    /// The file name in the data directory.
    public static let fileName = "operator-token"

    public init(_ value: String) throws {
        let trimmed = value.trimmingCharacters(in: .whitespacesAndNewlines)
        guard trimmed.count >= 16, trimmed.unicodeScalars.allSatisfy({ $0.isASCII && $0.properties.isWhitespace == false }) else {
            throw SecretFile.Failure(description: "an operator token must be at least 16 printable ASCII characters without spaces")
        }
        self.value = trimmed
    }

    /// A new random token: 32 bytes from the system's secure generator, as hex.
    public static func random() -> OperatorToken {
        var generator = SystemRandomNumberGenerator()
        let bytes = (0..<32).map { _ in UInt8.random(in: .min ... .max, using: &generator) }
        return try! OperatorToken(bytes.map { String(format: "%02x", $0) }.joined())
    }

    /// Never prints the secret.
    public var description: String { "OperatorToken(…)" }

    /// Whether `presented` is this token, in time that does not depend on
    /// where they differ (both are hashed first, so not on their lengths either).
    public func matches(_ presented: String) -> Bool {
        let a = SHA256.hash(data: Data(value.utf8))
        let b = SHA256.hash(data: Data(presented.utf8))
        var difference: UInt8 = 0
        for (x, y) in zip(a, b) { difference |= x ^ y }
        return difference == 0
    }

    /// The token in `file`, made there first when the file does not exist.
    public static func loadOrCreate(_ file: URL) throws -> (token: OperatorToken, created: Bool) {
        if !FileManager.default.fileExists(atPath: file.path) {
            try SecretFile.directory(file.deletingLastPathComponent(), mode: 0o755)
            let token = random()
            do {
                try SecretFile.create(file, contents: Data((token.value + "\n").utf8))
                return (token, true)
            } catch where FileManager.default.fileExists(atPath: file.path) {
                // Made meanwhile by another process: read that one.
            }
        }
        let data = try SecretFile.read(file, what: "operator token")
        do { return (try OperatorToken(String(decoding: data, as: UTF8.self)), false) } catch {
            throw SecretFile.Failure(description: "operator token \(file.path): \(error) (delete the file to make a new one)")
        }
    }
}
