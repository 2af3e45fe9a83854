/// Everything the machine knows about one live call. A value: the shell stores it, the machine
/// returns a new one. Small on purpose — the store keeps hundreds of thousands of these.
public struct CallState: Sendable, Equatable {
    /// Telnyx's id of the call's leg: the key of its state in every store, and the leg commands go to.
    public var callControlID: String
    /// The flow revision the call started on; it keeps that revision's flows across a reload.
    public var flowRevision: String
    /// The flow the call runs now; `goto` changes it, within the call's revision.
    public var flow: String
    /// The node the call is at (in `flow`).
    public var node: String
    /// Increases on every node entered; names the step in `client_state` and `command_id`.
    public var step: Int
    /// Commands issued in the current step (second part of `command_id`).
    public var commandSeq: Int = 0
    /// Menu/gather attempts used at the current node, and why the last one failed.
    public var attempt: Int = 0
    /// Why the last attempt at a menu or gather failed: picks the re-prompt (`invalid` or `no_input`).
    public var lastFailure: InputFailure? = nil
    /// What must arrive before the node can move on; events for anything else are ignored.
    public var waiting: Waiting
    /// Where the call is in its life, from running the flow to ended.
    public var phase: Phase = .running
    /// The call's variables (`{{vars.*}}`): the flow's initial `vars`, then what nodes saved.
    public var vars: JSONObject
    /// Variables saved from `sensitive` gathers: never logged or traced.
    public var sensitiveVars: Set<String> = []
    /// The caller's number, the number called and the direction (`{{call.*}}`).
    public var facts: CallFacts
    /// Telnyx reported the call answered (`call.answered`, or an outbound call that started answered):
    /// an `answer` node then sends nothing.
    public var answered: Bool = false
    /// The answering-machine detection result, kept when it arrives before a `machine_detection` node.
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
    /// The `ring_group` the call is at: the agents it rang and the legs it holds.
    public var ring: RingProgress? = nil
    /// The `queue` the call waits in: its announcement timer and hold audio.
    public var queue: QueueProgress? = nil
    /// A callback the call booked (`callback` node): placed after the caller hangs up.
    public var callback: PendingCallback? = nil
    /// The conference the call is in, or created and still holds the name of.
    public var conference: ConferenceMembership? = nil
    /// Agents a `queue`'s ring found and bridged with the head of the queue (this caller or
    /// another): held until their leg hangs up, whatever this call does meanwhile (it is kept
    /// after its own end until then).
    public var serving: [ServingAgent] = []
    /// The flows that called a running `subflow`, innermost last: each keeps where to go back
    /// to and the caller's variables. Empty outside a subflow.
    public var frames: [CallFrame] = []
    /// The call's history (newest last, at most `CallMachine.maxTrace` entries).
    public var trace: [TraceEntry] = []

