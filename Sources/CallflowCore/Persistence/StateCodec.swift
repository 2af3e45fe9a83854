/// How call state, commands and pending requests are written to a store and read back. JSON, so a
/// stored call can be inspected with `sqlite3` or `redis-cli`; versioned (`v`) so later releases
/// can read older rows.
public enum StateCodec {
    /// The `v` every stored call state carries; a row with another is unreadable (`DecodeError`).
    public static let version = 1

    /// A stored record that cannot be read back.
    public struct DecodeError: Error, Sendable, Equatable, CustomStringConvertible {
        /// What could not be read (`call state`, `trace entry`, ...), for the message.
        public var what: String
        /// `stored <what> is unreadable`.
        public var description: String { "stored \(what) is unreadable" }
    }

    // MARK: call state

    /// `withTrace: false` stores a live call without its trace: the decisions are what a restart
    /// needs, and re-encoding a growing trace on every commit dominated the commit's cost. The
    /// full trace is stored when the call ends.
    public static func encode(_ s: CallState, withTrace: Bool = true) -> JSONValue {
        var o: JSONObject = [
            "v": .int(version), "id": .string(s.callControlID), "rev": .string(s.flowRevision), "flow": .string(s.flow),
            "node": .string(s.node), "step": .int(s.step), "seq": .int(s.commandSeq), "attempt": .int(s.attempt),
            "waiting": encode(s.waiting), "phase": .string(s.phase.rawValue), "vars": .object(storedVars(s)),
            "from": .string(s.facts.from), "to": .string(s.facts.to), "direction": .string(s.facts.direction),
            "answered": .bool(s.answered), "greeting_ended": .bool(s.greetingEnded),
        ]
        if withTrace { o["trace"] = .array(s.trace.map(encode)) }
        if let f = s.lastFailure { o["failure"] = .string(f.rawValue) }
        if !s.sensitiveVars.isEmpty { o["sensitive"] = .array(s.sensitiveVars.sorted().map(JSONValue.string)) }
        if let c = s.facts.connectionID { o["connection"] = .string(c) }
        if let a = s.amdResult { o["amd"] = .string(a.rawValue) }
        if let c = s.childLeg { o["child"] = .string(c) }
        if !s.sections.isEmpty {
            o["sections"] = .array(
                s.sections.map {
                    var e: JSONObject = ["kind": .string($0.kind.rawValue), "flow": .string($0.flow), "node": .string($0.node)]
                    if $0.paused { e["paused"] = true }
                    if $0.suspended { e["suspended"] = true }
                    return .object(e)
                })
        }
        if let r = s.ring { o["ring"] = encode(r) }
        if !s.serving.isEmpty {
            o["serving"] = .array(s.serving.map { ["agent": .string($0.agent), "leg": .string($0.leg)] })
        }
        if let m = s.conference {
            var e: JSONObject = ["name": .string(m.name), "creator": .bool(m.creator), "joined": .bool(m.joined), "polls": .int(m.polls)]
            if let id = m.id { e["id"] = .string(id) }
            if !m.pendingInvites.isEmpty { e["invites"] = .array(m.pendingInvites.map(JSONValue.string)) }
            if !m.guests.isEmpty { e["guests"] = .array(m.guests.map(JSONValue.string)) }
            o["conference"] = .object(e)
        }
        if let c = s.callback {
            o["callback"] = [
                "to": .string(c.to), "from": .string(c.from), "flow": .string(c.flow), "vars": .object(c.vars),
                "not_before": .int(Int(c.notBefore)), "expires": .int(Int(c.expiresAt)), "agents": .array(c.agents.map(JSONValue.string)),
                "node": .string(c.node), "node_flow": .string(c.nodeFlow),
            ]
        }
        if let q = s.queue {
            var e: JSONObject = ["timers": .int(q.timers)]
            if let t = q.announceTimer { e["announce"] = .string(t) }
            if q.announcing { e["announcing"] = true }
            if q.enqueued { e["enqueued"] = true }
            o["queue"] = .object(e)
        }
        if !s.awaitedResults.isEmpty { o["awaited"] = .array(s.awaitedResults.map(JSONValue.string)) }
        if !s.frames.isEmpty {
            o["frames"] = .array(
                s.frames.map { f in
                    var e: JSONObject = [
                        "flow": .string(f.flow), "node": .string(f.node),
                        "vars": .object(JSONObject(f.vars.members.filter { !f.sensitiveVars.contains($0.key) })),
                    ]
                    if !f.sensitiveVars.isEmpty { e["sensitive"] = .array(f.sensitiveVars.sorted().map(JSONValue.string)) }
                    return .object(e)
                })
        }
        return .object(o)
    }

