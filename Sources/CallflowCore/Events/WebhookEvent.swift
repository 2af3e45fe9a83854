/// One decoded Telnyx webhook: the envelope fields, the call leg it concerns and a typed payload.
///
/// Decoding is lenient where real traffic needs it (unknown fields, null optionals, unknown event
/// types, unknown enum values) and strict only where the engine cannot act without a field
/// (`data.event_type`, `data.id`): those are the 400s.
public struct WebhookEvent: Sendable, Equatable {
    /// `data.record_type` (`event`); not checked, since the event type says everything.
    public var recordType: String?
    /// `data.event_type` (`call.gather.ended`, `streaming.started`, ...): never empty.
    public var eventType: String
    /// `data.id`: unique per event, the dedupe key.
    public var id: String
    /// `data.occurred_at` as Telnyx wrote it (ISO 8601); nothing orders by it (events come out of
    /// order, and every input is stepped at the shell's `now`).
    public var occurredAt: String?
    /// `meta.attempt`: 1 on first delivery.
    public var attempt: Int?
    /// `meta.delivered_to`.
    public var deliveredTo: String?
    /// The leg, when the payload names a `call_control_id`.
    public var call: CallLeg?
    /// The typed payload the machine reads.
    public var kind: EventKind
    /// The raw payload, kept for the call trace.
    public var payload: JSONObject

    /// Memberwise; tests and the emulator build events directly (the decoders fill `payload` too).
    public init(
        recordType: String? = "event", eventType: String, id: String, occurredAt: String? = nil,
        attempt: Int? = nil, deliveredTo: String? = nil, call: CallLeg?, kind: EventKind,
        payload: JSONObject = JSONObject()
    ) {
        self.recordType = recordType
        self.eventType = eventType
        self.id = id
        self.occurredAt = occurredAt
        self.attempt = attempt
        self.deliveredTo = deliveredTo
        self.call = call
        self.kind = kind
        self.payload = payload
    }
}

/// Why a webhook body was refused (answered 400: Telnyx does not retry 4xx other than 408/429).
public enum WebhookDecodeError: Error, Sendable, Equatable, CustomStringConvertible {
    /// The body is not JSON.
    case malformedJSON(JSONParseError)
    /// The top level is not an object with a `data` object.
    case missingData
    /// `data.event_type` is missing, empty or not a string.
    case missingEventType
    /// `data.id` is missing, empty or not a string.
    case missingID

    /// The reason, as the 400's body says it.
    public var description: String {
        switch self {
        case .malformedJSON(let e): return "malformed JSON: \(e)"
        case .missingData: return "missing object field data"
        case .missingEventType: return "missing string field data.event_type"
        case .missingID: return "missing string field data.id"
        }
    }
}

extension WebhookEvent {
    /// Every event type `shared/telnyx/events/` documents; those without a typed case decode as `.other`.
    public static let documentedTypes: Set<String> = [
        "call.ai_gather.ended", "call.ai_gather.message_history_updated", "call.ai_gather.partial_results",
        "call.analyzed", "call.answered", "call.bridged", "call.conversation.created",
        "call.conversation.ended", "call.conversation.start_failed", "call.conversation_insights.generated",
        "call.cost", "call.deepfake_detection.error", "call.deepfake_detection.result", "call.dequeued",
        "call.dtmf.received", "call.enqueued", "call.fork.started", "call.fork.stopped", "call.gather.ended",
        "call.hangup", "call.hold", "call.initiated", "call.machine.detection.ended",
        "call.machine.greeting.ended", "call.machine.premium.call_screening.detected",
        "call.machine.premium.detection.ended", "call.machine.premium.detection.started",
        "call.machine.premium.greeting.ended", "call.payment.completed", "call.payment.progress",
        "call.playback.ended", "call.playback.started", "call.recording.error", "call.recording.saved",
        "call.recording.transcription.saved", "call.refer.completed", "call.refer.failed",
        "call.refer.started", "call.speak.ended", "call.speak.started", "call.transcription", "call.unhold",
        "siprec.failed", "siprec.started", "siprec.stopped", "streaming.failed", "streaming.started",
        "streaming.stopped",
    ]

    /// Decodes a webhook body from raw bytes (no intermediate copy).
    public static func decode(_ body: UnsafeRawBufferPointer) throws(WebhookDecodeError) -> WebhookEvent {
        let root: JSONValue
        do { root = try JSONParser.parse(body) } catch { throw .malformedJSON(error) }
        return try decode(root)
    }

    /// Decodes a webhook body held in an array.
    public static func decode(_ body: [UInt8]) throws(WebhookDecodeError) -> WebhookEvent {
        let root: JSONValue
        do { root = try JSONParser.parse(body) } catch { throw .malformedJSON(error) }
        return try decode(root)
    }

    /// Decodes an already parsed body: the envelope, the leg and the typed payload.
    public static func decode(_ root: JSONValue) throws(WebhookDecodeError) -> WebhookEvent {
        guard case .object(let data)? = root["data"] else { throw .missingData }
        guard let eventType = data["event_type"]?.stringValue, !eventType.isEmpty else {
            throw .missingEventType
        }
        guard let id = data["id"]?.stringValue, !id.isEmpty else { throw .missingID }
        let payload = data["payload"]?.objectValue ?? JSONObject()
        let meta = root["meta"]
        return WebhookEvent(
            recordType: data["record_type"]?.stringValue,
            eventType: eventType,
            id: id,
            occurredAt: data["occurred_at"]?.stringValue,
            attempt: meta?["attempt"]?.intValue,
            deliveredTo: meta?["delivered_to"]?.stringValue,
            call: CallLeg(payload: payload),
            kind: EventKind(eventType: eventType, payload: payload),
            payload: payload
        )
    }
}

