/// Everything the machine knows about one live call. A value: the shell stores it, the machine
/// returns a new one. Small on purpose — the store keeps hundreds of thousands of these.
public struct CallState: Sendable, Equatable {
    public var callControlID: String
    public var flowRevision: String
    public var flow: String
    public var node: String
    /// Increases on every node entered; names the step in `client_state` and `command_id`.
    public var step: Int
    /// Commands issued in the current step (second part of `command_id`).
    public var commandSeq: Int = 0
    /// Menu/gather attempts used at the current node, and why the last one failed.
    public var attempt: Int = 0
    public var lastFailure: InputFailure? = nil
    public var waiting: Waiting
    public var phase: Phase = .running
    public var vars: JSONObject
    /// Variables saved from `sensitive` gathers: never logged or traced.
    public var sensitiveVars: Set<String> = []
    public var facts: CallFacts
    public var answered: Bool = false
    public var amdResult: MachineResult? = nil
    /// A machine's greeting ended (beep or silence): time to leave a message.
    public var greetingEnded: Bool = false
    /// The other leg of a `connect` once it exists.
    public var childLeg: String? = nil
    /// Background activities running on the call (a recording, a stream, ...), oldest first.
    public var sections: [ActiveSection] = []
    /// Variables a background result will fill (a recording's URL, its transcript): `on_hangup`
    /// waits for them, up to `CallMachine.resultsDeadlineMs`, so it can hand them on.
    public var awaitedResults: [String] = []
    public var trace: [TraceEntry] = []

    public init(callControlID: String, flowRevision: String, flow: String, node: String, step: Int, waiting: Waiting,
                vars: JSONObject, facts: CallFacts, answered: Bool = false) {
        self.callControlID = callControlID
        self.flowRevision = flowRevision
        self.flow = flow
        self.node = node
        self.step = step
        self.waiting = waiting
        self.vars = vars
        self.facts = facts
        self.answered = answered
    }

    public enum Phase: String, Sendable, Equatable {
        /// Running the flow.
        case running
        /// Handed to another party (transfer/connect bridged); waiting only for the hang-up.
        case handedOff
        /// We asked Telnyx to hang up or reject; waiting for `call.hangup`.
        case hangingUp
        /// The caller is gone; `on_hangup` nodes may still run (no call commands).
        case afterHangup
        /// Done. The state can be dropped (trace kept).
        case ended
    }

    public var templateContext: TemplateContext {
        var call = facts.object
        call["id"] = .string(callControlID)
        return TemplateContext(call: call, vars: vars)
    }

    /// `text` with the value of every sensitive variable replaced by `***`: for traces and logs
    /// of anything rendered from templates (a URL may carry an account number).
    public func redact(_ text: String) -> String {
        sensitiveValues.reduce(text) { $0.replacing($1, with: "***") }
    }

    /// The non-empty values of the sensitive variables, in name order: what must never leave
    /// memory (`redact`, `HTTPCall.secrets`).
    public var sensitiveValues: [String] {
        sensitiveVars.sorted().compactMap { name in vars[name]?.templateText }.filter { !$0.isEmpty }
    }
}

/// Entries of `CallState.awaitedResults`: the kind of result, then the variable it fills
/// (`recording:voicemail_url`), stored as written.
enum AwaitedResult {
    static let recording = "recording:"
    static let transcript = "transcript:"

    /// The variable an entry fills.
    static func variable(_ entry: String) -> String {
        entry.firstIndex(of: ":").map { String(entry[entry.index(after: $0)...]) } ?? entry
    }
}

/// A background activity and the node that started it (which names its `save_as` and
/// `on_error`, and whose params restart it after a `sensitive` gather).
public struct ActiveSection: Sendable, Equatable {
    public var kind: SectionKind
    public var flow: String
    public var node: String
    /// Paused by the flow (`recording` with `action: "pause"`).
    public var paused: Bool = false
    /// Stopped for a `sensitive` gather; restarted when the call leaves it.
    public var suspended: Bool = false

    public init(kind: SectionKind, flow: String, node: String, paused: Bool = false, suspended: Bool = false) {
        self.kind = kind
        self.flow = flow
        self.node = node
        self.paused = paused
        self.suspended = suspended
    }
}

/// Facts about the call that templates can read as `{{call.*}}`.
public struct CallFacts: Sendable, Equatable {
    public var from: String
    public var to: String
    /// `inbound` or `outbound`.
    public var direction: String
    public var connectionID: String?

    public init(from: String, to: String, direction: String, connectionID: String?) {
        self.from = from
        self.to = to
        self.direction = direction
        self.connectionID = connectionID
    }

    var object: JSONObject { ["from": .string(from), "to": .string(to), "direction": .string(direction)] }
}

public enum InputFailure: String, Sendable, Equatable {
    case invalid, noInput
}

