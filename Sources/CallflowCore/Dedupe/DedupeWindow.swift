/// Remembers webhook ids (`data.id`) for a time window so a redelivered event is applied once.
///
/// Telnyx retries for minutes; the window (default one hour) is far longer than any retry run.
/// Ids are kept as 64-bit hashes, not strings; a false "duplicate" needs a 64-bit collision within
/// the window. Pure: the caller passes `now`.
///
/// **Memory has a hard ceiling** (`maxBytes`, `store.dedupe_max_bytes`): the structure is
/// ``bytesPerID`` (20) bytes a slot, all-in — a ring of hashes (8 B) and arrival times (4 B, seconds
/// from a base) in arrival order, and an open-addressing table (linear probing, load ≤ 0.5) of ring
/// positions (2 × 4 B). The ring grows by doubling up to `maxCount = maxBytes / 20` slots and shrinks
/// again when three quarters are free. When it is full, the **oldest id is forgotten before its
/// window ends** (never is a webhook refused); each such forgetting is counted in `evictedEarly`.
/// A redelivery of an id forgotten early is applied again, so size the ceiling for an hour at the
/// peak webhook rate (the default, 64 MiB, holds 3.3 million ids: an hour at ~930 webhooks/s).
public struct DedupeWindow: Sendable {
    /// Bytes of memory a remembered id takes once the ring is full (12 in the ring, 8 in the table).
    public static let bytesPerID = 20
    /// 64 MiB: 3,355,443 ids.
    public static let defaultMaxBytes = 64 << 20
    static let minimumSlots = 1024
    private static let empty = UInt32.max

    /// How long an id is remembered: Telnyx redelivers for up to about an hour.
    public let windowSeconds: Int64
    /// The configured ceiling in bytes.
    public let maxBytes: Int
    /// The most ids held at once (`maxBytes / bytesPerID`, at least 1).
    public let maxCount: Int
    /// Ids forgotten before their window ended because the ceiling was reached (restores included).
    public private(set) var evictedEarly = 0
    /// Ids held now.
    public private(set) var count = 0

    /// The ring, `head` the oldest; slot `i` holds a hash and an arrival time (`at - base`).
    ///
    /// Hand-made rather than swift-collections' `Deque`, on purpose: the table below points at
    /// *physical* slots, which must not move when the oldest id goes (a `Deque`'s indices shift by
    /// one on every `removeFirst`); the memory ceiling needs the capacity chosen and read exactly
    /// (`Deque` grows by its own factor, never shrinks and does not expose its capacity); and the
    /// two parallel arrays keep 12 bytes a slot where a `Deque` of pairs would pad to 16.
    private var keys: ContiguousArray<UInt64> = []
    private var times: ContiguousArray<UInt32> = []
    private var head = 0
    private var base: Int64 = 0
    private var hasBase = false
    /// Open addressing over the ring: ring positions, `empty` where free; twice the ring's slots.
    private var table: ContiguousArray<UInt32> = []

    /// An empty window; ids older than `windowSeconds` expire, and past `maxBytes` the oldest go early (counted in `evictedEarly`).
    public init(windowSeconds: Int64 = 3600, maxBytes: Int = DedupeWindow.defaultMaxBytes) {
        self.windowSeconds = windowSeconds
        self.maxBytes = maxBytes
        // Ring positions are UInt32 with UInt32.max reserved.
        self.maxCount = min(max(1, maxBytes / Self.bytesPerID), Int(UInt32.max - 1))
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
        if slot(of: k) != nil { return false }
        append(k, at: now)
        return true
    }

    /// Whether `id` is remembered (without recording it).
    public func contains(_ id: String) -> Bool { slot(of: Self.key(id)) != nil }

    /// The stored form of an id (what `restore` takes back).
    public static func storedKey(_ id: String) -> UInt64 { key(id) }

