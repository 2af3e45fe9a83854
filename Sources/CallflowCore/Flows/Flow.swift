/// A checked, immutable flow: decoded once from `flows/<name>.json`, then shared by every call
/// that runs it. Nothing here can fail at call time that `callflow check` could have caught.
public struct Flow: Sendable, Equatable {
    /// The file name without `.json`: what routes, `flows.default` and `goto` name.
    public var name: String
    /// The file's `description`: a note for people; the engine never reads it.
    public var description: String?
    /// The node a call enters first, and the one a `goto` without `node` enters.
    public var start: String
    /// `defaults`: voice, language and failure edge for nodes that set none of their own.
    public var defaults: Defaults
    /// Initial variables, set when a call starts in this flow (not on a `goto` into it); an outbound
    /// call's `vars` are laid over them.
    public var vars: JSONObject
    /// `on_hangup`: the node run after the caller hangs up, if the call is in this flow then. It may
    /// only use nodes that send no call command (`check` enforces it).
    public var onHangup: String?
    /// Node id → node; ids are unique per file, so a dictionary loses nothing but order (see `order`).
    public var nodes: [String: Node]
    /// Node ids in file order (for stable listings, graphs and coverage).
    public var order: [String]
    /// Edges read from nodes that failed to parse, so `check` still verifies their targets and
    /// reachability. Always empty in a flow that is allowed to run.
    public var brokenEdges: [String: [(pointer: [String], target: String)]] = [:]

    /// Memberwise, with no broken edges: the parser and tests build flows this way.
    public init(
        name: String, description: String?, start: String, defaults: Defaults, vars: JSONObject, onHangup: String?,
        nodes: [String: Node], order: [String]
    ) {
        self.name = name
        self.description = description
        self.start = start
        self.defaults = defaults
        self.vars = vars
        self.onHangup = onHangup
        self.nodes = nodes
        self.order = order
    }

    /// Compares everything but `brokenEdges` (tuples are not `Equatable`, and only `check` reads them).
    public static func == (a: Flow, b: Flow) -> Bool {
        a.name == b.name && a.description == b.description && a.start == b.start && a.defaults == b.defaults
            && a.vars == b.vars && a.onHangup == b.onHangup && a.nodes == b.nodes && a.order == b.order
    }

    /// The flow's `defaults` object.
    public struct Defaults: Sendable, Equatable {
        /// The `speak` voice of prompts that name none (Telnyx's `female`); may be a template.
        public var voice: String = "female"
        /// The `speak` language of prompts that name none; may be a template (a bilingual flow keeps the
        /// caller's choice in a variable).
        public var language: String = "en-US"
        /// Where a node goes when Telnyx refuses its command and the node names no `on_error`
        /// (a flow-wide "sorry, something went wrong"); without it the call hangs up.
        public var onError: String? = nil
        /// `female`, `en-US`, no flow-wide `on_error`.
        public init() {}
    }
}

/// One step of a flow.
public struct Node: Sendable, Equatable {
    /// The key in `nodes`: what edges, traces, coverage and `/v1/calls/{id}` name.
    public var id: String
    /// What the node does, with its own fields and edges.
    public var kind: NodeKind
    /// `on_error` of a node whose kind has no failure edge of its own (`say`, `menu`, `gather`,
    /// `answer`, `record`): where it goes when Telnyx refuses its command for good.
    public var onError: String?
    /// Keys that cut a `say` or `play` short, each to its node (barge-in); empty: none.
    public var keys: [(digit: String, target: String)] = []
    /// `play` only: how often the audio plays (`playback_start`'s `loop`: a count or "infinity").
    public var loop: JSONValue? = nil

    /// A node with no barge-in keys and no `loop` (the parser sets those after).
    public init(id: String, kind: NodeKind, onError: String? = nil) {
        self.id = id
        self.kind = kind
        self.onError = onError
    }

    /// Compares keys by digit and target in order (tuples are not `Equatable`).
    public static func == (a: Node, b: Node) -> Bool {
        a.id == b.id && a.kind == b.kind && a.onError == b.onError && a.loop == b.loop
            && sameKeyTargets(a.keys, b.keys)
    }

    /// Outgoing edges, the kind's, the barge-in keys' and `on_error`: what checks, graphs and coverage read.
    public var edges: [(label: String, target: String)] {
        kind.edges + keys.map { ($0.digit, $0.target) } + (onError.map { [("on_error", $0)] } ?? [])
    }

