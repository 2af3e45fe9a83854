import CallflowCore

/// Runs one scenario through the real engine against the emulator model on a virtual clock:
/// timeouts happen instantly and in order, and the same scenario always gives the same
/// transcript, byte for byte.
public struct Simulation {
    public struct Line: Sendable, Equatable {
        /// Milliseconds since the call started.
        public var t: Int64
        /// `call`, `node`, `command`, `say`, `event`, `caller`, `http`, `timer`, `note`, `end`.
        public var kind: String
        public var text: String
    }

    public struct Visit: Sendable, Equatable {
        public var flow: String
        public var node: String
        /// The outcome edge that led here, and the node it left.
        public var edge: String?
        public var from: String?
    }

    public struct Result: Sendable, Equatable {
        public var lines: [Line]
        public var visits: [Visit]
        public var commands: [CallCommand]
        public var spoken: [String]
        public var vars: JSONObject
        public var ending: String
        public var failures: [String]
        /// Keys the caller pressed while a recording ran unpaused (they are in the file).
        public var keysRecorded: String = ""
        public var passed: Bool { failures.isEmpty }
    }

    enum Item {
        case deliver(JSONValue)
        case modelTimeout(leg: String, token: Int)
        case needInput(leg: String, token: Int)
        case note(kind: String, text: String)
        case callerHangup(leg: String)
        case engineTimer(id: String)
        case input(MachineInput)
    }

    let flows: FlowSet
    let scenario: Scenario
    var engine: MemoryEngine
    var model: EmulatorModel
    var queue: [(at: Int64, seq: Int, item: Item)] = []
    var seq = 0
    var now: Int64
    let startMs: Int64
    var call = ""
    var lines: [Line] = []
    var commands: [CallCommand] = []
    var spoken: [String] = []
    var visits: [Visit] = []
    var lastVars: JSONObject = [:]
    /// Variables saved from `sensitive` gathers, and their values: the result shows them as `***`.
    var sensitiveNames: Set<String> = []
    var secrets: Set<String> = []
    /// Line index → the client_state of the webhook it shows (to find a sensitive gather's keys).
    var eventStates: [Int: String] = [:]
    var cancelledTimers: Set<String> = []
    var failedOnce: Set<String> = []
    var ended = false
    var bridged = false, rejected = false, flowHungUp = false, callerHungUp = false, referred = false
    var hangupScheduled = false
    var lateCopies = 0
    /// How long a bridged caller talks before hanging up.
    let talkMs = 30_000

    public init(flows: FlowSet, scenario: Scenario, timing: EmulatorTiming = EmulatorTiming()) {
        self.flows = flows
        self.scenario = scenario
        engine = MemoryEngine(flows: flows, routes: [scenario.to: scenario.flow], defaultFlow: scenario.flow)
        model = EmulatorModel(script: scenario.caller, timing: timing)
        startMs = scenario.start * 1000
        now = startMs
    }

    public static func run(flows: FlowSet, scenario: Scenario) -> Result {
        var s = Simulation(flows: flows, scenario: scenario)
        return s.run()
    }

    mutating func schedule(_ delayMs: Int, _ item: Item) {
        seq += 1
        let entry = (at: now + Int64(max(0, delayMs)), seq: seq, item: item)
        let index = queue.firstIndex { ($0.at, $0.seq) > (entry.at, entry.seq) } ?? queue.count
        queue.insert(entry, at: index)
    }

    mutating func line(_ kind: String, _ text: String) {
        lines.append(Line(t: now - startMs, kind: kind, text: text))
    }

    public mutating func run() -> Result {
        line(
            "call",
            scenario.direction == "inbound"
                ? "\(scenario.from) calls \(scenario.to) (flow \(scenario.flow))"
                : "calling \(scenario.to) from \(scenario.from) (flow \(scenario.flow))")
        model.nowMs = now
        // Only a scenario that asks for split branches gets a searched id; the others keep the
        // emulator's own (their transcripts stay as they were).
        let chosen = scenario.splits.isEmpty ? nil : scenario.callID(base: "v3:emu-split", flows: flows)
        if !scenario.splits.isEmpty, chosen == nil {
            line("error", "no call id takes every branch asked for in splits")
        }
        if scenario.direction == "inbound" {
            let (leg, emissions) = model.inboundCall(from: scenario.from, to: scenario.to, id: chosen)
            call = leg
            emit(emissions)
        } else {
            let (leg, emissions) = model.outboundCall(from: scenario.from, to: scenario.to, clientState: nil, id: chosen)
            call = leg
            let output = engine.startOutbound(
                leg: CallLeg(callControlID: leg, connectionID: "emulator-connection", from: scenario.from, to: scenario.to),
                flow: scenario.flow, vars: scenario.vars, now: now / 1000)
            emit(emissions)
            handle(output)
        }
        var steps = 0
        while !queue.isEmpty, !ended, steps < 20_000, now - startMs < 4 * 3_600_000 {
            steps += 1
            let next = queue.removeFirst()
            now = next.at
            model.nowMs = now
            process(next.item)
        }
        if !ended { line("end", "simulation stopped: the call did not end") }
        let ending =
            rejected
            ? "rejected"
            : bridged
                ? (commands.contains { $0.action == "bridge" } ? "connected" : "transferred")
                : referred ? "referred" : flowHungUp ? "flow_hung_up" : callerHungUp ? "caller_hung_up" : "unfinished"
        var result = Result(
            lines: lines, visits: visits, commands: commands, spoken: spoken, vars: lastVars, ending: ending, failures: [],
            keysRecorded: model.legs[call]?.keysRecorded ?? "")
        result.failures = Self.check(result, scenario.expect)
        return redacted(result)
    }

