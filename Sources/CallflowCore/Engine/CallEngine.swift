/// The flows and the one function the shell steps calls with: `step(input, loaded) → InputWork`.
/// It holds no call: a ledger loads what an input needs (`InputKeys`), the engine steps it, and
/// the ledger commits the `InputWork` that comes out. So the same engine serves calls kept in
/// memory (one instance) and calls kept in Redis (several), and the shell never reads it back.
///
/// Pure like the machine. It keeps every flow revision that a live call may still run; the owner
/// of the calls says which those are (`prune(keeping:)`).
public struct CallEngine: Sendable {
    /// The revision new calls start on (`reload(_:)` replaces it; the old one is kept while calls run it).
    public private(set) var flows: FlowSet
    private var retired: [String: FlowSet] = [:]
    /// Called number (`call.initiated` `to`) → flow name: `flows.routes`.
    public var routes: [String: String]
    /// The flow for numbers `routes` does not name; `nil`: such calls are rejected (`CALL_REJECTED`).
    public var defaultFlow: String?

    /// An engine with one revision and no retired ones.
    public init(flows: FlowSet, routes: [String: String] = [:], defaultFlow: String? = nil) {
        self.flows = flows
        self.routes = routes
        self.defaultFlow = defaultFlow
    }

    /// New calls use `newFlows`; calls in progress keep the revision they started with.
    public mutating func reload(_ newFlows: FlowSet) {
        if flows.revision != newFlows.revision { retired[flows.revision] = flows }
        flows = newFlows
    }

    /// Makes a stored revision available to calls that run it.
    public mutating func add(revision set: FlowSet) {
        if set.revision != flows.revision { retired[set.revision] = set }
    }

    /// Drops retired revisions no live call runs any more.
    public mutating func prune(keeping used: Set<String>) {
        guard !retired.isEmpty else { return }
        retired = retired.filter { used.contains($0.key) }
    }

    /// Whether calls on `revision` can run here.
    public func holds(revision: String) -> Bool { flowSet(revision) != nil }

    /// The current revision first, then the retired ones still held, sorted (`/v1/flows`).
    public var retainedRevisions: [String] { [flows.revision] + retired.keys.sorted() }

    func flowSet(_ revision: String) -> FlowSet? {
        revision == flows.revision ? flows : retired[revision]
    }

    /// The node a call is at, in the revision it runs.
    public func node(of state: CallState) -> Node? { flowSet(state.flowRevision)?[state.flow]?.nodes[state.node] }

    /// The flow to run for a call to `number`.
    public func route(_ number: String) -> String? { routes[number] ?? defaultFlow }

    // MARK: the step

    /// Applies one input to what was loaded for it (`keys` are the ones it was loaded by).
    public func step(_ input: EngineInput, keys: InputKeys, loaded: LoadedCalls, now: Int64) -> InputWork {
        switch input {
        case .webhook(let event):
            var work = route(event, keys: keys, loaded: loaded, now: now)
            work.seen = (DedupeWindow.storedKey(event.id), now)
            return work
        case .machine(let machineInput, let call):
            var work: InputWork
            if let state = loaded.owner {
                work = apply(machineInput, to: state, loaded: loaded, now: now)
                if let entry = Recording.machine(machineInput, now: now) { work.records.insert(entry, at: 0) }
            } else if case .commandSucceeded(_, "dial", let data) = machineInput, let leg = data["call_control_id"]?.stringValue {
                // A leg dialed for a call that ended before Telnyx named it: nobody would ever hang it up.
                work = Self.orphaned(leg: leg, parent: call, why: "its call \(call) ended before the dial was answered")
            } else {
                work = InputWork(.unknownCall("call \(call) is not live"))
            }
            switch machineInput {
            case .timerFired(let id): work.firedTimer = id
            case .httpResult(let id, _): work.answeredRequest = id
            default: break
            }
            return work
        case .startOutbound(let leg, let flow, let vars):
            return started(
                CallMachine(flows: flows, agentHolders: loaded.agentHolders, conferences: loaded.conferences).start(
                    leg: leg, flow: flow, direction: "outbound", vars: vars, answered: true, now: now),
                now: now)
        }
    }