    /// Whether a refused command leaves the caller hearing nothing (what `check` warns about
    /// when there is no failure edge).
    public var talksToCaller: Bool {
        switch kind {
        case .say, .play, .menu, .gather, .record, .aiGather, .ringGroup, .queue: return true
        case .conference(let c): return c.action == .join
        case .action(let a): return a.type == "ai_assistant" && a.action == "ai_assistant_start"
        default: return false
        }
    }

    /// The node's own failure edge, whichever field holds it.
    public var failureEdge: (label: String, target: String)? {
        if let onError { return ("on_error", onError) }
        switch kind {
        case .play(_, _, let e?), .aiGather(_, _, _, _, _, let e): return ("on_error", e)
        case .transfer(_, _, _, let f), .connect(_, _, _, _, let f): return ("on_failure", f)
        case .action(let a): return a.onError.map { ("on_error", $0) }
        default: return nil
        }
    }
}

/// What to play: text-to-speech, an audio file by URL, or a media file uploaded to Telnyx.
public enum Prompt: Sendable, Equatable {
    /// Text-to-speech (`speak`, or `gather_using_speak` in a menu): `voice` and `language` fall back
    /// to the flow's defaults; `ssml` sends the text as `payload_type: ssml`.
    case say(Template, voice: String?, language: String?, ssml: Bool)
    /// An audio file by URL (`playback_start` `audio_url`, or `gather_using_audio`).
    case play(Template)
    /// A media file uploaded to Telnyx, by name (`media_name`), so no public URL is needed.
    case media(Template)
}

/// Where to go on a condition (`if` node).
public struct Condition: Sendable, Equatable {
    /// The comparison of an `if` condition.
    public enum Op: String, Sendable, CaseIterable {
        /// `eq` ... `ge` compare as numbers when both sides read as numbers, else as text; `contains` is a
        /// substring test, `matches` a regular expression found anywhere, `empty` whether the value
        /// renders empty (`to: false`: not empty).
        case eq, ne, lt, le, gt, ge, contains, matches, empty
        /// The words of `to` (or of any phrase in a list) appear in the value, ignoring case and
        /// punctuation: for routing on what a caller said.
        case says
    }
    /// The left side, rendered per call (`{{vars.crm.tier}}`).
    public var value: Template
    /// How the sides are compared.
    public var op: Op
    /// The right side: a string is rendered as a template, other JSON compares as its text, a list
    /// (for `says`) holds phrases; absent for `empty`.
    public var to: JSONValue?
    /// Where the call goes when this is the first condition that holds.
    public var next: String
}

/// Opening hours of an `hours` node: weekday (0 = Sunday) → minute ranges.
public struct OpeningHours: Sendable, Equatable {
    /// The IANA zone as written (`America/Chicago`), for traces.
    public var timezone: String
    /// The zone's offsets, resolved at load time so the machine reads no tzdata.
    public var rules: TimeZoneRules
    /// Open minutes of the local day (0-1439) per weekday; a weekday with no entry is closed.
    public var ranges: [Int: [ClosedRange<Int>]]
    /// Local dates (`YYYY-MM-DD`) that are closed whatever `ranges` say (holidays).
    public var closedDates: Set<String>
}

/// A `menu` node: one key per choice, with re-prompts and attempts counted by Callflow itself
/// (Telnyx is asked for one try, so the right re-prompt plays before each retry).
public struct MenuSpec: Sendable, Equatable {
    /// What plays while the menu listens (`gather_using_speak` or `gather_using_audio`).
    public var prompt: Prompt
    /// Key → target in file order; the keys are also the gather's `valid_digits`.
    public var choices: [(digit: String, target: String)]
    /// Silence before an attempt counts as no input, 500-120000 ms (5000).
    public var timeoutMs: Int
    /// Failed attempts before giving up, 1-10 (3).
    public var maxAttempts: Int
    /// Played before the menu again after an invalid key (joined into one prompt when the voice matches).
    public var invalid: Prompt?
    /// Played before the menu again after silence.
    public var noInput: Prompt?
    /// Where the call goes when the last failed attempt was an invalid key.
    public var onInvalid: String
    /// Where the call goes when the last failed attempt was silence.
    public var onNoInput: String
    /// Phrases per choice key: the caller may say a choice as well as press it. Heard through
    /// Telnyx transcription running while the prompt plays (see docs/flows.md, "Speech").
    public var speech: [(digit: String, phrases: [String])] = []
    /// Transcripts below this confidence count as an invalid answer.
    public var minConfidence: Double = 0.5

