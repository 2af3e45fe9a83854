/// Re-runs a recorded call's inputs against a (possibly changed) flow set, offline, and reports
/// where its decisions — nodes entered and commands sent — differ from the recording.
public enum Replay {
    /// One decision of a call: a node entered or a command sent.
    public struct Decision: Sendable, Equatable, CustomStringConvertible {
        /// `node` or `command`.
        public var kind: String  // "node" or "command"
        /// `flow/node` for a node, the action for a command.
        public var text: String
        /// `node main/menu`, `command speak`.
        public var description: String { "\(kind) \(text)" }
    }

    /// The recorded decisions beside the replayed ones.
    public struct Report: Sendable, Equatable {
        /// The decisions in the recorded trace.
        public var original: [Decision]
        /// The decisions of the replay against the new flows.
        public var replayed: [Decision]
        /// Index of the first decision that differs, `nil` when the runs agree.
        public var firstDifference: Int?
        /// What the replay could not do as recorded (a missing flow, a missing start, ...).
        public var notes: [String]

        /// Both columns side by side, differences marked `≠`, then the notes and the verdict: what
        /// `callflow replay` prints.
        public var text: String {
            var out = ""
            let n = max(original.count, replayed.count)
            for i in 0..<n {
                let a = i < original.count ? original[i].description : "—"
                let b = i < replayed.count ? replayed[i].description : "—"
                let mark = a == b ? " " : "≠"
                out += "\(mark) \(a.padding(48)) | \(b)\n"
            }
            for note in notes { out += "note: \(note)\n" }
            if let d = firstDifference {
                out +=
                    "decisions differ from #\(d + 1): recorded \(d < original.count ? original[d].description : "nothing"), "
                    + "now \(d < replayed.count ? replayed[d].description : "nothing")\n"
            } else {
                out += "same decisions (\(original.count))\n"
            }
            return out
        }
    }

    /// Decisions in a trace (`kind`/`detail` entries as the call document lists them).
    public static func decisions(trace: [JSONValue]) -> [Decision] {
        trace.compactMap { entry in
            guard let kind = entry["kind"]?.stringValue, let detail = entry["detail"]?.stringValue else { return nil }
            switch kind {
            case "node": return Decision(kind: "node", text: detail)
            case "command": return Decision(kind: "command", text: String(detail.split(separator: " ").first ?? ""))
            default: return nil
            }
        }
    }

    /// Replays `document` (the JSON of `GET /v1/calls/{id}`) against `flows`.
    public static func run(document: JSONValue, flows: FlowSet) -> Report {
        let original = decisions(trace: document["trace"]?.arrayValue ?? [])
        var notes: [String] = []
        let inputs = document["inputs"]?.arrayValue ?? []
        guard let start = inputs.first(where: { $0["start"] != nil })?["start"], let flow = start["flow"]?.stringValue else {
            return Report(
                original: original, replayed: [], firstDifference: original.isEmpty ? nil : 0,
                notes: ["the recording has no start (was it made by this version?)"])
        }
        let id = document["call_control_id"]?.stringValue ?? "v3:replay"
        var engine = MemoryEngine(flows: flows, routes: [:], defaultFlow: flow)
        if flows[flow] == nil { notes.append("flow \"\(flow)\" is not in this flow set") }
        var commands: [String] = []
        func collect(_ output: InputWork) {
            for e in output.effects { if case .command(let c) = e.effect, c.callControlID == id { commands.append(c.action) } }
        }
        for input in inputs {
            let t = Int64(input["t"]?.intValue ?? 0)
            if input["start"] != nil, start["direction"]?.stringValue == "outbound" {
                let leg = CallLeg(
                    callControlID: id, connectionID: start["connection_id"]?.stringValue, from: start["from"]?.stringValue,
                    to: start["to"]?.stringValue)
                collect(engine.startOutbound(leg: leg, flow: flow, vars: start["vars"]?.objectValue ?? [:], now: t))
            } else if let webhook = input["webhook"] {
                guard let event = try? WebhookEvent.decode(JSONValue.object(["data": webhook])) else {
                    notes.append("a recorded webhook could not be decoded")
                    continue
                }
                if webhook["payload"]?["digits"] == "***" || webhook["payload"]?["digit"] == "***" {
                    notes.append("the digits of a sensitive gather were not recorded; decisions that depend on them can differ")
                }
                collect(engine.receive(event, now: t))
            } else if let http = input["http"] {
                guard case .http(let requestID)? = engine.calls[id]?.waiting else {
                    notes.append("recorded HTTP result at \(t) arrives while the replay waits for something else")
                    continue
                }
                let outcome: HTTPOutcome =
                    http["error"]?.stringValue.map { .failed($0) }
                    ?? .response(status: http["status"]?.intValue ?? 0, body: http["body"].map { $0.isNull ? [] : $0.jsonBytes } ?? [])
                collect(engine.apply(.httpResult(requestID: requestID, outcome), to: id, now: t))
            } else if input["timer"] != nil {
                guard let timer = engine.calls[id]?.waiting.timer else {
                    notes.append("recorded timer at \(t) fires while the replay waits for something else")
                    continue
                }
                collect(engine.apply(.timerFired(id: timer), to: id, now: t))
            } else if let succeeded = input["command_succeeded"] {
                guard case .response(let commandID, _)? = engine.calls[id]?.waiting else {
                    notes.append("recorded command response at \(t) arrives while the replay waits for something else")
                    continue
                }
                collect(
                    engine.apply(
                        .commandSucceeded(
                            commandID: commandID, action: succeeded["action"]?.stringValue ?? "",
                            data: succeeded["data"] ?? .null), to: id, now: t))
            } else if let failed = input["command_failed"] {
                let action = failed["action"]?.stringValue ?? ""
                let step = engine.calls[id]?.step ?? 0
                collect(
                    engine.apply(
                        .commandFailed(
                            commandID: "cf-replay-\(step)-1", action: action, detail: failed["detail"]?.stringValue ?? "",
                            callGone: failed["call_gone"]?.boolValue ?? false), to: id, now: t))
            }
        }
        let trace = engine.calls[id]?.trace ?? engine.finished.last(where: { $0.id == id })?.trace ?? []
        let replayed = trace.compactMap { e -> Decision? in
            switch e.kind {
            case .node: return Decision(kind: "node", text: e.detail)
            case .command: return Decision(kind: "command", text: String(e.detail.split(separator: " ").first ?? ""))
            default: return nil
            }
        }
        let common = min(original.count, replayed.count)
        let first = (0..<common).first { original[$0] != replayed[$0] } ?? (original.count == replayed.count ? nil : common)
        return Report(original: original, replayed: replayed, firstDifference: first, notes: notes)
    }
}

extension String {
    func padding(_ width: Int) -> String { count >= width ? self : self + String(repeating: " ", count: width - count) }
}