    /// The variables a store keeps: digits of a `sensitive` gather never reach the disk or Redis
    /// (the names stay listed, so the call knows it had them). Only the instance that took them
    /// holds the values, in memory, for the rest of the call.
    static func storedVars(_ s: CallState) -> JSONObject {
        guard !s.sensitiveVars.isEmpty else { return s.vars }
        return JSONObject(s.vars.members.filter { !s.sensitiveVars.contains($0.key) })
    }

    /// Reads back what `encode(_:withTrace:)` wrote; sensitive variables come back absent.
    public static func decodeState(_ v: JSONValue) throws(DecodeError) -> CallState {
        let fail = DecodeError(what: "call state")
        guard v["v"]?.intValue == version, let id = v["id"]?.stringValue, let rev = v["rev"]?.stringValue,
            let flow = v["flow"]?.stringValue, let node = v["node"]?.stringValue, let step = v["step"]?.intValue,
            let phase = v["phase"]?.stringValue.flatMap(CallState.Phase.init(rawValue:)), let vars = v["vars"]?.objectValue,
            let waitingValue = v["waiting"]
        else { throw fail }
        var s = CallState(
            callControlID: id, flowRevision: rev, flow: flow, node: node, step: step, waiting: try decodeWaiting(waitingValue),
            vars: vars,
            facts: CallFacts(
                from: v["from"]?.stringValue ?? "", to: v["to"]?.stringValue ?? "", direction: v["direction"]?.stringValue ?? "inbound",
                connectionID: v["connection"]?.stringValue))
        s.phase = phase
        s.commandSeq = v["seq"]?.intValue ?? 0
        s.attempt = v["attempt"]?.intValue ?? 0
        s.lastFailure = v["failure"]?.stringValue.flatMap(InputFailure.init(rawValue:))
        s.sensitiveVars = Set(v["sensitive"]?.arrayValue?.compactMap(\.stringValue) ?? [])
        s.answered = v["answered"]?.boolValue ?? false
        s.amdResult = v["amd"]?.stringValue.map(MachineResult.init(rawValue:))
        s.greetingEnded = v["greeting_ended"]?.boolValue ?? false
        s.childLeg = v["child"]?.stringValue
        for e in v["sections"]?.arrayValue ?? [] {
            guard let kind = e["kind"]?.stringValue.flatMap(SectionKind.init(rawValue:)), let flow = e["flow"]?.stringValue,
                let node = e["node"]?.stringValue
            else { throw DecodeError(what: "call section") }
            s.sections.append(
                ActiveSection(
                    kind: kind, flow: flow, node: node, paused: e["paused"]?.boolValue ?? false,
                    suspended: e["suspended"]?.boolValue ?? false))
        }
        if let r = v["ring"] { s.ring = try decodeRing(r) }
        for e in v["serving"]?.arrayValue ?? [] {
            guard let agent = e["agent"]?.stringValue, let leg = e["leg"]?.stringValue else { throw DecodeError(what: "serving agent") }
            s.serving.append(ServingAgent(agent: agent, leg: leg))
        }
        if let m = v["conference"] {
            guard let name = m["name"]?.stringValue else { throw DecodeError(what: "conference membership") }
            var c = ConferenceMembership(name: name, id: m["id"]?.stringValue, creator: m["creator"]?.boolValue ?? false)
            c.joined = m["joined"]?.boolValue ?? false
            c.polls = m["polls"]?.intValue ?? 0
            c.pendingInvites = m["invites"]?.arrayValue?.compactMap(\.stringValue) ?? []
            c.guests = m["guests"]?.arrayValue?.compactMap(\.stringValue) ?? []
            s.conference = c
        }
        if let c = v["callback"] {
            guard let to = c["to"]?.stringValue, let from = c["from"]?.stringValue, let flow = c["flow"]?.stringValue,
                let notBefore = c["not_before"]?.intValue, let expires = c["expires"]?.intValue, let node = c["node"]?.stringValue,
                let nodeFlow = c["node_flow"]?.stringValue
            else { throw DecodeError(what: "booked callback") }
            s.callback = PendingCallback(
                to: to, from: from, flow: flow, vars: c["vars"]?.objectValue ?? [:], notBefore: Int64(notBefore), expiresAt: Int64(expires),
                agents: c["agents"]?.arrayValue?.compactMap(\.stringValue) ?? [], node: node, nodeFlow: nodeFlow)
        }
        if let q = v["queue"] {
            var progress = QueueProgress()
            progress.timers = q["timers"]?.intValue ?? 0
            progress.announceTimer = q["announce"]?.stringValue
            progress.announcing = q["announcing"]?.boolValue ?? false
            progress.enqueued = q["enqueued"]?.boolValue ?? false
            s.queue = progress
        }
        s.awaitedResults = v["awaited"]?.arrayValue?.compactMap(\.stringValue) ?? []
        for f in v["frames"]?.arrayValue ?? [] {
            guard let flow = f["flow"]?.stringValue, let node = f["node"]?.stringValue, let vars = f["vars"]?.objectValue else {
                throw DecodeError(what: "subflow frame")
            }
            s.frames.append(
                CallFrame(flow: flow, node: node, vars: vars, sensitiveVars: Set(f["sensitive"]?.arrayValue?.compactMap(\.stringValue) ?? [])))
        }
        s.trace = try (v["trace"]?.arrayValue ?? []).map { (e) throws(DecodeError) in try decodeTrace(e) }
        return s
    }

