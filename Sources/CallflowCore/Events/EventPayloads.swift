/// Recording locations from `call.recording.saved`.
public struct RecordingURLs: Sendable, Equatable, Hashable {
    /// The mp3 file's URL, when the recording was made (or also converted) as mp3.
    public var mp3: String?
    /// The wav file's URL, when the recording was made as wav.
    public var wav: String?
    /// Memberwise.
    public init(mp3: String? = nil, wav: String? = nil) {
        self.mp3 = mp3
        self.wav = wav
    }
    /// The first URL present, mp3 preferred.
    public var preferred: String? { mp3 ?? wav }
}

/// `call.recording.saved`.
public struct RecordingSaved: Sendable, Equatable, Hashable {
    /// `recording_urls`: where Telnyx keeps the files; what a `record` node saves.
    public var recordingURLs: RecordingURLs
    /// `public_recording_urls`, as Telnyx sends them beside `recording_urls`; the engine saves the latter.
    public var publicRecordingURLs: RecordingURLs
    /// `channels`: `single` or `dual`.
    public var channels: String?
    /// `recording_started_at`, as Telnyx wrote it (ISO 8601).
    public var startedAt: String?
    /// `recording_ended_at`, as Telnyx wrote it (ISO 8601).
    public var endedAt: String?

    /// Memberwise, every field optional (real payloads leave any of them out).
    public init(
        recordingURLs: RecordingURLs = RecordingURLs(), publicRecordingURLs: RecordingURLs = RecordingURLs(), channels: String? = nil,
        startedAt: String? = nil, endedAt: String? = nil
    ) {
        self.recordingURLs = recordingURLs
        self.publicRecordingURLs = publicRecordingURLs
        self.channels = channels
        self.startedAt = startedAt
        self.endedAt = endedAt
    }
}

/// `call.recording.transcription.saved`.
public struct RecordingTranscription: Sendable, Equatable, Hashable {
    /// `recording_id`: the recording the transcript belongs to.
    public var recordingID: String?
    /// `recording_transcription_id`.
    public var transcriptionID: String?
    /// `status` as Telnyx sent it (`completed`, ...).
    public var status: String?
    /// `transcription_text`: what a `record` node with `transcribe` saves as `<save_as>_transcript`.
    public var text: String?

    /// Memberwise, every field optional.
    public init(recordingID: String? = nil, transcriptionID: String? = nil, status: String? = nil, text: String? = nil) {
        self.recordingID = recordingID
        self.transcriptionID = transcriptionID
        self.status = status
        self.text = text
    }
}

/// One turn of an AI conversation (`message_history` of the ai_gather events).
public struct AIMessage: Sendable, Equatable, Hashable {
    /// `user` or `assistant` (kept as a string: an open set).
    public var role: String?
    /// What was said.
    public var content: String?

    /// Memberwise.
    public init(role: String? = nil, content: String? = nil) {
        self.role = role
        self.content = content
    }
}

/// `call.conversation.ended`.
public struct ConversationEnded: Sendable, Equatable, Hashable {
    /// `conversation_id`.
    public var conversationID: String?
    /// `assistant_id`: the AI assistant that ran.
    public var assistantID: String?
    /// Why the conversation ended, as Telnyx wrote it.
    public var reason: String?
    /// `duration_sec`.
    public var durationSeconds: Int?

    /// Memberwise, every field optional.
    public init(conversationID: String? = nil, assistantID: String? = nil, reason: String? = nil, durationSeconds: Int? = nil) {
        self.conversationID = conversationID
        self.assistantID = assistantID
        self.reason = reason
        self.durationSeconds = durationSeconds
    }
}

/// `call.transcription` (real-time transcription).
public struct TranscriptionData: Sendable, Equatable, Hashable {
    /// What was heard so far (or in full, when `isFinal`).
    public var transcript: String?
    /// `is_final`: `false` marks an interim guess, which menus ignore (`nil` counts as final).
    public var isFinal: Bool?
    /// 0-1 (`nil`: treated as 1); a menu counts a transcript below `min_confidence` as invalid.
    public var confidence: Double?

    /// Memberwise, every field optional.
    public init(transcript: String? = nil, isFinal: Bool? = nil, confidence: Double? = nil) {
        self.transcript = transcript
        self.isFinal = isFinal
        self.confidence = confidence
    }
}

