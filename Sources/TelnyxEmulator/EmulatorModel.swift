import CallflowCore

/// Telnyx's side of calls, as a value: commands go in, API replies and webhooks (with the
/// delay after which Telnyx would send them) come out. No clock and no I/O, so the same model
/// serves the virtual-time simulation and the real-time loopback emulator.
///
/// What keeps running on a call (a prompt, a gather, a recording, a stream, an AI conversation,
/// a queue) is state of its `Leg`, and whatever ends later does so through the model's own
/// timers (`Emission.timer`, answered by `timeout(_:token:)`): so a `playback_stop`, a
/// `record_stop` or a hang-up can end it early with the webhook Telnyx sends then, and nothing
/// already scheduled contradicts it.
///
/// **client_state.** A webhook carries the client_state of the command that caused it: the
/// command's own, or the leg's latest when the command has none (`client_state_update` changes
/// that). Something that ends by itself or with the call (a prompt, a recording, a stream)
/// carries the state of the command that started it; what the caller does outside any command
/// (hanging up, keys with no gather pending) carries the leg's latest.
///
/// **The caller** (a leg that follows the script: the inbound caller, or the phone an outbound
/// call reaches) answers each gather when its prompt has played (`Emission.needInput`, then the
/// driver calls `scriptedInput`): the next `digits` entry, or, with none left, the next `speech`
/// utterance while transcription is on, or silence. Outside a gather the caller presses the next
/// entry during a prompt that loops (`loop` other than 1, like hold music), since such a prompt
/// never ends to let a gather come. While transcription is on the caller says the next
/// utterance each time a speak or playback they hear ends (and when transcription starts while
/// nothing plays): one utterance per prompt heard.
public struct EmulatorModel: Sendable {
    public struct Leg: Sendable, Equatable {
        public var id: String
        public var from: String
        public var to: String
        public var direction: String
        public var clientState: String?
        public var answered = false
        public var ended = false
        public var bridgedWith: String? = nil
        /// The leg that created this one (transfer/dial target).
        public var parent: String? = nil
        /// Commands already executed: Telnyx ignores a repeated `command_id` on the same call.
        public var executedCommands: Set<String> = []
        /// The leg follows the caller script (the emulated phone), unlike a transfer target.
        public internal(set) var scripted = false
        /// A scripted agent's phone (`CallerScript.agents`): answers screening, hangs up after talking.
        public internal(set) var agent: CallerScript.AgentScript? = nil
        /// A `bridge` on this leg asked `park_after_unbridge: self`: it stays when the other leg hangs up.
        public internal(set) var parkAfterUnbridge = false
        /// Keys pressed while a recording of this leg ran unpaused: they are in the audio file,
        /// which is what a flow taking card numbers must avoid (pause the recording first).
        public internal(set) var keysRecorded = ""
        var gather: PendingGather? = nil
        var prompts: [Prompt] = []
        var recordings: [Recording] = []
        var sessions: [MediaSession] = []
        var transcription: Transcription? = nil
        var conversation: Conversation? = nil
        var queue: Queued? = nil
        var suppressed = false
        /// The next `digits` entry and `speech` utterance of the script this leg takes.
        var inputIndex = 0
        var speechIndex = 0

        /// Real-time transcription is on.
        public var transcribing: Bool { transcription != nil }
        /// A recording is running (paused or not).
        public var recording: Bool { !recordings.isEmpty }
        /// Every running recording is paused (false when none runs).
        public var recordingPaused: Bool { !recordings.isEmpty && recordings.allSatisfy(\.paused) }
    }

    struct PendingGather: Sendable, Equatable {
        var token: Int
        var min: Int
        var max: Int
        var terminator: String?
        var valid: String?
        var timeoutMs: Int
        var interDigitMs: Int
        var triesLeft: Int
        var promptText: String
        var invalidText: String?
        var digits = ""
        var clientState: String? = nil
        /// When the prompt (or its replay) has played; the caller answers from then.
        var promptEndsMs: Int64 = 0
    }

    /// A speak or playback on the leg. Several may overlap, as on Telnyx.
    struct Prompt: Sendable, Equatable {
        enum Kind: Sendable { case speak, playback }
        var token: Int
        var kind: Kind
        /// `media_url`/`media_name` of a playback (its webhooks echo them).
        var media: JSONObject
        /// What `call.playback.ended` says when it plays to the end (`file_not_found` for a missing file).
        var endFields: JSONObject
        var clientState: String?
        /// Its ended webhook went out with the started one (a speak of known length, as the
        /// emulator always did): its timer only tells the caller it ended.
        var endedSent = false
        var endedType: String { kind == .speak ? "call.speak.ended" : "call.playback.ended" }
    }

