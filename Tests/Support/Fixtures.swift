import Foundation

/// Locates the read-only Telnyx facts (`../shared/telnyx` beside the repository) and the repo root.
public enum Fixtures {
    public static let repoRoot: URL = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()

    public static var telnyx: URL {
        if let env = ProcessInfo.processInfo.environment["CALLFLOW_TELNYX_FACTS"] { return URL(fileURLWithPath: env) }
        return repoRoot.deletingLastPathComponent().appendingPathComponent("shared/telnyx")
    }

    public static func json(_ relative: String) throws -> Any {
        let data = try Data(contentsOf: telnyx.appendingPathComponent(relative))
        return try JSONSerialization.jsonObject(with: data)
    }
}

/// Deterministic random numbers for property tests (same seed → same run).
public struct SplitMix: RandomNumberGenerator {
    var state: UInt64
    public init(seed: UInt64) { state = seed }
    public mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}
