import CallflowCore

/// What runs beside the call until it is stopped or the call ends: recordings, media streams
/// (streaming, fork, SIPREC), AI conversations, queues; and refer and pay, which end on their own.
extension EmulatorModel {
    // MARK: recordings

    /// `record_start`. The recording ends at the first of `record_stop`, the hang-up,
    /// `max_length` seconds (when > 0) and, when `timeout_secs` > 0, the caller's silence: they
    /// talk `recording_secs` (script), then stay silent for `timeout_secs`. With neither limit it
    /// runs until stopped or the call ends. Pausing does not move that end.
    mutating func recordStart(_ r: Request) -> [Emission] {
        let rec = Recording(
            id: nextID("rec"), format: r.body["format"]?.stringValue ?? "mp3", channels: r.body["channels"]?.stringValue ?? "single",
            track: r.body["recording_track"]?.stringValue ?? "both", startedMs: nowMs, clientState: r.clientState,
            transcribe: r.body["transcription"]?.boolValue ?? false)
        legs[r.leg]?.recordings.append(rec)
        var ends: [Int] = []
        if let max = r.body["max_length"]?.intValue, max > 0 { ends.append(max * 1000) }
        if let silence = r.body["timeout_secs"]?.intValue, silence > 0 { ends.append((script.recordingSeconds + silence) * 1000) }
        return ends.min().map { [arm(r.leg, after: $0, .recordingEnds(id: rec.id))] } ?? []
    }

    /// `record_stop` (all recordings, or `recording_id`'s).
    mutating func recordStop(_ r: Request) -> [Emission] {
        stopRecordings(r.leg, only: r.body["recording_id"]?.stringValue, clientState: r.clientState)
    }

    /// Ends recordings now and saves them; `clientState` nil: each carries its own start's.
    mutating func stopRecordings(_ id: String, only: String?, clientState: String?) -> [Emission] {
        guard let all = legs[id]?.recordings else { return [] }
        let stopped = all.filter { only == nil || $0.id == only }
        legs[id]?.recordings.removeAll { r in stopped.contains { $0.id == r.id } }
        return stopped.flatMap { saveRecording(id, $0, endedMs: nowMs, after: timing.recordingSaveMs, clientState: clientState ?? $0.clientState) }
    }

    /// `call.recording.saved` with the file's URLs (or `call.recording.error` with the `recording`
    /// failure), then, when asked for, `call.recording.transcription.saved` with the script's
    /// `transcript` (never, with the `recording_transcription` failure).
    mutating func saveRecording(_ id: String, _ rec: Recording, endedMs: Int64, after: Int, clientState: String?) -> [Emission] {
        if fails(.recording) {
            return [webhook("call.recording.error", id, after: after, ["reason": "Internal server error"], clientState: .some(clientState))]
        }
        let url = "https://emulator.telnyx.local/recordings/\(rec.id).\(rec.format)"
        let urls: JSONValue = .object(JSONObject([(key: rec.format, value: .string(url))]))
        var out = [
            webhook(
                "call.recording.saved", id, after: after,
                [
                    "recording_urls": urls, "public_recording_urls": urls, "channels": .string(rec.channels),
                    "recording_started_at": .string(Timestamp.iso(rec.startedMs)), "recording_ended_at": .string(Timestamp.iso(endedMs)),
                ], clientState: .some(clientState))
        ]
        if rec.transcribe && !fails(.recordingTranscription) {
            out.append(
                webhook(
                    "call.recording.transcription.saved", id, after: after + timing.recordingTranscriptionMs,
                    [
                        "recording_id": .string(rec.id), "recording_transcription_id": .string("\(rec.id)-transcription"), "status": "completed",
                        "transcription_text": .string(script.transcript), "calling_party_type": "pstn",
                    ], clientState: .some(clientState)))
        }
        return out
    }

    /// `record_pause` / `record_resume` (no webhooks, as documented): keys pressed while paused
    /// are not in the file (`Leg.keysRecorded`). The transcript says so.
    mutating func recordPause(_ r: Request, paused: Bool) -> [Emission] {
        guard var leg = legs[r.leg], !leg.recordings.isEmpty else { return [] }
        let only = r.body["recording_id"]?.stringValue
        for i in leg.recordings.indices where only == nil || leg.recordings[i].id == only { leg.recordings[i].paused = paused }
        legs[r.leg] = leg
        return [.note(delayMs: 0, leg: r.leg, kind: "note", text: paused ? "recording paused" : "recording resumed")]
    }

