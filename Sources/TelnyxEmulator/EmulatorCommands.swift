import CallflowCore

extension EmulatorModel {
    /// One call-control request as a handler sees it: the leg (already checked to be live), the
    /// body, and the client_state its webhooks carry (the body's, else the leg's latest).
    struct Request {
        var action: String
        var leg: String
        var body: JSONObject
        var clientState: String?
        /// Fields of the API answer's `data` beside `result: ok`, for the actions whose response
        /// names what they created (`conversation_id`, `conversation_relay_id`).
        var reply: JSONObject = [:]
    }

    /// Why the API refuses a request that passed validation (the call's state does not allow it).
    struct Refusal: Error {
        var status = 422
        var code: String
        var title: String
        var detail: String
    }

    typealias Handler = @Sendable (inout EmulatorModel, inout Request) throws -> [Emission]

    /// What each call action does, one entry per action of `shared/telnyx/commands` (plus
    /// `bridge`, from the OpenAPI spec); `dial` has no leg and is handled before. Each handler
    /// lives beside the state it touches (EmulatorMedia.swift, EmulatorSessions.swift).
    static let handlers: [String: Handler] = [
        "answer": { $0.answer($1) },
        "hangup": { $0.hangup($1) },
        "reject": { try $0.reject($1) },
        "transfer": { $0.transfer($1) },
        "bridge": { try $0.bridge($1) },
        "client_state_update": { _, _ in [] },  // the state itself was taken in `command`
        "speak": { $0.speak($1) },
        "playback_start": { $0.playbackStart($1) },
        "playback_stop": { $0.playbackStop($1) },
        "gather": { $0.startGather($1) },
        "gather_using_speak": { $0.startGather($1) },
        "gather_using_audio": { $0.startGather($1) },
        "gather_stop": { $0.gatherStop($1) },
        "gather_using_ai": { $0.gatherUsingAI(&$1) },
        "send_dtmf": { _, _ in [] },  // no webhooks (docs); the digits were checked by `validate`
        "send_sip_info": { _, _ in [] },  // `call.sip_info.received` goes to the far end, not to us
        "transcription_start": { $0.transcriptionStart($1) },
        "transcription_stop": { $0.transcriptionStop($1) },
        "record_start": { $0.recordStart($1) },
        "record_stop": { $0.recordStop($1) },
        "record_pause": { $0.recordPause($1, paused: true) },
        "record_resume": { $0.recordPause($1, paused: false) },
        "streaming_start": { $0.streamingStart($1) },
        "streaming_stop": { $0.stopSessions($1, .streaming, only: $1.body["stream_id"]?.stringValue) },
        "fork_start": { $0.forkStart($1) },
        "fork_stop": { $0.stopSessions($1, .fork, only: nil) },
        "siprec_start": { $0.siprecStart($1) },
        "siprec_stop": { $0.stopSessions($1, .siprec, only: nil) },
        "ai_assistant_start": { $0.aiAssistantStart(&$1) },
        "ai_assistant_stop": { $0.conversationStop($1, relay: false) },
        "ai_assistant_add_messages": { _, _ in [] },
        "ai_assistant_join": { $0.aiAssistantJoin(&$1) },
        "conversation_relay_start": { $0.conversationRelayStart(&$1) },
        "conversation_relay_stop": { $0.conversationStop($1, relay: true) },
        "refer": { $0.refer($1) },
        "enqueue": { try $0.enqueue($1) },
        "leave_queue": { $0.dequeue($1.leg, reason: "leave", clientState: $1.clientState, after: 20) },
        "pay": { $0.pay($1) },
        "suppression_start": { $0.suppress($1, true) },
        "suppression_stop": { $0.suppress($1, false) },
        "switch_supervisor_role": { _, _ in [] },  // changes how a supervisor hears the bridge; no webhook
    ]

