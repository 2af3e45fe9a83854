import CallflowCore
import CallflowTestSupport
import Foundation
import Testing

/// Chicago's real 2026 offsets (CST/CDT), so `hours` tests need no tzdata.
struct TestZones: TimeZoneProvider {
    func rules(for identifier: String) -> TimeZoneRules? {
        switch identifier {
        case "America/Chicago": return TimeZoneRules(transitions: [(Int64.min, -21600), (1_772_956_800, -18000), (1_793_516_400, -21600)])
        case "UTC": return .utc
        default: return nil
        }
    }
}

enum Times {
    /// Monday 2026-11-23 10:00 in Chicago: open.
    static let mondayMorning: Int64 = 1_795_449_600
    /// Saturday 2026-11-21 14:00 in Chicago: closed (Saturday hours end at 13:00).
    static let saturdayAfternoon: Int64 = 1_795_291_200
    /// Friday 2026-12-25 10:00 in Chicago: a closed date.
    static let christmas: Int64 = 1_798_214_400
}

enum Flows {
    static let shipped = ["main", "voicemail", "reminder", "ai-receptionist", "support", "bilingual", "support-line", "support-callback"]
    /// The agent groups in `flows/groups/`, which the support line rings.
    static let groups = ["support", "billing"]

    static func file(_ name: String) throws -> [UInt8] {
        Array(try Data(contentsOf: Fixtures.repoRoot.appendingPathComponent("flows/\(name).json")))
    }

    /// The agent group files of `flows/groups/`, as `FlowSet.load` takes them.
    static func groupFiles() throws -> [(name: String, file: String, bytes: [UInt8])] {
        try groups.map { (name: AgentGroups.prefix + $0, file: "flows/groups/\($0).json", bytes: try file("groups/\($0)")) }
    }

    /// The flows in `flows/` (plus any extra inline flows).
    static func set(extra: [String: String] = [:]) throws -> FlowSet {
        var files = try shipped.map { (name: $0, file: "flows/\($0).json", bytes: try file($0)) }
        files += try groupFiles()
        for (name, text) in extra { files.append((name, "\(name).json", Array(text.utf8))) }
        let (set, diagnostics) = FlowSet.load(files: files, timeZones: TestZones())
        let errors = diagnostics.filter { $0.severity == .error }
        #expect(errors.isEmpty, "\(errors)")
        return try #require(set)
    }

    /// One inline flow named `t`.
    static func single(_ text: String) throws -> FlowSet {
        let (set, diagnostics) = FlowSet.load(files: [("t", "t.json", Array(text.utf8))], timeZones: TestZones())
        #expect(diagnostics.filter { $0.severity == .error }.isEmpty, "\(diagnostics)")
        return try #require(set)
    }
}

/// Drives an engine the way Telnyx would: webhooks echo the client_state of the last command
/// sent on their leg, ids are unique, and every command issued is recorded.
struct CallHarness {
    var engine: MemoryEngine
    var now: Int64
    /// The call the webhooks are about; a test may switch it to drive a second call on the same engine.
    var call = "v3:call-A"
    var from = "+13125550101"
    var to = "+13125550100"
    var commands: [CallCommand] = []
    var effects: [Effect] = []
    var outputs: [InputWork] = []
    var lastClientState: [String: String] = [:]
    var counter = 0

    init(flows: FlowSet, now: Int64 = Times.mondayMorning, routes: [String: String] = [:], defaultFlow: String? = "main") {
        engine = MemoryEngine(flows: flows, routes: routes, defaultFlow: defaultFlow)
        self.now = now
    }

    var state: CallState? { engine.calls[call] }
    var last: CallCommand? { commands.last }
    var lastOutput: InputWork? { outputs.last }
    var actions: [String] { commands.map(\.action) }

    @discardableResult
    mutating func record(_ output: InputWork) -> InputWork {
        outputs.append(output)
        for e in output.effects {
            effects.append(e.effect)
            if case .command(let c) = e.effect {
                commands.append(c)
                if let cs = c.body["client_state"]?.stringValue {
                    // dial/transfer tag the new leg; the command's own leg echoes its client_state.
                    lastClientState[c.action == "dial" ? "dial" : c.callControlID] = cs
                    if let target = c.body["target_leg_client_state"]?.stringValue { lastClientState["transfer"] = target }
                }
            }
        }
        return output
    }

    /// Sends a webhook. `clientState` defaults to what Telnyx would echo on that leg.
    @discardableResult
    mutating func send(
        _ type: String, _ payload: JSONObject = [:], leg: String? = nil, clientState: String?? = .none, id: String? = nil
    ) -> InputWork {
        counter += 1
        let legID = leg ?? call
        var p = payload
        p["call_control_id"] = .string(legID)
        p["connection_id"] = "conn-1"
        if p["from"] == nil { p["from"] = .string(from) }
        if p["to"] == nil { p["to"] = .string(to) }
        switch clientState {
        case .none: p["client_state"] = lastClientState[legID].map(JSONValue.string) ?? .null
        case .some(let explicit): p["client_state"] = explicit.map(JSONValue.string) ?? .null
        }
        let root: JSONValue = [
            "data": [
                "record_type": "event", "event_type": .string(type), "id": .string(id ?? "evt-\(counter)"),
                "occurred_at": "2026-11-23T16:00:00.000000Z", "payload": .object(p),
            ],
            "meta": ["attempt": 1, "delivered_to": "https://ivr.example.com/webhooks/telnyx"],
        ]
        let event = try! WebhookEvent.decode(root.jsonBytes)
        now += 1
        return record(engine.receive(event, now: now))
    }

    @discardableResult
    mutating func apply(_ input: MachineInput) -> InputWork {
        now += 1
        return record(engine.apply(input, to: call, now: now))
    }

    // Telnyx events, by name.
    @discardableResult mutating func initiated(direction: String = "incoming") -> InputWork {
        send("call.initiated", ["direction": .string(direction), "state": "parked"], clientState: .some(nil))
    }
    @discardableResult mutating func answered() -> InputWork { send("call.answered") }
    @discardableResult mutating func speakEnded(_ status: String = "completed") -> InputWork {
        send("call.speak.ended", ["status": .string(status)])
    }
    @discardableResult mutating func playbackEnded(_ status: String = "completed") -> InputWork {
        send("call.playback.ended", ["status": .string(status)])
    }
    @discardableResult mutating func gatherEnded(_ digits: String, _ status: String = "valid") -> InputWork {
        send("call.gather.ended", ["digits": .string(digits), "status": .string(status)])
    }
    @discardableResult mutating func hangup(_ cause: String = "normal_clearing") -> InputWork {
        send("call.hangup", ["hangup_cause": .string(cause), "hangup_source": "caller"])
    }
    @discardableResult mutating func httpResponse(_ status: Int, _ body: String) -> InputWork {
        guard case .http(let id)? = state?.waiting else {
            Issue.record("not waiting for http: \(String(describing: state?.waiting))")
            return InputWork(.ignored("not waiting"))
        }
        return apply(.httpResult(requestID: id, .response(status: status, body: Array(body.utf8))))
    }

    var httpCalls: [HTTPCall] { effects.compactMap { if case .http(let h) = $0 { return h } else { return nil } } }
    var ended: Bool { effects.contains { if case .ended = $0 { return true } else { return false } } }
    var logs: [String] { effects.compactMap { if case .log(_, let m, _) = $0 { return m } else { return nil } } }
}
