import Foundation
import Hummingbird
import Synchronization
import Wire

/// A ``RateLimiter`` shared by the requests of one server.
public final class SharedRateLimiter: Sendable {
    private let limiter: Mutex<RateLimiter<ContinuousClock.Instant>>
    public let limit: RateLimiter<ContinuousClock.Instant>.Limit

    public init(_ limit: RateLimiter<ContinuousClock.Instant>.Limit, maxKeys: Int = 100_000) {
        self.limit = limit
        limiter = Mutex(RateLimiter(limit: limit, maxKeys: maxKeys))
    }

    public func acquire(_ key: String, now: ContinuousClock.Instant) -> RateLimiter<ContinuousClock.Instant>.Decision {
        limiter.withLock { $0.acquire(key, now: now) }
    }

    public var trackedKeys: Int { limiter.withLock { $0.trackedKeys } }
}

/// Answers `429 rate_limited` with `Retry-After` (whole seconds) once a
/// client has spent its bucket: registrations per client address, requests
/// per authenticated worker (behind `WorkerAuthenticator`).
public struct RateLimitMiddleware: RouterMiddleware {
    public typealias Context = CoordinatorContext

    let limiter: SharedRateLimiter
    /// The bucket a request spends from; nil: not limited.
    let key: @Sendable (Request, CoordinatorContext) -> String?
    /// Who is limited, for the message: "registrations from this address".
    let subject: String
    let now: @Sendable () -> ContinuousClock.Instant

    public init(limiter: SharedRateLimiter, subject: String,
                now: @escaping @Sendable () -> ContinuousClock.Instant = { ContinuousClock.now },
                key: @escaping @Sendable (Request, CoordinatorContext) -> String?) {
        self.limiter = limiter
        self.subject = subject
        self.now = now
        self.key = key
    }

    /// `POST /v1/workers` per client address (an IPv6 client by its /64).
    public static func registrations(_ limiter: SharedRateLimiter,
                                     now: @escaping @Sendable () -> ContinuousClock.Instant = { ContinuousClock.now }) -> Self {
        Self(limiter: limiter, subject: "worker registrations from this address", now: now) { _, context in
            ClientAddress.rateLimitKey(context.remoteAddress)
        }
    }

    /// Every request of an authenticated worker.
    public static func workerRequests(_ limiter: SharedRateLimiter,
                                      now: @escaping @Sendable () -> ContinuousClock.Instant = { ContinuousClock.now }) -> Self {
        Self(limiter: limiter, subject: "requests from this worker", now: now) { _, context in
            context.workerID?.uuidString
        }
    }

    public func handle(_ request: Request, context: Context,
                       next: (Request, Context) async throws -> Response) async throws -> Response {
        guard let key = key(request, context), case .limited(let wait) = limiter.acquire(key, now: now()) else {
            return try await next(request, context)
        }
        let seconds = max(1, Int(wait.inSeconds.rounded(.up)))
        context.logger.debug("rate limited: \(request.method) \(request.uri.path) (\(key)), retry in \(seconds) s")
        var response = try WireResponse.error(.tooManyRequests, code: Self.code,
                                              "too many \(subject): at most \(Self.describe(limiter.limit)); retry in \(seconds) s")
        response.headers[.retryAfter] = String(seconds)
        return response
    }

    public static let code: ReasonCode = "rate_limited"

    /// "20 a minute, 40 at once".
    static func describe(_ limit: RateLimiter<ContinuousClock.Instant>.Limit) -> String {
        let burst = Int(limit.capacity)
        if limit.ratePerSecond >= 1 {
            return "\(Self.number(limit.ratePerSecond)) a second, \(burst) at once"
        }
        return "\(Self.number(limit.ratePerSecond * 60)) a minute, \(burst) at once"
    }

    static func number(_ value: Double) -> String {
        value == value.rounded() && abs(value) < 1e15 ? String(Int(value)) : String(format: "%.2g", value)
    }
}