    /// Applies one call-control request: `leg` is the path's call_control_id (`nil` for dial).
    public mutating func command(_ action: String, leg id: String?, body: JSONObject) -> (Reply, [Emission]) {
        if let problem = Self.validate(action, body) {
            return (.error(status: 422, code: "10015", title: "Invalid parameter", detail: problem), [])
        }
        if action == "dial" { return dial(body) }
        guard let id, var leg = legs[id] else {
            return (.error(status: 422, code: "90015", title: "Invalid call control ID", detail: "no call \(id ?? "")"), [])
        }
        guard !leg.ended else {
            return (
                .error(
                    status: 422, code: "90018", title: "Call has already ended",
                    detail: "This call is no longer active and can't receive commands."), []
            )
        }
        // siprec_start and switch_supervisor_role take no command_id: they are never deduplicated.
        let commandID = body["command_id"]?.stringValue
        if let commandID, leg.executedCommands.contains(commandID) {
            return (.ok(["result": "ok"]), [])  // a repeat: accepted, not executed again
        }
        guard let handler = Self.handlers[action] else { return (.ok(["result": "ok"]), []) }
        let before = leg  // handlers refuse before they change anything
        if let state = body["client_state"]?.stringValue { leg.clientState = state }
        if let commandID { leg.executedCommands.insert(commandID) }
        legs[id] = leg
        var request = Request(action: action, leg: id, body: body, clientState: leg.clientState)
        do {
            let emissions = try handler(&self, &request)
            return (.ok(.object(JSONObject([(key: "result", value: "ok")]).merging(request.reply))), emissions)
        } catch let refusal as Refusal {
            legs[id] = before  // refused: nothing happened, and the same command_id may come again
            return (.error(status: refusal.status, code: refusal.code, title: refusal.title, detail: refusal.detail), [])
        } catch {
            legs[id] = before
            return (.error(status: 500, code: "500", title: "Internal server error", detail: "\(error)"), [])
        }
    }

    // MARK: validation

    /// Like Telnyx: the action exists, every field is one its schema names, the required ones
    /// are present, each value has the shape the schema gives it (types, enum values, nested
    /// objects: `ParamCheck`, over the catalog generated from `shared/telnyx/commands`), and the
    /// documented limits hold. The problem names the field.
    static func validate(_ action: String, _ body: JSONObject) -> String? {
        if action == "bridge" {
            let targets = ["call_control_id", "queue"].filter { body[$0]?.stringValue != nil }
            return targets.count == 1 ? nil : "bridge takes one of call_control_id or queue"
        }
        guard let spec = CommandCatalog.actions[action] else {
            return "unknown action \(action)" + (Spelling.nearest(to: action, in: CommandCatalog.actions.keys).map { "; did you mean \($0)?" } ?? "")
        }
        for key in body.keys where !spec.params.contains(key) {
            return "\(action) does not take \(key)" + (Spelling.nearest(to: key, in: spec.params).map { "; did you mean \($0)?" } ?? "")
        }
        for key in spec.required where body[key] == nil { return "\(action) requires \(key)" }
        for (key, value) in body.members {
            if let why = ParamCheck.problem(action: action, key: key, value: value) { return why }
        }
        return nil
    }

    // MARK: the call itself

    mutating func answer(_ r: Request) -> [Emission] {
        guard var leg = legs[r.leg], !leg.answered else { return [] }
        leg.answered = true
        legs[r.leg] = leg
        var out = [webhook("call.answered", r.leg, after: timing.answerMs, ["start_time": .string(Timestamp.iso(nowMs))])]
        // Telnyx docs: streaming.started (or .failed) when answer sets stream_url.
        if let url = r.body["stream_url"]?.stringValue {
            out += startStream(r, url: url, track: r.body["stream_track"]?.stringValue, dialogflow: false, after: timing.answerMs)
        }
        return out
    }

    mutating func hangup(_ r: Request) -> [Emission] {
        let other = legs[r.leg]?.bridgedWith
        return endLeg(r.leg, cause: "normal_clearing", source: "callee", after: 40)
            + (other.map { endLeg($0, cause: "normal_clearing", source: "caller", after: 50) } ?? [])
    }

    mutating func reject(_ r: Request) throws -> [Emission] {
        guard legs[r.leg]?.answered == false else {
            throw Refusal(code: "90033", title: "Call already answered", detail: "reject is only for unanswered calls")
        }
        return endLeg(r.leg, cause: "call_rejected", source: "callee", after: 30)
    }

    mutating func transfer(_ r: Request) -> [Emission] {
        startTarget(
            parent: r.leg, to: r.body["to"]?.stringValue ?? "", from: r.body["from"]?.stringValue ?? legs[r.leg]?.to ?? "",
            clientState: r.body["target_leg_client_state"]?.stringValue, timeoutSecs: r.body["timeout_secs"]?.intValue,
            bridgeOnAnswer: true
        ).emissions
    }

