/// How hard to try a Telnyx command before giving up.
public struct RetryPolicy: Sendable, Equatable {
    /// Deadline of one attempt.
    public var attemptTimeoutMs: Int
    /// Attempts in all, the first included.
    public var maxAttempts: Int
    /// No new attempt starts later than this after the first.
    public var deadlineMs: Int
    /// First backoff; doubles per attempt up to `maxDelayMs`.
    public var baseDelayMs: Int
    public var maxDelayMs: Int

    public init(
        attemptTimeoutMs: Int = 10_000, maxAttempts: Int = 5, deadlineMs: Int = 60_000, baseDelayMs: Int = 200,
        maxDelayMs: Int = 8_000
    ) {
        self.attemptTimeoutMs = attemptTimeoutMs
        self.maxAttempts = maxAttempts
        self.deadlineMs = deadlineMs
        self.baseDelayMs = baseDelayMs
        self.maxDelayMs = maxDelayMs
    }

    /// Backoff before attempt `attempt + 1`, with "equal jitter": half fixed, half random, so
    /// retries of many calls spread out instead of arriving together.
    public func backoffMs(afterAttempt attempt: Int, random: Double) -> Int {
        let exponential = min(maxDelayMs, baseDelayMs << min(attempt - 1, 20))
        return exponential / 2 + Int(Double(exponential / 2) * min(max(random, 0), 1))
    }

    /// The wait a `Retry-After` (seconds) or `x-ratelimit-reset` (seconds, or a Unix time) asks for.
    public static func serverDelayMs(retryAfter: String?, rateLimitReset: String?, nowMs: Int64) -> Int? {
        var waits: [Int] = []
        if let s = retryAfter?.trimmingSpaces(), let seconds = Double(s), seconds >= 0 { waits.append(Int(seconds * 1000)) }
        if let s = rateLimitReset?.trimmingSpaces(), let value = Double(s), value >= 0 {
            if value > 1_000_000_000 {
                waits.append(max(0, Int(value * 1000) - Int(nowMs)))
            } else {
                waits.append(Int(value * 1000))
            }
        }
        return waits.max()
    }
}

extension String {
    func trimmingSpaces() -> String {
        var s = Substring(self)
        while let f = s.first, f == " " || f == "\t" { s = s.dropFirst() }
        while let l = s.last, l == " " || l == "\t" { s = s.dropLast() }
        return String(s)
    }
}