    /// A fresh call at `node`; the machine's `start` is the usual way to make one.
    public init(
        callControlID: String, flowRevision: String, flow: String, node: String, step: Int, waiting: Waiting,
        vars: JSONObject, facts: CallFacts, answered: Bool = false
    ) {
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

    /// A call's life: `running` → (`handedOff`) → `hangingUp` → `afterHangup` → `ended`.
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

    /// What templates see: the facts as `call.*` (with `call.id`, the call control id) and the variables.
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
    /// What kind of activity it is (which commands stop and resume it).
    public var kind: SectionKind
    /// The flow of the node that started it.
    public var flow: String
    /// The node that started it.
    public var node: String
    /// Paused by the flow (`recording` with `action: "pause"`).
    public var paused: Bool = false
    /// Stopped for a `sensitive` gather; restarted when the call leaves it.
    public var suspended: Bool = false

    /// Memberwise; restored calls and tests build sections directly.
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
    /// The caller's number, as Telnyx sent it.
    public var from: String
    /// The number called (the route key of an inbound call).
    public var to: String
    /// `inbound` or `outbound`.
    public var direction: String
    /// The Call Control Application's id: a `connect` dials its second leg through it.
    public var connectionID: String?

    /// Memberwise.
    public init(from: String, to: String, direction: String, connectionID: String?) {
        self.from = from
        self.to = to
        self.direction = direction
        self.connectionID = connectionID
    }

    var object: JSONObject { ["from": .string(from), "to": .string(to), "direction": .string(direction)] }
}

/// Why a menu or gather attempt failed.
public enum InputFailure: String, Sendable, Equatable {
    /// `invalid`: a wrong key or too few, too many or unmatched digits; `noInput`: silence.
    case invalid, noInput
}

/// What the call is waiting for before its flow can move on.
public enum Waiting: Sendable, Equatable {
    /// Nothing: the machine is between nodes, or the call ended.
    case nothing
    /// `call.answered` for an `answer` node.
    case answered
    /// `call.speak.ended` for a `say`.
    case speakEnded
    /// `call.playback.ended` for a `play` (or `call.playback.started`, to arm its barge-in keys).
    case playbackEnded
    /// A `play` with barge-in keys whose audio has started: keys count from here on (a key of
    /// the gather before it, reported late, does not cut the new audio short).
    case playbackPlaying
    /// A prompt played before the node's main command (re-prompt, record prompt).
    case prelude
    /// `call.gather.ended` for a menu, a gather or a `say` with barge-in keys.
    case gatherEnded
    /// The transfer target's bridge or hang-up (a `transfer` node).
    case transferResult
    /// `call.answered` (or hang-up) of the leg a `connect` dialed.
    case dialAnswered
    /// The whisper to a `connect`'s callee finishing, before the legs are bridged.
    case whisperEnded
    /// `call.bridged` after a `connect` bridged its legs (or the second leg's hang-up).
    case bridged
    /// `call.recording.saved` (or `call.recording.error`) for a `record` node.
    case recordingSaved
    /// The shell's answer to request `requestID` (`MachineInput.httpResult`).
    case http(requestID: String)
    /// `call.ai_gather.ended` for an `ai_gather` node.
    case aiGatherEnded
    /// An answering-machine detection result for a `machine_detection` node.
    case machineDetection
    /// The machine's greeting to end (`wait_for_beep`), so a message is left after the beep.
    case beep
    /// A `ring_group`'s agent legs (answer, screening key, bridge or hang-up), until `timer`
    /// (the ring time and a grace) fires.
    case ringing(timer: String?)
    /// In a `queue`: `call.enqueued`/`call.dequeued`, keys, announcements (their timers are in
    /// `CallState.queue` and `RingProgress.deadline`, two at once).
    case queued
    /// The caller is gone and a booked callback waits for its time (or a free agent): `timer`.
    case callbackDue(timer: String)
    /// In a conference (or joining it): its events, keys; `timer` while another call creates it,
    /// or, after the hang-up of the call that created it, until `conference.ended`.
    case conference(timer: String?)
    /// The call is over but agents its queue ring bridged with the head still talk: held until
    /// they hang up (or `timer`).
    case agentsServing(timer: String)
    /// An action node's events (its `waitFor`/`failOn`), until the timer `timer` fires.
    case action(timer: String?)
    /// The API response of command `commandID` (an action node with `save_as` and no event).
    case response(commandID: String, timer: String?)
    /// The caller hung up; `on_hangup` waits for `awaitedResults` until `timer` fires.
    case results(timer: String)
    /// Timer `id` of a `pause` node.
    case timer(id: String)
    /// `call.hangup`, after the machine asked Telnyx to hang up, reject or hand the call off.
    case hangup

    /// The timer the wait ends with, if it has one.
    public var timer: String? {
        switch self {
        case .timer(let id), .action(let id?), .response(_, let id?), .results(let id), .ringing(let id?), .callbackDue(let id), .conference(let id?):
            return id
        default: return nil
        }
    }
}

/// One line of a call's history, kept for inspection and replay.
public struct TraceEntry: Sendable, Equatable {
    /// What a line is about: an event taken, a node entered, a command sent, an HTTP request or its
    /// answer, a timer, or a note (log lines and decisions).
    public enum Kind: String, Sendable {
        /// One kind per line: replay compares `node` and `command` lines, coverage reads `node` lines.
        case event, node, command, http, timer, note
    }
    /// When (Unix seconds).
    public var at: Int64
    /// The call's step at the time.
    public var step: Int
    /// What the line is about.
    public var kind: Kind
    /// The text: event type, `flow/node`, action, redacted URL or message.
    public var detail: String
    /// For `.node` entries: the outcome edge that led here (`next`, `1`, `on_no_input`, ...),
    /// `nil` for a flow's start. What coverage and transcripts read.
    public var edge: String?