    // MARK: media sessions

    /// Streaming, fork and SIPREC live alike: started (or failed), then stopped by their stop
    /// command or the hang-up; only their webhooks differ.
    enum SessionKind: String, Sendable {
        case streaming, fork, siprec

        var startedEvent: String { ["streaming": "streaming.started", "fork": "call.fork.started", "siprec": "siprec.started"][rawValue]! }
        var stoppedEvent: String { ["streaming": "streaming.stopped", "fork": "call.fork.stopped", "siprec": "siprec.stopped"][rawValue]! }
        /// The failed event and the scripted failure that sends it (forking has no failed event).
        var failure: (event: String, when: CallerScript.Failure)? {
            switch self {
            case .streaming: return ("streaming.failed", .streaming)
            case .siprec: return ("siprec.failed", .siprec)
            case .fork: return nil
            }
        }
    }

    struct MediaSession: Sendable, Equatable {
        var kind: SessionKind
        var id: String
        /// What started and stopped echo (`stream_url`, `stream_type`).
        var fields: JSONObject
        var clientState: String?
        var stoppedFields: JSONObject { kind == .siprec ? fields.merging(["hangup_cause": "normal_clearing"]) : fields }
    }

    mutating func startSession(_ kind: SessionKind, _ r: Request, fields: JSONObject, failed: JSONObject, after: Int = 0) -> [Emission] {
        let delay = after + timing.mediaStartMs
        if let failure = kind.failure, fails(failure.when) { return [webhook(failure.event, r.leg, after: delay, failed)] }
        let session = MediaSession(kind: kind, id: nextID(kind.rawValue), fields: fields, clientState: r.clientState)
        legs[r.leg]?.sessions.append(session)
        return [webhook(kind.startedEvent, r.leg, after: delay, fields)]
    }

    /// A stop command: the sessions of that kind (or the one named) stop, each with its webhook.
    mutating func stopSessions(_ r: Request, _ kind: SessionKind, only: String?) -> [Emission] {
        guard let all = legs[r.leg]?.sessions else { return [] }
        let stopped = all.filter { $0.kind == kind && (only == nil || $0.id == only) }
        legs[r.leg]?.sessions.removeAll { s in stopped.contains { $0.id == s.id } }
        return stopped.map { webhook(kind.stoppedEvent, r.leg, after: 20, $0.stoppedFields) }
    }

    mutating func streamingStart(_ r: Request) -> [Emission] {
        startStream(
            r, url: r.body["stream_url"]?.stringValue ?? "", track: r.body["stream_track"]?.stringValue,
            dialogflow: r.body["enable_dialogflow"]?.boolValue ?? false)
    }

    /// `streaming.started` carries only `stream_url` (its schema has no `stream_id`);
    /// `streaming.failed` names the stream, its type and its parameters.
    mutating func startStream(_ r: Request, url: String, track: String?, dialogflow: Bool, after: Int = 0) -> [Emission] {
        startSession(
            .streaming, r, fields: ["stream_url": .string(url)],
            failed: [
                "failure_reason": "connection_failed", "stream_id": .string(nextID("stream")), "stream_type": dialogflow ? "dialogflow" : "websocket",
                "stream_params": ["stream_url": .string(url), "track": .string(track ?? "inbound_track")],
            ], after: after)
    }

    mutating func forkStart(_ r: Request) -> [Emission] {
        startSession(.fork, r, fields: ["stream_type": .string(r.body["stream_type"]?.stringValue ?? "decrypted")], failed: [:])
    }

    mutating func siprecStart(_ r: Request) -> [Emission] {
        startSession(.siprec, r, fields: [:], failed: ["failure_cause": "no_answer"])
    }

    // MARK: AI conversations