    /// The result with what the caller keyed into a `sensitive` gather replaced by `***` where
    /// Telnyx's side and the call's state show it (the keys pressed, the webhooks, commands,
    /// variables, failures, the `http` lines), as the engine keeps it out of its traces and logs.
    /// Mocks are matched before this, against the request as the flow made it; the expectations
    /// were checked first too.
    func redacted(_ result: Result) -> Result {
        guard !secrets.isEmpty || !sensitiveNames.isEmpty else { return result }
        let secrets = self.secrets.sorted { $0.count > $1.count }
        func text(_ s: String) -> String { secrets.reduce(s) { $0.replacing($1, with: "***") } }
        func json(_ v: JSONValue) -> JSONValue {
            switch v {
            case .string(let s): return .string(text(s))
            case .array(let items): return .array(items.map(json))
            case .object(let o): return .object(JSONObject(o.members.map { (key: $0.key, value: json($0.value)) }))
            default: return v
            }
        }
        var r = result
        // Each key of a sensitive gather is its own call.dtmf.received: those carry the gather's client_state.
        let hidden = Set(r.lines.indices.filter { i in secrets.contains { r.lines[i].text.contains($0) } }.compactMap { eventStates[$0] })
        r.lines = r.lines.enumerated().map { i, l in
            if l.text.hasPrefix("← call.dtmf.received"), let state = eventStates[i], hidden.contains(state) {
                return Line(t: l.t, kind: l.kind, text: "← call.dtmf.received (a sensitive key, hidden)")
            }
            return Line(t: l.t, kind: l.kind, text: text(l.text))
        }
        r.commands = r.commands.map {
            var c = $0; c.body = json(.object(c.body)).objectValue ?? c.body; return c
        }
        r.spoken = r.spoken.map(text)
        r.failures = r.failures.map(text)
        for name in sensitiveNames where r.vars[name] != nil { r.vars[name] = "***" }
        r.vars = json(.object(r.vars)).objectValue ?? r.vars
        return r
    }

    // MARK: processing

    mutating func process(_ item: Item) {
        switch item {
        case .deliver(let body):
            guard let event = try? WebhookEvent.decode(body) else { return }
            line("event", "← \(event.eventType)\(Self.eventDetail(event))")
            if let state = event.call?.clientState { eventStates[lines.count - 1] = state }
            if event.call?.callControlID == call, case .callBridged = event.kind, !bridged {
                bridged = true
                // The caller talks to whoever answered, then hangs up; a scripted agent who hangs
                // up first (`agents` with `talk_ms`) ends the conversation instead, and the flow goes on.
                if !model.legs.values.contains(where: { $0.bridgedWith == call && $0.agent?.talkMs != nil }) {
                    schedule(talkMs, .callerHangup(leg: call))
                }
            }
            if event.call?.callControlID == call, case .referCompleted = event.kind { referred = true }
            handle(engine.receive(event, now: now / 1000))
        case .modelTimeout(let leg, let token):
            emit(model.timeout(leg, token: token))
        case .needInput(let leg, let token):
            emit(model.scriptedInput(leg, token: token))
        case .note(let kind, let text):
            line(kind, text)
        case .callerHangup(let leg):
            if model.legs[leg]?.ended == false {
                line("caller", "caller hangs up")
                callerHungUp = true
            }
            emit(model.callerHangsUp(leg))
        case .engineTimer(let id):
            guard !cancelledTimers.contains(id) else { return }
            line("timer", "timer fired")
            handle(engine.apply(.timerFired(id: id), to: call, now: now / 1000))
        case .input(let input):
            if case .httpResult(_, let outcome) = input {
                switch outcome {
                case .response(let status, _): line("http", "← \(status)")
                case .failed(let why): line("http", "← failed: \(why)")
                }
            }
            handle(engine.apply(input, to: call, now: now / 1000))
        }
    }

