/// UTC-offset rules of one IANA zone, resolved at load time (by the shell, from tzdata) so the
/// machine can compute local time without reading the disk or the clock.
public struct TimeZoneRules: Sendable, Equatable {
    /// Offsets in seconds, each valid from `since` (Unix seconds) until the next entry.
    public var transitions: [(since: Int64, offset: Int)]

    /// Rules from transitions in any order (they are sorted).
    public init(transitions: [(since: Int64, offset: Int)]) {
        self.transitions = transitions.sorted { $0.since < $1.since }
    }

    /// Offset 0 forever: for `UTC`, and for tests.
    public static let utc = TimeZoneRules(transitions: [(Int64.min, 0)])

    /// The UTC offset in seconds at `instant` (Unix seconds): a binary search over `transitions`.
    public func offset(at instant: Int64) -> Int {
        var low = 0, high = transitions.count - 1, found = transitions.first?.offset ?? 0
        while low <= high {
            let mid = (low + high) / 2
            if transitions[mid].since <= instant {
                found = transitions[mid].offset
                low = mid + 1
            } else {
                high = mid - 1
            }
        }
        return found
    }

    /// Same transitions in the same order (tuples are not `Equatable`).
    public static func == (a: TimeZoneRules, b: TimeZoneRules) -> Bool {
        a.transitions.count == b.transitions.count
            && zip(a.transitions, b.transitions).allSatisfy { $0.since == $1.since && $0.offset == $1.offset }
    }

    /// Local wall-clock facts at `instant`.
    public func local(_ instant: Int64) -> LocalTime {
        let local = instant + Int64(offset(at: instant))
        let days = local >= 0 ? local / 86_400 : (local - 86_399) / 86_400
        let secondOfDay = Int(local - days * 86_400)
        let weekday = Int(((days % 7) + 11) % 7)  // 1970-01-01 was a Thursday (4); Sunday = 0
        let (y, m, d) = civil(fromDays: days)
        let date = "\(y)-\(m < 10 ? "0" : "")\(m)-\(d < 10 ? "0" : "")\(d)"
        return LocalTime(weekday: weekday, minuteOfDay: secondOfDay / 60, date: date)
    }

    /// Howard Hinnant's days → civil date.
    private func civil(fromDays z0: Int64) -> (Int64, Int, Int) {
        let z = z0 + 719_468
        let era = (z >= 0 ? z : z - 146_096) / 146_097
        let doe = z - era * 146_097
        let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365
        let y = yoe + era * 400
        let doy = doe - (365 * yoe + yoe / 4 - yoe / 100)
        let mp = (5 * doy + 2) / 153
        let d = Int(doy - (153 * mp + 2) / 5 + 1)
        let m = Int(mp < 10 ? mp + 3 : mp - 9)
        return (m <= 2 ? y + 1 : y, m, d)
    }
}

/// A wall-clock instant in a zone: what an `hours` node decides on.
public struct LocalTime: Sendable, Equatable {
    /// 0 = Sunday ... 6 = Saturday.
    public var weekday: Int
    /// Minutes since local midnight, 0-1439.
    public var minuteOfDay: Int
    /// `YYYY-MM-DD`.
    public var date: String
}

/// Resolves IANA zone names. The shell implements it with the system's tzdata; tests may use fixed rules.
public protocol TimeZoneProvider: Sendable {
    func rules(for identifier: String) -> TimeZoneRules?
}
