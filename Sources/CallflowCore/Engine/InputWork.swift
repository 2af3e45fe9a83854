/// The values that travel through one input's load → step → commit: what to load, what was
/// loaded, and everything the step changed. The shell reads nothing back from the engine: what
/// it stores, sends, counts and records is all in `InputWork`.

/// One input for the engine.
public enum EngineInput: Sendable, Equatable {
    /// A verified webhook.
    case webhook(WebhookEvent)
    /// A result from the shell (HTTP answer, timer, command response or failure) for `call`.
    case machine(MachineInput, call: String)
    /// An outbound call we placed was answered: start `flow` on it.
    case startOutbound(leg: CallLeg, flow: String, vars: JSONObject)

    /// The event type (or the shell input's name) for log lines and metrics.
    public var name: String {
        switch self {
        case .webhook(let e): return e.eventType
        case .machine(.webhook(let e), _): return e.eventType
        case .machine(.httpResult, _): return "http.result"
        case .machine(.timerFired, _): return "timer.fired"
        case .machine(.commandFailed, _): return "command.failed"
        case .machine(.commandSucceeded, _): return "command.succeeded"
        case .startOutbound: return "call.outbound_started"
        }
    }
}

/// What one input needs from a ledger before it can be stepped.
public struct InputKeys: Sendable, Equatable {
    /// The call whose inputs this one is ordered behind: the parent its client_state names, else
    /// the leg it is about. Empty when the input names no call.
    public var owner: String
    /// The leg the webhook is about, when it is not the owner (a transfer's or dial's child leg).
    public var leg: String?
    /// The outbound dial this webhook may start (`StepTag.dial`).
    public var dialToken: String?
    /// The webhook id, checked against and then added to the ids seen.
    public var eventID: String?
    /// A fired timer: still pending, or already fired or cancelled elsewhere.
    public var timerID: String?

    /// Memberwise; `of(_:live:)` is how an input's keys are made.
    public init(owner: String, leg: String? = nil, dialToken: String? = nil, eventID: String? = nil, timerID: String? = nil) {
        self.owner = owner
        self.leg = leg
        self.dialToken = dialToken
        self.eventID = eventID
        self.timerID = timerID
    }

    /// The keys of `input`: pure, so every ledger loads the same things for the same input.
    /// `live` says whether a call is live where the ledger can tell at once (in memory); a
    /// webhook for a live leg then needs no client_state decoded. A ledger that cannot tell
    /// passes `{ _ in false }`, and the owner is then the parent client_state names, if any.
    public static func of(_ input: EngineInput, live: (String) -> Bool) -> InputKeys {
        switch input {
        case .webhook(let event):
            guard let call = event.call else { return InputKeys(owner: "", eventID: event.id) }
            if live(call.callControlID) { return InputKeys(owner: call.callControlID, eventID: event.id) }
            let tag = StepTag(clientState: call.clientState)
            let owner = tag?.parent ?? call.callControlID
            return InputKeys(
                owner: owner, leg: owner == call.callControlID ? nil : call.callControlID, dialToken: tag?.dial,
                eventID: event.id)
        case .machine(let input, let call):
            if case .timerFired(let id) = input { return InputKeys(owner: call, timerID: id) }
            return InputKeys(owner: call)
        case .startOutbound(let leg, _, _):
            return InputKeys(owner: leg.callControlID)
        }
    }
}

/// What a ledger loaded for one input.
public struct LoadedCalls: Sendable {
    /// The owner's state (`InputKeys.owner`), if it is a live call.
    public var owner: CallState?
    /// The other leg's state (`InputKeys.leg`), if it is a live call.
    public var leg: CallState?
    /// The pending dial `InputKeys.dialToken` names, if it is still pending.
    public var dial: PendingDial?
    /// Flow revisions the loaded calls run that the engine may not hold (shared state: fetched
    /// from the store); the pipeline adds them before the step.
    public var revisions: [FlowSet] = []
    /// Agent address → the call holding it (a ring group's leg ringing or talking), as the ledger
    /// knows it now: a ring group skips the agents other calls hold.
    public var agentHolders: [String: String] = [:]
    /// Conference name → the call that created it and its id (`""` while being created).
    public var conferences: [String: ConferenceEntry] = [:]
    /// The versions the ledger loaded the calls at (shared state: its optimistic-concurrency
    /// check on commit). Opaque to the engine.
    public var versions: [(id: String, version: String)] = []

    /// Memberwise; `revisions` and `versions` start empty.
    public init(owner: CallState? = nil, leg: CallState? = nil, dial: PendingDial? = nil) {
        self.owner = owner
        self.leg = leg
        self.dial = dial
    }
}