    mutating func bridge(_ r: Request) throws -> [Emission] {
        var target = r.body["call_control_id"]?.stringValue
        if let queue = r.body["queue"]?.stringValue {
            // The head of the queue (Telnyx: an error when the queue is empty).
            guard let head = queues[queue]?.first else {
                throw Refusal(code: "422", title: "Queue is empty", detail: "there is no call in queue \(queue) to bridge with")
            }
            target = head
        }
        guard let other = target, var b = legs[other], !b.ended, var a = legs[r.leg] else {
            throw Refusal(code: "90018", title: "Call has already ended", detail: "the other leg is not active")
        }
        if r.body["prevent_double_bridge"]?.boolValue == true, b.bridgedWith != nil || a.bridgedWith != nil {
            // Telnyx documents no error code for this refusal; the title says what happened.
            throw Refusal(code: "422", title: "Call already bridged", detail: "prevent_double_bridge: the call is bridged to another call")
        }
        a.bridgedWith = other
        b.bridgedWith = r.leg
        a.parkAfterUnbridge = r.body["park_after_unbridge"]?.stringValue == "self"
        legs[r.leg] = a
        legs[other] = b
        // A queued call that is bridged leaves its queue (call.dequeued, reason bridged).
        var out: [Emission] = []
        for leg in [r.leg, other] {
            if let talk = legs[leg]?.agent?.talkMs { out.append(arm(leg, after: 30 + talk, .agentHangsUp)) }
        }
        for leg in [r.leg, other] where legs[leg]?.queue != nil {
            out += dequeue(leg, reason: "bridged", clientState: legs[leg]?.queue?.clientState, after: 20)
        }
        return out + [webhook("call.bridged", r.leg, after: 30), webhook("call.bridged", other, after: 30)]
    }

    /// Creates the leg a transfer or dial reaches, and what its callee does.
    mutating func startTarget(
        parent: String?, to: String, from: String, clientState: String?, timeoutSecs: Int?,
        bridgeOnAnswer: Bool
    ) -> (leg: String, emissions: [Emission]) {
        let id = "v3:emu-" + nextID("leg")
        let agent = script.agents[to]
        legs[id] = Leg(id: id, from: from, to: to, direction: "outgoing", clientState: clientState, parent: parent)
        legs[id]?.agent = agent
        var out = [webhook("call.initiated", id, after: 20, ["direction": "outgoing", "state": "bridging"])]
        let ringMs = agent?.answerAfterMs ?? timing.ringMs
        if let ms = agent?.answerAfterMs, let timeout = timeoutSecs, ms >= timeout * 1000 {
            // Rings past the dial's timeout: Telnyx gives up first.
            return (id, out + [arm(id, after: timeout * 1000, .targetEnds(cause: "timeout"))])
        }
        // A leg that will not answer still rings until then: a hang-up meanwhile cancels it.
        switch agent?.does ?? script.target {
        case "busy":
            out.append(arm(id, after: timing.ringMs / 2, .targetEnds(cause: "user_busy")))
        case "no_answer":
            out.append(arm(id, after: min((timeoutSecs ?? 30) * 1000, timing.ringMs * 4), .targetEnds(cause: "timeout")))
        default:
            out.append(arm(id, after: ringMs, .targetAnswers(bridge: bridgeOnAnswer)))
        }
        return (id, out)
    }

    /// A dialed leg answers now (a transfer target is bridged with its parent at once), unless it
    /// was hung up while it rang.
    mutating func targetAnswers(_ id: String, bridge: Bool) -> [Emission] {
        guard var b = legs[id], !b.ended else { return [] }
        b.answered = true
        legs[id] = b
        var out = [webhook("call.answered", id, after: 0)]
        if bridge, let parent = b.parent, var a = legs[parent], !a.ended {
            a.bridgedWith = id
            b.bridgedWith = parent
            legs[parent] = a
            legs[id] = b
            out.append(webhook("call.bridged", parent, after: 20))
            out.append(webhook("call.bridged", id, after: 20))
        }
        return out
    }

    mutating func dial(_ body: JSONObject) -> (Reply, [Emission]) {
        let parent = StepTag(clientState: body["client_state"]?.stringValue)?.parent
        var target = startTarget(
            parent: parent, to: body["to"]?.stringValue ?? "", from: body["from"]?.stringValue ?? "",
            clientState: body["client_state"]?.stringValue, timeoutSecs: body["timeout_secs"]?.intValue,
            bridgeOnAnswer: false)
        if let amd = body["answering_machine_detection"]?.stringValue, amd != "disabled", script.target == "answer" {
            target.emissions += self.amd(target.leg, after: timing.ringMs)
        }
        return (
            .ok([
                "call_control_id": .string(target.leg), "call_leg_id": .string("leg-\(target.leg)"),
                "call_session_id": .string("session-\(target.leg)"), "is_alive": true, "record_type": "call",
            ]), target.emissions
        )
    }
}