    private func route(_ event: WebhookEvent, keys: InputKeys, loaded: LoadedCalls, now: Int64) -> InputWork {
        guard let leg = event.call else { return InputWork(.ignored("\(event.eventType) names no call")) }
        // The leg's own call first, then the parent its client_state names (a child leg's event).
        if let state = keys.leg == nil ? loaded.owner : loaded.leg { return applyRecorded(event, to: state, loaded: loaded, now: now) }
        if keys.leg != nil, let parent = loaded.owner { return applyRecorded(event, to: parent, loaded: loaded, now: now) }
        if let leg = keys.leg, case .callAnswered = event.kind,
            StepTag(clientState: leg == event.call?.callControlID ? event.call?.clientState : nil)?.agent != nil
        {
            // An agent's leg answering for a call that is gone: nobody is behind it.
            return Self.orphaned(leg: leg, parent: keys.owner, why: "its call \(keys.owner) has ended")
        }
        if let token = keys.dialToken, let dial = loaded.dial {
            switch event.kind {
            case .callInitiated:
                return InputWork(.accepted)  // ringing: the flow starts when someone answers
            case .callHangup(let cause, _, _):
                var work = InputWork(
                    .accepted,
                    effects: [
                        CallEffect(
                            call: leg.callControlID, flow: dial.flow, node: "",
                            effect:
                                .log(level: .info, message: "outbound call to \(dial.to) ended unanswered (\(cause?.rawValue ?? "unknown"))"))
                    ])
                work.dialUsed = token
                return work
            default:
                break
            }
            // Answered (or a detection result that implies it): start the flow, then apply the event.
            let callLeg = CallLeg(callControlID: leg.callControlID, connectionID: dial.connectionID, from: dial.from, to: dial.to)
            var work = started(
                CallMachine(flows: flows, agentHolders: loaded.agentHolders, conferences: loaded.conferences).start(
                    leg: callLeg, flow: dial.flow, direction: "outbound", vars: dial.vars,
                    answered: true, now: now), now: now)
            work.dialUsed = token
            guard let state = work.state else { return work }
            let applied = applyRecorded(event, to: state, loaded: loaded, now: now)
            work.effects += applied.effects
            work.visits += applied.visits
            work.records += applied.records
            work.state = applied.state
            work.ended = applied.ended
            // Claims against nothing: the call did not exist before this input.
            let held = applied.state?.heldAgents ?? []
            work.agents = AgentClaims.between([], held)
            work.conferences = ConferenceClaim.between(nil, applied.state?.conference?.claim)
            return work
        }
        guard case .callInitiated(let direction, _, _, _) = event.kind, direction != .outgoing else {
            return InputWork(.unknownCall("\(event.eventType) for unknown call \(leg.callControlID)"))
        }
        let to = leg.to ?? ""
        guard let flow = route(to), flows[flow] != nil else {
            let reason = route(to).map { "flow \"\($0)\" for \(to) is not loaded" } ?? "no flow routes calls to \(to) and flows.default is unset"
            let reject = CallCommand(
                callControlID: leg.callControlID, action: "reject",
                body: [
                    "cause": "CALL_REJECTED", "client_state": .string(StepTag(step: 0).encoded),
                    "command_id": .string("cf-reject-\(event.id)"),
                ])
            return InputWork(
                .accepted,
                effects: [
                    CallEffect(call: leg.callControlID, flow: "", node: "", effect: .log(level: .warning, message: "rejecting call: \(reason)")),
                    CallEffect(call: leg.callControlID, flow: "", node: "", effect: .command(reject)),
                ])
        }
        var work = started(
            CallMachine(flows: flows, agentHolders: loaded.agentHolders, conferences: loaded.conferences).start(
                leg: leg, flow: flow, direction: "inbound", now: now), now: now)
        if work.call != nil { work.records.append(Recording.webhook(event, at: nil, now: now)) }
        return work
    }

    /// A hang-up of a leg Callflow dialed for `parent` (an agent's) that outlived its call.
    static func orphaned(leg: String, parent: String, why: String) -> InputWork {
        let hangup = CallCommand(
            callControlID: leg, action: "hangup",
            body: ["client_state": .string(StepTag(step: 0, parent: parent).encoded), "command_id": .string("cf-orphan-\(leg)")])
        return InputWork(
            .accepted,
            effects: [
                CallEffect(call: parent, flow: "", node: "", effect: .log(level: .info, message: "hanging up leg \(leg): \(why)")),
                CallEffect(call: parent, flow: "", node: "", effect: .command(hangup)),
            ])
    }

    /// A webhook applied to a live call, with its replay entry (masked by the node it arrived at).
    private func applyRecorded(_ event: WebhookEvent, to state: CallState, loaded: LoadedCalls, now: Int64) -> InputWork {
        var work = apply(.webhook(event), to: state, loaded: loaded, now: now)
        work.records.insert(Recording.webhook(event, at: node(of: state), now: now), at: 0)  // before what it caused
        return work
    }

    private func apply(_ input: MachineInput, to state: CallState, loaded: LoadedCalls, now: Int64) -> InputWork {
        guard let set = flowSet(state.flowRevision) else {
            return InputWork(.ignored("flow revision \(state.flowRevision) of call \(state.callControlID) is gone"))
        }
        let transition = CallMachine(flows: set, agentHolders: loaded.agentHolders, conferences: loaded.conferences).handle(state, input, now: now)
        var work = made(transition, now: now)
        // Agents the step began or stopped holding (a ring group's legs; all of them when the call ended).
        let before = state.heldAgents
        let after = transition.state.phase == .ended ? [] : transition.state.heldAgents
        work.agents = AgentClaims.between(before, after)
        work.conferences = ConferenceClaim.between(
            state.conference?.claim, transition.state.phase == .ended ? nil : transition.state.conference?.claim)
        switch transition.disposition {
        case .applied: break
        case .stale(let why): work.disposition = .stale(why)
        case .ignored(let why): work.disposition = .ignored(why)
        }
        return work
    }

    /// A new call's first transition, with its start entry for replay.
    private func started(_ t: Transition, now: Int64) -> InputWork {
        var work = made(t, now: now)
        if t.state.phase != .ended {
            work.agents = AgentClaims.between([], t.state.heldAgents)
            work.conferences = ConferenceClaim.between(nil, t.state.conference?.claim)
        }
        if let state = work.state, let start = work.visits.first(where: { $0.from == nil }) {
            work.records.append(Recording.start(state, flow: start.flow, now: now))
        }
        return work
    }

    private func made(_ t: Transition, now: Int64) -> InputWork {
        let id = t.state.callControlID
        var work = InputWork(.accepted, effects: t.effects.map { CallEffect(call: id, flow: t.state.flow, node: t.state.node, effect: $0) })
        work.visits = t.visits
        work.call = id
        if t.state.phase == .ended {
            work.ended = EndedCall(trace: t.state.trace, vars: t.state.vars, at: now)
        } else {
            work.state = t.state
        }
        return work
    }
}