    /// Compares choices and phrases by value in order (tuples are not `Equatable`).
    public static func == (a: MenuSpec, b: MenuSpec) -> Bool {
        a.speech.map { $0.digit + ">" + $0.phrases.joined(separator: "|") } == b.speech.map { $0.digit + ">" + $0.phrases.joined(separator: "|") }
            && a.minConfidence == b.minConfidence
            && a.prompt == b.prompt && sameKeyTargets(a.choices, b.choices)
            && a.timeoutMs == b.timeoutMs && a.maxAttempts == b.maxAttempts && a.invalid == b.invalid
            && a.noInput == b.noInput && a.onInvalid == b.onInvalid && a.onNoInput == b.onNoInput
    }
}

/// A `gather` node: digits saved to a variable, checked by count and `pattern`.
public struct GatherSpec: Sendable, Equatable {
    /// What plays while collecting; `nil`: the plain `gather` command, in silence.
    public var prompt: Prompt?
    /// Fewest digits a valid answer has, 1-128 (the terminator not counted).
    public var minDigits: Int
    /// Most digits a valid answer has, 1-128, at least `minDigits`.
    public var maxDigits: Int
    /// One key (`0`-`9`, `*`, `#`) that ends the input early; stripped before saving.
    public var terminator: String?
    /// Wait for the whole input, 500-120000 ms; `nil`: Telnyx's default (60000).
    public var timeoutMs: Int?
    /// Wait between two digits, 500-120000 ms; `nil`: Telnyx's default (5000).
    public var interDigitTimeoutMs: Int?
    /// A regular expression the digits must match as a whole.
    public var pattern: String?
    /// Failed attempts before giving up, 1-10 (3).
    public var maxAttempts: Int
    /// The variable the digits are saved in (`vars.<save_as>`).
    public var saveAs: String
    /// The digits never reach logs, traces or the call store, and background activities that could
    /// hear them are held while they are keyed in.
    public var sensitive: Bool
    /// Where the call goes with a valid answer.
    public var next: String
    /// Where the call goes when the last failed attempt was invalid.
    public var onInvalid: String
    /// Where the call goes when the last failed attempt was silence.
    public var onNoInput: String
}

/// An `http` node: one request to the flow's backend, answered by the shell as a `MachineInput`.
public struct HTTPSpec: Sendable, Equatable {
    /// `GET`, `POST`, `PUT`, `PATCH` or `DELETE`.
    public var method: String
    /// The URL, rendered per call (it may carry a sensitive value; traces show it redacted).
    public var url: Template
    /// Request headers in file order, values rendered per call.
    public var headers: [(name: String, value: Template)]
    /// A JSON body, its strings rendered as templates; sent with `Content-Type: application/json`
    /// unless a header says otherwise.
    public var body: JSONValue?
    /// Deadline for the whole request, 100-60000 ms (5000); a timeout goes to `on_error`.
    public var timeoutMs: Int
    /// The variable that receives the JSON body (`null` when none), with the status in `<save_as>_status`.
    public var saveAs: String?
    /// Absent only inside `on_hangup`, where the flow may simply end.
    public var next: String?
    /// Where a failure goes: no response, a status `on_status` does not route and that is not 2xx, or
    /// a 2xx body that is not JSON when saved.
    public var onError: String?
    /// `on_status` in file order: a status (`"404"`) or a class (`"4xx"`) → node.
    public var onStatus: [(key: String, target: String)] = []

    /// Compares headers and `on_status` by value in order (tuples are not `Equatable`).
    public static func == (a: HTTPSpec, b: HTTPSpec) -> Bool {
        a.method == b.method && a.url == b.url && a.body == b.body && a.timeoutMs == b.timeoutMs
            && a.saveAs == b.saveAs && a.next == b.next && a.onError == b.onError
            && a.headers.map { $0.name + ":" + $0.value.source } == b.headers.map { $0.name + ":" + $0.value.source }
            && a.onStatus.map { $0.key + ">" + $0.target } == b.onStatus.map { $0.key + ">" + $0.target }
    }

