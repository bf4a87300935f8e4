import Crypto
import Foundation
import NIOSSL
import SwiftASN1
import X509

/// A certificate or key the coordinator cannot serve with, worded for the operator.
public struct ServerTLSError: Error, CustomStringConvertible, Equatable {
    public var description: String
    public init(_ description: String) { self.description = description }
}

/// How `koinon-coordinator serve` carries its API.
public enum ServerTransport: Sendable, Equatable {
    /// HTTPS with the coordinator's own self-signed certificate, kept in
    /// `<data-dir>/tls/` (made at the first start): it names `localhost`,
    /// `127.0.0.1`, `::1` and these hosts (`--host`, `--tls-name`).
    case selfSigned(names: [String])
    /// HTTPS with the certificate chain and private key in these PEM files
    /// (`--tls-cert`, `--tls-key`).
    case files(certificate: URL, key: URL)
    /// Plain HTTP (`--insecure-http`).
    case insecureHTTP
}

/// The certificate and key the coordinator serves with, read and checked:
/// the key belongs to the certificate, the certificate has not expired.
public struct ServerTLSIdentity: Sendable {
    public enum Origin: Sendable, Equatable {
        /// Made just now (the first start).
        case created
        /// The coordinator's own, made at an earlier start.
        case reused
        /// Given with `--tls-cert` and `--tls-key`.
        case given
    }

    public var certificateFile: URL
    public var keyFile: URL
    public var origin: Origin
    /// SHA-256 of the leaf certificate's DER encoding, as colon-separated lowercase hex.
    public var fingerprint: String
    /// The DNS names and IP addresses the leaf certificate names.
    public var names: [String]
    public var notValidAfter: Date
    public var isSelfSigned: Bool
    /// Things the operator should know (a reused certificate lacking a
    /// requested name, a key file others may read).
    public var warnings: [String] = []
    /// The server side of NIOSSL, ready for Hummingbird.
    public var configuration: TLSConfiguration

    /// The self-signed certificate in `directory` (`cert.pem`, `key.pem`),
    /// made there first when neither file exists.
    public static func selfSigned(in directory: URL, names: [String], now: Date = Date()) throws -> ServerTLSIdentity {
        let certificate = directory.appendingPathComponent("cert.pem")
        let key = directory.appendingPathComponent("key.pem")
        let wanted = HostNames.merge(SelfSignedCertificate.defaultNames, names)
        let manager = FileManager.default
        switch (manager.fileExists(atPath: certificate.path), manager.fileExists(atPath: key.path)) {
        case (true, true):
            var identity = try load(certificate: certificate, key: key, now: now)
            identity.origin = .reused
            let missing = wanted.filter { !identity.names.contains($0) }
            if !missing.isEmpty {
                identity.warnings.append("""
                    the TLS certificate \(certificate.path) (made at an earlier start) does not name \
                    \(missing.joined(separator: ", ")); clients that check names (--ca, curl) will refuse those. \
                    Pinned workers are unaffected. To make a new certificate with every name, stop the coordinator, \
                    delete \(directory.path) and start it again (pinned workers then need the new fingerprint)
                    """)
            }
            return identity
        case (false, false):
            let made = try SelfSignedCertificate.make(names: names, now: now)
            do {
                try SecretFile.directory(directory, mode: 0o755)  // the key file itself is 0600
                try SecretFile.create(key, contents: Data(made.privateKeyPEM.utf8), mode: 0o600)
                try SecretFile.create(certificate, contents: Data(made.certificatePEM.utf8), mode: 0o644)
            } catch {
                throw ServerTLSError("cannot write the TLS certificate into \(directory.path): \(error)")
            }
            var identity = try load(certificate: certificate, key: key, now: now)
            identity.origin = .created
            return identity
        case (let haveCertificate, _):
            let (found, lost) = haveCertificate ? (certificate, key) : (key, certificate)
            throw ServerTLSError("""
                found \(found.path) but not \(lost.path): restore it, or delete \(directory.path) to make a new \
                self-signed certificate (pinned workers then need the new fingerprint)
                """)
        }
    }

