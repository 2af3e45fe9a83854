import CallflowCore
import CallflowLoop
import EventHTTP

/// One Telnyx API request with the retry rules every Telnyx call here follows: network errors,
/// timeouts, 408, 429 and 5xx are retried with backoff and jitter (honouring `Retry-After` and
/// `x-ratelimit-reset`), with the same body each time, within the policy's attempts and deadline;
/// any other status is final, with Telnyx's `errors[]` parsed. The server's command client and the
/// CLI's account client both send through it, so the two cannot drift apart on what is retried.
/// The clock and the jitter are injected so a test can pin both.
public struct RetryingRequest {
    let http: HTTPClient
    let loop: EventLoop
    let policy: RetryPolicy
    let clockMs: () -> Int64
    let random: () -> Double

    public init(http: HTTPClient, loop: EventLoop, policy: RetryPolicy, clockMs: @escaping () -> Int64, random: @escaping () -> Double) {
        self.http = http
        self.loop = loop
        self.policy = policy
        self.clockMs = clockMs
        self.random = random
    }

    /// `onRetry(attempt, delayMs, why)` runs before each retry; `completion` gets the 2xx
    /// response and the attempts it took, or the final failure.
    public func perform(
        _ request: ClientRequest, what: String, onRetry: @escaping (Int, Int, CommandFailure) -> Void,
        completion: @escaping (Result<(ClientResponse, Int), CommandFailure>) -> Void
    ) {
        attempt(request, what: what, number: 1, startedMs: clockMs(), onRetry: onRetry, completion: completion)
    }

    private func attempt(
        _ request: ClientRequest, what: String, number: Int, startedMs: Int64, onRetry: @escaping (Int, Int, CommandFailure) -> Void,
        completion: @escaping (Result<(ClientResponse, Int), CommandFailure>) -> Void
    ) {
        http.send(request) { result in
            var retryable = false
            var failure: CommandFailure
            var serverDelay: Int? = nil
            switch result {
            case .success(let response) where (200..<300).contains(response.status):
                return completion(.success((response, number)))
            case .success(let response):
                retryable = response.status == 408 || response.status == 429 || response.status >= 500
                serverDelay = RetryPolicy.serverDelayMs(
                    retryAfter: response.header("retry-after"), rateLimitReset: response.header("x-ratelimit-reset"), nowMs: clockMs())
                failure = CommandFailure(
                    status: response.status, errors: TelnyxError.parse(response.body), reason: "Telnyx refused \(what)",
                    attempts: number)
            case .failure(let error):
                retryable = error.isTransient
                failure = CommandFailure(status: nil, errors: [], reason: "\(error)", attempts: number)
            }
            let elapsed = Int(clockMs() - startedMs)
            let delay = max(policy.backoffMs(afterAttempt: number, random: random()), serverDelay ?? 0)
            if retryable, number < policy.maxAttempts, elapsed + delay <= policy.deadlineMs {
                onRetry(number, delay, failure)
                do {
                    try loop.schedule(afterMilliseconds: delay) {
                        attempt(request, what: what, number: number + 1, startedMs: startedMs, onRetry: onRetry, completion: completion)
                    }
                    return
                } catch {
                    failure.reason += "; could not schedule a retry: \(error)"
                }
            }
            if retryable { failure.reason = "gave up: " + failure.reason }
            completion(.failure(failure))
        }
    }
}
