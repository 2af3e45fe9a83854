import CallflowCore
import EventHTTP

extension HTTPResponse {
    /// Every error this server sends has the same shape: `{"error": "..."}`.
    static func error(_ status: Int, _ message: String, headers: [(String, String)] = []) -> HTTPResponse {
        .json(status, JSONValue.object(["error": .string(message)]).jsonBytes, headers: headers)
    }

    static let ok = HTTPResponse.json(200, Array(#"{"status":"ok"}"#.utf8))
}
