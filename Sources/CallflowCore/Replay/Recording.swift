/// The entries `callflow replay` re-runs: each input of a call, as compact JSON, recorded when it
/// is applied. Pure functions of the input, the call's state and its node, so the engine builds
/// them with the rest of an input's work and every ledger stores the same bytes.
public enum Recording {
    /// Inputs kept per live call (oldest dropped first).
    public static let maxInputs = 300

    /// Payload fields the engine reads; a recording keeps only these (about 150 bytes an event
    /// instead of the whole payload).
    public static let replayedFields: Set<String> = [
        "call_control_id", "client_state", "connection_id", "from", "to", "direction", "digits", "digit", "status", "result",
        "hangup_cause", "hangup_source", "recording_urls", "media_url", "media_name", "status_detail", "reason",
    ]

    /// A webhook as replay needs it; digits typed at a sensitive gather (the node `state` is at
    /// before the event) are masked.
    public static func webhook(_ event: WebhookEvent, at node: Node?, now: Int64) -> [UInt8] {
        var payload = JSONObject(event.payload.members.filter { replayedFields.contains($0.key) && !$0.value.isNull })
        if case .gather(let g)? = node?.kind, g.sensitive {
            if payload["digits"] != nil { payload["digits"] = "***" }
            if payload["digit"] != nil { payload["digit"] = "***" }
        }
        return entry(
            ["webhook": .object(["event_type": .string(event.eventType), "id": .string(event.id), "payload": .object(payload)])],
            now: now)
    }

    /// A shell input (HTTP result, timer, command response or failure).
    public static func machine(_ input: MachineInput, now: Int64) -> [UInt8]? {
        switch input {
        case .httpResult(_, .response(let status, let body)):
            let parsed = (try? JSONParser.parse(body)) ?? .string(String(decoding: body, as: UTF8.self))
            return entry(["http": ["status": .int(status), "body": parsed]], now: now)
        case .httpResult(_, .failed(let why)):
            return entry(["http": ["error": .string(why)]], now: now)
        case .timerFired:
            return entry(["timer": true], now: now)
        case .commandFailed(_, let action, let detail, let gone):
            return entry(["command_failed": ["action": .string(action), "detail": .string(detail), "call_gone": .bool(gone)]], now: now)
        case .commandSucceeded(_, let action, let data):
            return entry(["command_succeeded": ["action": .string(action), "data": data]], now: now)
        case .webhook:
            return nil
        }
    }

    /// A call's start: its flow and facts, and its variables without the sensitive ones.
    public static func start(_ s: CallState, flow: String, now: Int64) -> [UInt8] {
        entry(
            [
                "start": .object([
                    "flow": .string(flow), "direction": .string(s.facts.direction), "from": .string(s.facts.from),
                    "to": .string(s.facts.to), "connection_id": s.facts.connectionID.map(JSONValue.string) ?? .null,
                    "vars": .object(JSONObject(s.vars.members.filter { !s.sensitiveVars.contains($0.key) })),
                ])
            ],
            now: now)
    }

    private static func entry(_ input: JSONObject, now: Int64) -> [UInt8] {
        var entry = input
        entry["t"] = .int(Int(now))
        return JSONValue.object(entry).jsonBytes  // compact: bytes, not a tree
    }
}
