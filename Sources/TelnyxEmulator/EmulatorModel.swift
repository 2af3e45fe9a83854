import CallflowCore

/// Telnyx's side of calls, as a value: commands go in, API replies and webhooks (with the
/// delay after which Telnyx would send them) come out. No clock and no I/O, so the same model
/// serves the virtual-time simulation and the real-time loopback emulator.
public struct EmulatorModel: Sendable {
    public struct Leg: Sendable, Equatable {
        public var id: String
        public var from: String
        public var to: String
        public var direction: String
        public var clientState: String?
        public var answered = false
        public var ended = false
        public var bridgedWith: String? = nil
        /// The leg that created this one (transfer/dial target).
        public var parent: String? = nil
        /// Commands already executed: Telnyx ignores a repeated `command_id` on the same call.
        public var executedCommands: Set<String> = []
        var gather: PendingGather? = nil
    }

    struct PendingGather: Sendable, Equatable {
        var token: Int
        var min: Int
        var max: Int
        var terminator: String?
        var valid: String?
        var timeoutMs: Int
        var interDigitMs: Int
        var triesLeft: Int
        var promptText: String
        var invalidText: String?
        var digits = ""
    }

    /// Something the driver must schedule `delayMs` from now.
    public enum Emission: Sendable, Equatable {
        /// Deliver this webhook body (`data` + `meta`) to the server.
        case webhook(delayMs: Int, JSONValue)
        /// A gather on `leg` waits for the caller; `prompt` is what they heard.
        case needInput(delayMs: Int, leg: String, token: Int, prompt: String)
        /// Check whether gather `token` on `leg` timed out.
        case gatherTimeout(delayMs: Int, leg: String, token: Int)
    }

    public enum Reply: Sendable, Equatable {
        case ok(JSONValue)
        case error(status: Int, code: String, title: String, detail: String)

        public var body: JSONValue {
            switch self {
            case .ok(let data): return ["data": data]
            case .error(_, let code, let title, let detail):
                return ["errors": [["code": .string(code), "title": .string(title), "detail": .string(detail)]]]
            }
        }
        public var status: Int {
            if case .error(let s, _, _, _) = self { return s }
            return 200
        }
    }

    public internal(set) var legs: [String: Leg] = [:]
    public var script: CallerScript
    public var timing: EmulatorTiming
    public var deliveredTo: String
    var counter = 0
    var tokens = 0
    /// The clock, in Unix milliseconds, used for `occurred_at` (the driver advances it).
    public var nowMs: Int64 = 0

    public init(script: CallerScript, timing: EmulatorTiming = EmulatorTiming(), deliveredTo: String = "http://127.0.0.1/webhooks/telnyx") {
        self.script = script
        self.timing = timing
        self.deliveredTo = deliveredTo
    }

    mutating func nextID(_ prefix: String) -> String {
        counter += 1
        return "\(prefix)-\(counter)"
    }

    // MARK: webhooks

    mutating func webhook(_ type: String, _ legID: String, after delay: Int, _ extra: JSONObject = [:], clientState: String?? = .none) -> Emission {
        let leg = legs[legID]
        var payload: JSONObject = [
            "call_control_id": .string(legID), "call_leg_id": .string("leg-\(legID)"), "call_session_id": .string("session-\(leg?.parent ?? legID)"),
            "connection_id": "emulator-connection",
        ]
        let state: String? = clientState ?? leg?.clientState
        payload["client_state"] = state.map(JSONValue.string) ?? .null
        payload["from"] = .string(leg?.from ?? "")
        payload["to"] = .string(leg?.to ?? "")
        for (k, v) in extra.members { payload[k] = v }
        let at = nowMs + Int64(delay)
        let body: JSONValue = [
            "data": ["record_type": "event", "event_type": .string(type), "id": .string(nextID("evt")),
                     "occurred_at": .string(Timestamp.iso(at)), "payload": .object(payload)],
            "meta": ["attempt": 1, "delivered_to": .string(deliveredTo)],
        ]
        return .webhook(delayMs: delay + timing.webhookLatencyMs, body)
    }

    func speakMs(_ text: String) -> Int { max(timing.speakMinMs, text.count * timing.speakMsPerChar) }

    // MARK: calls starting

    /// A caller dials in: `call.initiated` (parked).
    public mutating func inboundCall(from: String, to: String) -> (leg: String, emissions: [Emission]) {
        let id = "v3:emu-" + nextID("call")
        legs[id] = Leg(id: id, from: from, to: to, direction: "incoming")
        var out = [webhook("call.initiated", id, after: 0, ["direction": "incoming", "state": "parked",
                                                           "start_time": .string(Timestamp.iso(nowMs)), "caller_id_name": .string(from)])]
        out += scheduledHangup(id)
        return (id, out)
    }

    /// A call we placed (control API dial with AMD) is answered by a person or a machine.
    public mutating func outboundCall(from: String, to: String, clientState: String?) -> (leg: String, emissions: [Emission]) {
        let id = "v3:emu-" + nextID("call")
        legs[id] = Leg(id: id, from: from, to: to, direction: "outgoing", clientState: clientState, answered: true)
        var out = [webhook("call.initiated", id, after: 0, ["direction": "outgoing", "state": "bridging"]),
                   webhook("call.answered", id, after: timing.ringMs)]
        out += amd(id, after: timing.ringMs)
        out += scheduledHangup(id)
        return (id, out)
    }

