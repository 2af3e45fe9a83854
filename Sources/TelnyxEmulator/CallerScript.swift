import CallflowCore

/// What the emulated caller (and the parties around the call) will do.
public struct CallerScript: Sendable, Equatable {
    /// One entry per gather, in order: the keys pressed (`"1"`, `"1234#"`), or `""` for silence
    /// (the gather times out). When the list runs out the caller stays silent.
    public var inputs: [String] = []
    /// Answering machine detection result for outbound calls: `human`, `machine`, `not_sure`.
    public var amd: String = "human"
    /// What a transfer or dial target does: `answer`, `busy` or `no_answer`.
    public var target: String = "answer"
    /// Length of the message the caller leaves when recorded.
    public var recordingSeconds: Int = 4
    /// What `gather_using_ai` collects (valid), or `nil` for an invalid result.
    public var aiResult: JSONValue? = ["name": "Ann"]
    /// The caller hangs up as soon as the flow enters this node (`flow/node` or `node`).
    public var hangupAfterNode: String? = nil
    /// The caller hangs up this long after the call starts.
    public var hangupAfterMs: Int? = nil

    public init() {}
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

    public init() {}

    /// The same timing `factor` times faster (end-to-end tests run at 1/50 speed... of waiting).
    public func scaled(_ factor: Double) -> EmulatorTiming {
        func s(_ v: Int) -> Int { max(1, Int(Double(v) * factor)) }
        var t = self
        t.answerMs = s(answerMs); t.speakMsPerChar = max(0, Int(Double(speakMsPerChar) * factor)); t.speakMinMs = s(speakMinMs)
        t.playbackMs = s(playbackMs); t.thinkMs = s(thinkMs); t.keyIntervalMs = s(keyIntervalMs); t.ringMs = s(ringMs)
        t.amdMs = s(amdMs); t.greetingMs = s(greetingMs); t.webhookLatencyMs = s(webhookLatencyMs)
        return t
    }
}