    /// `ai_assistant_start`: `call.conversation.created`, then after the script's `ai.after_ms`
    /// `call.conversation_insights.generated` and `call.conversation.ended`. Failures:
    /// `ai_start` (`call.conversation.start_failed`, no conversation), `ai_early` (ends after
    /// 2 s, reason `error`, no insights), `ai_never` (only a stop or the hang-up ends it). A
    /// start while a conversation runs changes nothing.
    mutating func aiAssistantStart(_ r: inout Request) -> [Emission] {
        if let running = legs[r.leg]?.conversation { r.reply["conversation_id"] = .string(running.id) }
        guard legs[r.leg]?.conversation == nil else { return [] }
        let assistant = r.body["assistant"]?["id"]?.stringValue ?? "assistant-emulator"
        if fails(.aiStart) {
            return [
                webhook(
                    "call.conversation.start_failed", r.leg, after: 500,
                    [
                        "assistant_id": .string(assistant), "reason": "service_error",
                        "calling_party_type": "pstn",
                    ])
            ]
        }
        let c = Conversation(id: nextID("conversation"), assistantID: assistant, startedMs: nowMs, clientState: r.clientState, relay: false)
        legs[r.leg]?.conversation = c
        r.reply["conversation_id"] = .string(c.id)
        var out = [webhook("call.conversation.created", r.leg, after: 300, ["conversation_id": .string(c.id), "calling_party_type": "pstn"])]
        if !fails(.aiNever) {
            out.append(arm(r.leg, after: fails(.aiEarly) ? min(2000, script.ai.afterMs) : script.ai.afterMs, .conversationEnds(id: c.id)))
        }
        return out
    }

    /// `conversation_relay_start`: a session driven by the customer's WebSocket, which the
    /// emulator does not have, so it ends only by `conversation_relay_stop` or the hang-up
    /// (`call.conversation.ended`, the one webhook its docs name).
    mutating func conversationRelayStart(_ r: inout Request) -> [Emission] {
        if legs[r.leg]?.conversation == nil {
            let c = Conversation(
                id: nextID("conversation"), assistantID: "conversation-relay", startedMs: nowMs, clientState: r.clientState, relay: true)
            legs[r.leg]?.conversation = c
        }
        if let c = legs[r.leg]?.conversation { r.reply["conversation_relay_id"] = .string(c.id) }
        return []
    }

    mutating func conversationEndsByItself(_ id: String, _ conversation: String) -> [Emission] {
        guard let c = legs[id]?.conversation, c.id == conversation else { return [] }
        let early = fails(.aiEarly)
        return endConversation(id, c, reason: early ? "error" : script.ai.reason, insights: !early, clientState: c.clientState, after: 0)
    }

    /// `ai_assistant_stop` / `conversation_relay_stop`: reason `stopped` (the schema leaves
    /// `reason` free; Telnyx documents only `customer_disconnect`, for a relay's WebSocket).
    mutating func conversationStop(_ r: Request, relay: Bool) -> [Emission] {
        guard let c = legs[r.leg]?.conversation, c.relay == relay else { return [] }
        return endConversation(r.leg, c, reason: "stopped", insights: !relay, clientState: r.clientState, after: 100)
    }

    /// The insights (the script's summary, and its `fields` as an object result) and then
    /// `call.conversation.ended`.
    mutating func endConversation(
        _ id: String, _ c: Conversation, reason: String, insights: Bool, clientState: String?, after: Int,
        gap: Int = 10
    ) -> [Emission] {
        legs[id]?.conversation = nil
        var out: [Emission] = []
        if insights {
            var results: [JSONValue] = [["insight_id": "summary", "result": .string(script.ai.summary)]]
            if !script.ai.fields.isEmpty { results.append(["insight_id": "fields", "result": .object(script.ai.fields)]) }
            out.append(
                webhook(
                    "call.conversation_insights.generated", id, after: after,
                    [
                        "insight_group_id": .string("\(c.id)-insights"), "results": .array(results), "calling_party_type": "pstn",
                    ], clientState: .some(clientState)))
        }
        out.append(
            webhook(
                "call.conversation.ended", id, after: after + gap,
                [
                    "conversation_id": .string(c.id), "assistant_id": .string(c.assistantID), "reason": .string(reason),
                    "duration_sec": .int(Int((nowMs + Int64(after) - c.startedMs) / 1000)), "calling_party_type": "pstn",
                ], clientState: .some(clientState)))
        return out
    }

    /// `ai_assistant_join`: 200 with the conversation's id (Telnyx documents no webhook for it,
    /// nor what it does with an id it does not know, so any id is taken).
    mutating func aiAssistantJoin(_ r: inout Request) -> [Emission] {
        r.reply["conversation_id"] = r.body["conversation_id"] ?? .null
        return []
    }

    // MARK: refer