/// What the call is waiting for before its flow can move on.
public enum Waiting: Sendable, Equatable {
    case nothing
    case answered
    case speakEnded
    case playbackEnded
    /// A `play` with barge-in keys whose audio has started: keys count from here on (a key of
    /// the gather before it, reported late, does not cut the new audio short).
    case playbackPlaying
    /// A prompt played before the node's main command (re-prompt, record prompt).
    case prelude
    case gatherEnded
    case transferResult
    case dialAnswered
    case whisperEnded
    case bridged
    case recordingSaved
    case http(requestID: String)
    case aiGatherEnded
    case machineDetection
    case beep
    /// An action node's events (its `waitFor`/`failOn`), until the timer `timer` fires.
    case action(timer: String?)
    /// The API response of command `commandID` (an action node with `save_as` and no event).
    case response(commandID: String, timer: String?)
    /// The caller hung up; `on_hangup` waits for `awaitedResults` until `timer` fires.
    case results(timer: String)
    case timer(id: String)
    case hangup

    /// The timer the wait ends with, if it has one.
    public var timer: String? {
        switch self {
        case .timer(let id), .action(let id?), .response(_, let id?), .results(let id): return id
        default: return nil
        }
    }
}

/// One line of a call's history, kept for inspection and replay.
public struct TraceEntry: Sendable, Equatable {
    public enum Kind: String, Sendable {
        case event, node, command, http, timer, note
    }
    public var at: Int64
    public var step: Int
    public var kind: Kind
    public var detail: String
    /// For `.node` entries: the outcome edge that led here (`next`, `1`, `on_no_input`, ...),
    /// `nil` for a flow's start. What coverage and transcripts read.
    public var edge: String?

    public init(at: Int64, step: Int, kind: Kind, detail: String, edge: String? = nil) {
        self.at = at
        self.step = step
        self.kind = kind
        self.detail = detail
        self.edge = edge
    }
}

/// What comes back into the machine from the shell.
public enum MachineInput: Sendable, Equatable {
    /// A verified, deduplicated webhook for this call (or one of its child legs).
    case webhook(WebhookEvent)
    /// The outcome of an `http` node's request.
    case httpResult(requestID: String, HTTPOutcome)
    /// A timer the machine started has fired.
    case timerFired(id: String)
    /// Telnyx refused a command for good (after retries). `callGone` for 90018 (call already ended).
    case commandFailed(commandID: String, action: String, detail: String, callGone: Bool)
    /// Telnyx accepted a command the machine asked to hear back about (`CallCommand.reportsResult`):
    /// the response's `data`.
    case commandSucceeded(commandID: String, action: String, data: JSONValue)
}

public enum HTTPOutcome: Sendable, Equatable {
    /// A response arrived: status and raw body.
    case response(status: Int, body: [UInt8])
    /// No usable response (timeout, connection refused, TLS, too large).
    case failed(String)
}

/// An HTTP request an `http` node asks the shell to make.
public struct HTTPCall: Sendable, Equatable {
    public var id: String
    public var method: String
    public var url: String
    public var headers: [String: String]
    public var body: [UInt8]?
    public var timeoutMs: Int
    /// Stable for the step: a retried request is recognisable to the backend.
    public var idempotencyKey: String
    /// Values of `sensitive` gathers the request carries: a store keeps the request with `***`
    /// in their place (`StateCodec`), so it never holds them.
    public var secrets: [String] = []
    /// Read back from a store with its secrets masked: it cannot be sent as the flow made it.
    public var withheld = false

    public init(id: String, method: String, url: String, headers: [String: String], body: [UInt8]?, timeoutMs: Int, idempotencyKey: String) {
        self.id = id
        self.method = method
        self.url = url
        self.headers = headers
        self.body = body
        self.timeoutMs = timeoutMs
        self.idempotencyKey = idempotencyKey
    }
}

/// What the machine asks the shell to do.
public enum Effect: Sendable, Equatable {
    case command(CallCommand)
    case http(HTTPCall)
    case startTimer(id: String, milliseconds: Int)
    case cancelTimer(id: String)
    /// `node`: the node the line is about, when the step went on past it (an `http` node whose
    /// failure sends the call to `on_error` is named, not the node the step ended in).
    case log(level: LogLevel, message: String, node: String? = nil)
    /// The call is over: drop its state (keep the trace).
    case ended(reason: String)

    public enum LogLevel: String, Sendable { case info, warning, error }
}

/// How an input was taken.
public enum Disposition: Sendable, Equatable {
    case applied
    /// Belongs to a step the call has left, or to an operation not waited for: ignored.
    case stale(String)
    /// Not for this machine to act on (informational event types).
    case ignored(String)
}

public struct Transition: Sendable, Equatable {
    public var state: CallState
    public var effects: [Effect]
    public var disposition: Disposition
    /// Nodes entered, in order.
    public var visits: [NodeVisit] = []

    public var commands: [CallCommand] {
        effects.compactMap { if case .command(let c) = $0 { return c } else { return nil } }
    }
}
