import CallflowCore

/// What the caller hears and says: prompts, gathers, keys, speech and real-time transcription.
extension EmulatorModel {
    // MARK: prompts

    /// How many times a prompt plays: `loop` 1...100, or nil for `"infinity"`.
    static func loops(_ v: JSONValue?) -> Int? {
        guard let v else { return 1 }
        return v.stringValue == "infinity" ? nil : max(1, v.intValue ?? 1)
    }

    mutating func speak(_ r: Request) -> [Emission] {
        let text = r.body["payload"]?.stringValue ?? ""
        let loops = Self.loops(r.body["loop"])
        return startPrompt(
            .speak, r, media: [:], endFields: ["status": "completed"], lengthMs: loops.map { speakMs(text) * $0 },
            loops: loops, label: text)
    }

    mutating func playbackStart(_ r: Request) -> [Emission] {
        let url = r.body["audio_url"]?.stringValue
        let name = r.body["media_name"]?.stringValue
        var media: JSONObject = [:]
        if let url { media["media_url"] = .string(url) } else { media["media_name"] = name.map(JSONValue.string) ?? .null }
        // A file whose name says "missing" is not found: the flow's on_error path can be tested.
        if (url ?? name ?? "").contains("missing") {
            return startPrompt(
                .playback, r, media: media, endFields: ["status": "file_not_found", "status_detail": "media not found"],
                lengthMs: 50, loops: 1, label: url ?? name ?? "")
        }
        let loops = Self.loops(r.body["loop"])
        return startPrompt(
            .playback, r, media: media, endFields: ["status": "completed"], lengthMs: loops.map { timing.playbackMs * $0 },
            loops: loops, label: "[audio \(url ?? name ?? "")]")
    }

    /// Starts a speak or playback: its started webhook now, its ended one when it has played
    /// (`lengthMs`, nil while it loops forever), so that `playback_stop` or the hang-up can end
    /// it sooner. A speak of known length sends its ended webhook at once, delayed, as it always
    /// has (so only a looping speak can be stopped). A looping prompt with no gather pending is
    /// where the caller presses keys on their own (hold music): it asks for input as it starts.
    mutating func startPrompt(
        _ kind: Prompt.Kind, _ r: Request, media: JSONObject, endFields: JSONObject, lengthMs: Int?, loops: Int?,
        label: String
    ) -> [Emission] {
        let token = nextToken()
        let sendsEnd = kind == .speak && lengthMs != nil
        legs[r.leg]?.prompts.append(
            Prompt(
                token: token, kind: kind, media: media, endFields: media.merging(endFields), clientState: r.clientState,
                endedSent: sendsEnd))
        var out = [webhook(kind == .speak ? "call.speak.started" : "call.playback.started", r.leg, after: 10, media)]
        if let lengthMs {
            if sendsEnd { out.append(webhook("call.speak.ended", r.leg, after: lengthMs, endFields)) }
            timers[token] = .promptEnds
            out.append(.timer(delayMs: lengthMs, leg: r.leg, token: token))
        }
        if loops != 1, legs[r.leg]?.gather == nil { out.append(.needInput(delayMs: 10, leg: r.leg, token: token, prompt: label)) }
        return out
    }

    /// A prompt played to its end: its ended webhook, and the caller may say something.
    mutating func promptEnded(_ id: String, token: Int) -> [Emission] {
        guard let index = legs[id]?.prompts.firstIndex(where: { $0.token == token }), let p = legs[id]?.prompts.remove(at: index) else { return [] }
        return (p.endedSent ? [] : [webhook(p.endedType, id, after: 0, p.endFields, clientState: .some(p.clientState))]) + heard(id)
    }

    /// `playback_stop`: the audio playing ends now, `cancelled` (`stop: "current"`: only the one
    /// heard now, the oldest). A looping speak is stopped too (Telnyx: "call.playback.ended or
    /// call.speak.ended"), with `completed`, the only ending the speak enum has for it; a speak
    /// of known length already sent its ended webhook and plays on.
    mutating func playbackStop(_ r: Request) -> [Emission] {
        guard let prompts = legs[r.leg]?.prompts.filter({ !$0.endedSent }), !prompts.isEmpty else { return [] }
        let stopped = r.body["stop"]?.stringValue == "current" ? [prompts[0]] : prompts
        legs[r.leg]?.prompts.removeAll { p in stopped.contains { $0.token == p.token } }
        for p in stopped { timers[p.token] = nil }
        return stopped.map { p in
            webhook(p.endedType, r.leg, after: 20, p.kind == .speak ? ["status": "completed"] : p.media.merging(["status": "cancelled"]))
        } + heard(r.leg)
    }