/// `call.playback.started` / `call.playback.ended` media.
public struct PlaybackMedia: Sendable, Equatable, Hashable {
    /// `media_url`: the audio URL played.
    public var mediaURL: String?
    /// `media_name`: the uploaded media file played.
    public var mediaName: String?
    /// `overlay`, as Telnyx sends it.
    public var overlay: Bool?

    /// Memberwise, every field optional.
    public init(mediaURL: String? = nil, mediaName: String? = nil, overlay: Bool? = nil) {
        self.mediaURL = mediaURL
        self.mediaName = mediaName
        self.overlay = overlay
    }
}

/// What happened, typed per event type. Types Telnyx documents but the engine does not act on
/// (`call.cost`, `siprec.*`, ...) are `.other`; types nobody documented are `.unknown` — both are
/// accepted with 200 so Telnyx does not retry them forever.
public enum EventKind: Sendable, Equatable, Hashable {
    /// `call.initiated`: a new leg; an `incoming` one starts a flow.
    case callInitiated(direction: CallDirection?, state: String?, callerIDName: String?, startTime: String?)
    /// `call.answered`.
    case callAnswered(startTime: String?)
    /// `call.hangup`: ends the flow wherever it is; `on_hangup` runs next.
    case callHangup(cause: HangupCause?, source: HangupSource?, sipHangupCause: String?)
    /// `call.bridged`: the caller is with a transfer or `connect` target.
    case callBridged
    /// `call.speak.started`.
    case speakStarted
    /// `call.speak.ended`.
    case speakEnded(status: SpeakStatus?)
    /// `call.playback.started`: arms a `play` node's barge-in keys.
    case playbackStarted(PlaybackMedia)
    /// `call.playback.ended`.
    case playbackEnded(PlaybackMedia, status: PlaybackStatus?, statusDetail: String?)
    /// `call.gather.ended`: `digits` is `""` when none were pressed (silence).
    case gatherEnded(digits: String, status: GatherStatus?)
    /// `call.dtmf.received`: one key, for barge-in on a `play`.
    case dtmfReceived(digit: String)
    /// `call.recording.saved`.
    case recordingSaved(RecordingSaved)
    /// `call.recording.error`.
    case recordingError(reason: String?)
    /// `call.recording.transcription.saved`.
    case recordingTranscriptionSaved(RecordingTranscription)
    /// `call.machine.detection.ended`.
    case machineDetectionEnded(result: MachineResult?)
    /// `call.machine.greeting.ended`.
    case machineGreetingEnded(result: MachineResult?)
    /// `call.machine.premium.detection.ended`.
    case machinePremiumDetectionEnded(result: MachineResult?)
    /// `call.machine.premium.greeting.ended`.
    case machinePremiumGreetingEnded(result: MachineResult?)
    /// `call.ai_gather.ended`: `result` is `nil` when Telnyx sent none (or `null`).
    case aiGatherEnded(result: JSONValue?, status: AIGatherStatus?, history: [AIMessage])
    /// `call.ai_gather.partial_results`.
    case aiGatherPartialResults(partial: JSONValue?, history: [AIMessage])
    /// `call.ai_gather.message_history_updated`.
    case aiGatherMessageHistoryUpdated(history: [AIMessage])
    /// `call.conversation.ended` (an AI assistant's conversation).
    case conversationEnded(ConversationEnded)
    /// `call.fork.started`.
    case forkStarted(streamType: String?)
    /// `call.fork.stopped`.
    case forkStopped(streamType: String?)
    /// `streaming.started` (no `call.` prefix, as Telnyx names it).
    case streamingStarted(url: String?)
    /// `streaming.stopped`.
    case streamingStopped(url: String?)
    /// `streaming.failed`.
    case streamingFailed(reason: String?, streamID: String?, streamType: String?)
    /// `call.transcription`: real-time transcription, how menus hear speech.
    case transcription(TranscriptionData)
    /// `call.refer.started` (SIP REFER).
    case referStarted(sipNotifyResponse: Int?)
    /// `call.refer.completed`.
    case referCompleted(sipNotifyResponse: Int?)
    /// `call.refer.failed`.
    case referFailed(sipNotifyResponse: Int?)
    /// A documented Telnyx event the engine has no typed payload for.
    case other
    /// An event type Callflow does not know.
    case unknown
}