    struct Recording: Sendable, Equatable {
        var id: String
        var format: String
        var channels: String
        var track: String
        var startedMs: Int64
        var clientState: String?
        var paused = false
        var transcribe: Bool
        /// DTMF is in the file unless only the outbound track is recorded.
        var hearsCaller: Bool { track != "outbound" }
    }

    struct Transcription: Sendable, Equatable {
        var clientState: String?
        /// The inbound track (the caller) is transcribed: `transcription_tracks` is not `outbound`.
        var inbound: Bool
    }

    struct Conversation: Sendable, Equatable {
        var id: String
        var assistantID: String
        var startedMs: Int64
        var clientState: String?
        /// A Conversation Relay session (no created event, no insights, ends only when stopped).
        var relay: Bool
    }

    struct Queued: Sendable, Equatable {
        var name: String
        var sinceMs: Int64
        var clientState: String?
    }

    /// What one of the model's timers does when it fires.
    enum Wake: Sendable, Equatable {
        case promptEnds
        case key(Character)
        case utterance(CallerScript.Utterance)
        case recordingEnds(id: String)
        case conversationEnds(id: String)
        case referAnswered(clientState: String?)
        case queueTimeout(sinceMs: Int64)
        case agentHangsUp
        /// A dialed leg that does not answer ends (busy, or its ring time is up).
        case targetEnds(cause: String)
        /// A dialed leg answers (unless it was hung up while ringing); `bridge`: a transfer target,
        /// bridged with its parent on answer.
        case targetAnswers(bridge: Bool)
        case payment(JSONObject, clientState: String?)
    }

    /// Something the driver must schedule `delayMs` from now.
    public enum Emission: Sendable, Equatable {
        /// Deliver this webhook body (`data` + `meta`) to the server.
        case webhook(delayMs: Int, JSONValue)
        /// The caller may answer now (a gather's prompt has played, or a looping prompt started):
        /// a scripted driver calls `scriptedInput(leg, token:)`, an interactive one asks the person.
        /// `prompt` is what they heard.
        case needInput(delayMs: Int, leg: String, token: Int, prompt: String)
        /// Check whether gather `token` on `leg` timed out (`timeout(leg, token:)`).
        case gatherTimeout(delayMs: Int, leg: String, token: Int)
        /// The model's own clock: call `timeout(leg, token:)` after `delayMs` (a prompt ends, a
        /// key is pressed, a recording stops, an AI conversation ends...).
        case timer(delayMs: Int, leg: String, token: Int)
        /// A transcript line for something no webhook shows: `kind` is `caller` for what the
        /// caller does ("caller presses 1"), `note` for Telnyx's side ("recording paused").
        case note(delayMs: Int, leg: String, kind: String, text: String)
    }

    public enum Reply: Sendable, Equatable {
        case ok(JSONValue)
        case error(status: Int, code: String, title: String, detail: String)

        public var body: JSONValue {
            switch self {
            case .ok(let data): return ["data": data]
            case .error(_, let code, let title, let detail):
                return ["errors": [["code": .string(code), "title": .string(title), "detail": .string(detail)]]]
            }
        }
        public var status: Int {
            if case .error(let s, _, _, _) = self { return s }
            return 200
        }
    }

    public internal(set) var legs: [String: Leg] = [:]
    public var script: CallerScript
    public var timing: EmulatorTiming
    public var deliveredTo: String
    var counter = 0
    var tokens = 0
    var timers: [Int: Wake] = [:]
    /// Queue name → the legs in it, first in line first.
    var queues: [String: [String]] = [:]
    /// Queue name → seconds waited by the calls that left it (for `queue_avg_wait_time_secs`).
    var queueWaits: [String: [Int]] = [:]
    /// Conferences by id (`EmulatorConferences.swift`).
    var conferences: [String: Conference] = [:]
    /// A scripted leg in a conference → the token its next keys answer.
    var conferenceInputs: [String: Int] = [:]
    /// The clock, in Unix milliseconds, used for `occurred_at` (the driver advances it).
    public var nowMs: Int64 = 0

    public init(script: CallerScript, timing: EmulatorTiming = EmulatorTiming(), deliveredTo: String = "http://127.0.0.1/webhooks/telnyx") {
        self.script = script
        self.timing = timing
        self.deliveredTo = deliveredTo
    }

    mutating func nextID(_ prefix: String) -> String {
        counter += 1
        return "\(prefix)-\(counter)"
    }