    /// Whether `key` is an `on_status` key: a status 100-599 (`"404"`) or a class `1xx`-`5xx`.
    public static func isStatusKey(_ key: String) -> Bool {
        let c = Array(key.utf8)
        guard c.count == 3, (UInt8(ascii: "1")...UInt8(ascii: "5")).contains(c[0]) else { return false }
        let digits = UInt8(ascii: "0")...UInt8(ascii: "9")
        return (digits.contains(c[1]) && digits.contains(c[2])) || (c[1] == UInt8(ascii: "x") && c[2] == UInt8(ascii: "x"))
    }

    /// The `on_status` entry a response status goes to: the exact status wins over its class.
    public func statusRoute(_ status: Int) -> (key: String, target: String)? {
        onStatus.first { $0.key == String(status) } ?? onStatus.first { $0.key == "\(status / 100)xx" }
    }

    /// The edge label of an `on_status` entry (graphs, traces, coverage).
    public static func statusLabel(_ key: String) -> String { "status \(key)" }

    /// The variable that holds the status when the body is saved as `saveAs`.
    public static func statusVariable(_ saveAs: String) -> String { saveAs + "_status" }
}

/// A `record` node: plays a prompt, records a message and waits for the saved recording's URL.
public struct RecordSpec: Sendable, Equatable {
    /// Played before recording starts ("Leave a message after the beep.").
    public var prompt: Prompt?
    /// Telnyx plays a beep before recording (`play_beep`).
    public var beep: Bool
    /// Longest recording, 1-14400 s (`record_start` `max_length`).
    public var maxLengthSecs: Int
    /// Stop after this much silence, 1-600 s (`timeout_secs`); `nil`: no limit.
    public var silenceTimeoutSecs: Int?
    /// `mp3` or `wav`.
    public var format: String
    /// The variable that receives the recording's URL when `call.recording.saved` arrives.
    public var saveAs: String
    /// Where the call goes once the recording is saved (also after a recording error with no `on_error`).
    public var next: String
    /// Ask Telnyx for a transcript: `vars.<save_as>_transcript` when it arrives (after the
    /// recording; `on_hangup` waits for it).
    public var transcribe: Bool = false

    /// The variable that receives the transcript of recording `saveAs`.
    public static func transcriptVariable(_ saveAs: String) -> String { saveAs + "_transcript" }
}

/// Every node type of flow language v1.
public enum NodeKind: Sendable, Equatable {
    /// Answers the call (`answer`); goes straight on when it is already answered.
    case answer(next: String)
    /// Speaks or plays one prompt, then goes on.
    case say(Prompt, next: String)
    /// Plays audio (`playback_start`); `onError` when the file cannot be played.
    case play(Prompt, next: String, onError: String?)
    /// A keypad (and optionally speech) menu.
    case menu(MenuSpec)
    /// Collects digits into a variable.
    case gather(GatherSpec)
    /// Sets variables (values rendered as templates) and goes on at once.
    case set(vars: JSONObject, next: String)
    /// Goes to the case equal to the rendered `value`, else `default`; `caseOrder` keeps file order.
    case `switch`(value: Template, cases: [String: String], caseOrder: [String], default: String)
    /// Goes to the first condition that holds, else `else`.
    case `if`(conditions: [Condition], else: String)
    /// Open or closed right now in the node's time zone.
    case hours(OpeningHours, onOpen: String, onClosed: String)
    /// Hands the caller to another number (`transfer`); the flow waits only for the hang-up after.
    case transfer(to: Template, from: Template?, timeoutSecs: Int?, onFailure: String)
    /// Dials a second leg and bridges it to the caller (`dial`), optionally whispering to the callee
    /// first; needs the call's `connection_id`.
    case connect(to: Template, from: Template, timeoutSecs: Int?, whisper: Prompt?, onFailure: String)
    /// Records the caller.
    case record(RecordSpec)
    /// Calls the flow's backend.
    case http(HTTPSpec)
    /// Talks with the caller through Telnyx's AI gather (`gather_using_ai`) and saves the result.
    case aiGather(parameters: JSONValue, greeting: Template?, voice: String?, saveAs: String, next: String, onError: String)
    /// Routes on the answering-machine detection result of an outbound call dialed with detection
    /// (remembered when it arrives before the node is reached).
    case machineDetection(onHuman: String, onMachine: String, onUnknown: String, waitForBeep: Bool)
    /// `command` and every node built on one Telnyx action (`stream`, `recording`, `ai_assistant`, ...).
    case action(ActionSpec)
    /// Waits on a timer (`seconds`, rounded to ms), then goes on.
    case pause(seconds: Double, next: String)
    /// Sends each call down one of weighted branches (an A/B test), chosen by a hash of the call
    /// and the node, so the same call takes the same branch every time, replay included. The
    /// branch's name is the outcome edge, so the funnel metrics count each branch.
    case split(branches: [SplitBranch])
    /// Runs another flow as a subroutine: its `vars` defaults with `inputs` laid over them are its
    /// variables; at its `return`, the caller's variables come back, `outputs` copied in, and the
    /// call goes on at `next`. Recursion (directly, or through `goto`) is a `check` error.
    case subflow(SubflowSpec)
    /// Ends a subflow: back to the `subflow` node that called it (see `subflow`).
    case `return`
    /// Rings agents for the caller and bridges the first who answers (see `RingGroupSpec`).
    case ringGroup(RingGroupSpec)
    /// Puts the caller in a Telnyx queue with hold audio and announcements (see `QueueSpec`).
    case queue(QueueSpec)
    /// Books a call back to the caller, placed after they hang up (see `CallbackSpec`).
    case callback(CallbackSpec)
    /// Joins a named conference or acts on the call's conference (see `ConferenceSpec`).
    case conference(ConferenceSpec)
    /// Continues in another flow of the same revision, at `node` or its start.
    case goto(flow: String, node: String?)
    /// Hangs up (`hangup`); `on_hangup` runs after Telnyx reports it.
    case hangup
    /// Rejects an unanswered call with a SIP cause (`reject`, such as `CALL_REJECTED`).
    case reject(cause: String)

