import NIOCore

/// The client's address as the coordinator records and rate-limits it.
public enum ClientAddress {
    /// The IP of `address` without the port; an IPv4 address mapped into
    /// IPv6 (`::ffff:192.0.2.1`, from a dual-stack listener) as plain IPv4.
    /// nil for none or a Unix socket.
    public static func ip(of address: SocketAddress?) -> String? {
        guard let address else { return nil }
        switch address {
        case .v4: return address.ipAddress
        case .v6:
            guard let ip = address.ipAddress else { return nil }
            let lowered = ip.lowercased()
            if lowered.hasPrefix("::ffff:"), lowered.dropFirst(7).contains("."), !lowered.dropFirst(7).contains(":") {
                return String(lowered.dropFirst(7))
            }
            return lowered
        case .unixDomainSocket: return nil
        }
    }

    /// The rate limiter's key for a client: its IPv4 address, or the /64
    /// network of an IPv6 address (what one household or server gets, so a
    /// client cannot dodge the limit by changing the low bits).
    public static func rateLimitKey(_ ip: String?) -> String {
        guard let ip else { return "unknown" }
        guard ip.contains(":"), let parsed = try? SocketAddress(ipAddress: ip, port: 0), case .v6(let v6) = parsed else {
            return ip
        }
        var address = v6.address.sin6_addr
        let bytes = withUnsafeBytes(of: &address) { Array($0.prefix(8)) }
        let groups = stride(from: 0, to: 8, by: 2).map { String(UInt16(bytes[$0]) << 8 | UInt16(bytes[$0 + 1]), radix: 16) }
        return groups.joined(separator: ":") + "::/64"
    }
}
