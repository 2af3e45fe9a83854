import CallflowServer
import TelnyxREST
import Testing

@Suite struct RetryPolicyTests {
    @Test func backoffDoublesWithJitterAndCaps() {
        let p = RetryPolicy(baseDelayMs: 200, maxDelayMs: 1000)
        #expect(p.backoffMs(afterAttempt: 1, random: 0) == 100)
        #expect(p.backoffMs(afterAttempt: 1, random: 1) == 200)
        #expect(p.backoffMs(afterAttempt: 2, random: 0) == 200)
        #expect(p.backoffMs(afterAttempt: 3, random: 0.5) == 600)
        #expect(p.backoffMs(afterAttempt: 10, random: 1) == 1000)
        #expect(p.backoffMs(afterAttempt: 60, random: 1) == 1000)
    }

    @Test func serverDelays() {
        #expect(RetryPolicy.serverDelayMs(retryAfter: "2", rateLimitReset: nil, nowMs: 0) == 2000)
        #expect(RetryPolicy.serverDelayMs(retryAfter: " 1 ", rateLimitReset: "3", nowMs: 0) == 3000)
        #expect(RetryPolicy.serverDelayMs(retryAfter: nil, rateLimitReset: "1700000005", nowMs: 1_700_000_000_000) == 5000)
        #expect(RetryPolicy.serverDelayMs(retryAfter: "Wed, 21 Oct 2015 07:28:00 GMT", rateLimitReset: nil, nowMs: 0) == nil)
        #expect(RetryPolicy.serverDelayMs(retryAfter: "-4", rateLimitReset: nil, nowMs: 0) == nil)
    }

    @Test func telnyxErrorBodies() {
        let errors = TelnyxError.parse(
            Array(#"{"errors":[{"code":"90018","title":"Call has already ended","detail":"x"},{"code":10011,"title":"Too Many"}]}"#.utf8))
        #expect(errors.count == 2)
        #expect(errors[0].callAlreadyEnded)
        #expect(errors[1].code == "10011")
        #expect(TelnyxError.parse(Array("<html>".utf8)).isEmpty)
        let failure = CommandFailure(status: 422, errors: errors, reason: "Telnyx refused speak", attempts: 1)
        #expect(failure.callGone)
        #expect("\(failure)" == "Telnyx refused speak, HTTP 422, [90018] Call has already ended x; [10011] Too Many, after 1 attempt")
    }
}