    /// The `type` as written in the file (an action node's own type, such as `stream`): for messages,
    /// graphs and metrics.
    public var typeName: String {
        switch self {
        case .answer: return "answer"
        case .say: return "say"
        case .play: return "play"
        case .menu: return "menu"
        case .gather: return "gather"
        case .set: return "set"
        case .switch: return "switch"
        case .if: return "if"
        case .hours: return "hours"
        case .transfer: return "transfer"
        case .connect: return "connect"
        case .record: return "record"
        case .http: return "http"
        case .aiGather: return "ai_gather"
        case .machineDetection: return "machine_detection"
        case .action(let a): return a.type
        case .pause: return "pause"
        case .split: return "split"
        case .subflow: return "subflow"
        case .return: return "return"
        case .ringGroup: return "ring_group"
        case .queue: return "queue"
        case .callback: return "callback"
        case .conference: return "conference"
        case .goto: return "goto"
        case .hangup: return "hangup"
        case .reject: return "reject"
        }
    }

    /// Outgoing edges, labelled by outcome (`next`, `1`, `timeout`, `on_error`, ...), in a stable order.
    public var edges: [(label: String, target: String)] {
        switch self {
        case .answer(let next), .set(_, let next), .pause(_, let next): return [("next", next)]
        case .say(_, let next): return [("next", next)]
        case .play(_, let next, let onError): return [("next", next)] + (onError.map { [("on_error", $0)] } ?? [])
        case .menu(let m):
            return m.choices.map { ($0.digit, $0.target) } + [("on_invalid", m.onInvalid), ("on_no_input", m.onNoInput)]
        case .gather(let g): return [("next", g.next), ("on_invalid", g.onInvalid), ("on_no_input", g.onNoInput)]
        case .switch(_, let cases, let order, let def): return order.map { ($0, cases[$0]!) } + [("default", def)]
        case .if(let conditions, let otherwise):
            return conditions.enumerated().map { ("condition \($0.offset + 1)", $0.element.next) } + [("else", otherwise)]
        case .hours(_, let open, let closed): return [("on_open", open), ("on_closed", closed)]
        case .transfer(_, _, _, let onFailure): return [("on_failure", onFailure)]
        case .connect(_, _, _, _, let onFailure): return [("on_failure", onFailure)]
        case .record(let r): return [("next", r.next)]
        case .http(let h):
            return (h.next.map { [("next", $0)] } ?? []) + h.onStatus.map { (HTTPSpec.statusLabel($0.key), $0.target) }
                + (h.onError.map { [("on_error", $0)] } ?? [])
        case .aiGather(_, _, _, _, let next, let onError): return [("next", next), ("on_error", onError)]
        case .machineDetection(let h, let m, let u, _): return [("on_human", h), ("on_machine", m), ("on_unknown", u)]
        case .action(let a):
            return [("next", a.next)] + (a.onError.map { [("on_error", $0)] } ?? []) + (a.onTimeout.map { [("on_timeout", $0)] } ?? [])
        case .split(let branches): return branches.map { ($0.name, $0.next) }
        case .subflow(let s): return [("next", s.next)]
        case .callback(let c): return [("next", c.next)]
        case .conference(let c): return c.keys.map { ($0.digit, $0.target) } + [("next", c.next)]
        case .ringGroup(let r): return [("next", r.next), ("on_no_answer", r.onNoAnswer)]
        case .queue(let q): return q.leave.map { ($0.digit, $0.target) } + [("on_timeout", q.onTimeout), ("on_full", q.onFull)]
        case .goto, .hangup, .reject, .return: return []
        }
    }

