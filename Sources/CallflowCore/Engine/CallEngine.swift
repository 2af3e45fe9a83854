/// All live calls and the flows they run. Routes each verified webhook to its call's machine,
/// starts calls on `call.initiated`, and keeps every flow revision that a live call still uses.
///
/// Pure like the machine: the shell owns one engine on the loop thread, feeds it events and
/// executes the effects it returns.
public struct CallEngine: Sendable {
    public private(set) var flows: FlowSet
    private var retired: [String: FlowSet] = [:]
    public private(set) var calls: [String: CallState] = [:]
    /// Traces of recently finished calls, newest last (bounded).
    public private(set) var finished: [(id: String, trace: [TraceEntry], vars: JSONObject)] = []
    private var dedupe: DedupeWindow
    /// Outbound calls dialed but not yet seen: dial token → what to run when they are.
    public private(set) var pendingDials: [String: PendingDial] = [:]
    public var routes: [String: String]
    public var defaultFlow: String?
    public static let finishedKept = 1000

    public init(flows: FlowSet, routes: [String: String] = [:], defaultFlow: String? = nil, dedupeWindowSeconds: Int64 = 3600,
                dedupeMaxBytes: Int = DedupeWindow.defaultMaxBytes) {
        self.flows = flows
        self.routes = routes
        self.defaultFlow = defaultFlow
        self.dedupe = DedupeWindow(windowSeconds: dedupeWindowSeconds, maxBytes: dedupeMaxBytes)
    }

    /// The webhook ids remembered (read-only: count, ceiling, ids forgotten early at the ceiling).
    public var webhookIDs: DedupeWindow { dedupe }

    /// Puts back what a store kept across a restart: live calls, the flow revisions they run,
    /// remembered webhook ids and pending dials.
    public mutating func restore(calls restored: [CallState], revisions: [FlowSet], dedupe: [(key: UInt64, at: Int64)],
                                 dials: [String: PendingDial], now: Int64) {
        for set in revisions where set.revision != flows.revision { retired[set.revision] = set }
        for state in restored { calls[state.callControlID] = state }
        self.dedupe.restore(dedupe, now: now)
        pendingDials = dials
        pruneRevisions()
    }

    // MARK: Shared state (several instances)
    // The store is the truth: the shell puts a call's stored state in before each input and takes
    // it out after, so this engine never applies an input to a copy another instance has changed.

    /// Installs (or removes, with `nil`) the stored state of one call.
    public mutating func adopt(_ id: String, _ state: CallState?) { calls[id] = state }

    /// Installs (or removes) one stored pending dial.
    public mutating func adoptDial(token: String, _ dial: PendingDial?) { pendingDials[token] = dial }

    /// Makes a stored revision available to calls that run it.
    public mutating func add(revision set: FlowSet) {
        if set.revision != flows.revision { retired[set.revision] = set }
    }

    /// Whether calls on `revision` can run here.
    public func holds(revision: String) -> Bool { flowSet(revision) != nil }

    /// Revisions a live call runs that this engine does not hold (their flows must come from the store).
    public var missingRevisions: Set<String> {
        Set(calls.values.map(\.flowRevision)).subtracting(retainedRevisions)
    }

    /// New calls use `newFlows`; calls in progress keep the revision they started with.
    public mutating func reload(_ newFlows: FlowSet) {
        if flows.revision != newFlows.revision { retired[flows.revision] = flows }
        flows = newFlows
        pruneRevisions()
    }

    func flowSet(_ revision: String) -> FlowSet? {
        revision == flows.revision ? flows : retired[revision]
    }

    /// The node a call is at, in the revision it runs.
    public func node(of state: CallState) -> Node? { flowSet(state.flowRevision)?[state.flow]?.nodes[state.node] }

    /// The flow to run for a call to `number`.
    public func route(_ number: String) -> String? { routes[number] ?? defaultFlow }

