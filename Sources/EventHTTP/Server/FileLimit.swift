#if canImport(Glibc)
    import Glibc
#endif

/// The process's file-descriptor limit (RLIMIT_NOFILE), which bounds sockets, the store's files
/// and outbound connections together.
public enum FileLimit {
    /// Raises the soft limit to the hard limit (capped at 1,048,576), as Go's runtime and nginx do:
    /// shells and init systems often start services with a soft 1,024 under a much larger hard
    /// limit. Returns the soft limit now in force, or nil when it cannot be read.
    @discardableResult
    public static func raiseSoftLimit() -> Int? {
        var limit = rlimit()
        guard getrlimit(Int32(RLIMIT_NOFILE.rawValue), &limit) == 0 else { return nil }
        let cap: rlim_t = 1 << 20
        let wanted = min(limit.rlim_max, cap)
        if limit.rlim_cur < wanted {
            var raised = limit
            raised.rlim_cur = wanted
            if setrlimit(Int32(RLIMIT_NOFILE.rawValue), &raised) == 0 { limit = raised }
        }
        return Int(clamping: min(limit.rlim_cur, cap))
    }
}