    mutating func emit(_ emissions: [EmulatorModel.Emission]) {
        for e in emissions {
            switch e {
            case .webhook(let delay, let body):
                for (d, b) in scenario.faults.deliveries(of: body, after: delay, copy: &lateCopies) { schedule(d, .deliver(b)) }
            case .needInput(let delay, let leg, let token, _):
                schedule(delay, .needInput(leg: leg, token: token))
            case .gatherTimeout(let delay, let leg, let token), .timer(let delay, let leg, let token):
                schedule(delay, .modelTimeout(leg: leg, token: token))
            case .note(let delay, _, let kind, let text):
                if delay == 0 { line(kind, text) } else { schedule(delay, .note(kind: kind, text: text)) }
            }
        }
    }

    mutating func handle(_ output: InputWork) {
        // Nodes entered in this step come before the commands they issued.
        recordVisits(output)
        for item in output.effects {
            switch item.effect {
            case .command(let c):
                commands.append(c)
                line("command", "→ \(c.action)\(Self.commandDetail(c))")
                if c.action == "speak" || c.action.hasPrefix("gather_using_speak"), let text = c.body["payload"]?.stringValue {
                    spoken.append(text)
                    line("say", "🔊 \"\(text)\"")
                }
                if c.action == "reject" { rejected = true }
                if c.action == "hangup" && c.callControlID == call { flowHungUp = true }
                if let fault = scenario.faults.apiErrors[c.action], failedOnce.insert(c.action).inserted {
                    line("note", "API refuses \(c.action) with \(fault.status) [\(fault.code)] (injected)")
                    schedule(
                        20,
                        .input(
                            .commandFailed(
                                commandID: c.commandID ?? "", action: c.action,
                                detail: "HTTP \(fault.status) [\(fault.code)]", callGone: fault.code == "90018")))
                    continue
                }
                let (reply, emissions) =
                    c.action.hasPrefix(CallCommand.conferencePrefix)
                    ? model.conferenceCommand(c.action, conference: c.conference, body: c.body)
                    : model.command(c.action, leg: c.action == "dial" ? nil : c.callControlID, body: c.body)
                if case .error(let status, let code, let title, let detail) = reply {
                    // Telnyx's detail names the field: keep it, as the server's log does.
                    let why = "[\(code)] \(title)" + (detail.isEmpty ? "" : ": \(detail)")
                    line("note", "API refuses \(c.action): \(status) \(why)")
                    schedule(
                        20,
                        .input(
                            .commandFailed(
                                commandID: c.commandID ?? "", action: c.action, detail: why,
                                callGone: code == "90018")))
                } else if c.reportsResult, case .ok(let data) = reply {
                    // The node keeps the response: the shell hands its data back, as the server does.
                    schedule(20, .input(.commandSucceeded(commandID: c.commandID ?? "", action: c.action, data: data)))
                }
                emit(emissions)
            case .http(let request):
                line("http", "→ \(HTTPMocks.key(method: request.method, url: request.url))")
                let (delay, outcome) = scenario.http.answer(method: request.method, url: request.url)
                schedule(delay, .input(.httpResult(requestID: request.id, outcome)))
            case .startTimer(let id, let ms):
                line("timer", "wait \(ms) ms")
                schedule(ms, .engineTimer(id: id))
            case .cancelTimer(let id):
                cancelledTimers.insert(id)
            case .expectDial(_, let dial):
                line("note", "callback to \(dial.to) (flow \(dial.flow)) is placed")
            case .log(let level, let message, _):
                if level != .info { line("note", "\(level.rawValue): \(message)") }
            case .ended(let reason):
                ended = true
                line("end", "call ended (\(reason))")
            }
        }
    }

    /// The nodes this output entered (the engine reports them) and the call's variables.
    mutating func recordVisits(_ output: InputWork) {
        let state = engine.calls[call]
        if let vars = state?.vars ?? (state == nil ? engine.finished.last(where: { $0.id == call })?.vars : nil) { lastVars = vars }
        for name in state?.sensitiveVars ?? [] {
            sensitiveNames.insert(name)
            // Values this short would be found inside everything else: the variable is hidden, not the text.
            if let value = state?.vars[name]?.templateText, value.count >= 3 { secrets.insert(value) }
        }
        for visit in output.visits where output.call == call {
            let detail = "\(visit.flow)/\(visit.node)"
            visits.append(Visit(flow: visit.flow, node: visit.node, edge: visit.edge, from: visit.from.map { "\($0.flow)/\($0.node)" }))
            let type = flows[visit.flow]?.nodes[visit.node]?.kind.typeName ?? "?"
            line("node", "▸ \(detail) (\(type))\(visit.edge.map { " via \($0)" } ?? "")")
            if let target = scenario.caller.hangupAfterNode, !hangupScheduled, target == detail || target == visit.node {
                hangupScheduled = true
                schedule(300, .callerHangup(leg: call))
            }
        }
    }

