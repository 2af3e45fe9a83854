import Glibc

/// The two clocks the process reads, in one place, so each part is handed the one it needs.
/// The wall clock is what Telnyx's signed timestamps, business hours and stored fire times are
/// in; `callflow dev --now` and tests shift it by injecting another. Durations and deadlines (a
/// shutdown's grace, a stalled commit, a reply timeout) use the monotonic clock, which no NTP step
/// or manual change can stretch or cut.
public enum Clocks {
    /// Milliseconds since the Unix epoch.
    public static let wallMs: @Sendable () -> Int64 = {
        var tv = timeval()
        gettimeofday(&tv, nil)
        return Int64(tv.tv_sec) * 1000 + Int64(tv.tv_usec) / 1000
    }

    /// Milliseconds on the monotonic clock (only differences mean anything).
    public static func monotonicMs() -> Int64 {
        var ts = timespec()
        clock_gettime(CLOCK_MONOTONIC, &ts)
        return Int64(ts.tv_sec) * 1000 + Int64(ts.tv_nsec) / 1_000_000
    }
}
