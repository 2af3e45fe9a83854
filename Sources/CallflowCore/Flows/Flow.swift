/// A checked, immutable flow: decoded once from `flows/<name>.json`, then shared by every call
/// that runs it. Nothing here can fail at call time that `callflow check` could have caught.
public struct Flow: Sendable, Equatable {
    public var name: String
    public var description: String?
    public var start: String
    public var defaults: Defaults
    public var vars: JSONObject
    public var onHangup: String?
    public var nodes: [String: Node]
    /// Node ids in file order (for stable listings, graphs and coverage).
    public var order: [String]
    /// Edges read from nodes that failed to parse, so `check` still verifies their targets and
    /// reachability. Always empty in a flow that is allowed to run.
    public var brokenEdges: [String: [(pointer: [String], target: String)]] = [:]

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

    public static func == (a: Flow, b: Flow) -> Bool {
        a.name == b.name && a.description == b.description && a.start == b.start && a.defaults == b.defaults
            && a.vars == b.vars && a.onHangup == b.onHangup && a.nodes == b.nodes && a.order == b.order
    }

    public struct Defaults: Sendable, Equatable {
        public var voice: String = "female"
        public var language: String = "en-US"
        /// Where a node goes when Telnyx refuses its command and the node names no `on_error`
        /// (a flow-wide "sorry, something went wrong"); without it the call hangs up.
        public var onError: String? = nil
        public init() {}
    }
}

/// One step of a flow.
public struct Node: Sendable, Equatable {
    public var id: String
    public var kind: NodeKind
    /// `on_error` of a node whose kind has no failure edge of its own (`say`, `menu`, `gather`,
    /// `answer`, `record`): where it goes when Telnyx refuses its command for good.
    public var onError: String?
    /// Keys that cut a `say` or `play` short, each to its node (barge-in); empty: none.
    public var keys: [(digit: String, target: String)] = []
    /// `play` only: how often the audio plays (`playback_start`'s `loop`: a count or "infinity").
    public var loop: JSONValue? = nil

    public init(id: String, kind: NodeKind, onError: String? = nil) {
        self.id = id
        self.kind = kind
        self.onError = onError
    }

    public static func == (a: Node, b: Node) -> Bool {
        a.id == b.id && a.kind == b.kind && a.onError == b.onError && a.loop == b.loop
            && a.keys.map { $0.digit + ">" + $0.target } == b.keys.map { $0.digit + ">" + $0.target }
    }

    /// Outgoing edges, the kind's, the barge-in keys' and `on_error`: what checks, graphs and coverage read.
    public var edges: [(label: String, target: String)] {
        kind.edges + keys.map { ($0.digit, $0.target) } + (onError.map { [("on_error", $0)] } ?? [])
    }

