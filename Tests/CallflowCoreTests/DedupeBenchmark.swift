import CallflowCore
import Foundation
import Testing

/// `bench/dedupe.sh`: resident memory per remembered webhook id. Runs only with
/// `DEDUPE_BENCH=<structure>:<ids>` (one structure per process, so pages freed by one cannot be
/// reused by the next): `window` (DedupeWindow), `legacy` (the structure before the ceiling: a
/// `[UInt64: Int64]` and an array of (id, at)), `set` (a plain `Set<UInt64>`, the reference).
@Suite struct DedupeBenchmark {
    static let spec = ProcessInfo.processInfo.environment["DEDUPE_BENCH"]

    static func rssBytes() -> Int {
        guard let text = try? String(contentsOfFile: "/proc/self/statm", encoding: .utf8),
            let pages = text.split(separator: " ").dropFirst().first.flatMap({ Int($0) })
        else { return 0 }
        return pages * Int(sysconf(Int32(_SC_PAGESIZE)))
    }

    /// Telnyx-shaped ids (UUIDs), made on the fly so their strings are not what is measured.
    static func id(_ i: Int) -> String {
        let hex = String(i, radix: 16)
        return "d2a1f6a8-5b0c-4b1e-9c3a-" + String(repeating: "0", count: max(0, 12 - hex.count)) + hex
    }

    @Test(.enabled(if: spec != nil)) func bytesPerID() throws {
        let parts = try #require(Self.spec?.split(separator: ":"))
        let kind = String(parts[0])
        let n = try #require(Int(parts[1]))
        let now: Int64 = 1_795_449_600
        var window = DedupeWindow(maxBytes: max(DedupeWindow.defaultMaxBytes, n * DedupeWindow.bytesPerID))
        var legacy = LegacyDedupeWindow()
        var set = Set<UInt64>()
        // Warm up the allocator and the string machinery.
        for i in 0..<2000 { _ = Self.id(i).utf8.count }
        let before = Self.rssBytes()
        var fresh = 0
        switch kind {
        case "window": for i in 0..<n where window.insert(Self.id(i), now: now + Int64(i / 1000)) { fresh += 1 }
        case "legacy": for i in 0..<n where legacy.insert(Self.id(i), now: now + Int64(i / 1000)) { fresh += 1 }
        case "set": for i in 0..<n where set.insert(DedupeWindow.storedKey(Self.id(i))).inserted { fresh += 1 }
        default: Issue.record("unknown structure \(kind)")
        }
        let after = Self.rssBytes()
        #expect(fresh == n)
        var line =
            "structure=\(kind) ids=\(n) rss_growth_bytes=\(after - before) bytes_per_id=\(String(format: "%.1f", Double(after - before) / Double(n)))"
        if kind == "window" {
            line += " allocated_bytes=\(window.allocatedBytes) allocated_per_id=\(String(format: "%.1f", Double(window.allocatedBytes) / Double(n)))"
        }
        print("DEDUPE_BENCH " + line)
        withExtendedLifetime((window, legacy, set)) {}
    }
}

/// The dedupe window before the ceiling (commit 969b5b0), kept as the benchmark's reference.
struct LegacyDedupeWindow {
    let windowSeconds: Int64 = 3600
    private var seen: [UInt64: Int64] = [:]
    private var order: [(id: UInt64, at: Int64)] = []
    private var head = 0

    mutating func insert(_ id: String, now: Int64) -> Bool {
        expire(now: now)
        let k = DedupeWindow.storedKey(id)
        if seen[k] != nil { return false }
        seen[k] = now
        order.append((k, now))
        return true
    }

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
