import CoordinatorApp
import Foundation
import NIOSSL
import Testing
import WorkerKit
import X509

#if canImport(Glibc)
    import Glibc
#endif

/// The coordinator's certificate (made at the first start, reused later, or
/// given as files, with clear errors for a missing, unreadable or mismatched
/// pair) and its operator token.
@Suite struct ServerTLSTests {
    static func scratch() throws -> URL {
        let url = FileManager.default.temporaryDirectory.appendingPathComponent("koinon-tls-\(UUID().uuidString.prefix(8))")
        try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
        return url
    }

    static func mode(_ url: URL) -> Int {
        ((try? FileManager.default.attributesOfItem(atPath: url.path))?[.posixPermissions] as? Int ?? -1) & 0o777
    }

    @Test func selfSignedCertificateIsMadeOnceAndReused() throws {
        let root = try Self.scratch()
        defer { try? FileManager.default.removeItem(at: root) }
        let directory = root.appendingPathComponent("tls")
        let made = try ServerTLSIdentity.selfSigned(in: directory, names: ["Koinon.Example.org.", "10.1.2.3", "0.0.0.0", "[::1]"])
        #expect(made.origin == .created)
        #expect(made.isSelfSigned)
        #expect(made.warnings.isEmpty)
        // localhost, 127.0.0.1 and ::1 always; the wildcard address and duplicates left out.
        #expect(made.names == ["localhost", "127.0.0.1", "::1", "koinon.example.org", "10.1.2.3"])
        #expect(made.notValidAfter > Date().addingTimeInterval(9 * 365 * 86_400))
        #expect(Self.mode(made.keyFile) == 0o600)
        #expect(made.certificateFile.path == directory.appendingPathComponent("cert.pem").path)

        // The fingerprint is SHA-256 of the DER certificate, the same as the worker computes.
        let certificates = try NIOSSLCertificate.fromPEMFile(made.certificateFile.path)
        #expect(certificates.count == 1)
        let der = try certificates[0].toDERBytes()
        #expect(made.fingerprint == (try CertificateFingerprint(certificates[0])).description)
        #expect(made.fingerprint == ServerTLSIdentity.fingerprint(der: der))
        #expect(made.fingerprint.split(separator: ":").count == 32)
        // A P-256 key and a server certificate that is not a CA.
        let parsed = try Certificate(derEncoded: der)
        #expect(parsed.signatureAlgorithm == .ecdsaWithSHA256)
        #expect(try parsed.extensions.basicConstraints == .notCertificateAuthority)
        #expect(try parsed.extensions.extendedKeyUsage?.contains(.serverAuth) == true)

        // The next start reuses it: same fingerprint, no new files.
        let again = try ServerTLSIdentity.selfSigned(in: directory, names: ["koinon.example.org"])
        #expect(again.origin == .reused)
        #expect(again.fingerprint == made.fingerprint)
        #expect(again.warnings.isEmpty)
        // A name it lacks is a warning that says how to make a new one, not a new certificate.
        let renamed = try ServerTLSIdentity.selfSigned(in: directory, names: ["other.example"])
        #expect(renamed.fingerprint == made.fingerprint)
        #expect(renamed.warnings.count == 1)
        #expect(renamed.warnings.first?.contains("does not name other.example") == true)
        #expect(renamed.warnings.first?.contains("delete \(directory.path)") == true)

        // Half a pair is an error, not a silent new certificate.
        try FileManager.default.removeItem(at: made.keyFile)
        #expect {
            try ServerTLSIdentity.selfSigned(in: directory, names: [])
        } throws: { error in
            "\(error)".contains("found \(made.certificateFile.path) but not \(made.keyFile.path)")
        }
    }

    @Test func givenFilesAreCheckedWithClearErrors() throws {
        let root = try Self.scratch()
        defer { try? FileManager.default.removeItem(at: root) }
        let a = try ServerTLSIdentity.selfSigned(in: root.appendingPathComponent("a"), names: [])
        let b = try ServerTLSIdentity.selfSigned(in: root.appendingPathComponent("b"), names: [])
        #expect(a.fingerprint != b.fingerprint)

        let given = try ServerTLSIdentity.load(certificate: a.certificateFile, key: a.keyFile)
        #expect(given.origin == .given)
        #expect(given.fingerprint == a.fingerprint)

        let missing = root.appendingPathComponent("missing.pem")
        #expect {
            try ServerTLSIdentity.load(certificate: missing, key: a.keyFile)
        } throws: { "\($0)" == "TLS certificate \(missing.path): no such file" }
        #expect {
            try ServerTLSIdentity.load(certificate: a.certificateFile, key: missing)
        } throws: { "\($0)" == "TLS private key \(missing.path): no such file" }
        #expect {
            try ServerTLSIdentity.load(certificate: a.certificateFile, key: b.keyFile)
        } throws: { error in
            "\(error)".contains("the private key in \(b.keyFile.path) does not belong to the certificate in \(a.certificateFile.path)")
        }
        // The files swapped: no certificate where one is expected, no key where a key is.
        #expect {
            try ServerTLSIdentity.load(certificate: a.keyFile, key: a.certificateFile)
        } throws: { "\($0)".hasPrefix("TLS certificate \(a.keyFile.path): ") }
        #expect {
            try ServerTLSIdentity.load(certificate: a.certificateFile, key: a.certificateFile)
        } throws: { "\($0)".contains("TLS private key \(a.certificateFile.path): holds no PEM private key") }
        let garbage = root.appendingPathComponent("garbage.pem")
        try Data("not a certificate\n".utf8).write(to: garbage)
        #expect {
            try ServerTLSIdentity.load(certificate: garbage, key: a.keyFile)
        } throws: { "\($0)".hasPrefix("TLS certificate \(garbage.path): ") }
        // Unreadable (only meaningful when not running as root, who reads everything).
        if geteuid() != 0 {
            let locked = root.appendingPathComponent("locked.pem")
            try FileManager.default.copyItem(at: a.keyFile, to: locked)
            try FileManager.default.setAttributes([.posixPermissions: 0], ofItemAtPath: locked.path)
            #expect {
                try ServerTLSIdentity.load(certificate: a.certificateFile, key: locked)
            } throws: { "\($0)".contains("cannot read the file") }
        }
    }

    @Test func anExpiredCertificateIsRefused() throws {
        let root = try Self.scratch()
        defer { try? FileManager.default.removeItem(at: root) }
        let old = try SelfSignedCertificate.make(names: [], now: Date().addingTimeInterval(-11 * 365.25 * 86_400))
        let certificate = root.appendingPathComponent("cert.pem"), key = root.appendingPathComponent("key.pem")
        try Data(old.certificatePEM.utf8).write(to: certificate)
        try Data(old.privateKeyPEM.utf8).write(to: key)
        #expect {
            try ServerTLSIdentity.load(certificate: certificate, key: key)
        } throws: { "\($0)".contains("expired on") }
    }

    @Test func operatorTokenIsMadeOnceSecretAndComparedExactly() throws {
        let root = try Self.scratch()
        defer { try? FileManager.default.removeItem(at: root) }
        let file = root.appendingPathComponent("data/operator-token")
        let (token, created) = try OperatorToken.loadOrCreate(file)
        #expect(created)
        #expect(token.value.count == 64 && token.value.allSatisfy(\.isHexDigit))
        #expect(Self.mode(file) == 0o600)
        #expect(!"\(token)".contains(token.value))
        let (again, createdAgain) = try OperatorToken.loadOrCreate(file)
        #expect(!createdAgain)
        #expect(again.value == token.value)

        #expect(token.matches(token.value))
        #expect(!token.matches(""))
        #expect(!token.matches(String(token.value.dropLast())))
        #expect(!token.matches(token.value + "0"))
        #expect(!token.matches(token.value.uppercased()))
        #expect(OperatorToken.random().value != token.value)

        try Data("short\n".utf8).write(to: file)
        #expect {
            try OperatorToken.loadOrCreate(file)
        } throws: { "\($0)".contains("delete the file to make a new one") }
    }
}
