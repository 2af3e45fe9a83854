import CallflowCore

extension EmulatorModel {
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
            return (.error(status: 422, code: "90018", title: "Call has already ended",
                           detail: "This call is no longer active and can't receive commands."), [])
        }
        if let commandID = body["command_id"]?.stringValue, !leg.executedCommands.insert(commandID).inserted {
            return (.ok(["result": "ok"]), [])  // a repeat: accepted, not executed again
        }
        if let state = body["client_state"]?.stringValue { leg.clientState = state }
        legs[id] = leg
        let ok = Reply.ok(["result": "ok"])
        switch action {
        case "answer":
            guard !leg.answered else { return (ok, []) }
            leg.answered = true
            legs[id] = leg
            return (ok, [webhook("call.answered", id, after: timing.answerMs, ["start_time": .string(Timestamp.iso(nowMs))])])
        case "speak":
            let text = body["payload"]?.stringValue ?? ""
            return (ok, [webhook("call.speak.started", id, after: 10), webhook("call.speak.ended", id, after: speakMs(text), ["status": "completed"])])
        case "playback_start":
            let url = body["audio_url"]?.stringValue
            let missing = (url ?? body["media_name"]?.stringValue ?? "").contains("missing")
            var media: JSONObject = [:]
            if let url { media["media_url"] = .string(url) } else { media["media_name"] = body["media_name"] ?? .null }
            var ended = media
            ended["status"] = .string(missing ? "file_not_found" : "completed")
            if missing { ended["status_detail"] = "media not found" }
            return (ok, [webhook("call.playback.started", id, after: 10, media),
                         webhook("call.playback.ended", id, after: missing ? 50 : timing.playbackMs, ended)])
        case "gather", "gather_using_speak", "gather_using_audio":
            return (ok, startGather(action, id, body))
        case "transfer":
            let target = startTarget(parent: id, to: body["to"]?.stringValue ?? "", from: body["from"]?.stringValue ?? leg.to,
                                     clientState: body["target_leg_client_state"]?.stringValue, timeoutSecs: body["timeout_secs"]?.intValue,
                                     bridgeOnAnswer: true)
            return (ok, target.emissions)
        case "bridge":
            guard let other = body["call_control_id"]?.stringValue, var b = legs[other], !b.ended else {
                return (.error(status: 422, code: "90018", title: "Call has already ended", detail: "the other leg is not active"), [])
            }
            leg.bridgedWith = other
            b.bridgedWith = id
            legs[id] = leg
            legs[other] = b
            return (ok, [webhook("call.bridged", id, after: 30), webhook("call.bridged", other, after: 30)])
        case "record_start":
            let format = body["format"]?.stringValue ?? "mp3"
            let rec = nextID("rec")
            let ms = script.recordingSeconds * 1000
            let urls: JSONValue = [.init(stringLiteral: format): .string("https://emulator.telnyx.local/recordings/\(rec).\(format)")]
            return (ok, [webhook("call.recording.saved", id, after: ms + 200, [
                "recording_urls": urls, "public_recording_urls": urls, "channels": body["channels"] ?? "single",
                "recording_started_at": .string(Timestamp.iso(nowMs)), "recording_ended_at": .string(Timestamp.iso(nowMs + Int64(ms))),
            ])])
        case "gather_using_ai":
            let greeting = body["greeting"]?.stringValue ?? ""
            let after = speakMs(greeting) + 3000
            if let result = script.aiResult {
                return (ok, [webhook("call.ai_gather.ended", id, after: after, ["status": "valid", "result": result,
                                                                              "message_history": [["role": "user", "content": .string(result.jsonString)]]])])
            }
            return (ok, [webhook("call.ai_gather.ended", id, after: after, ["status": "invalid", "message_history": []])])
        case "hangup":
            return (ok, endLeg(id, cause: "normal_clearing", source: "callee", after: 40)
                + (leg.bridgedWith.map { endLeg($0, cause: "normal_clearing", source: "caller", after: 50) } ?? []))
        case "reject":
            guard !leg.answered else {
                return (.error(status: 422, code: "90033", title: "Call already answered", detail: "reject is only for unanswered calls"), [])
            }
            return (ok, endLeg(id, cause: "call_rejected", source: "callee", after: 30))
        default:
            return (ok, [])
        }
    }

    /// Required fields present and no unknown fields, per the catalog derived from the schemas.
    static func validate(_ action: String, _ body: JSONObject) -> String? {
        if action == "bridge" {
            return body["call_control_id"]?.stringValue == nil ? "bridge requires call_control_id" : nil
        }
        guard let spec = CommandCatalog.actions[action] else { return "unknown action \(action)" }
        for key in body.keys where !spec.params.contains(key) { return "\(action) does not take \(key)" }
        for key in spec.required where body[key] == nil { return "\(action) requires \(key)" }
        return nil
    }

    mutating func startGather(_ action: String, _ id: String, _ body: JSONObject) -> [Emission] {
        guard var leg = legs[id] else { return [] }
        let prompt = body["payload"]?.stringValue ?? body["audio_url"]?.stringValue.map { "[audio \($0)]" }
            ?? body["media_name"]?.stringValue.map { "[media \($0)]" } ?? ""
        tokens += 1
        let g = PendingGather(
            token: tokens, min: body["minimum_digits"]?.intValue ?? 1, max: body["maximum_digits"]?.intValue ?? 128,
            terminator: body["terminating_digit"]?.stringValue ?? (action == "gather" ? nil : "#"),
            valid: body["valid_digits"]?.stringValue, timeoutMs: body["timeout_millis"]?.intValue ?? (action == "gather" ? 5000 : 60000),
            interDigitMs: body["inter_digit_timeout_millis"]?.intValue ?? 5000,
            // Plain `gather` has no prompt to replay and no maximum_tries: it listens once.
            triesLeft: action == "gather" ? 1 : body["maximum_tries"]?.intValue ?? 3,
            promptText: prompt, invalidText: body["invalid_payload"]?.stringValue)
        leg.gather = g
        legs[id] = leg
        let promptMs = prompt.isEmpty ? 0 : speakMs(prompt)
        return [.needInput(delayMs: promptMs, leg: id, token: g.token, prompt: prompt),
                .gatherTimeout(delayMs: promptMs + g.timeoutMs, leg: id, token: g.token)]
    }

    /// Creates the leg a transfer or dial reaches, and what its callee does.
    mutating func startTarget(parent: String?, to: String, from: String, clientState: String?, timeoutSecs: Int?,
                              bridgeOnAnswer: Bool) -> (leg: String, emissions: [Emission]) {
        let id = "v3:emu-" + nextID("leg")
        legs[id] = Leg(id: id, from: from, to: to, direction: "outgoing", clientState: clientState, parent: parent)
        var out = [webhook("call.initiated", id, after: 20, ["direction": "outgoing", "state": "bridging"])]
        switch script.target {
        case "busy":
            out += endLeg(id, cause: "user_busy", source: "callee", after: timing.ringMs / 2)
        case "no_answer":
            out += endLeg(id, cause: "timeout", source: "callee", after: min((timeoutSecs ?? 30) * 1000, timing.ringMs * 4))
        default:
            var b = legs[id]!
            b.answered = true
            legs[id] = b
            out.append(webhook("call.answered", id, after: timing.ringMs))
            if bridgeOnAnswer, let parent, var a = legs[parent] {
                a.bridgedWith = id
                b.bridgedWith = parent
                legs[parent] = a
                legs[id] = b
                out.append(webhook("call.bridged", parent, after: timing.ringMs + 20))
                out.append(webhook("call.bridged", id, after: timing.ringMs + 20))
            }
        }
        return (id, out)
    }

    mutating func dial(_ body: JSONObject) -> (Reply, [Emission]) {
        let parent = StepTag(clientState: body["client_state"]?.stringValue)?.parent
        var target = startTarget(parent: parent, to: body["to"]?.stringValue ?? "", from: body["from"]?.stringValue ?? "",
                                 clientState: body["client_state"]?.stringValue, timeoutSecs: body["timeout_secs"]?.intValue,
                                 bridgeOnAnswer: false)
        if let amd = body["answering_machine_detection"]?.stringValue, amd != "disabled", script.target == "answer" {
            target.emissions += self.amd(target.leg, after: timing.ringMs)
        }
        return (.ok(["call_control_id": .string(target.leg), "call_leg_id": .string("leg-\(target.leg)"),
                     "call_session_id": .string("session-\(target.leg)"), "is_alive": true, "record_type": "call"]), target.emissions)
    }
}