    /// Whether the node waits for the caller, Telnyx or a timer (breaks an instant cycle).
    public var waits: Bool {
        switch self {
        case .set, .switch, .if, .hours, .split, .goto, .return, .callback: return false
        case .action(let a): return a.waits
        default: return true
        }
    }

    /// Whether the node sends a call command (forbidden inside `on_hangup`).
    public var issuesCallCommand: Bool {
        switch self {
        case .set, .switch, .if, .http, .hours, .split, .subflow, .return, .callback: return false
        case .action(let a): return a.action != nil
        default: return true
        }
    }
}

/// One branch of a `split` node: its name (the outcome edge), its share and where it goes.
public struct SplitBranch: Sendable, Equatable {
    public var name: String
    /// Relative weight: a branch of weight 30 beside one of 70 takes 30% of calls. 0 turns it off.
    public var weight: Int
    public var next: String

    public init(name: String, weight: Int, next: String) {
        self.name = name
        self.weight = weight
        self.next = next
    }

    /// Largest weight a branch may have (so the total of many never overflows the hash's range).
    public static let maxWeight = 1_000_000

    /// The branch `call` takes at `flow`/`node`: FNV-1a of the three, modulo the total weight.
    /// Deterministic, so a redelivered webhook, a restart or `callflow replay` takes the same one;
    /// spread evenly over call ids, which Telnyx makes unique.
    public static func pick(_ branches: [SplitBranch], call: String, flow: String, node: String) -> SplitBranch? {
        let total = branches.reduce(0) { $0 + $1.weight }
        guard total > 0 else { return nil }
        var hash = FNV1a()
        hash.add(call)
        hash.add(flow)
        hash.add(node)
        var point = Int(hash.value % UInt64(total))
        for branch in branches where branch.weight > 0 {
            if point < branch.weight { return branch }
            point -= branch.weight
        }
        return nil
    }
}

/// A `subflow` node: the flow it runs, what it hands in and takes back, and where the call goes on.
public struct SubflowSpec: Sendable, Equatable {
    /// The flow run as a subroutine (same revision).
    public var flow: String
    /// Its variables to set first: name → value, templates rendered in the caller's variables
    /// (like `set`). Each must be declared in the subflow's `vars`.
    public var inputs: JSONObject
    /// What comes back at `return`: the caller's variable ← the subflow's variable (declared in its `vars`).
    public var outputs: [(caller: String, subflow: String)]
    /// Where the caller goes on after the subflow returns.
    public var next: String

    public init(flow: String, inputs: JSONObject, outputs: [(caller: String, subflow: String)], next: String) {
        self.flow = flow
        self.inputs = inputs
        self.outputs = outputs
        self.next = next
    }

    public static func == (a: SubflowSpec, b: SubflowSpec) -> Bool {
        a.flow == b.flow && a.inputs == b.inputs && a.next == b.next
            && a.outputs.map { "\($0.caller)=\($0.subflow)" }
                == b.outputs.map { "\($0.caller)=\($0.subflow)" }
    }
}

/// Whether two lists of key → target pairs are the same, in order: the one comparison behind the
/// hand-written `==` of the values that hold such lists (tuples are not `Equatable`).
func sameKeyTargets(_ a: [(digit: String, target: String)], _ b: [(digit: String, target: String)]) -> Bool {
    a.count == b.count && zip(a, b).allSatisfy { $0.digit == $1.digit && $0.target == $1.target }
}
