import CallflowCore
import CallflowTestSupport
import Testing

@Suite struct DedupeWindowTests {
    /// A ceiling of `ids` ids.
    static func window(ids: Int, seconds: Int64 = 3600) -> DedupeWindow {
        DedupeWindow(windowSeconds: seconds, maxBytes: ids * DedupeWindow.bytesPerID)
    }

    @Test func duplicatesInsideTheWindowAreFound() {
        var w = DedupeWindow()
        isNew(w.insert("a", now: 100))
        isDuplicate(w.insert("a", now: 200))
        isNew(w.insert("b", now: 200))
        #expect(w.contains("a") && w.contains("b") && !w.contains("c"))
        #expect(w.count == 2 && w.evictedEarly == 0)
    }

    @Test func idsExpireWhenTheirWindowEnds() {
        var w = DedupeWindow(windowSeconds: 60)
        isNew(w.insert("a", now: 1000))
        isNew(w.insert("b", now: 1030))
        isDuplicate(w.insert("a", now: 1060))  // exactly 60 s: still inside
        isNew(w.insert("a", now: 1061))  // a expired, recorded again
        isDuplicate(w.insert("b", now: 1061))
        isNew(w.insert("c", now: 1200))  // a (1061) and b expire
        #expect(w.count == 1 && !w.contains("a") && !w.contains("b"))
        #expect(w.evictedEarly == 0, "expiry is not early eviction")
    }

    @Test func atTheCeilingTheOldestAreForgottenEarlyAndCounted() {
        var w = Self.window(ids: 100)
        #expect(w.maxCount == 100)
        for i in 0..<250 { isNew(w.insert("id-\(i)", now: 5000 + Int64(i / 10))) }
        #expect(w.count == 100)
        #expect(w.evictedEarly == 150)
        for i in 150..<250 { #expect(w.contains("id-\(i)"), "newest id-\(i) kept") }
        for i in 0..<150 { #expect(!w.contains("id-\(i)"), "oldest id-\(i) forgotten") }
        #expect(w.oldestAt == 5015)
        // A redelivery of a forgotten id is applied again (documented), and evicts the next oldest.
        isNew(w.insert("id-0", now: 5030))
        #expect(w.evictedEarly == 151 && !w.contains("id-150") && w.contains("id-151"))
        // Duplicates of kept ids are still duplicates.
        isDuplicate(w.insert("id-249", now: 5030))
        #expect(w.allocatedBytes <= 100 * DedupeWindow.bytesPerID + 64)
    }

    @Test func theCeilingIsHeldInBytes() {
        let w = DedupeWindow(maxBytes: 1 << 20)
        #expect(w.maxBytes == 1 << 20 && w.maxCount == (1 << 20) / 20)
        var big = Self.window(ids: 5000)
        for i in 0..<20_000 { _ = big.insert("e\(i)", now: 1) }
        #expect(big.count == 5000 && big.evictedEarly == 15_000)
        #expect(big.allocatedBytes <= big.maxBytes + 64, "\(big.allocatedBytes) > \(big.maxBytes)")
    }

    @Test func theRingShrinksAfterABurstExpires() {
        var w = DedupeWindow(windowSeconds: 10)
        for i in 0..<50_000 { _ = w.insert("burst-\(i)", now: 100) }
        let peak = w.allocatedBytes
        #expect(peak >= 50_000 * DedupeWindow.bytesPerID)
        for i in 0..<20 { _ = w.insert("later-\(i)", now: 200) }
        #expect(w.count == 20)
        #expect(w.allocatedBytes < peak / 8, "\(w.allocatedBytes) of \(peak)")
        #expect(w.evictedEarly == 0)
    }

    @Test func restoreRespectsTheWindowAndTheCeiling() {
        let entries = (0..<300).map { (key: DedupeWindow.storedKey("r-\($0)"), at: Int64(10_000 + $0)) }.shuffled()
        var w = Self.window(ids: 100)
        // now - 3600 = 6_650: all inside the window.
        w.restore(entries, now: 10_250 + 3600 - 250)
        #expect(w.count == 100)
        #expect(w.evictedEarly == 200)
        for i in 200..<300 { #expect(w.contains("r-\(i)")) }
        for i in 0..<200 { #expect(!w.contains("r-\(i)")) }
        isDuplicate(w.insert("r-299", now: 10_300))

        // Entries outside the window are dropped, not counted.
        var late = Self.window(ids: 100)
        late.restore(entries, now: 10_100 + 3600)  // r-0 ... r-99 are older than the hour
        #expect(late.count == 100 && late.evictedEarly == 100)
        var roomy = DedupeWindow()
        roomy.restore(entries, now: 10_100 + 3600)
        #expect(roomy.count == 200 && roomy.evictedEarly == 0)
        #expect(!roomy.contains("r-99") && roomy.contains("r-100"))
        #expect(roomy.oldestAt == 10_100)
    }

    /// A long random run against a plain model: the window answers exactly like a dictionary that
    /// forgets by time and, at the ceiling, oldest first (probe runs, deletion and wrap-around).
    @Test func matchesASimpleModel() {
        var rng = SplitMix(seed: 18)
        var w = Self.window(ids: 3000, seconds: 50)
        var model: [String: Int64] = [:]
        var order: [(String, Int64)] = []
        var now: Int64 = 1_700_000_000
        for _ in 0..<60_000 {
            now += Int64(rng.next() % 100 == 0 ? 1 : 0)
            let id = "m\(rng.next() % 8000)"
            // The model: expire, then look up, then evict oldest at the ceiling.
            while let first = order.first, now - first.1 > 50 { model[first.0] = nil; order.removeFirst() }
            let expected = model[id] == nil
            if expected {
                if order.count == 3000 { model[order.removeFirst().0] = nil }
                model[id] = now
                order.append((id, now))
            }
            let inserted = w.insert(id, now: now)
            #expect(inserted == expected)
            if w.count != model.count { Issue.record("count \(w.count) vs \(model.count)"); return }
        }
        #expect(w.evictedEarly > 0 && now - 1_700_000_000 > 200, "both eviction and expiry exercised")
    }

    @Test func theEngineUsesTheConfiguredCeiling() throws {
        let engine = MemoryEngine(flows: try Flows.set(), dedupeMaxBytes: 1 << 20)
        #expect(engine.webhookIDs.maxBytes == 1 << 20)
        #expect(MemoryEngine(flows: try Flows.set()).webhookIDs.maxBytes == DedupeWindow.defaultMaxBytes)
    }
}

/// Plain functions (not the macro, which cannot hold a mutating call).
private func isNew(_ inserted: Bool, sourceLocation: SourceLocation = #_sourceLocation) {
    #expect(inserted, "expected a new id", sourceLocation: sourceLocation)
}

private func isDuplicate(_ inserted: Bool, sourceLocation: SourceLocation = #_sourceLocation) {
    #expect(!inserted, "expected a duplicate", sourceLocation: sourceLocation)
}
