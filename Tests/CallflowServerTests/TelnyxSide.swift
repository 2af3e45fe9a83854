import CallflowCore
import CallflowServer
import Foundation
import WebhookSignature

/// Plays Telnyx's webhook side in tests: signed events for a call, echoing the client_state of
/// the last command the fake API received for that leg (as Telnyx does).
struct TelnyxSide {
    let server: TestServer
    let api: FakeHTTPServer
    let signer = IngressTests.signer
    var counter = 0

    /// A temporary flows directory holding `flows` (name → JSON).
    static func flowsDir(_ flows: [String: String]) throws -> String {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("callflow-flows-\(UUID())")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        for (name, text) in flows { try Data(text.utf8).write(to: dir.appendingPathComponent("\(name).json")) }
        return dir.path
    }

    static func config(api: FakeHTTPServer, flows: [String: String], defaultFlow: String, attempts: Int = 4,
                       commandTimeoutMs: Int = 2000) throws -> CallflowConfig {
        var config = TestServer.baseConfig()
        config.telnyx.publicKey = IngressTests.signer.publicKeyBase64
        config.telnyx.apiBaseURL = "http://127.0.0.1:\(api.port)/v2"
        config.telnyx.maxAttempts = attempts
        config.telnyx.commandTimeoutMs = commandTimeoutMs
        config.flows.dir = try flowsDir(flows)
        config.flows.defaultFlow = defaultFlow
        return config
    }

    /// Commands the fake API received for `call`, as (action, body).
    func commands(for call: String) -> [(action: String, body: JSONValue)] {
        api.requests.compactMap { r in
            let prefix = "/v2/calls/\(call)/actions/"
            guard r.path.hasPrefix(prefix), let body = r.json else { return nil }
            return (String(r.path.dropFirst(prefix.count)), body)
        }
    }

    @discardableResult
    mutating func send(_ type: String, call: String, _ payload: JSONObject = [:], clientState: String? = nil) throws -> RawResponse {
        counter += 1
        var p = payload
        p["call_control_id"] = .string(call)
        p["connection_id"] = "conn-1"
        p["from"] = p["from"] ?? "+13125550101"
        p["to"] = p["to"] ?? "+13125550100"
        let echoed = commands(for: call).last?.body["client_state"]?.stringValue
        p["client_state"] = (clientState ?? echoed).map(JSONValue.string) ?? .null
        let body: JSONValue = [
            "data": ["record_type": "event", "event_type": .string(type), "id": .string("evt-\(call)-\(counter)-\(UUID())"),
                     "occurred_at": "2026-11-23T16:00:00Z", "payload": .object(p)],
            "meta": ["attempt": 1, "delivered_to": "http://127.0.0.1/webhooks/telnyx"],
        ]
        let bytes = body.jsonBytes
        return try IngressTests.post(server.port, bytes, headers: IngressTests.signed(bytes))
    }

    mutating func initiated(_ call: String) throws {
        try send("call.initiated", call: call, ["direction": "incoming", "state": "parked"], clientState: nil)
    }
}