    /// Applies one webhook. With `dedupe: false` the caller has checked `event.id` already (several
    /// instances share one dedupe set in their store).
    public mutating func receive(_ event: WebhookEvent, now: Int64, dedupe check: Bool = true) -> EngineOutput {
        guard !check || dedupe.insert(event.id, now: now) else { return EngineOutput(.duplicate) }
        var output = route(event, now: now)
        output.seenKey = (DedupeWindow.storedKey(event.id), now)
        return output
    }

    private mutating func route(_ event: WebhookEvent, now: Int64) -> EngineOutput {
        guard let leg = event.call else { return EngineOutput(.ignored("\(event.eventType) names no call")) }
        if calls[leg.callControlID] != nil {
            return apply(.webhook(event), to: leg.callControlID, now: now)
        }
        let tag = StepTag(clientState: leg.clientState)
        if let parent = tag?.parent, calls[parent] != nil {
            return apply(.webhook(event), to: parent, now: now)
        }
        if let token = tag?.dial, let dial = pendingDials[token] {
            switch event.kind {
            case .callInitiated:
                return EngineOutput(.accepted)  // ringing: the flow starts when someone answers
            case .callHangup(let cause, _, _):
                pendingDials[token] = nil
                return EngineOutput(.accepted, effects: [CallEffect(call: leg.callControlID, flow: dial.flow, node: "", effect:
                    .log(level: .info, message: "outbound call to \(dial.to) ended unanswered (\(cause?.rawValue ?? "unknown"))"))])
            default:
                pendingDials[token] = nil
            }
            // Answered (or a detection result that implies it): start the flow, then apply the event.
            var started = startOutbound(leg: CallLeg(callControlID: leg.callControlID, connectionID: dial.connectionID,
                                                     from: dial.from, to: dial.to), flow: dial.flow, vars: dial.vars, now: now)
            guard calls[leg.callControlID] != nil else { return started }
            let applied = apply(.webhook(event), to: leg.callControlID, now: now)
            started.effects += applied.effects
            return started
        }
        guard case .callInitiated(let direction, _, _, _) = event.kind, direction != .outgoing else {
            return EngineOutput(.unknownCall("\(event.eventType) for unknown call \(leg.callControlID)"))
        }
        let to = leg.to ?? ""
        guard let flow = route(to), flows[flow] != nil else {
            let reason = route(to).map { "flow \"\($0)\" for \(to) is not loaded" } ?? "no flow routes calls to \(to) and flows.default is unset"
            let reject = CallCommand(callControlID: leg.callControlID, action: "reject", body: [
                "cause": "CALL_REJECTED", "client_state": .string(StepTag(step: 0).encoded),
                "command_id": .string("cf-reject-\(event.id)"),
            ])
            return EngineOutput(.accepted, effects: [
                CallEffect(call: leg.callControlID, flow: "", node: "", effect: .log(level: .warning, message: "rejecting call: \(reason)")),
                CallEffect(call: leg.callControlID, flow: "", node: "", effect: .command(reject)),
            ])
        }
        let transition = CallMachine(flows: flows).start(leg: leg, flow: flow, direction: "inbound", now: now)
        return store(transition, after: nil)
    }

    /// Starts a flow on a call we placed (outbound dial); its events then route like any call.
    public mutating func startOutbound(leg: CallLeg, flow: String, vars: JSONObject, now: Int64) -> EngineOutput {
        let transition = CallMachine(flows: flows).start(leg: leg, flow: flow, direction: "outbound", vars: vars, answered: true, now: now)
        return store(transition, after: nil)
    }

    /// Remembers an outbound call about to be dialed with `StepTag(step: 0, dial: token)` as its
    /// client_state; its first webhook starts `flow`. Entries older than an hour are dropped.
    public mutating func expectDial(token: String, _ dial: PendingDial) {
        pendingDials = pendingDials.filter { $0.value.at > dial.at - 3600 }
        pendingDials[token] = dial
    }

    /// The dial failed: forget it.
    public mutating func cancelDial(token: String) { pendingDials[token] = nil }

