import CallflowCore

/// What the emulated caller (and the parties around the call) will do.
public struct CallerScript: Sendable, Equatable {
    /// One entry per gather, in order: the keys pressed (`"1"`, `"1234#"`), or `""` for silence
    /// (the gather times out). When the list runs out the caller stays silent. An entry is also
    /// taken, outside any gather, by a prompt that loops (hold music): see `EmulatorModel`.
    public var inputs: [String] = []
    /// Answering machine detection result for outbound calls: `human`, `machine`, `not_sure`.
    public var amd: String = "human"
    /// What a transfer or dial target does: `answer`, `busy` or `no_answer`.
    public var target: String = "answer"
    /// Agents by address (a `ring_group`'s numbers): what each does when dialed. An address not
    /// listed does what `target` says, presses nothing and never hangs up by itself.
    public var agents: [String: AgentScript] = [:]
    /// How long the caller talks when recorded (the silence timeout counts from its end).
    public var recordingSeconds: Int = 4
    /// What `gather_using_ai` collects (valid), or `nil` for an invalid result.
    public var aiResult: JSONValue? = ["name": "Ann"]
    /// The caller hangs up as soon as the flow enters this node (`flow/node` or `node`).
    public var hangupAfterNode: String? = nil
    /// The caller hangs up this long after the call starts.
    public var hangupAfterMs: Int? = nil
    /// What the caller says, one utterance per prompt heard, while real-time transcription is on.
    public var speech: [Utterance] = []
    /// The text of a recording's transcription (`record_start` with `transcription: true`).
    public var transcript: String = "Hello, please call me back."
    /// How an AI assistant conversation (`ai_assistant_start`) goes.
    public var ai = AIConversation()
    /// Things Telnyx does wrong on this call, on purpose.
    public var failures: Set<Failure> = []

    public init() {}

    /// What one agent does when rung.
    public struct AgentScript: Sendable, Equatable {
        /// `answer`, `busy` or `no_answer`.
        public var does: String = "answer"
        /// How long the phone rings before the agent answers; `nil`: the network's ring time.
        public var answerAfterMs: Int? = nil
        /// The keys the agent presses at a screening prompt (`""`: silence).
        public var keys: String = "1"
        /// How long the agent talks once bridged, then hangs up; `nil`: until the caller does.
        public var talkMs: Int? = 20_000
        public init(does: String = "answer") { self.does = does }
    }

    /// One thing the caller says.
    public struct Utterance: Sendable, Equatable {
        public var text: String
        /// The recognizer's confidence, 0...1.
        public var confidence: Double
        public init(_ text: String, confidence: Double = 0.92) {
            self.text = text
            self.confidence = confidence
        }
    }

    /// How an AI assistant conversation ends on its own (unless a failure says otherwise).
    public struct AIConversation: Sendable, Equatable {
        /// The insight `summary` of `call.conversation_insights.generated`.
        public var summary = "The caller asked to be called back."
        /// `call.conversation.ended` `reason`.
        public var reason = "completed"
        /// How long the conversation lasts.
        public var afterMs = 10_000
        /// Structured results: the insight `fields`, an object result beside the summary.
        public var fields: JSONObject = [:]
        public init() {}
    }

    /// A Telnyx-side failure a scenario asks for (`caller.fail`). Each one names the only way the
    /// documented webhooks let that feature fail, so a flow's failure branch can be reached.
    public enum Failure: String, Sendable, CaseIterable {
        /// `streaming_start` → `streaming.failed` instead of `streaming.started`.
        case streaming
        /// `record_start` → `call.recording.error` instead of `call.recording.saved`.
        case recording
        /// `record_start` with `transcription: true` → `call.recording.transcription.saved` never arrives.
        case recordingTranscription = "recording_transcription"
        /// `ai_assistant_start` → `call.conversation.start_failed`.
        case aiStart = "ai_start"
        /// The conversation ends early, `reason` `error`, with no insights.
        case aiEarly = "ai_early"
        /// The conversation never ends by itself (only `ai_assistant_stop` or the hang-up end it).
        case aiNever = "ai_never"
        /// `refer` → `call.refer.failed` (SIP NOTIFY 603) and the call stays.
        case refer
        /// `siprec_start` → `siprec.failed` instead of `siprec.started`.
        case siprec
        /// `pay` → `call.payment.completed` with `result` `too-many-failed-attempts`.
        case pay
    }
}

/// How long things take on the emulated phone network, in milliseconds.
public struct EmulatorTiming: Sendable, Equatable {
    public var answerMs = 60
    public var speakMsPerChar = 55
    public var speakMinMs = 500
    public var playbackMs = 2500
    public var thinkMs = 800
    public var keyIntervalMs = 150
    public var ringMs = 2500
    public var amdMs = 2200
    public var greetingMs = 3000
    public var webhookLatencyMs = 15
    /// From a streaming, fork or SIPREC start to its `started` (or `failed`) webhook.
    public var mediaStartMs = 200
    /// From the end of a recording to `call.recording.saved` (the file is stored).
    public var recordingSaveMs = 200
    /// From `call.recording.saved` to `call.recording.transcription.saved`.
    public var recordingTranscriptionMs = 2000
    /// How long the caller takes to enter card details for `pay`.
    public var paymentMs = 15_000

    public init() {}

    /// The same timing `factor` times faster (end-to-end tests run at 1/50 speed... of waiting).
    public func scaled(_ factor: Double) -> EmulatorTiming {
        func s(_ v: Int) -> Int { max(1, Int(Double(v) * factor)) }
        var t = self
        t.answerMs = s(answerMs); t.speakMsPerChar = max(0, Int(Double(speakMsPerChar) * factor)); t.speakMinMs = s(speakMinMs)
        t.playbackMs = s(playbackMs); t.thinkMs = s(thinkMs); t.keyIntervalMs = s(keyIntervalMs); t.ringMs = s(ringMs)
        t.amdMs = s(amdMs); t.greetingMs = s(greetingMs); t.webhookLatencyMs = s(webhookLatencyMs)
        t.mediaStartMs = s(mediaStartMs); t.recordingSaveMs = s(recordingSaveMs)
        t.recordingTranscriptionMs = s(recordingTranscriptionMs); t.paymentMs = s(paymentMs)
        return t
    }
}