    mutating func nextToken() -> Int {
        tokens += 1
        return tokens
    }

    /// Arms one of the model's timers.
    mutating func arm(_ leg: String, after ms: Int, _ wake: Wake) -> Emission {
        let token = nextToken()
        timers[token] = wake
        return .timer(delayMs: ms, leg: leg, token: token)
    }

    func fails(_ failure: CallerScript.Failure) -> Bool { script.failures.contains(failure) }

    // MARK: webhooks

    /// Event types whose payload names the call's parties (`from`, `to`); the others do not
    /// carry them (field names as in `shared/telnyx/events`).
    static let eventsWithParties: Set<String> = [
        "call.initiated", "call.answered", "call.hangup", "call.bridged", "call.dtmf.received", "call.gather.ended",
        "call.machine.detection.ended", "call.machine.greeting.ended", "call.machine.premium.detection.ended",
        "call.machine.premium.greeting.ended", "call.ai_gather.ended", "call.conversation.created", "call.conversation.ended",
        "call.conversation.start_failed", "call.refer.started", "call.refer.completed", "call.refer.failed",
        "call.payment.completed", "call.hold", "call.unhold",
    ]

    mutating func webhook(_ type: String, _ legID: String, after delay: Int, _ extra: JSONObject = [:], clientState: String?? = .none) -> Emission {
        let leg = legs[legID]
        var payload: JSONObject = [
            "call_control_id": .string(legID), "call_leg_id": .string("leg-\(legID)"), "call_session_id": .string("session-\(leg?.parent ?? legID)"),
            "connection_id": "emulator-connection",
        ]
        let state: String? = clientState ?? leg?.clientState
        payload["client_state"] = state.map(JSONValue.string) ?? .null
        if Self.eventsWithParties.contains(type) {
            payload["from"] = .string(leg?.from ?? "")
            payload["to"] = .string(leg?.to ?? "")
        }
        for (k, v) in extra.members { payload[k] = v }
        let at = nowMs + Int64(delay)
        let body: JSONValue = [
            "data": [
                "record_type": "event", "event_type": .string(type), "id": .string(nextID("evt")),
                "occurred_at": .string(Timestamp.iso(at)), "payload": .object(payload),
            ],
            "meta": ["attempt": 1, "delivered_to": .string(deliveredTo)],
        ]
        return .webhook(delayMs: delay + timing.webhookLatencyMs, body)
    }

    func speakMs(_ text: String) -> Int { max(timing.speakMinMs, text.count * timing.speakMsPerChar) }

    // MARK: calls starting

    /// A caller dials in: `call.initiated` (parked).
    public mutating func inboundCall(from: String, to: String, id chosen: String? = nil) -> (leg: String, emissions: [Emission]) {
        let id = chosen ?? "v3:emu-" + nextID("call")
        legs[id] = Leg(id: id, from: from, to: to, direction: "incoming", scripted: true)
        var out = [
            webhook(
                "call.initiated", id, after: 0,
                [
                    "direction": "incoming", "state": "parked",
                    "start_time": .string(Timestamp.iso(nowMs)), "caller_id_name": .string(from),
                ])
        ]
        out += scheduledHangup(id)
        return (id, out)
    }

    /// A call we placed (control API dial with AMD) is answered by a person or a machine.
    public mutating func outboundCall(
        from: String, to: String, clientState: String?, id chosen: String? = nil
    )
        -> (leg: String, emissions: [Emission])
    {
        let id = chosen ?? "v3:emu-" + nextID("call")
        legs[id] = Leg(id: id, from: from, to: to, direction: "outgoing", clientState: clientState, answered: true, scripted: true)
        var out = [
            webhook("call.initiated", id, after: 0, ["direction": "outgoing", "state": "bridging"]),
            webhook("call.answered", id, after: timing.ringMs),
        ]
        out += amd(id, after: timing.ringMs)
        out += scheduledHangup(id)
        return (id, out)
    }

    /// The emulated phone is this leg (a call the server dialed reaches it): it follows the script.
    public mutating func followScript(_ id: String) {
        legs[id]?.scripted = true
    }

    mutating func amd(_ id: String, after base: Int) -> [Emission] {
        let result = script.amd
        var out = [webhook("call.machine.detection.ended", id, after: base + timing.amdMs, ["result": .string(result)])]
        if result == "machine" {
            out.append(webhook("call.machine.greeting.ended", id, after: base + timing.amdMs + timing.greetingMs, ["result": "beep_detected"]))
        }
        return out
    }