    /// Applies a non-webhook input (HTTP result, timer, command failure) to a call.
    public mutating func apply(_ input: MachineInput, to id: String, now: Int64) -> EngineOutput {
        guard let state = calls[id] else { return EngineOutput(.unknownCall("call \(id) is not live")) }
        guard let set = flowSet(state.flowRevision) else {
            return EngineOutput(.ignored("flow revision \(state.flowRevision) of call \(id) is gone"))
        }
        let transition = CallMachine(flows: set).handle(state, input, now: now)
        var output = store(transition, after: state)
        switch transition.disposition {
        case .applied: break
        case .stale(let why): output.disposition = .stale(why)
        case .ignored(let why): output.disposition = .ignored(why)
        }
        return output
    }

    private mutating func store(_ t: Transition, after previous: CallState?) -> EngineOutput {
        let id = t.state.callControlID
        let effects = t.effects.map { CallEffect(call: id, flow: t.state.flow, node: t.state.node, effect: $0) }
        var visits: [NodeVisit] = []
        var from: (flow: String, node: String)? = previous.map { ($0.flow, $0.node) }
        for entry in t.state.trace where entry.kind == .node && entry.step > (previous?.step ?? 0) {
            let parts = entry.detail.split(separator: "/", maxSplits: 1).map(String.init)
            guard parts.count == 2 else { continue }
            visits.append(NodeVisit(flow: parts[0], node: parts[1], edge: entry.edge, from: from))
            from = (parts[0], parts[1])
        }
        if t.state.phase == .ended {
            calls[id] = nil
            finished.append((id, t.state.trace, t.state.vars))
            if finished.count > Self.finishedKept { finished.removeFirst(finished.count - Self.finishedKept) }
            pruneRevisions()
        } else {
            calls[id] = t.state
        }
        var output = EngineOutput(.accepted, effects: effects)
        output.visits = visits
        output.call = id
        return output
    }

    private mutating func pruneRevisions() {
        guard !retired.isEmpty else { return }
        let used = Set(calls.values.map(\.flowRevision))
        retired = retired.filter { used.contains($0.key) }
    }

    public var retainedRevisions: [String] { [flows.revision] + retired.keys.sorted() }
}

/// An effect with the call context it came from (for logs: call, flow, node).
public struct CallEffect: Sendable, Equatable {
    public var call: String
    public var flow: String
    public var node: String
    public var effect: Effect
}

public struct EngineOutput: Sendable, Equatable {
    public enum Disposition: Sendable, Equatable {
        case accepted
        case duplicate
        case stale(String)
        case ignored(String)
        /// For a call this engine does not know (not ours, or long finished).
        case unknownCall(String)
    }
    public var disposition: Disposition
    public var effects: [CallEffect]
    /// The stored key of the webhook id this output recorded as seen (for the store).
    public var seenKey: (key: UInt64, at: Int64)? = nil
    /// Nodes entered while applying the input, in order (for the per-node funnel metrics).
    public var visits: [NodeVisit] = []
    /// The call the input was applied to, when there was one.
    public var call: String? = nil

    public init(_ disposition: Disposition, effects: [CallEffect] = []) {
        self.disposition = disposition
        self.effects = effects
    }

    public static func == (a: EngineOutput, b: EngineOutput) -> Bool {
        a.disposition == b.disposition && a.effects == b.effects && a.visits == b.visits && a.call == b.call
            && a.seenKey?.key == b.seenKey?.key && a.seenKey?.at == b.seenKey?.at
    }
}

/// An outbound call waiting for its first webhook.
public struct PendingDial: Sendable, Equatable {
    public var flow: String
    public var vars: JSONObject
    public var from: String
    public var to: String
    public var connectionID: String
    /// When it was dialed (Unix seconds).
    public var at: Int64

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
    public var flow: String
    public var node: String
    public var edge: String?
    public var from: (flow: String, node: String)?

    public static func == (a: NodeVisit, b: NodeVisit) -> Bool {
        a.flow == b.flow && a.node == b.node && a.edge == b.edge && a.from?.flow == b.from?.flow && a.from?.node == b.from?.node
    }
}