    /// Something plays to the caller now: a prompt, or a gather's prompt not yet finished.
    func playing(_ leg: Leg) -> Bool {
        !leg.prompts.isEmpty || (leg.gather.map { nowMs < $0.promptEndsMs } ?? false)
    }

    // MARK: gathers

    mutating func startGather(_ r: Request) -> [Emission] {
        let action = r.action, body = r.body
        let prompt =
            body["payload"]?.stringValue ?? body["audio_url"]?.stringValue.map { "[audio \($0)]" }
            ?? body["media_name"]?.stringValue.map { "[media \($0)]" } ?? ""
        let promptMs = prompt.isEmpty ? 0 : speakMs(prompt)
        let g = PendingGather(
            token: nextToken(), min: body["minimum_digits"]?.intValue ?? 1, max: body["maximum_digits"]?.intValue ?? 128,
            terminator: body["terminating_digit"]?.stringValue ?? (action == "gather" ? nil : "#"),
            valid: body["valid_digits"]?.stringValue, timeoutMs: body["timeout_millis"]?.intValue ?? (action == "gather" ? 5000 : 60000),
            interDigitMs: body["inter_digit_timeout_millis"]?.intValue ?? 5000,
            // Plain `gather` has no prompt to replay and no maximum_tries: it listens once.
            triesLeft: action == "gather" ? 1 : body["maximum_tries"]?.intValue ?? 3,
            promptText: prompt, invalidText: body["invalid_payload"]?.stringValue, clientState: r.clientState,
            promptEndsMs: nowMs + Int64(promptMs))
        legs[r.leg]?.gather = g
        return [
            .needInput(delayMs: promptMs, leg: r.leg, token: g.token, prompt: prompt),
            .gatherTimeout(delayMs: promptMs + g.timeoutMs, leg: r.leg, token: g.token),
        ]
    }

    /// `gather_stop`: the pending gather ends now, `cancelled`, with the digits entered so far.
    mutating func gatherStop(_ r: Request) -> [Emission] {
        guard let g = legs[r.leg]?.gather else { return [] }
        legs[r.leg]?.gather = nil
        return [webhook("call.gather.ended", r.leg, after: 20, ["digits": .string(g.digits), "status": "cancelled"])]
    }

    /// `gather_using_ai`: the scripted `ai_result` after the greeting and a short talk (`valid`),
    /// or, with `ai_result: null`, `invalid` with `result` null (the schema's statuses are
    /// `valid` and `invalid`).
    mutating func gatherUsingAI(_ r: inout Request) -> [Emission] {
        r.reply["conversation_id"] = .string(nextID("conversation"))
        let after = speakMs(r.body["greeting"]?.stringValue ?? "") + 3000
        guard let result = script.aiResult else {
            return [webhook("call.ai_gather.ended", r.leg, after: after, ["status": "invalid", "result": .null, "message_history": []])]
        }
        return [
            webhook(
                "call.ai_gather.ended", r.leg, after: after,
                [
                    "status": "valid", "result": result,
                    "message_history": [["role": "user", "content": .string(result.jsonString)]],
                ])
        ]
    }

    // MARK: the scripted caller

