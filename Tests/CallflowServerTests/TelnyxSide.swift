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

    static func config(
        api: FakeHTTPServer, flows: [String: String], defaultFlow: String, attempts: Int = 4,
        commandTimeoutMs: Int = 2000
    ) throws -> CallflowConfig {
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
    func commands(for call: String) -> [(action: String, body: JSONValue)] { Self.commands(api, for: call) }

    /// Every `dial` (`POST /v2/calls`) the fake API received, once per command_id, in order.
    static func dials(_ api: FakeHTTPServer) -> [(to: String, clientState: String, commandID: String)] {
        var seen = Set<String>()
        return api.requests.compactMap { r in
            guard r.method == "POST", r.path == "/v2/calls", let body = r.json, let to = body["to"]?.stringValue,
                let id = body["command_id"]?.stringValue, seen.insert(id).inserted
            else { return nil }
            return (to, body["client_state"]?.stringValue ?? "", id)
        }
    }

    static func commands(_ api: FakeHTTPServer, for call: String) -> [(action: String, body: JSONValue)] {
        api.requests.compactMap { r in
            let prefix = "/v2/calls/\(call)/actions/"
            guard r.path.hasPrefix(prefix), let body = r.json else { return nil }
            return (String(r.path.dropFirst(prefix.count)), body)
        }
    }

    /// The body of a webhook of `type` for `call`, as Telnyx sends it (`counter` makes its id unique).
    static func event(_ type: String, call: String, _ payload: JSONObject = [:], clientState: String?, counter: Int = 1) -> [UInt8] {
        var p = payload
        p["call_control_id"] = .string(call)
        p["connection_id"] = "conn-1"
        p["from"] = p["from"] ?? "+13125550101"
        p["to"] = p["to"] ?? "+13125550100"
        p["client_state"] = clientState.map(JSONValue.string) ?? .null
        let body: JSONValue = [
            "data": [
                "record_type": "event", "event_type": .string(type), "id": .string("evt-\(call)-\(counter)-\(UUID())"),
                "occurred_at": "2026-11-23T16:00:00Z", "payload": .object(p),
            ],
            "meta": ["attempt": 1, "delivered_to": "http://127.0.0.1/webhooks/telnyx"],
        ]
        return body.jsonBytes
    }

    @discardableResult
    mutating func send(_ type: String, call: String, _ payload: JSONObject = [:], clientState: String? = nil) throws -> RawResponse {
        counter += 1
        let echoed = commands(for: call).last?.body["client_state"]?.stringValue
        let bytes = Self.event(type, call: call, payload, clientState: clientState ?? echoed, counter: counter)
        return try IngressTests.post(server.port, bytes, headers: IngressTests.signed(bytes))
    }

    mutating func initiated(_ call: String) throws {
        try send("call.initiated", call: call, ["direction": "incoming", "state": "parked"], clientState: nil)
    }
}
