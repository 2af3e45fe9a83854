import Foundation

/// Locates the read-only Telnyx facts (`../shared/telnyx` beside the repository) and the repo root.
enum Fixtures {
    static let repoRoot: URL = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()

    static var telnyx: URL {
        if let env = ProcessInfo.processInfo.environment["CALLFLOW_TELNYX_FACTS"] { return URL(fileURLWithPath: env) }
        return repoRoot.deletingLastPathComponent().appendingPathComponent("shared/telnyx")
    }

    static func json(_ relative: String) throws -> Any {
        let data = try Data(contentsOf: telnyx.appendingPathComponent(relative))
        return try JSONSerialization.jsonObject(with: data)
    }
}