    /// Memberwise.
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

/// How an `http` node's request ended, as the shell reports it.
public enum HTTPOutcome: Sendable, Equatable {
    /// A response arrived: status and raw body.
    case response(status: Int, body: [UInt8])
    /// No usable response (timeout, connection refused, TLS, too large).
    case failed(String)
}

/// An HTTP request an `http` node asks the shell to make.
public struct HTTPCall: Sendable, Equatable {
    /// `<call>#<step>`: what `MachineInput.httpResult` names the answer by.
    public var id: String
    /// The node's method.
    public var method: String
    /// The rendered URL (with any sensitive value still in it: only `StateCodec` masks).
    public var url: String
    /// Rendered headers, plus `Content-Type: application/json` for a JSON body that sets none.
    public var headers: [String: String]
    /// The rendered JSON body, if the node has one.
    public var body: [UInt8]?
    /// The node's deadline for the whole request.
    public var timeoutMs: Int
    /// Stable for the step: a retried request is recognisable to the backend.
    public var idempotencyKey: String
    /// Values of `sensitive` gathers the request carries: a store keeps the request with `***`
    /// in their place (`StateCodec`), so it never holds them.
    public var secrets: [String] = []
    /// Read back from a store with its secrets masked: it cannot be sent as the flow made it.
    public var withheld = false

    /// Memberwise, with no secrets.
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
    /// Send a call command to Telnyx (retried by the shell; idempotent by its `command_id`).
    case command(CallCommand)
    /// Make an HTTP request; its outcome comes back as `MachineInput.httpResult`.
    case http(HTTPCall)
    /// Start timer `id`; it comes back as `MachineInput.timerFired`.
    case startTimer(id: String, milliseconds: Int)
    /// Cancel timer `id` (its node was left before it fired).
    case cancelTimer(id: String)
    /// Remember outbound call `token` (its first webhook starts `dial.flow`): committed with the
    /// step, before the `dial` command of the same step is sent (a callback).
    case expectDial(token: String, dial: PendingDial)
    /// `node`: the node the line is about, when the step went on past it (an `http` node whose
    /// failure sends the call to `on_error` is named, not the node the step ended in).
    case log(level: LogLevel, message: String, node: String? = nil)
    /// The call is over: drop its state (keep the trace).
    case ended(reason: String)

    /// How loud a log line is; the shell maps it onto its logger's levels.
    public enum LogLevel: String, Sendable { case info, warning, error }
}

/// How an input was taken.
public enum Disposition: Sendable, Equatable {
    /// The input moved the call (or was expected and changed nothing visible).
    case applied
    /// Belongs to a step the call has left, or to an operation not waited for: ignored.
    case stale(String)
    /// Not for this machine to act on (informational event types).
    case ignored(String)
}

/// One application of the machine: the new state, what to do, and how the input was taken.
public struct Transition: Sendable, Equatable {
    /// The call after the input; `phase == .ended` when the input ended it.
    public var state: CallState
    /// What the shell is to do, in order.
    public var effects: [Effect]
    /// Applied, stale or ignored: the engine reports it on as `InputDisposition`.
    public var disposition: Disposition
    /// Nodes entered, in order.
    public var visits: [NodeVisit] = []

    /// The call commands among `effects`, in order.
    public var commands: [CallCommand] {
        effects.compactMap { if case .command(let c) = $0 { return c } else { return nil } }
    }
}

/// An agent bridged with a queue's head by this call's ring: its address and leg.
public struct ServingAgent: Sendable, Equatable {
    public var agent: String
    public var leg: String

    public init(agent: String, leg: String) {
        self.agent = agent
        self.leg = leg
    }
}

/// A flow waiting for a subflow it called: the `subflow` node (`flow`/`node`) the call returns
/// to, and that flow's variables as they were.
public struct CallFrame: Sendable, Equatable {
    public var flow: String
    public var node: String
    public var vars: JSONObject
    public var sensitiveVars: Set<String>

    public init(flow: String, node: String, vars: JSONObject, sensitiveVars: Set<String>) {
        self.flow = flow
        self.node = node
        self.vars = vars
        self.sensitiveVars = sensitiveVars
    }
}