    mutating func amd(_ id: String, after base: Int) -> [Emission] {
        let result = script.amd
        var out = [webhook("call.machine.detection.ended", id, after: base + timing.amdMs, ["result": .string(result)])]
        if result == "machine" {
            out.append(webhook("call.machine.greeting.ended", id, after: base + timing.amdMs + timing.greetingMs, ["result": "beep_detected"]))
        }
        return out
    }

    mutating func scheduledHangup(_ id: String) -> [Emission] {
        guard let ms = script.hangupAfterMs else { return [] }
        return [.gatherTimeout(delayMs: ms, leg: id, token: -1)]  // token -1: the caller's own hang-up
    }

    // MARK: caller actions

    /// The caller hangs up now.
    public mutating func callerHangsUp(_ id: String) -> [Emission] {
        guard var leg = legs[id], !leg.ended else { return [] }
        var out: [Emission] = []
        if leg.gather != nil { out.append(webhook("call.gather.ended", id, after: 0, ["digits": "", "status": "call_hangup"])) }
        leg.ended = true
        leg.gather = nil
        legs[id] = leg
        out.append(webhook("call.hangup", id, after: 5, ["hangup_cause": "normal_clearing", "hangup_source": "caller",
                                                          "sip_hangup_cause": "200", "start_time": .string(Timestamp.iso(nowMs))]))
        if let other = leg.bridgedWith { out += endLeg(other, cause: "normal_clearing", source: "callee", after: 10) }
        return out
    }

    /// A key press (DTMF) from the caller.
    public mutating func key(_ id: String, _ digit: Character) -> [Emission] {
        guard var leg = legs[id], !leg.ended else { return [] }
        var out = [webhook("call.dtmf.received", id, after: 0, ["digit": .string(String(digit))])]
        guard var g = leg.gather else {
            legs[id] = leg
            return out
        }
        if let t = g.terminator, String(digit) == t {
            leg.gather = g
            legs[id] = leg
            return out + finishGather(id, timedOut: false)
        }
        g.digits.append(digit)
        leg.gather = g
        legs[id] = leg
        if g.digits.count >= g.max { return out + finishGather(id, timedOut: false) }
        out.append(.gatherTimeout(delayMs: g.interDigitMs, leg: id, token: g.token))
        return out
    }

    /// A gather (or the caller's scheduled hang-up, token -1) ran out of time.
    public mutating func timeout(_ id: String, token: Int) -> [Emission] {
        if token == -1 { return callerHangsUp(id) }
        guard let g = legs[id]?.gather, g.token == token else { return [] }
        return finishGather(id, timedOut: true)
    }

    mutating func finishGather(_ id: String, timedOut: Bool) -> [Emission] {
        guard var leg = legs[id], var g = leg.gather else { return [] }
        let digits = g.digits
        let status: String
        if digits.isEmpty {
            status = "timeout"
        } else if digits.count >= g.min && digits.count <= g.max && digits.allSatisfy({ g.valid?.contains($0) ?? true }) {
            status = "valid"
        } else {
            status = "invalid"
        }
        if status != "valid" && g.triesLeft > 1 {
            // Telnyx replays the prompt (after invalid_payload) and listens again.
            g.triesLeft -= 1
            g.digits = ""
            tokens += 1
            g.token = tokens
            leg.gather = g
            legs[id] = leg
            let replay = (status == "invalid" ? (g.invalidText.map { $0 + " " } ?? "") : "") + g.promptText
            return [.needInput(delayMs: speakMs(replay), leg: id, token: g.token, prompt: replay),
                    .gatherTimeout(delayMs: speakMs(replay) + g.timeoutMs, leg: id, token: g.token)]
        }
        leg.gather = nil
        legs[id] = leg
        _ = timedOut
        return [webhook("call.gather.ended", id, after: 0, ["digits": .string(digits), "status": .string(status)])]
    }

    mutating func endLeg(_ id: String, cause: String, source: String, after: Int) -> [Emission] {
        guard var leg = legs[id], !leg.ended else { return [] }
        var out: [Emission] = []
        if leg.gather != nil { out.append(webhook("call.gather.ended", id, after: after, ["digits": "", "status": "call_hangup"])) }
        leg.ended = true
        leg.gather = nil
        legs[id] = leg
        out.append(webhook("call.hangup", id, after: after + 5, ["hangup_cause": .string(cause), "hangup_source": .string(source)]))
        return out
    }
}

/// ISO-8601 UTC timestamps as Telnyx writes them (`2026-11-23T16:00:00.000000Z`).
public enum Timestamp {
    public static func iso(_ ms: Int64) -> String {
        let seconds = ms >= 0 ? ms / 1000 : (ms - 999) / 1000
        let local = TimeZoneRules.utc.local(seconds)
        let secondOfDay = Int(seconds - (seconds >= 0 ? seconds / 86_400 : (seconds - 86_399) / 86_400) * 86_400)
        let h = secondOfDay / 3600, m = secondOfDay / 60 % 60, s = secondOfDay % 60
        let micros = Int(ms - seconds * 1000) * 1000
        func two(_ v: Int) -> String { v < 10 ? "0\(v)" : "\(v)" }
        let frac = String(micros)
        return "\(local.date)T\(two(h)):\(two(m)):\(two(s)).\(String(repeating: "0", count: 6 - frac.count))\(frac)Z"
    }
}
