/// Faults the loopback emulator injects over real HTTP, by share and seeded: the ones Telnyx
/// really shows. Scenario files name faults per event type or action (`Scenario.Faults`); these
/// are the same kinds of fault as rates over many calls (`callflow dev --faults`, `callflow-bench bench-soak`,
/// the soak test), written `key=value,key=value`:
///
/// - `commands_5xx=P`: a share P of commands is refused with 500 or 503 (not executed).
/// - `commands_429=P`: a share is refused with 429 and `Retry-After: retry_after` seconds (default 1).
/// - `slow_api=P`, `slow_api_ms=MS` (default 300): a share of API answers waits MS before it is sent
///   (the command is executed at once; only the answer is late, as when Telnyx is slow).
/// - `duplicate=P`: a share of webhooks is delivered twice (same id and body), 0–50 ms apart.
/// - `reorder=P`, `reorder_ms=MS` (default 300): a share is held back MS so later ones overtake it.
/// - `late=P`, `late_ms=MS` (default 2000): a share arrives MS late.
/// - `lost_ack=P`: a share of 2xx answers is treated as lost, so the webhook is delivered again.
/// - `redeliver_ms=MS` (default 100), `redeliver_max_ms=MS` (default 2000), `attempts=N` (default 20):
///   a webhook not answered 2xx is delivered again after MS, doubling up to the maximum, N
///   deliveries in all (Telnyx redelivers with backoff).
/// - `seed=N` (default 1): the same seed gives the same choices for the same sequence of events.
///
/// Shares are 0...1. Delays are real milliseconds (not scaled by the emulator's speed). A `_ms`
/// only sizes its fault: `late_ms` without `late` is an error, so nothing is on by surprise.
public struct LiveFaults: Sendable, Equatable {
    public var commands5xx = 0.0
    public var commands429 = 0.0
    public var retryAfterSecs = 1
    public var slowAPI = 0.0
    public var slowAPIMs = 300
    public var duplicate = 0.0
    public var reorder = 0.0
    public var reorderMs = 300
    public var late = 0.0
    public var lateMs = 2000
    public var lostAck = 0.0
    public var redeliverMs = 100
    public var redeliverMaxMs = 2000
    public var attempts = 20
    public var seed: UInt64 = 1

    public init() {}

    public static let keys = [
        "commands_5xx", "commands_429", "retry_after", "slow_api", "slow_api_ms", "duplicate", "reorder", "reorder_ms",
        "late", "late_ms", "lost_ack", "redeliver_ms", "redeliver_max_ms", "attempts", "seed",
    ]

    /// Whether any fault is injected (redelivery alone is not a fault).
    public var any: Bool { commands5xx + commands429 + slowAPI + duplicate + reorder + late + lostAck > 0 }

    public struct ParseError: Error, CustomStringConvertible {
        public let description: String
    }

    /// Parses `commands_5xx=0.1,late=0.05,late_ms=2000,seed=7` (spaces allowed; empty or `none`: no faults).
    public static func parse(_ text: String) throws(ParseError) -> LiveFaults {
        var f = LiveFaults()
        let trimmed = text.faultTrimmed()
        if trimmed.isEmpty || trimmed == "none" { return f }
        var seen: Set<String> = []
        for item in trimmed.split(separator: ",") {
            let parts = item.split(separator: "=", maxSplits: 1).map { String($0).faultTrimmed() }
            guard parts.count == 2, !parts[0].isEmpty else { throw ParseError(description: "fault \"\(item)\" is not key=value") }
            let key = parts[0], value = parts[1]
            guard keys.contains(key) else {
                let near =
                    keys.min { editDistance($0, key) < editDistance($1, key) }.map { editDistance($0, key) <= 3 ? "; did you mean \"\($0)\"?" : "" }
                    ?? ""
                throw ParseError(description: "unknown fault \"\(key)\"\(near) (known: \(keys.joined(separator: ", ")))")
            }
            guard seen.insert(key).inserted else { throw ParseError(description: "fault \"\(key)\" given twice") }
            func share() throws(ParseError) -> Double {
                guard let v = Double(value), v >= 0, v <= 1 else { throw ParseError(description: "\(key) is a share from 0 to 1, got \"\(value)\"") }
                return v
            }
            func count(_ range: ClosedRange<Int>) throws(ParseError) -> Int {
                guard let v = Int(value), range.contains(v) else {
                    throw ParseError(description: "\(key) is a whole number from \(range.lowerBound) to \(range.upperBound), got \"\(value)\"")
                }
                return v
            }
            switch key {
            case "commands_5xx": f.commands5xx = try share()
            case "commands_429": f.commands429 = try share()
            case "retry_after": f.retryAfterSecs = try count(0...3600)
            case "slow_api": f.slowAPI = try share()
            case "slow_api_ms": f.slowAPIMs = try count(0...600_000)
            case "duplicate": f.duplicate = try share()
            case "reorder": f.reorder = try share()
            case "reorder_ms": f.reorderMs = try count(0...600_000)
            case "late": f.late = try share()
            case "late_ms": f.lateMs = try count(0...600_000)
            case "lost_ack": f.lostAck = try share()
            case "redeliver_ms": f.redeliverMs = try count(1...600_000)
            case "redeliver_max_ms": f.redeliverMaxMs = try count(1...600_000)
            case "attempts": f.attempts = try count(1...10_000)
            default:
                guard let v = UInt64(value) else { throw ParseError(description: "seed is a whole number, got \"\(value)\"") }
                f.seed = v
            }
        }
        for (size, share) in [("slow_api_ms", "slow_api"), ("reorder_ms", "reorder"), ("late_ms", "late")]
        where seen.contains(size) && !seen.contains(share) {
            throw ParseError(description: "\(size) sizes a fault that is off: give \(share)=SHARE too")
        }
        if f.commands5xx + f.commands429 > 1 { throw ParseError(description: "commands_5xx + commands_429 exceed 1") }
        return f
    }