    /// Whether a refused command leaves the caller hearing nothing (what `check` warns about
    /// when there is no failure edge).
    public var talksToCaller: Bool {
        switch kind {
        case .say, .play, .menu, .gather, .record, .aiGather: return true
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
    case say(Template, voice: String?, language: String?, ssml: Bool)
    case play(Template)
    case media(Template)
}

/// Where to go on a condition (`if` node).
public struct Condition: Sendable, Equatable {
    public enum Op: String, Sendable, CaseIterable {
        case eq, ne, lt, le, gt, ge, contains, matches, empty
        /// The words of `to` (or of any phrase in a list) appear in the value, ignoring case and
        /// punctuation: for routing on what a caller said.
        case says
    }
    public var value: Template
    public var op: Op
    public var to: JSONValue?
    public var next: String
}

/// Opening hours of an `hours` node: weekday (0 = Sunday) → minute ranges.
public struct OpeningHours: Sendable, Equatable {
    public var timezone: String
    public var rules: TimeZoneRules
    public var ranges: [Int: [ClosedRange<Int>]]
    public var closedDates: Set<String>
}

public struct MenuSpec: Sendable, Equatable {
    public var prompt: Prompt
    public var choices: [(digit: String, target: String)]
    public var timeoutMs: Int
    public var maxAttempts: Int
    public var invalid: Prompt?
    public var noInput: Prompt?
    public var onInvalid: String
    public var onNoInput: String
    /// Phrases per choice key: the caller may say a choice as well as press it. Heard through
    /// Telnyx transcription running while the prompt plays (see docs/flows.md, "Speech").
    public var speech: [(digit: String, phrases: [String])] = []
    /// Transcripts below this confidence count as an invalid answer.
    public var minConfidence: Double = 0.5

    public static func == (a: MenuSpec, b: MenuSpec) -> Bool {
        a.speech.map { $0.digit + ">" + $0.phrases.joined(separator: "|") } == b.speech.map { $0.digit + ">" + $0.phrases.joined(separator: "|") }
            && a.minConfidence == b.minConfidence
            && a.prompt == b.prompt && a.choices.map { $0.digit + ">" + $0.target } == b.choices.map { $0.digit + ">" + $0.target }
            && a.timeoutMs == b.timeoutMs && a.maxAttempts == b.maxAttempts && a.invalid == b.invalid
            && a.noInput == b.noInput && a.onInvalid == b.onInvalid && a.onNoInput == b.onNoInput
    }
}

public struct GatherSpec: Sendable, Equatable {
    public var prompt: Prompt?
    public var minDigits: Int
    public var maxDigits: Int
    public var terminator: String?
    public var timeoutMs: Int?
    public var interDigitTimeoutMs: Int?
    public var pattern: String?
    public var maxAttempts: Int
    public var saveAs: String
    public var sensitive: Bool
    public var next: String
    public var onInvalid: String
    public var onNoInput: String
}

public struct HTTPSpec: Sendable, Equatable {
    public var method: String
    public var url: Template
    public var headers: [(name: String, value: Template)]
    public var body: JSONValue?
    public var timeoutMs: Int
    public var saveAs: String?
    /// Absent only inside `on_hangup`, where the flow may simply end.
    public var next: String?
    public var onError: String?
    /// `on_status` in file order: a status (`"404"`) or a class (`"4xx"`) → node.
    public var onStatus: [(key: String, target: String)] = []

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

public struct RecordSpec: Sendable, Equatable {
    public var prompt: Prompt?
    public var beep: Bool
    public var maxLengthSecs: Int
    public var silenceTimeoutSecs: Int?
    public var format: String
    public var saveAs: String
    public var next: String
    /// Ask Telnyx for a transcript: `vars.<save_as>_transcript` when it arrives (after the
    /// recording; `on_hangup` waits for it).
    public var transcribe: Bool = false

    /// The variable that receives the transcript of recording `saveAs`.
    public static func transcriptVariable(_ saveAs: String) -> String { saveAs + "_transcript" }
}

/// Every node type of flow language v1.
public enum NodeKind: Sendable, Equatable {
    case answer(next: String)
    case say(Prompt, next: String)
    case play(Prompt, next: String, onError: String?)
    case menu(MenuSpec)
    case gather(GatherSpec)
    case set(vars: JSONObject, next: String)
    case `switch`(value: Template, cases: [String: String], caseOrder: [String], default: String)
    case `if`(conditions: [Condition], else: String)
    case hours(OpeningHours, onOpen: String, onClosed: String)
    case transfer(to: Template, from: Template?, timeoutSecs: Int?, onFailure: String)
    case connect(to: Template, from: Template, timeoutSecs: Int?, whisper: Prompt?, onFailure: String)
    case record(RecordSpec)
    case http(HTTPSpec)
    case aiGather(parameters: JSONValue, greeting: Template?, voice: String?, saveAs: String, next: String, onError: String)
    case machineDetection(onHuman: String, onMachine: String, onUnknown: String, waitForBeep: Bool)
    /// `command` and every node built on one Telnyx action (`stream`, `recording`, `ai_assistant`, ...).
    case action(ActionSpec)
    case pause(seconds: Double, next: String)
    case goto(flow: String, node: String?)
    case hangup
    case reject(cause: String)

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
        case .goto, .hangup, .reject: return []
        }
    }

    /// Whether the node waits for the caller, Telnyx or a timer (breaks an instant cycle).
    public var waits: Bool {
        switch self {
        case .set, .switch, .if, .hours, .goto: return false
        case .action(let a): return a.waits
        default: return true
        }
    }

    /// Whether the node sends a call command (forbidden inside `on_hangup`).
    public var issuesCallCommand: Bool {
        switch self {
        case .set, .switch, .if, .http, .hours: return false
        case .action(let a): return a.action != nil
        default: return true
        }
    }
}
