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
        public init() {}
    }
}

/// One step of a flow.
public struct Node: Sendable, Equatable {
    public var id: String
    public var kind: NodeKind

    public init(id: String, kind: NodeKind) {
        self.id = id
        self.kind = kind
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

    public static func == (a: MenuSpec, b: MenuSpec) -> Bool {
        a.prompt == b.prompt && a.choices.map { $0.digit + ">" + $0.target } == b.choices.map { $0.digit + ">" + $0.target }
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
    case command(action: String, params: JSONObject, waitFor: String?, next: String)
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
        case .command: return "command"
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
        case .command(_, _, _, let next): return [("next", next)]
        case .goto, .hangup, .reject: return []
        }
    }

    /// Whether the node waits for the caller, Telnyx or a timer (breaks an instant cycle).
    public var waits: Bool {
        switch self {
        case .set, .switch, .if, .hours, .goto: return false
        case .command(_, _, let waitFor, _): return waitFor != nil
        default: return true
        }
    }

    /// Whether the node sends a call command (forbidden inside `on_hangup`).
    public var issuesCallCommand: Bool {
        switch self {
        case .set, .switch, .if, .http: return false
        case .hours: return false
        default: return true
        }
    }
}