/// What became of an input in the engine.
public enum InputDisposition: Sendable, Equatable {
    /// Applied to a call (or started one, or rejected one).
    case accepted
    /// The webhook id was seen before: nothing done.
    case duplicate
    /// From a step the call has already left.
    case stale(String)
    /// Valid, but nothing to do (an event nobody waits for, a revision that is gone).
    case ignored(String)
    /// For a call that is not live here (not ours, or long finished).
    case unknownCall(String)
}

/// A finished call: what a store keeps of it.
public struct EndedCall: Sendable, Equatable {
    /// The call's history as it ended (what `GET /v1/calls/{id}` shows afterwards).
    public var trace: [TraceEntry]
    /// The variables as they ended, sensitive ones included (a store masks them).
    public var vars: JSONObject
    /// When it ended (Unix seconds).
    public var at: Int64
}

/// Everything one input changed, as data: what a ledger commits and what the effect runner then
/// carries out. Built by `CallEngine.step`, so masking and recording are pure too.
public struct InputWork: Sendable {
    /// Accepted, a duplicate, stale, ignored or for an unknown call: what the ingress counts and logs.
    public var disposition: InputDisposition
    /// Commands, requests, timers and log lines, with the call context they came from.
    public var effects: [CallEffect]
    /// The call the input was applied to (or started), when there was one.
    public var call: String?
    /// The call's state after the input; `nil` when it ended (see `ended`) or there was no call.
    public var state: CallState?
    /// Set when the input ended the call.
    public var ended: EndedCall?
    /// The stored key of the webhook id this input records as seen.
    public var seen: (key: UInt64, at: Int64)?
    /// The pending dial this input consumed (started its flow, or saw it end unanswered).
    public var dialUsed: String?
    /// Nodes entered, in order (the per-node funnel metrics).
    public var visits: [NodeVisit] = []
    /// Entries for `callflow replay`, in order (JSON; digits of sensitive gathers masked).
    public var records: [[UInt8]] = []
    /// The timer this input fired, or the `http` request it answered: their stored rows go.
    public var firedTimer: String?
    /// The `http` request this input answered: its stored row goes.
    public var answeredRequest: String?
    /// Agents the call began or stopped holding: committed with the step, and refused (a
    /// conflict) when another call holds one of `take` first.
    public var agents = AgentClaims()
    /// Conference names the call claimed, named or released (it created them): committed with
    /// the step, and refused (a conflict) when another call holds the name first.
    public var conferences: [ConferenceClaim] = []

    /// Work with nothing changed yet; `CallEngine.step` fills in the rest.
    public init(_ disposition: InputDisposition, effects: [CallEffect] = []) {
        self.disposition = disposition
        self.effects = effects
    }

    /// The commands it sends, in order (the outbox).
    public var commands: [CallCommand] {
        effects.compactMap { if case .command(let c) = $0.effect { return c } else { return nil } }
    }
}

/// An effect with the call context it came from (for logs: call, flow, node).
public struct CallEffect: Sendable, Equatable {
    /// The call control id the effect belongs to.
    public var call: String
    /// The flow the call was in when the effect was made.
    public var flow: String
    /// The node the call was at (empty for a call rejected before it had one).
    public var node: String
    /// What to do.
    public var effect: Effect

    /// Memberwise.
    public init(call: String, flow: String, node: String, effect: Effect) {
        self.call = call
        self.flow = flow
        self.node = node
        self.effect = effect
    }
}

/// An outbound call waiting for its first webhook.
public struct PendingDial: Sendable, Equatable {
    /// The flow to start when the call is answered.
    public var flow: String
    /// Variables laid over the flow's own (`POST /v1/calls` `vars`).
    public var vars: JSONObject
    /// The caller id the call was placed from.
    public var from: String
    /// The number dialed.
    public var to: String
    /// The Call Control Application the call was dialed through.
    public var connectionID: String
    /// When it was dialed (Unix seconds).
    public var at: Int64

    /// Memberwise.
    public init(flow: String, vars: JSONObject, from: String, to: String, connectionID: String, at: Int64) {
        self.flow = flow
        self.vars = vars
        self.from = from
        self.to = to
        self.connectionID = connectionID
        self.at = at
    }
}

/// A node entered: where from, and by which outcome edge (`hangup` style edges included).
public struct NodeVisit: Sendable, Equatable {
    /// The flow of the node entered.
    public var flow: String
    /// The node entered.
    public var node: String
    /// The outcome edge that led here (`next`, `1`, `on_no_input`, `goto`, ...); `nil` for a call's first node.
    public var edge: String?
    /// The node left, `nil` for a call's first node: with `edge`, an edge of the funnel.
    public var from: (flow: String, node: String)?

    /// Compares `from` by flow and node (tuples are not `Equatable`).
    public static func == (a: NodeVisit, b: NodeVisit) -> Bool {
        a.flow == b.flow && a.node == b.node && a.edge == b.edge && a.from?.flow == b.from?.flow && a.from?.node == b.from?.node
    }
}