    mutating func scheduledHangup(_ id: String) -> [Emission] {
        guard let ms = script.hangupAfterMs else { return [] }
        return [.gatherTimeout(delayMs: ms, leg: id, token: -1)]  // token -1: the caller's own hang-up
    }

    // MARK: caller actions

    /// The caller hangs up now.
    public mutating func callerHangsUp(_ id: String) -> [Emission] {
        guard let leg = legs[id], !leg.ended else { return [] }
        var out = terminate(
            id, cause: "normal_clearing", source: "caller", after: 0,
            ["sip_hangup_cause": "200", "start_time": .string(Timestamp.iso(nowMs))])
        if let other = leg.bridgedWith { out += endLeg(other, cause: "normal_clearing", source: "callee", after: 10) }
        return out
    }

    /// A scripted agent hangs up after talking: the other leg of its bridge stays when it was
    /// bridged with `park_after_unbridge: self` (the caller's flow goes on), else it ends too.
    mutating func agentHangsUp(_ id: String) -> [Emission] {
        guard let leg = legs[id], !leg.ended else { return [] }
        var out = terminate(id, cause: "normal_clearing", source: "caller", after: 0)
        if let other = leg.bridgedWith, var o = legs[other] {
            if o.parkAfterUnbridge {
                o.bridgedWith = nil
                o.parkAfterUnbridge = false
                legs[other] = o
                out.append(.note(delayMs: 0, leg: other, kind: "note", text: "the agent hung up; the caller is parked"))
            } else {
                out += endLeg(other, cause: "normal_clearing", source: "callee", after: 10)
            }
        }
        return out
    }

    /// A key press (DTMF) from the caller: `call.dtmf.received`, and the pending gather's digit.
    public mutating func key(_ id: String, _ digit: Character) -> [Emission] {
        guard var leg = legs[id], !leg.ended else { return [] }
        if leg.recordings.contains(where: { !$0.paused && $0.hearsCaller }) { leg.keysRecorded.append(digit) }
        var out = [
            webhook(
                "call.dtmf.received", id, after: 0, ["digit": .string(String(digit))], clientState: .some(leg.gather?.clientState ?? leg.clientState))
        ]
        guard var g = leg.gather else {
            legs[id] = leg
            return out
        }
        if let t = g.terminator, String(digit) == t {
            leg.gather = g
            legs[id] = leg
            return out + finishGather(id, timedOut: false)
        }
        g.digits.append(digit)
        leg.gather = g
        legs[id] = leg
        if g.digits.count >= g.max { return out + finishGather(id, timedOut: false) }
        out.append(.gatherTimeout(delayMs: g.interDigitMs, leg: id, token: g.token))
        return out
    }

    /// A timer ran out: the caller's scheduled hang-up (token -1), one of the model's own timers
    /// (`Emission.timer`), or a gather's timeout.
    public mutating func timeout(_ id: String, token: Int) -> [Emission] {
        if token == -1 { return callerHangsUp(id) }
        if let wake = timers.removeValue(forKey: token) {
            guard legs[id]?.ended == false else { return [] }
            return fire(wake, on: id, token: token)
        }
        guard let g = legs[id]?.gather, g.token == token else { return [] }
        return finishGather(id, timedOut: true)
    }

    mutating func fire(_ wake: Wake, on id: String, token: Int) -> [Emission] {
        switch wake {
        case .promptEnds: return promptEnded(id, token: token)
        case .key(let digit): return key(id, digit)
        case .utterance(let u): return transcribed(id, u)
        case .recordingEnds(let rec): return stopRecordings(id, only: rec, clientState: nil)
        case .conversationEnds(let conversation): return conversationEndsByItself(id, conversation)
        case .referAnswered(let state): return referAnswered(id, clientState: state)
        case .queueTimeout(let since):
            guard legs[id]?.queue?.sinceMs == since else { return [] }
            return dequeue(id, reason: "timeout", clientState: nil, after: 0)
        case .payment(let fields, let state): return [webhook("call.payment.completed", id, after: 0, fields, clientState: .some(state))]
        case .agentHangsUp: return agentHangsUp(id)
        case .targetEnds(let cause): return terminate(id, cause: cause, source: "callee", after: 0)
        case .targetAnswers(let bridge): return targetAnswers(id, bridge: bridge)
        }
    }

