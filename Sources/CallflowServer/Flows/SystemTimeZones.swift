import CallflowCore
import Foundation

/// Resolves IANA zones from the system's tzdata into offset tables, once per zone at load time,
/// so the pure machine computes local time without touching the disk.
public struct SystemTimeZones: TimeZoneProvider {
    public init() {}

    /// Transitions are tabulated from 1970 to 2100; the last offset holds after that.
    public func rules(for identifier: String) -> TimeZoneRules? {
        guard identifier.contains("/") || identifier == "UTC", let zone = TimeZone(identifier: identifier) else { return nil }
        var transitions: [(since: Int64, offset: Int)] = [(Int64.min, zone.secondsFromGMT(for: Date(timeIntervalSince1970: 0)))]
        var cursor = Date(timeIntervalSince1970: 0)
        let end = Date(timeIntervalSince1970: 4_102_444_800)  // 2100-01-01
        while let next = zone.nextDaylightSavingTimeTransition(after: cursor), next < end {
            transitions.append((Int64(next.timeIntervalSince1970), zone.secondsFromGMT(for: next)))
            cursor = next
        }
        return TimeZoneRules(transitions: transitions)
    }
}