    /// A `ring_group` run: the agents, and per dialed leg its agent, id, status and dial command.
    static func encode(_ r: RingProgress) -> JSONValue {
        var o: JSONObject = [
            "agents": .array(r.agents.map(JSONValue.string)), "next": .int(r.nextAgent), "rounds": .int(r.rounds),
            "legs": .array(
                r.legs.map { l in
                    var e: JSONObject = ["agent": .int(l.agent), "status": .string(l.status.rawValue), "dial": .string(l.dial)]
                    if let id = l.leg { e["leg"] = .string(id) }
                    return .object(e)
                }),
        ]
        if r.holding { o["holding"] = true }
        if r.round > 0 { o["round"] = .int(r.round) }
        if let d = r.deadline { o["deadline"] = .string(d) }
        return .object(o)
    }

    static func decodeRing(_ v: JSONValue) throws(DecodeError) -> RingProgress {
        guard let agents = v["agents"]?.arrayValue?.compactMap(\.stringValue), let legs = v["legs"]?.arrayValue else {
            throw DecodeError(what: "ring group")
        }
        var r = RingProgress(agents: agents)
        r.nextAgent = v["next"]?.intValue ?? 0
        r.rounds = v["rounds"]?.intValue ?? 0
        r.holding = v["holding"]?.boolValue ?? false
        r.round = v["round"]?.intValue ?? 0
        r.deadline = v["deadline"]?.stringValue
        for l in legs {
            guard let agent = l["agent"]?.intValue, let status = l["status"]?.stringValue.flatMap(RingLeg.Status.init(rawValue:)),
                let dial = l["dial"]?.stringValue
            else { throw DecodeError(what: "ring group leg") }
            guard agents.indices.contains(agent) else { throw DecodeError(what: "ring group leg") }
            r.legs.append(RingLeg(agent: agent, leg: l["leg"]?.stringValue, status: status, dial: dial))
        }
        return r
    }

