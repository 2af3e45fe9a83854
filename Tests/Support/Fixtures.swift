import Foundation
import TelnyxEmulator

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

/// Deterministic random numbers for property tests (same seed → same run): the emulator's own
/// seeded generator, so tests and fault injection share one implementation.
public typealias SplitMix = FaultDice