    /// The scripted caller answers a `needInput` (a gather's prompt has played, or a looping
    /// prompt started): the next `digits` entry, pressed at a person's pace; for a gather with
    /// no entry left, the next utterance while transcription is on (the gather waits for it),
    /// else silence. Nothing for a leg that does not follow the script, or when what asked has
    /// ended (a stopped gather or prompt: the caller was never asked).
    public mutating func scriptedInput(_ id: String, token: Int) -> [Emission] {
        if let leg = legs[id], !leg.scripted, leg.parent != nil, !leg.ended, leg.gather?.token == token {
            // An agent at a screening prompt: a scripted agent's keys, else it accepts with 1.
            let agent = leg.agent ?? CallerScript.AgentScript()
            guard !agent.keys.isEmpty else { return [.note(delayMs: 0, leg: id, kind: "caller", text: "agent says nothing")] }
            return [.note(delayMs: 0, leg: id, kind: "caller", text: "agent \(legs[id]?.to ?? "") presses \(agent.keys)")]
                + agent.keys.enumerated().map { i, d in arm(id, after: timing.thinkMs + i * timing.keyIntervalMs, .key(d)) }
        }
        guard var leg = legs[id], leg.scripted, !leg.ended else { return [] }
        let forGather = leg.gather?.token == token
        let inConference = conferenceInputs[id] == token
        guard forGather || inConference || leg.prompts.contains(where: { $0.token == token }) else { return [] }
        if leg.inputIndex < script.inputs.count {
            let digits = script.inputs[leg.inputIndex]
            leg.inputIndex += 1
            legs[id] = leg
            guard !digits.isEmpty else { return [.note(delayMs: 0, leg: id, kind: "caller", text: "caller says nothing")] }
            return [.note(delayMs: 0, leg: id, kind: "caller", text: "caller presses \(digits)")]
                + digits.enumerated().map { i, d in arm(id, after: timing.thinkMs + i * timing.keyIntervalMs, .key(d)) }
        }
        guard forGather else { return [] }
        guard let speech = utter(id), var g = legs[id]?.gather else {
            return [.note(delayMs: 0, leg: id, kind: "caller", text: "caller says nothing")]
        }
        // The caller talks instead of pressing keys: the gather's timeout restarts when they stop,
        // so the transcription arrives before the gather gives up.
        g.token = nextToken()
        legs[id]?.gather = g
        return speech.emissions + [.gatherTimeout(delayMs: speech.doneMs + g.timeoutMs, leg: id, token: g.token)]
    }

    /// A prompt the caller heard has ended: with nothing else playing and no gather asking, they
    /// say their next utterance (one per prompt heard).
    mutating func heard(_ id: String) -> [Emission] {
        guard let leg = legs[id], leg.scripted, leg.gather == nil, !playing(leg) else { return [] }
        return utter(id)?.emissions ?? []
    }

    /// The caller says the next utterance, if transcription listens to them and one is left: a
    /// note as they start, `call.transcription` when they have finished (`doneMs` from now:
    /// thinking, then talking at the pace of a prompt).
    mutating func utter(_ id: String) -> (emissions: [Emission], doneMs: Int)? {
        guard var leg = legs[id], leg.scripted, leg.transcription?.inbound == true, leg.speechIndex < script.speech.count else { return nil }
        let u = script.speech[leg.speechIndex]
        leg.speechIndex += 1
        legs[id] = leg
        let done = timing.thinkMs + speakMs(u.text)
        return (
            [.note(delayMs: timing.thinkMs, leg: id, kind: "caller", text: "caller says \"\(u.text)\""), arm(id, after: done, .utterance(u))], done
        )
    }

    /// The caller finished an utterance: transcribed if transcription is still on.
    mutating func transcribed(_ id: String, _ u: CallerScript.Utterance) -> [Emission] {
        guard let t = legs[id]?.transcription, t.inbound else { return [] }
        return [
            webhook(
                "call.transcription", id, after: 0,
                [
                    "transcription_data": [
                        "transcript": .string(u.text), "is_final": true, "confidence": .double(u.confidence), "transcription_track": "inbound",
                    ]
                ], clientState: .some(t.clientState))
        ]
    }

    /// `transcription_start`: the caller's speech is transcribed from now on (`transcription_tracks`
    /// `inbound`, the default, or `both`; `outbound` transcribes only what the call plays, which
    /// the emulator does not). With nothing playing the caller speaks right away.
    mutating func transcriptionStart(_ r: Request) -> [Emission] {
        legs[r.leg]?.transcription = Transcription(clientState: r.clientState, inbound: r.body["transcription_tracks"]?.stringValue != "outbound")
        guard let leg = legs[r.leg], !playing(leg) else { return [] }
        return utter(r.leg)?.emissions ?? []
    }

    mutating func transcriptionStop(_ r: Request) -> [Emission] {
        legs[r.leg]?.transcription = nil
        return []
    }
}