    /// A wait as JSON: its name, or an object for the waits that carry ids.
    public static func encode(_ w: Waiting) -> JSONValue {
        switch w {
        case .nothing: return "nothing"
        case .answered: return "answered"
        case .speakEnded: return "speak_ended"
        case .playbackEnded: return "playback_ended"
        case .playbackPlaying: return "playback_playing"
        case .prelude: return "prelude"
        case .gatherEnded: return "gather_ended"
        case .transferResult: return "transfer_result"
        case .dialAnswered: return "dial_answered"
        case .whisperEnded: return "whisper_ended"
        case .bridged: return "bridged"
        case .recordingSaved: return "recording_saved"
        case .aiGatherEnded: return "ai_gather_ended"
        case .machineDetection: return "machine_detection"
        case .beep: return "beep"
        case .hangup: return "hangup"
        case .http(let id): return ["http": .string(id)]
        case .action(let timer): return ["action": timer.map(JSONValue.string) ?? .null]
        case .response(let id, let timer): return ["response": .string(id), "timer": timer.map(JSONValue.string) ?? .null]
        case .results(let timer): return ["results": .string(timer)]
        case .ringing(let timer): return ["ringing": timer.map(JSONValue.string) ?? .null]
        case .queued: return "queued"
        case .callbackDue(let timer): return ["callback": .string(timer)]
        case .conference(let timer): return ["conference": timer.map(JSONValue.string) ?? .null]
        case .agentsServing(let timer): return ["serving": .string(timer)]
        case .timer(let id): return ["timer": .string(id)]
        }
    }

    /// Reads back what `encode(_:)` wrote for a wait.
    public static func decodeWaiting(_ v: JSONValue) throws(DecodeError) -> Waiting {
        if let id = v["http"]?.stringValue { return .http(requestID: id) }
        if let id = v["response"]?.stringValue { return .response(commandID: id, timer: v["timer"]?.stringValue) }
        if let a = v["action"] { return .action(timer: a.stringValue) }
        // Written by 0.x for a `command` node's `wait_for` (no deadline then).
        if v["event"]?.stringValue != nil { return .action(timer: nil) }
        if let id = v["results"]?.stringValue { return .results(timer: id) }
        if let r = v["ringing"] { return .ringing(timer: r.stringValue) }
        if let t = v["callback"]?.stringValue { return .callbackDue(timer: t) }
        if let c = v["conference"] { return .conference(timer: c.stringValue) }
        if let t = v["serving"]?.stringValue { return .agentsServing(timer: t) }
        if let id = v["timer"]?.stringValue { return .timer(id: id) }
        switch v.stringValue {
        case "nothing": return .nothing
        case "answered": return .answered
        case "speak_ended": return .speakEnded
        case "playback_ended": return .playbackEnded
        case "playback_playing": return .playbackPlaying
        case "prelude": return .prelude
        case "gather_ended": return .gatherEnded
        case "transfer_result": return .transferResult
        case "dial_answered": return .dialAnswered
        case "whisper_ended": return .whisperEnded
        case "bridged": return .bridged
        case "recording_saved": return .recordingSaved
        case "ai_gather_ended": return .aiGatherEnded
        case "machine_detection": return .machineDetection
        case "beep": return .beep
        case "hangup": return .hangup
        case "queued": return .queued
        default: throw DecodeError(what: "waiting state")
        }
    }

    /// A trace entry as `{"at", "step", "kind", "detail", "edge"?}`.
    public static func encode(_ e: TraceEntry) -> JSONValue {
        var o: JSONObject = ["at": .int(Int(e.at)), "step": .int(e.step), "kind": .string(e.kind.rawValue), "detail": .string(e.detail)]
        if let edge = e.edge { o["edge"] = .string(edge) }
        return .object(o)
    }

    /// Reads back a trace entry.
    public static func decodeTrace(_ v: JSONValue) throws(DecodeError) -> TraceEntry {
        guard let at = v["at"]?.intValue, let step = v["step"]?.intValue, let kind = v["kind"]?.stringValue.flatMap(TraceEntry.Kind.init(rawValue:)),
            let detail = v["detail"]?.stringValue
        else { throw DecodeError(what: "trace entry") }
        return TraceEntry(at: Int64(at), step: step, kind: kind, detail: detail, edge: v["edge"]?.stringValue)
    }