extension CallLeg {
    init?(payload p: JSONObject) {
        guard let id = p["call_control_id"]?.stringValue, !id.isEmpty else { return nil }
        let state = p["client_state"]?.stringValue
        self.init(
            callControlID: id,
            callLegID: p["call_leg_id"]?.stringValue,
            callSessionID: p["call_session_id"]?.stringValue,
            connectionID: p["connection_id"]?.stringValue,
            clientState: (state?.isEmpty ?? true) ? nil : state,
            from: p["from"]?.stringValue,
            to: p["to"]?.stringValue
        )
    }
}

extension EventKind {
    init(eventType: String, payload p: JSONObject) {
        func s(_ key: String) -> String? { p[key]?.stringValue }
        func open<T: OpenEnum>(_ key: String) -> T? { s(key).map(T.init(rawValue:)) }
        func history() -> [AIMessage] {
            (p["message_history"]?.arrayValue ?? []).map {
                AIMessage(role: $0["role"]?.stringValue, content: $0["content"]?.stringValue)
            }
        }
        func urls(_ key: String) -> RecordingURLs {
            RecordingURLs(mp3: p[key]?["mp3"]?.stringValue, wav: p[key]?["wav"]?.stringValue)
        }
        func media() -> PlaybackMedia {
            PlaybackMedia(mediaURL: s("media_url"), mediaName: s("media_name"), overlay: p["overlay"]?.boolValue)
        }
        func nonNull(_ key: String) -> JSONValue? {
            guard let v = p[key], !v.isNull else { return nil }
            return v
        }

        switch eventType {
        case "call.initiated":
            self = .callInitiated(
                direction: open("direction"), state: s("state"), callerIDName: s("caller_id_name"),
                startTime: s("start_time"))
        case "call.answered": self = .callAnswered(startTime: s("start_time"))
        case "call.hangup":
            self = .callHangup(
                cause: open("hangup_cause"), source: open("hangup_source"),
                sipHangupCause: s("sip_hangup_cause"))
        case "call.bridged": self = .callBridged
        case "call.speak.started": self = .speakStarted
        case "call.speak.ended": self = .speakEnded(status: open("status"))
        case "call.playback.started": self = .playbackStarted(media())
        case "call.playback.ended":
            self = .playbackEnded(media(), status: open("status"), statusDetail: s("status_detail"))
        case "call.gather.ended": self = .gatherEnded(digits: s("digits") ?? "", status: open("status"))
        case "call.dtmf.received": self = .dtmfReceived(digit: s("digit") ?? "")
        case "call.recording.saved":
            self = .recordingSaved(
                RecordingSaved(
                    recordingURLs: urls("recording_urls"), publicRecordingURLs: urls("public_recording_urls"),
                    channels: s("channels"), startedAt: s("recording_started_at"), endedAt: s("recording_ended_at")))
        case "call.recording.error": self = .recordingError(reason: s("reason"))
        case "call.recording.transcription.saved":
            self = .recordingTranscriptionSaved(
                RecordingTranscription(
                    recordingID: s("recording_id"), transcriptionID: s("recording_transcription_id"),
                    status: s("status"), text: s("transcription_text")))
        case "call.machine.detection.ended": self = .machineDetectionEnded(result: open("result"))
        case "call.machine.greeting.ended": self = .machineGreetingEnded(result: open("result"))
        case "call.machine.premium.detection.ended": self = .machinePremiumDetectionEnded(result: open("result"))
        case "call.machine.premium.greeting.ended": self = .machinePremiumGreetingEnded(result: open("result"))
        case "call.ai_gather.ended":
            self = .aiGatherEnded(result: nonNull("result"), status: open("status"), history: history())
        case "call.ai_gather.partial_results":
            self = .aiGatherPartialResults(partial: nonNull("partial_results"), history: history())
        case "call.ai_gather.message_history_updated": self = .aiGatherMessageHistoryUpdated(history: history())
        case "call.conversation.ended":
            self = .conversationEnded(
                ConversationEnded(
                    conversationID: s("conversation_id"), assistantID: s("assistant_id"), reason: s("reason"),
                    durationSeconds: p["duration_sec"]?.intValue))
        case "call.fork.started": self = .forkStarted(streamType: s("stream_type"))
        case "call.fork.stopped": self = .forkStopped(streamType: s("stream_type"))
        case "streaming.started": self = .streamingStarted(url: s("stream_url"))
        case "streaming.stopped": self = .streamingStopped(url: s("stream_url"))
        case "streaming.failed":
            self = .streamingFailed(reason: s("failure_reason"), streamID: s("stream_id"), streamType: s("stream_type"))
        case "call.transcription":
            let data = p["transcription_data"]
            self = .transcription(
                TranscriptionData(
                    transcript: data?["transcript"]?.stringValue, isFinal: data?["is_final"]?.boolValue,
                    confidence: data?["confidence"]?.doubleValue))
        case "call.refer.started": self = .referStarted(sipNotifyResponse: p["sip_notify_response"]?.intValue)
        case "call.refer.completed": self = .referCompleted(sipNotifyResponse: p["sip_notify_response"]?.intValue)
        case "call.refer.failed": self = .referFailed(sipNotifyResponse: p["sip_notify_response"]?.intValue)
        default:
            self = WebhookEvent.documentedTypes.contains(eventType) ? .other : .unknown
        }
    }
}
