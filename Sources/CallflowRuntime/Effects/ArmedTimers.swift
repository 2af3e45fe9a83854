/// The loop timers armed for calls, by timer id and by call: a call that ends cancels its own
/// timers without a scan of every live call's (with 10k calls holding timers, a scan per hangup
/// was 10k string comparisons).
package struct ArmedTimers {
    private var handles: [String: (call: String, handle: Int)] = [:]
    private var byCall: [String: Set<String>] = [:]

    package var count: Int { handles.count }

    package func contains(_ id: String) -> Bool { handles[id] != nil }

    /// Records a timer; one already armed under `id` is returned so the caller can cancel it.
    mutating func insert(_ id: String, call: String, handle: Int) -> Int? {
        let previous = remove(id)
        handles[id] = (call, handle)
        byCall[call, default: []].insert(id)
        return previous
    }

    /// Forgets a timer (it fired or was cancelled); returns its loop handle.
    @discardableResult
    mutating func remove(_ id: String) -> Int? {
        guard let entry = handles.removeValue(forKey: id) else { return nil }
        byCall[entry.call]?.remove(id)
        if byCall[entry.call]?.isEmpty == true { byCall[entry.call] = nil }
        return entry.handle
    }

    /// Forgets every timer of `call`; returns their loop handles.
    mutating func removeAll(of call: String) -> [Int] {
        guard let ids = byCall.removeValue(forKey: call) else { return [] }
        return ids.compactMap { handles.removeValue(forKey: $0)?.handle }
    }
}