    /// `refer`: `call.refer.started` (NOTIFY 100), then when the target answers
    /// `call.refer.completed` (200) and Telnyx hangs the call up, or with the `refer` failure
    /// `call.refer.failed` (603) and the call goes on.
    mutating func refer(_ r: Request) -> [Emission] {
        [
            webhook("call.refer.started", r.leg, after: 100, ["sip_notify_response": 100]),
            arm(r.leg, after: timing.ringMs, .referAnswered(clientState: r.clientState)),
        ]
    }

    mutating func referAnswered(_ id: String, clientState: String?) -> [Emission] {
        if fails(.refer) { return [webhook("call.refer.failed", id, after: 0, ["sip_notify_response": 603], clientState: .some(clientState))] }
        return [webhook("call.refer.completed", id, after: 0, ["sip_notify_response": 200], clientState: .some(clientState))]
            + terminate(id, cause: "normal_clearing", source: "callee", after: 50)
    }

    // MARK: queues

    /// `enqueue`: `call.enqueued` with the call's place in line and the average wait of the calls
    /// that left the queue so far; after `max_wait_time_secs` it leaves it (`call.dequeued`
    /// reason `timeout`). A call already queued stays where it is.
    mutating func enqueue(_ r: Request) throws -> [Emission] {
        guard legs[r.leg]?.queue == nil else { return [] }
        let name = r.body["queue_name"]?.stringValue ?? ""
        if let max = r.body["max_size"]?.intValue, (queues[name]?.count ?? 0) >= max {
            // Telnyx documents no error code for a full queue; the detail says what happened.
            throw Refusal(code: "422", title: "Queue is full", detail: "queue \(name) is full (max_size \(max))")
        }
        queues[name, default: []].append(r.leg)
        legs[r.leg]?.queue = Queued(name: name, sinceMs: nowMs, clientState: r.clientState)
        let waits = queueWaits[name] ?? []
        var out = [
            webhook(
                "call.enqueued", r.leg, after: 20,
                [
                    "queue": .string(name), "current_position": .int(queues[name]!.count),
                    "queue_avg_wait_time_secs": .int(waits.isEmpty ? 0 : waits.reduce(0, +) / waits.count),
                ])
        ]
        if let max = r.body["max_wait_time_secs"]?.intValue, max > 0 { out.append(arm(r.leg, after: max * 1000, .queueTimeout(sinceMs: nowMs))) }
        return out
    }

    /// The call leaves its queue: `call.dequeued` with its last place, the wait and why.
    mutating func dequeue(_ id: String, reason: String, clientState: String?, after: Int) -> [Emission] {
        guard let q = legs[id]?.queue else { return [] }
        let position = (queues[q.name]?.firstIndex(of: id) ?? 0) + 1
        queues[q.name]?.removeAll { $0 == id }
        let waited = Int((nowMs - q.sinceMs) / 1000)
        queueWaits[q.name, default: []].append(waited)
        legs[id]?.queue = nil
        return [
            webhook(
                "call.dequeued", id, after: after,
                [
                    "queue": .string(q.name), "queue_position": .int(position), "reason": .string(reason),
                    "wait_time_secs": .int(waited),
                ], clientState: .some(clientState ?? q.clientState))
        ]
    }

    // MARK: pay, suppression

    /// `pay`: the caller enters a card; `call.payment.completed` (`success`, or with the `pay`
    /// failure `too-many-failed-attempts`), with a token for `tokenize` or a charge otherwise.
    mutating func pay(_ r: Request) -> [Emission] {
        let ok = !fails(.pay)
        let ref = nextID("payment")
        var fields: JSONObject = [
            "result": ok ? "success" : "too-many-failed-attempts",
            "payment_method": .string(r.body["payment_method"]?.stringValue ?? "credit-card"),
        ]
        if ok {
            fields = fields.merging(["payment_card_type": "visa", "payment_card_number": "************1111", "expiration_date": "1230"])
            if r.body["transaction_type"]?.stringValue == "tokenize" {
                fields["token_id"] = .string(ref)
            } else {
                fields = fields.merging(["charge_id": .string(ref), "payment_confirmation_code": .string(ref.uppercased())])
            }
        }
        return [arm(r.leg, after: timing.paymentMs, .payment(fields, clientState: r.clientState))]
    }

    mutating func suppress(_ r: Request, _ on: Bool) -> [Emission] {
        legs[r.leg]?.suppressed = on
        return []
    }
}