    /// Puts back ids remembered by a store, dropping those outside the window. More than
    /// `maxCount` keeps the newest; the older ones count as `evictedEarly`.
    public mutating func restore(_ entries: [(key: UInt64, at: Int64)], now: Int64) {
        expire(now: now)
        var kept = entries.filter { now - $0.at <= windowSeconds }
        kept.sort { $0.at < $1.at }
        let skip = max(0, kept.count - maxCount)
        evictedEarly += skip
        for e in kept[skip...] where slot(of: e.key) == nil { append(e.key, at: e.at) }
    }

    /// Memory held by the arrays now, in bytes (at most `maxBytes`, plus the arrays' rounding).
    public var allocatedBytes: Int { keys.capacity * 8 + times.capacity * 4 + table.capacity * 4 }

    /// Arrival time of the oldest id held (how far back the window really reaches), or nil.
    public var oldestAt: Int64? { count == 0 ? nil : base + Int64(times[head]) }

    // MARK: Ring and table

    private func home(_ k: UInt64) -> Int {
        // Fibonacci mix, then a multiply-shift reduction onto the (not necessarily power-of-two) table.
        Int((k &* 0x9E37_79B9_7F4A_7C15).multipliedFullWidth(by: UInt64(table.count)).high)
    }

    private func slot(of k: UInt64) -> Int? {
        guard !table.isEmpty else { return nil }
        var i = home(k)
        while true {
            let e = table[i]
            if e == Self.empty { return nil }
            if keys[Int(e)] == k { return i }
            i += 1
            if i == table.count { i = 0 }
        }
    }

    private mutating func place(_ position: Int) {
        var i = home(keys[position])
        while table[i] != Self.empty {
            i += 1
            if i == table.count { i = 0 }
        }
        table[i] = UInt32(position)
    }

    private mutating func append(_ k: UInt64, at: Int64) {
        if !hasBase {
            base = at - Int64(Int32.max)
            hasBase = true
        }
        if count == keys.count {
            if keys.count < maxCount {
                resize(min(maxCount, max(Self.minimumSlots, keys.count * 2)))
            } else {
                removeOldest()
                evictedEarly += 1
            }
        }
        var position = head + count
        if position >= keys.count { position -= keys.count }
        keys[position] = k
        times[position] = UInt32(clamping: at - base)
        count += 1
        place(position)
    }

    private mutating func removeOldest() {
        let k = keys[head]
        guard var hole = slot(of: k) else { preconditionFailure("dedupe ring and table disagree") }
        // Backward-shift deletion: move later entries of the probe run into the hole when their
        // home does not lie cyclically in (hole, j].
        table[hole] = Self.empty
        var j = hole
        while true {
            j += 1
            if j == table.count { j = 0 }
            let e = table[j]
            if e == Self.empty { break }
            let h = home(keys[Int(e)])
            let stays = hole <= j ? (hole < h && h <= j) : (hole < h || h <= j)
            if !stays {
                table[hole] = e
                table[j] = Self.empty
                hole = j
            }
        }
        head += 1
        if head == keys.count { head = 0 }
        count -= 1
    }

    /// Moves the ring into `slots` slots (oldest first at 0) and rebuilds the table.
    private mutating func resize(_ slots: Int) {
        var newKeys = ContiguousArray<UInt64>(repeating: 0, count: slots)
        var newTimes = ContiguousArray<UInt32>(repeating: 0, count: slots)
        for i in 0..<count {
            var p = head + i
            if p >= keys.count { p -= keys.count }
            newKeys[i] = keys[p]
            newTimes[i] = times[p]
        }
        // Free the old arrays before the new table is allocated (lower peak).
        keys = []
        times = []
        table = []
        keys = newKeys
        times = newTimes
        head = 0
        table = ContiguousArray(repeating: Self.empty, count: slots * 2)
        for i in 0..<count { place(i) }
    }

    private mutating func expire(now: Int64) {
        while count > 0, now - (base + Int64(times[head])) > windowSeconds { removeOldest() }
        if keys.count > Self.minimumSlots, count * 4 <= keys.count {
            resize(max(Self.minimumSlots, keys.count / 2))
        }
    }
}
