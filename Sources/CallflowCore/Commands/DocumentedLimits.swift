/// Limits Telnyx documents for a field in prose, which its schema leaves out: `check` refuses a
/// literal value that breaks one, the engine a rendered one, and the emulator answers 422 as
/// Telnyx does. One table, so the three agree.
public enum DocumentedLimit: Sendable, Equatable {
    /// `loop` of speak and playback_start: "an integer between 1 and 100, or the special string
    /// `infinity`".
    case loop
    /// `send_dtmf` digits: 0-9, A-D, `*`, `#`, and `w`/`W` pauses.
    case dtmf
    /// An integer within these bounds (`record_start` `max_length`: 0 to 14400).
    case range(ClosedRange<Int>)

    /// Action → field → limit (from the descriptions in Telnyx's OpenAPI spec).
    public static let table: [String: [String: DocumentedLimit]] = [
        "speak": ["loop": .loop],
        "playback_start": ["loop": .loop],
        "send_dtmf": ["digits": .dtmf],
        "record_start": ["max_length": .range(0...14_400), "timeout_secs": .range(0...Int.max)],
    ]

    /// Why `value` breaks the limit, nil when it keeps it.
    public func problem(_ v: JSONValue) -> String? {
        switch self {
        case .loop:
            if let n = v.intValue, (1...100).contains(n) { return nil }
            return v.stringValue == "infinity" ? nil : "must be an integer from 1 to 100 or \"infinity\", got \(v.jsonString)"
        case .dtmf:
            guard let s = v.stringValue, !s.isEmpty, s.allSatisfy({ "0123456789ABCD*#wW".contains($0) }) else {
                return "must be DTMF digits (0-9, A-D, *, #, w and W pauses), got \(v.jsonString)"
            }
            return nil
        case .range(let r):
            guard let n = v.intValue, r.contains(n) else { return "must be an integer from \(r.lowerBound) to \(r.upperBound), got \(v.jsonString)" }
            return nil
        }
    }

    /// The documented limit `value` of `action`'s `key` breaks, as a message naming the field.
    public static func problem(action: String, key: String, value: JSONValue) -> String? {
        guard let limit = table[action]?[key], let why = limit.problem(value) else { return nil }
        return "\(action).\(key) \(why)"
    }
}