    /// The canonical text (`parse(description) == self`), for banners and logs.
    public var description: String {
        var parts: [String] = []
        func share(_ k: String, _ v: Double) { if v > 0 { parts.append("\(k)=\(v)") } }
        share("commands_5xx", commands5xx)
        share("commands_429", commands429)
        if commands429 > 0 { parts.append("retry_after=\(retryAfterSecs)") }
        share("slow_api", slowAPI)
        if slowAPI > 0 { parts.append("slow_api_ms=\(slowAPIMs)") }
        share("duplicate", duplicate)
        share("reorder", reorder)
        if reorder > 0 { parts.append("reorder_ms=\(reorderMs)") }
        share("late", late)
        if late > 0 { parts.append("late_ms=\(lateMs)") }
        share("lost_ack", lostAck)
        parts += ["redeliver_ms=\(redeliverMs)", "redeliver_max_ms=\(redeliverMaxMs)", "attempts=\(attempts)", "seed=\(seed)"]
        return parts.joined(separator: ",")
    }

    /// A seeded draw in 0..<1 for fault `kind` on `key`'s `n`th occurrence (a command's leg and
    /// `command_id` and how often it came before; a webhook's id): the same seed gives the same
    /// command or webhook the same fault, whatever else interleaves with it.
    public func draw(_ kind: String, _ key: String, _ n: Int) -> Double {
        var h: UInt64 = 0xcbf2_9ce4_8422_2325 ^ seed
        for b in kind.utf8 { h = (h ^ UInt64(b)) &* 0x100_0000_01b3 }
        h = (h ^ 0xff) &* 0x100_0000_01b3
        for b in key.utf8 { h = (h ^ UInt64(b)) &* 0x100_0000_01b3 }
        var d = FaultDice(seed: h ^ (UInt64(n) &* 0x9E37_79B9_7F4A_7C15))
        return d.unit()
    }

    /// The wait before delivery `attempt + 1` of a webhook: `redeliver_ms` doubling, capped.
    public func redeliveryDelayMs(afterAttempt attempt: Int) -> Int {
        min(redeliverMaxMs, redeliverMs << min(max(attempt - 1, 0), 20))
    }

    static func editDistance(_ a: String, _ b: String) -> Int {
        let a = Array(a), b = Array(b)
        var row = Array(0...b.count)
        for i in 1...max(a.count, 1) where !a.isEmpty {
            var previous = row[0]
            row[0] = i
            for j in 1...max(b.count, 1) where !b.isEmpty {
                let saved = row[j]
                row[j] = min(row[j] + 1, row[j - 1] + 1, previous + (a[i - 1] == b[j - 1] ? 0 : 1))
                previous = saved
            }
        }
        return row[b.count]
    }
}

/// The seeded choices of one emulator run (SplitMix64): each fault draws from it in the order
/// events happen, so a run with the same seed and the same traffic makes the same choices.
public struct FaultDice: Sendable, RandomNumberGenerator {
    var state: UInt64
    public init(seed: UInt64) { state = seed }
    public mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
    /// Uniform in 0..<1.
    public mutating func unit() -> Double { Double(next() >> 11) / Double(1 << 53) }
    /// True with probability `p` (draws nothing when p is 0, so adding a fault kind leaves the others' choices).
    public mutating func roll(_ p: Double) -> Bool { p > 0 && unit() < p }
}

extension String {
    func faultTrimmed() -> String {
        var s = Substring(self)
        while s.first == " " { s.removeFirst() }
        while s.last == " " { s.removeLast() }
        return String(s)
    }
}
