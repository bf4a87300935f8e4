import Crypto
import Foundation
import SwiftASN1
import X509

#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// The certificate a coordinator makes for itself when it is given none: a
/// P-256 key, a self-signed server certificate naming `localhost`,
/// `127.0.0.1`, `::1` and the given hosts, valid for ten years. Workers trust
/// it by its fingerprint (`--pin-sha256`) or as the only root (`--ca cert.pem`).
public struct SelfSignedCertificate: Sendable {
    public var certificatePEM: String
    public var privateKeyPEM: String
    /// The certificate's DER encoding (what the fingerprint is of).
    public var der: [UInt8]

    public static let defaultNames = ["localhost", "127.0.0.1", "::1"]
    public static let validity: TimeInterval = 10 * 365.25 * 86_400

    /// Makes a new key and certificate naming `defaultNames` + `names` (host
    /// names or IP addresses; wildcard addresses such as `0.0.0.0` are left out).
    public static func make(names: [String], now: Date = Date()) throws -> SelfSignedCertificate {
        let key = P256.Signing.PrivateKey()
        let certificateKey = Certificate.PrivateKey(key)
        let subject = try DistinguishedName {
            OrganizationName("Koinon")
            CommonName("Koinon coordinator")
        }
        let alternativeNames = try subjectAlternativeNames(HostNames.merge(defaultNames, names))
        let extensions = try Certificate.Extensions {
            // No key usage extension: without keyCertSign in it, BoringSSL (NIOSSL) does not take the
            // certificate as its own issuer, so it could not be its own trust root (--ca, pinning).
            Critical(BasicConstraints.notCertificateAuthority)
            try ExtendedKeyUsage([.serverAuth])
            SubjectKeyIdentifier(hash: certificateKey.publicKey)
            SubjectAlternativeNames(alternativeNames)
        }
        let certificate = try Certificate(
            version: .v3, serialNumber: Certificate.SerialNumber(), publicKey: certificateKey.publicKey,
            notValidBefore: now.addingTimeInterval(-3600),  // clocks differ a little
            notValidAfter: now.addingTimeInterval(validity),
            issuer: subject, subject: subject, signatureAlgorithm: .ecdsaWithSHA256, extensions: extensions,
            issuerPrivateKey: certificateKey)
        var serializer = DER.Serializer()
        try serializer.serialize(certificate)
        return SelfSignedCertificate(certificatePEM: try certificate.serializeAsPEM().pemString,
                                     privateKeyPEM: key.pemRepresentation, der: serializer.serializedBytes)
    }

    static func subjectAlternativeNames(_ names: [String]) throws -> [GeneralName] {
        try names.map { name in
            if let address = HostNames.addressBytes(name) { return .ipAddress(ASN1OctetString(contentBytes: ArraySlice(address))) }
            guard !name.isEmpty, name.unicodeScalars.allSatisfy({ $0.isASCII && ($0.properties.isAlphabetic || $0.properties.numericType != nil
                                                                                 || "-.*".unicodeScalars.contains($0)) }) else {
                throw ServerTLSError("'\(name)' is not a host name or IP address for the TLS certificate")
            }
            return .dnsName(name.lowercased())
        }
    }
}

/// Host names and addresses as a certificate names them.
enum HostNames {
    /// `a` then the names of `b` not in it, without wildcard addresses (`0.0.0.0`, `::`).
    static func merge(_ a: [String], _ b: [String]) -> [String] {
        var seen = Set<String>()
        var out: [String] = []
        for raw in a + b {
            let name = canonical(raw)
            guard !name.isEmpty, !isWildcard(name), seen.insert(name).inserted else { continue }
            out.append(name)
        }
        return out
    }

    /// Lower case, IPv6 brackets and a trailing dot dropped, addresses in their usual text form.
    static func canonical(_ raw: String) -> String {
        var name = raw.trimmingCharacters(in: .whitespaces).lowercased()
        if name.hasPrefix("["), name.hasSuffix("]") { name = String(name.dropFirst().dropLast()) }
        if name.hasSuffix(".") { name.removeLast() }
        if let bytes = addressBytes(name) { return text(address: bytes) }
        return name
    }

    static func isWildcard(_ name: String) -> Bool {
        guard let bytes = addressBytes(name) else { return false }
        return bytes.allSatisfy { $0 == 0 }
    }

    /// The 4 or 16 bytes of an IPv4 or IPv6 address, or nil for a host name.
    static func addressBytes(_ text: String) -> [UInt8]? {
        var v4 = in_addr()
        if inet_pton(AF_INET, text, &v4) == 1 { return withUnsafeBytes(of: &v4) { Array($0) } }
        var v6 = in6_addr()
        if inet_pton(AF_INET6, text, &v6) == 1 { return withUnsafeBytes(of: &v6) { Array($0) } }
        return nil
    }

    static func text(address bytes: [UInt8]) -> String {
        let family = bytes.count == 4 ? AF_INET : AF_INET6
        var buffer = [CChar](repeating: 0, count: Int(INET6_ADDRSTRLEN))
        let ok = bytes.withUnsafeBytes { raw in inet_ntop(family, raw.baseAddress, &buffer, socklen_t(buffer.count)) != nil }
        let text = buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }
        return ok ? String(decoding: text, as: UTF8.self) : bytes.map(String.init).joined(separator: ".")
    }
}