    // MARK: commands, requests, dials

    /// A command in the outbox: leg, action, body and whether its result is wanted.
    public static func encode(_ c: CallCommand) -> JSONValue {
        var o: JSONObject = ["leg": .string(c.callControlID), "action": .string(c.action), "body": .object(c.body)]
        if c.reportsResult { o["result"] = true }
        if let id = c.conference { o["conference"] = .string(id) }
        return .object(o)
    }

    /// Reads back an outbox command.
    public static func decodeCommand(_ v: JSONValue) throws(DecodeError) -> CallCommand {
        guard let leg = v["leg"]?.stringValue, let action = v["action"]?.stringValue, let body = v["body"]?.objectValue else {
            throw DecodeError(what: "command")
        }
        var c = CallCommand(callControlID: leg, action: action, body: body, reportsResult: v["result"]?.boolValue ?? false)
        c.conference = v["conference"]?.stringValue
        return c
    }

    /// A pending `http` request, with every secret masked as `***` and the request then marked
    /// `withheld` (it cannot be sent again as the flow made it).
    public static func encode(_ h: HTTPCall) -> JSONValue {
        func mask(_ s: String) -> String { h.secrets.reduce(s) { $1.isEmpty ? $0 : $0.replacing($1, with: "***") } }
        var o: JSONObject = [
            "id": .string(h.id), "method": .string(h.method), "url": .string(mask(h.url)),
            "headers": .object(JSONObject(h.headers.sorted { $0.key < $1.key }.map { (key: $0.key, value: JSONValue.string(mask($0.value))) })),
            "timeout_ms": .int(h.timeoutMs), "key": .string(h.idempotencyKey),
        ]
        if let body = h.body {
            o["body"] = .string(Base64Text.encode(h.secrets.isEmpty ? body : Array(mask(String(decoding: body, as: UTF8.self)).utf8)))
        }
        if !h.secrets.isEmpty || h.withheld { o["withheld"] = true }
        return .object(o)
    }

    /// Reads back a pending request (`withheld` when it was stored masked).
    public static func decodeHTTP(_ v: JSONValue) throws(DecodeError) -> HTTPCall {
        guard let id = v["id"]?.stringValue, let method = v["method"]?.stringValue, let url = v["url"]?.stringValue,
            let timeout = v["timeout_ms"]?.intValue, let key = v["key"]?.stringValue
        else { throw DecodeError(what: "http request") }
        var headers: [String: String] = [:]
        for (k, value) in v["headers"]?.objectValue?.members ?? [] { headers[k] = value.stringValue ?? "" }
        let body = try v["body"]?.stringValue.map { (b) throws(DecodeError) -> [UInt8] in
            guard let bytes = Base64Text.decode(b) else { throw DecodeError(what: "http request body") }
            return bytes
        }
        var h = HTTPCall(id: id, method: method, url: url, headers: headers, body: body, timeoutMs: timeout, idempotencyKey: key)
        h.withheld = v["withheld"]?.boolValue ?? false
        return h
    }

    /// A pending outbound dial.
    public static func encode(_ d: PendingDial) -> JSONValue {
        [
            "flow": .string(d.flow), "vars": .object(d.vars), "from": .string(d.from), "to": .string(d.to),
            "connection": .string(d.connectionID), "at": .int(Int(d.at)),
        ]
    }

    /// Reads back a pending outbound dial.
    public static func decodeDial(_ v: JSONValue) throws(DecodeError) -> PendingDial {
        guard let flow = v["flow"]?.stringValue, let from = v["from"]?.stringValue, let to = v["to"]?.stringValue,
            let connection = v["connection"]?.stringValue, let at = v["at"]?.intValue
        else { throw DecodeError(what: "pending dial") }
        return PendingDial(flow: flow, vars: v["vars"]?.objectValue ?? [:], from: from, to: to, connectionID: connection, at: Int64(at))
    }
}
