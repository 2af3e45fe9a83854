/// Recording locations from `call.recording.saved`.
public struct RecordingURLs: Sendable, Equatable, Hashable {
    public var mp3: String?
    public var wav: String?
    public init(mp3: String? = nil, wav: String? = nil) {
        self.mp3 = mp3
        self.wav = wav
    }
    /// The first URL present, mp3 preferred.
    public var preferred: String? { mp3 ?? wav }
}

/// `call.recording.saved`.
public struct RecordingSaved: Sendable, Equatable, Hashable {
    public var recordingURLs: RecordingURLs
    public var publicRecordingURLs: RecordingURLs
    public var channels: String?
    public var startedAt: String?
    public var endedAt: String?

    public init(recordingURLs: RecordingURLs = RecordingURLs(), publicRecordingURLs: RecordingURLs = RecordingURLs(), channels: String? = nil, startedAt: String? = nil, endedAt: String? = nil) {
        self.recordingURLs = recordingURLs
        self.publicRecordingURLs = publicRecordingURLs
        self.channels = channels
        self.startedAt = startedAt
        self.endedAt = endedAt
    }
}

/// `call.recording.transcription.saved`.
public struct RecordingTranscription: Sendable, Equatable, Hashable {
    public var recordingID: String?
    public var transcriptionID: String?
    public var status: String?
    public var text: String?

    public init(recordingID: String? = nil, transcriptionID: String? = nil, status: String? = nil, text: String? = nil) {
        self.recordingID = recordingID
        self.transcriptionID = transcriptionID
        self.status = status
        self.text = text
    }
}

/// One turn of an AI conversation (`message_history` of the ai_gather events).
public struct AIMessage: Sendable, Equatable, Hashable {
    public var role: String?
    public var content: String?

    public init(role: String? = nil, content: String? = nil) {
        self.role = role
        self.content = content
    }
}

/// `call.conversation.ended`.
public struct ConversationEnded: Sendable, Equatable, Hashable {
    public var conversationID: String?
    public var assistantID: String?
    public var reason: String?
    public var durationSeconds: Int?

    public init(conversationID: String? = nil, assistantID: String? = nil, reason: String? = nil, durationSeconds: Int? = nil) {
        self.conversationID = conversationID
        self.assistantID = assistantID
        self.reason = reason
        self.durationSeconds = durationSeconds
    }
}

/// `call.transcription` (real-time transcription).
public struct TranscriptionData: Sendable, Equatable, Hashable {
    public var transcript: String?
    public var isFinal: Bool?
    public var confidence: Double?

    public init(transcript: String? = nil, isFinal: Bool? = nil, confidence: Double? = nil) {
        self.transcript = transcript
        self.isFinal = isFinal
        self.confidence = confidence
    }
}

/// `call.playback.started` / `call.playback.ended` media.
public struct PlaybackMedia: Sendable, Equatable, Hashable {
    public var mediaURL: String?
    public var mediaName: String?
    public var overlay: Bool?

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
    case callInitiated(direction: CallDirection?, state: String?, callerIDName: String?, startTime: String?)
    case callAnswered(startTime: String?)
    case callHangup(cause: HangupCause?, source: HangupSource?, sipHangupCause: String?)
    case callBridged
    case speakStarted
    case speakEnded(status: SpeakStatus?)
    case playbackStarted(PlaybackMedia)
    case playbackEnded(PlaybackMedia, status: PlaybackStatus?, statusDetail: String?)
    case gatherEnded(digits: String, status: GatherStatus?)
    case dtmfReceived(digit: String)
    case recordingSaved(RecordingSaved)
    case recordingError(reason: String?)
    case recordingTranscriptionSaved(RecordingTranscription)
    case machineDetectionEnded(result: MachineResult?)
    case machineGreetingEnded(result: MachineResult?)
    case machinePremiumDetectionEnded(result: MachineResult?)
    case machinePremiumGreetingEnded(result: MachineResult?)
    case aiGatherEnded(result: JSONValue?, status: AIGatherStatus?, history: [AIMessage])
    case aiGatherPartialResults(partial: JSONValue?, history: [AIMessage])
    case aiGatherMessageHistoryUpdated(history: [AIMessage])
    case conversationEnded(ConversationEnded)
    case forkStarted(streamType: String?)
    case forkStopped(streamType: String?)
    case streamingStarted(url: String?)
    case streamingStopped(url: String?)
    case streamingFailed(reason: String?, streamID: String?, streamType: String?)
    case transcription(TranscriptionData)
    case referStarted(sipNotifyResponse: Int?)
    case referCompleted(sipNotifyResponse: Int?)
    case referFailed(sipNotifyResponse: Int?)
    /// A documented Telnyx event the engine has no typed payload for.
    case other
    /// An event type Callflow does not know.
    case unknown
}
