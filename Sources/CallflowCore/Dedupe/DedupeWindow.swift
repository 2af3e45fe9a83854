/// Remembers webhook ids (`data.id`) for a time window so a redelivered event is applied once.
///
/// Telnyx retries for minutes; the window (default one hour) is far longer than any retry run and
/// bounds memory: ids older than the window are forgotten in arrival order. Ids are kept as
/// 64-bit hashes, not strings (16 bytes an id instead of ~100 — it is held for every webhook of
/// the last hour); a false "duplicate" needs a 64-bit collision within the window. Pure: the
/// caller passes `now`.
public struct DedupeWindow: Sendable {
    public let windowSeconds: Int64
    private var seen: [UInt64: Int64] = [:]
    private var order: [(id: UInt64, at: Int64)] = []
    private var head = 0

    public init(windowSeconds: Int64 = 3600) {
        self.windowSeconds = windowSeconds
    }

    static func key(_ id: String) -> UInt64 {
        var h = FNV1a()
        h.add(id)
        return h.value
    }

    /// Records `id`; returns `false` when it was already seen inside the window.
    public mutating func insert(_ id: String, now: Int64) -> Bool {
        expire(now: now)
        let k = Self.key(id)
        if seen[k] != nil { return false }
        seen[k] = now
        order.append((k, now))
        return true
    }

    public func contains(_ id: String) -> Bool { seen[Self.key(id)] != nil }

    /// The stored form of an id (what `restore` takes back).
    public static func storedKey(_ id: String) -> UInt64 { key(id) }

    /// Puts back ids remembered by a store (oldest first), dropping those outside the window.
    public mutating func restore(_ entries: [(key: UInt64, at: Int64)], now: Int64) {
        for e in entries.sorted(by: { $0.at < $1.at }) where now - e.at <= windowSeconds && seen[e.key] == nil {
            seen[e.key] = e.at
            order.append((e.key, e.at))
        }
    }

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