    /// The certificate chain (leaf first) in `certificate` and the private key in `key`, both PEM.
    public static func load(certificate: URL, key: URL, now: Date = Date()) throws -> ServerTLSIdentity {
        let chain: [NIOSSLCertificate]
        do { chain = try NIOSSLCertificate.fromPEMBytes(Array(try read(certificate, what: "TLS certificate"))) } catch let e as ServerTLSError {
            throw e
        } catch {
            throw ServerTLSError("TLS certificate \(certificate.path): not a PEM certificate file (\(error))")
        }
        guard let first = chain.first else {
            throw ServerTLSError("TLS certificate \(certificate.path): holds no PEM certificate (-----BEGIN CERTIFICATE-----)")
        }
        let der = try first.toDERBytes()
        let leaf: Certificate
        do { leaf = try Certificate(derEncoded: der) } catch {
            throw ServerTLSError("TLS certificate \(certificate.path): the first certificate cannot be read (\(error))")
        }

        let keyBytes = try read(key, what: "TLS private key")
        let privateKey = try parsePrivateKey(String(decoding: keyBytes, as: UTF8.self), file: key)
        guard privateKey.publicKey == leaf.publicKey else {
            throw ServerTLSError("""
                the private key in \(key.path) does not belong to the certificate in \(certificate.path) \
                (SHA-256 \(fingerprint(der: der))): give the key the certificate was made for
                """)
        }
        guard leaf.notValidAfter > now else {
            throw ServerTLSError("""
                the TLS certificate \(certificate.path) expired on \(ISO8601DateFormatter().string(from: leaf.notValidAfter)): \
                renew it (or, for the coordinator's own self-signed certificate, delete its directory to make a new one)
                """)
        }
        let nioKey: NIOSSLPrivateKey
        do { nioKey = try NIOSSLPrivateKey(bytes: Array(keyBytes), format: .pem) } catch {
            throw ServerTLSError("TLS private key \(key.path): cannot be used (\(error)); it must be an unencrypted PEM key")
        }
        var configuration = TLSConfiguration.makeServerConfiguration(certificateChain: chain.map { .certificate($0) },
                                                                     privateKey: .privateKey(nioKey))
        configuration.minimumTLSVersion = .tlsv12
        do { _ = try NIOSSLContext(configuration: configuration) } catch {  // now rather than at the first connection
            throw ServerTLSError("TLS certificate \(certificate.path) with key \(key.path): cannot serve with them (\(error))")
        }
        var warnings: [String] = []
        if SecretFile.isExposed(key) {
            warnings.append("the TLS private key \(key.path) is readable by other users: chmod 600 it")
        }
        return ServerTLSIdentity(certificateFile: certificate, keyFile: key, origin: .given, fingerprint: fingerprint(der: der),
                                 names: alternativeNames(of: leaf), notValidAfter: leaf.notValidAfter,
                                 isSelfSigned: leaf.issuer == leaf.subject, warnings: warnings, configuration: configuration)
    }

    /// SHA-256 of `der`, as colon-separated lowercase hex (`3f:a1:...`).
    public static func fingerprint(der: [UInt8]) -> String {
        SHA256.hash(data: der).map { String(format: "%02x", $0) }.joined(separator: ":")
    }

    static func read(_ url: URL, what: String) throws -> Data {
        do { return try SecretFile.read(url, what: what) } catch { throw ServerTLSError("\(error)") }
    }

    /// The first `... PRIVATE KEY` block of a PEM file (PKCS#8, SEC 1 EC or PKCS#1 RSA).
    static func parsePrivateKey(_ text: String, file: URL) throws -> Certificate.PrivateKey {
        let documents: [PEMDocument]
        do { documents = try PEMDocument.parseMultiple(pemString: text) } catch {
            throw ServerTLSError("TLS private key \(file.path): not a PEM file (\(error))")
        }
        guard let document = documents.first(where: { $0.discriminator.hasSuffix("PRIVATE KEY") }) else {
            throw ServerTLSError("TLS private key \(file.path): holds no PEM private key (-----BEGIN PRIVATE KEY-----)")
        }
        do { return try Certificate.PrivateKey(pemDocument: document) } catch {
            throw ServerTLSError("TLS private key \(file.path): cannot read the \(document.discriminator) (\(error)); it must be an unencrypted EC, RSA or Ed25519 key")
        }
    }

    static func alternativeNames(of certificate: Certificate) -> [String] {
        guard let names = (try? certificate.extensions.subjectAlternativeNames) ?? nil else { return [] }
        return names.compactMap { name in
            switch name {
            case .dnsName(let dns): return dns.lowercased()
            case .ipAddress(let octets): return HostNames.text(address: Array(octets.bytes))
            default: return nil
            }
        }
    }
}