    // MARK: presentation

    static func eventDetail(_ e: WebhookEvent) -> String {
        switch e.kind {
        case .gatherEnded(let digits, let status): return " \(status?.rawValue ?? "?")\(digits.isEmpty ? "" : " \"\(digits)\"")"
        case .dtmfReceived(let digit): return " \(digit)"
        case .callHangup(let cause, let source, _): return " \(cause?.rawValue ?? "?") by \(source?.rawValue ?? "?")"
        case .speakEnded(let status): return " \(status?.rawValue ?? "")"
        case .playbackEnded(_, let status, _): return " \(status?.rawValue ?? "")"
        case .machineDetectionEnded(let r), .machineGreetingEnded(let r): return " \(r?.rawValue ?? "")"
        case .recordingSaved(let r): return " \(r.recordingURLs.preferred ?? "")"
        case .aiGatherEnded(_, let status, _): return " \(status?.rawValue ?? "")"
        case .transcription(let t): return " \"\(t.transcript ?? "")\""
        case .recordingTranscriptionSaved(let t): return " \"\(t.text ?? "")\""
        case .recordingError(let reason): return " \(reason ?? "")"
        case .conversationEnded(let c): return " \(c.reason ?? "")"
        case .streamingFailed(let reason, _, _): return " \(reason ?? "")"
        case .referStarted(let code), .referCompleted(let code), .referFailed(let code): return code.map { " \($0)" } ?? ""
        default:
            // Events the engine has no typed payload for: the field that says what happened.
            if let key = Self.detailField[e.eventType], let value = e.payload[key] { return " \(value.stringValue ?? value.jsonString)" }
            return e.call?.callControlID.hasPrefix("v3:emu-leg") == true ? " (\(e.call!.callControlID))" : ""
        }
    }

    static let detailField = [
        "call.enqueued": "current_position", "call.dequeued": "reason", "call.payment.completed": "result",
        "call.conversation.created": "conversation_id", "call.conversation.start_failed": "reason",
        "siprec.failed": "failure_cause",
    ]

    static func commandDetail(_ c: CallCommand) -> String {
        switch c.action {
        case "transfer", "dial": return " \(c.body["to"]?.stringValue ?? "")"
        case "playback_start": return " \(c.body["audio_url"]?.stringValue ?? c.body["media_name"]?.stringValue ?? "")"
        case "reject": return " \(c.body["cause"]?.stringValue ?? "")"
        case "record_start": return " \(c.body["format"]?.stringValue ?? "") max \(c.body["max_length"]?.intValue ?? 0) s"
        case "bridge":
            return c.body["queue"]?.stringValue.map { " with the head of queue \($0)" } ?? " with \(c.body["call_control_id"]?.stringValue ?? "")"
        default: return c.callControlID.hasPrefix("v3:emu-leg") ? " on \(c.callControlID)" : ""
        }
    }

    /// What the scenario expected and did not get.
    static func check(_ r: Result, _ e: Scenario.Expectations) -> [String] {
        var failures: [String] = []
        func subsequence(_ want: [String], in have: [String]) -> String? {
            var i = 0
            for h in have where i < want.count && h == want[i] { i += 1 }
            return i == want.count ? nil : want[i]
        }
        let path = r.visits.map { "\($0.flow)/\($0.node)" }
        if let missing = subsequence(e.path, in: path) {
            failures.append("path: expected \(missing) (in order) but the call went \(path.joined(separator: " → "))")
        }
        for node in e.notVisited where path.contains(node) { failures.append("path: \(node) was entered but must not be") }
        if let missing = subsequence(e.commands, in: r.commands.map(\.action)) {
            failures.append("commands: expected \(missing) (in order) but sent \(r.commands.map(\.action).joined(separator: ", "))")
        }
        var index = 0
        for text in e.spoken {
            if let found = r.spoken[index...].firstIndex(where: { $0.contains(text) }) {
                index = found + 1
            } else {
                failures.append("spoken: \"\(text)\" was not said (in order)")
                break
            }
        }
        for action in e.sentOnce {
            let count = r.commands.filter { $0.action == action }.count
            if count != 1 { failures.append("sent_once: \(action) was sent \(count) times") }
        }
        if let ending = e.ending, ending != r.ending { failures.append("ending: expected \(ending), got \(r.ending)") }
        for (key, value) in e.vars.members where r.vars[key] != value {
            failures.append("vars.\(key): expected \(value.jsonString), got \(r.vars[key]?.jsonString ?? "nothing")")
        }
        return failures
    }
}
