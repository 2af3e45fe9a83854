/// Remembers webhook ids (`data.id`) for a time window so a redelivered event is applied once.
///
/// Telnyx retries for minutes; the window (default one hour) is far longer than any retry run and
/// bounds memory: ids older than the window are forgotten in arrival order. Pure: the caller passes
/// `now`, so tests and replays control time.
public struct DedupeWindow: Sendable {
    public let windowSeconds: Int64
    private var seen: [String: Int64] = [:]
    private var order: [(id: String, at: Int64)] = []
    private var head = 0

    public init(windowSeconds: Int64 = 3600) {
        self.windowSeconds = windowSeconds
    }

    /// Records `id`; returns `false` when it was already seen inside the window.
    public mutating func insert(_ id: String, now: Int64) -> Bool {
        expire(now: now)
        if seen[id] != nil { return false }
        seen[id] = now
        order.append((id, now))
        return true
    }

    public func contains(_ id: String) -> Bool { seen[id] != nil }

    public var count: Int { seen.count }

    private mutating func expire(now: Int64) {
        while head < order.count, now - order[head].at > windowSeconds {
            let entry = order[head]
            if seen[entry.id] == entry.at { seen[entry.id] = nil }
            head += 1
        }
        if head > 1024 && head * 2 > order.count {
            order.removeFirst(head)
            head = 0
        }
    }
}