    mutating func finishGather(_ id: String, timedOut: Bool) -> [Emission] {
        guard var leg = legs[id], var g = leg.gather else { return [] }
        let digits = g.digits
        let status: String
        if digits.isEmpty {
            status = "timeout"
        } else if digits.count >= g.min && digits.count <= g.max && digits.allSatisfy({ g.valid?.contains($0) ?? true }) {
            status = "valid"
        } else {
            status = "invalid"
        }
        if status != "valid" && g.triesLeft > 1 {
            // Telnyx replays the prompt (after invalid_payload) and listens again.
            g.triesLeft -= 1
            g.digits = ""
            g.token = nextToken()
            let replay = (status == "invalid" ? (g.invalidText.map { $0 + " " } ?? "") : "") + g.promptText
            g.promptEndsMs = nowMs + Int64(speakMs(replay))
            leg.gather = g
            legs[id] = leg
            return [
                .needInput(delayMs: speakMs(replay), leg: id, token: g.token, prompt: replay),
                .gatherTimeout(delayMs: speakMs(replay) + g.timeoutMs, leg: id, token: g.token),
            ]
        }
        leg.gather = nil
        legs[id] = leg
        _ = timedOut
        return [
            webhook("call.gather.ended", id, after: 0, ["digits": .string(digits), "status": .string(status)], clientState: .some(g.clientState))
        ]
    }

    mutating func endLeg(_ id: String, cause: String, source: String, after: Int) -> [Emission] {
        terminate(id, cause: cause, source: source, after: after)
    }

    /// The leg hangs up: whatever runs on it stops with the webhook Telnyx sends for it (a gather
    /// or prompt `call_hangup`, streams and forks stopped, the conversation ended, the queue left),
    /// then `call.hangup`, then each recording is saved (Telnyx stores it after the call).
    mutating func terminate(_ id: String, cause: String, source: String, after: Int, _ extra: JSONObject = [:]) -> [Emission] {
        guard var leg = legs[id], !leg.ended else { return [] }
        var out: [Emission] = []
        if let g = leg.gather {
            out.append(webhook("call.gather.ended", id, after: after, ["digits": "", "status": "call_hangup"], clientState: .some(g.clientState)))
        }
        for p in leg.prompts where !p.endedSent {
            out.append(webhook(p.endedType, id, after: after, p.media.merging(["status": "call_hangup"]), clientState: .some(p.clientState)))
        }
        for s in leg.sessions {
            out.append(webhook(s.kind.stoppedEvent, id, after: after, s.stoppedFields, clientState: .some(s.clientState)))
        }
        if let c = leg.conversation {
            out += endConversation(id, c, reason: "hangup", insights: !c.relay, clientState: c.clientState, after: after, gap: 2)
        }
        if leg.queue != nil { out += dequeue(id, reason: "hangup", clientState: leg.queue?.clientState, after: after) }
        leg = legs[id] ?? leg
        let recordings = leg.recordings
        leg.ended = true
        leg.gather = nil
        leg.prompts = []
        leg.sessions = []
        leg.transcription = nil
        leg.conversation = nil
        leg.queue = nil
        leg.recordings = []
        legs[id] = leg
        let hangup: JSONObject = ["hangup_cause": .string(cause), "hangup_source": .string(source)]
        out.append(webhook("call.hangup", id, after: after + 5, hangup.merging(extra)))
        // The participant leaves because the call ended: after its hang-up.
        out += leaveConferences(id, after: after + 8)
        for r in recordings {
            out += saveRecording(id, r, endedMs: nowMs + Int64(after), after: after + 5 + timing.recordingSaveMs, clientState: r.clientState)
        }
        return out
    }
}

extension JSONObject {
    /// This object with `other`'s members added (replacing same-named ones).
    func merging(_ other: JSONObject) -> JSONObject {
        var out = self
        for (k, v) in other.members { out[k] = v }
        return out
    }
}

/// ISO-8601 UTC timestamps as Telnyx writes them (`2026-11-23T16:00:00.000000Z`).
public enum Timestamp {
    public static func iso(_ ms: Int64) -> String {
        let seconds = ms >= 0 ? ms / 1000 : (ms - 999) / 1000
        let local = TimeZoneRules.utc.local(seconds)
        let secondOfDay = Int(seconds - (seconds >= 0 ? seconds / 86_400 : (seconds - 86_399) / 86_400) * 86_400)
        let h = secondOfDay / 3600, m = secondOfDay / 60 % 60, s = secondOfDay % 60
        let micros = Int(ms - seconds * 1000) * 1000
        func two(_ v: Int) -> String { v < 10 ? "0\(v)" : "\(v)" }
        let frac = String(micros)
        return "\(local.date)T\(two(h)):\(two(m)):\(two(s)).\(String(repeating: "0", count: 6 - frac.count))\(frac)Z"
    }
}
