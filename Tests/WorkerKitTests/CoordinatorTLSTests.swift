import Foundation
import Testing
import WorkerKit

/// The client side of TLS: fingerprints as `--pin-sha256` takes them, the
/// `--ca`/`--pin-sha256`/`--insecure-http` options, and which coordinator
/// URLs a set-up accepts.
@Suite struct CoordinatorTLSTests {
    static let hex = "3fa1" + String(repeating: "0123456789abcdef", count: 3) + "001122334455"

    @Test func fingerprintsParseWithOrWithoutColonsInAnyCase() throws {
        let plain = try CertificateFingerprint(parsing: Self.hex)
        #expect(plain.bytes.count == 32)
        #expect(plain.bytes.prefix(2) == [0x3f, 0xa1])
        // Printed as lowercase pairs joined by colons, and read back the same.
        let printed = plain.description
        #expect(printed.hasPrefix("3f:a1:01:23:"))
        #expect(printed.count == 32 * 3 - 1)
        #expect(try CertificateFingerprint(parsing: printed) == plain)
        #expect(try CertificateFingerprint(parsing: printed.uppercased()) == plain)
        #expect(try CertificateFingerprint(parsing: "  SHA256:" + printed + "\n") == plain)
        #expect(try CertificateFingerprint(parsing: Self.hex.uppercased()) == plain)
        // The digest of some DER bytes is SHA-256.
        #expect(CertificateFingerprint(der: Array("abc".utf8)).description
                == "ba:78:16:bf:8f:01:cf:ea:41:41:40:de:5d:ae:22:23:b0:03:61:a3:96:17:7a:9c:b4:10:ff:61:f2:00:15:ad")
    }

    @Test(arguments: ["", "3f:a1", String(repeating: "0", count: 63), String(repeating: "0", count: 65),
                      String(repeating: "g", count: 64), "md5:" + String(repeating: "0", count: 64)])
    func badFingerprintsAreRefusedClearly(_ text: String) {
        #expect {
            try CertificateFingerprint(parsing: text)
        } throws: { error in
            "\(error)".contains("is not a SHA-256 fingerprint") && "\(error)".contains("64 hex digits")
        }
    }

    @Test func plainHTTPNeedsInsecureHTTP() throws {
        let strict = try CoordinatorTLS.fromOptions(ca: nil, pinSHA256: nil, insecureHTTP: false)
        #expect {
            try strict.endpoint("http://127.0.0.1:8080")
        } throws: { error in
            "\(error)".contains("refusing plain HTTP to http://127.0.0.1:8080") && "\(error)".contains("--insecure-http")
        }
        let https = try strict.endpoint("https://koinon.example.org")
        #expect(https == CoordinatorTLS.Endpoint(secure: true, host: "koinon.example.org", port: 443))
        #expect(try strict.endpoint("https://[::1]:8443/") == CoordinatorTLS.Endpoint(secure: true, host: "::1", port: 8443))
        #expect(throws: CoordinatorTLSError.self) { try strict.endpoint("ftp://127.0.0.1") }
        #expect(throws: CoordinatorTLSError.self) { try strict.endpoint("127.0.0.1:8080") }

        let relaxed = try CoordinatorTLS.fromOptions(ca: nil, pinSHA256: nil, insecureHTTP: true)
        #expect(try relaxed.endpoint("http://127.0.0.1:8080") == CoordinatorTLS.Endpoint(secure: false, host: "127.0.0.1", port: 8080))
    }

    @Test func optionsAreCheckedBeforeAnyConnection() throws {
        #expect {
            try CoordinatorTLS.fromOptions(ca: "/x.pem", pinSHA256: Self.hex, insecureHTTP: false)
        } throws: { "\($0)".contains("not both") }
        #expect {
            try CoordinatorTLS.fromOptions(ca: "/nonexistent/koinon-ca.pem", pinSHA256: nil, insecureHTTP: false)
        } throws: { "\($0)" == "--ca /nonexistent/koinon-ca.pem: no such file" }
        let notPEM = FileManager.default.temporaryDirectory.appendingPathComponent("koinon-not-pem-\(UUID()).pem")
        try Data("hello\n".utf8).write(to: notPEM)
        defer { try? FileManager.default.removeItem(at: notPEM) }
        #expect {
            try CoordinatorTLS.fromOptions(ca: notPEM.path, pinSHA256: nil, insecureHTTP: false)
        } throws: { "\($0)".hasPrefix("--ca \(notPEM.path): ") }
        let pinned = try CoordinatorTLS.fromOptions(ca: nil, pinSHA256: Self.hex.uppercased(), insecureHTTP: false)
        guard case .pinned(let pin, _) = pinned.trust else {
            Issue.record("expected a pin")
            return
        }
        #expect(pin == (try CertificateFingerprint(parsing: Self.hex)))
        #expect(!pinned.allowsPlainHTTP)
    }
}
