/// Calls kept in memory: live states, recently finished traces, the webhook ids seen and the
/// outbound dials not yet answered. What one instance's ledger loads from (inline: no hop) and
/// commits into before its store writes the same changes to disk; and, with `CallEngine`, the
/// whole of `MemoryEngine` (simulation, replay, tests).
///
/// Pure like the engine.
public struct LiveCalls: Sendable {
    /// Live calls by call control id.
    public private(set) var calls: [String: CallState] = [:]
    /// Traces of recently finished calls, newest last (bounded).
    public private(set) var finished: [(id: String, trace: [TraceEntry], vars: JSONObject)] = []
    /// The webhook ids seen, with their times: a redelivered webhook is found here and dropped.
    public private(set) var dedupe: DedupeWindow
    /// Outbound calls dialed but not yet seen: dial token → what to run when they are.
    public private(set) var pendingDials: [String: PendingDial] = [:]
    /// Agent address → the live call holding it (ringing or talking through a `ring_group`).
    /// Derived from the calls' states (`RingProgress.heldAgents`), so a restore rebuilds it.
    public private(set) var agentHolders: [String: String] = [:]
    /// Conference name → the call that created it and its id; derived from the calls' states
    /// (`ConferenceMembership.claim`) like `agentHolders`.
    public private(set) var conferences: [String: ConferenceEntry] = [:]
    /// How many finished traces are kept (the oldest go first).
    public static let finishedKept = 1000

    /// No calls; webhook ids are remembered for `dedupeWindowSeconds` (an hour by default), within
    /// `dedupeMaxBytes`.
    public init(dedupeWindowSeconds: Int64 = 3600, dedupeMaxBytes: Int = DedupeWindow.defaultMaxBytes) {
        dedupe = DedupeWindow(windowSeconds: dedupeWindowSeconds, maxBytes: dedupeMaxBytes)
    }

    /// What `input` needs; `nil` for a webhook whose id was seen before (it is now remembered).
    public mutating func load(_ input: EngineInput, now: Int64) -> (keys: InputKeys, loaded: LoadedCalls)? {
        // A live leg found while the keys are made is the owner: not looked up twice per webhook.
        var found: CallState?
        let keys = InputKeys.of(input) { id in
            found = calls[id]
            return found != nil
        }
        if let id = keys.eventID, !dedupe.insert(id, now: now) { return nil }
        var loaded = LoadedCalls(owner: found ?? calls[keys.owner])
        if let leg = keys.leg { loaded.leg = calls[leg] }
        if let token = keys.dialToken { loaded.dial = pendingDials[token] }
        loaded.agentHolders = agentHolders
        loaded.conferences = conferences
        return (keys, loaded)
    }

    /// Keeps what an input changed.
    public mutating func keep(_ work: InputWork) {
        if let token = work.dialUsed { pendingDials[token] = nil }
        for case .expectDial(let token, let dial) in work.effects.map(\.effect) { expectDial(token: token, dial) }
        guard let id = work.call else { return }
        for agent in work.agents.release where agentHolders[agent] == id { agentHolders[agent] = nil }
        for agent in work.agents.take { agentHolders[agent] = id }
        for claim in work.conferences {
            if let cid = claim.id {
                conferences[claim.name] = ConferenceEntry(creator: id, id: cid)
            } else if conferences[claim.name]?.creator == id {
                conferences[claim.name] = nil
            }
        }
        if let state = work.state {
            calls[id] = state
        } else if let ended = work.ended {
            calls[id] = nil
            finished.append((id, ended.trace, ended.vars))
            if finished.count > Self.finishedKept { finished.removeFirst(finished.count - Self.finishedKept) }
        }
    }

    /// Revisions live calls run (the engine keeps these and drops the other retired ones).
    public var revisionsInUse: Set<String> { Set(calls.values.map(\.flowRevision)) }

    /// Puts back what a store kept across a restart.
    public mutating func restore(
        calls restored: [CallState], dedupe ids: [(key: UInt64, at: Int64)], dials: [String: PendingDial],
        now: Int64
    ) {
        for state in restored {
            calls[state.callControlID] = state
            for agent in state.heldAgents { agentHolders[agent] = state.callControlID }
            if let c = state.conference?.claim { conferences[c.name] = ConferenceEntry(creator: state.callControlID, id: c.id) }
        }
        dedupe.restore(ids, now: now)
        pendingDials = dials
    }

    /// Remembers an outbound call about to be dialed with `StepTag(step: 0, dial: token)` as its
    /// client_state; its first webhook starts `flow`. Entries older than an hour are dropped.
    public mutating func expectDial(token: String, _ dial: PendingDial) {
        pendingDials = pendingDials.filter { $0.value.at > dial.at - 3600 }
        pendingDials[token] = dial
    }

    /// The dial failed: forget it.
    public mutating func cancelDial(token: String) { pendingDials[token] = nil }
}

/// An engine with its calls in memory: `receive` and `apply` load, step and keep in one call.
/// What the simulation, `callflow replay`, the memory benchmark and the core's tests drive; the
/// server's pipeline does the same three steps around a ledger.
///
/// ```swift
/// var engine = MemoryEngine(flows: set, defaultFlow: "main")
/// let work = engine.receive(try WebhookEvent.decode(body), now: now)
/// for command in work.commands { send(command) }  // to Telnyx, in order
/// for case .startTimer(let id, let ms) in work.effects.map(\.effect) {
///     // when `ms` have passed:
///     _ = engine.apply(.timerFired(id: id), to: work.call!, now: now + Int64(ms / 1000))
/// }
/// ```
public struct MemoryEngine: Sendable {
    /// The flows and the step; reloaded through `reload(_:)`.
    public private(set) var engine: CallEngine
    /// The calls, kept by `run`.
    public private(set) var live: LiveCalls

    /// An engine on `flows` and no calls. `routes` maps a called number to a flow; `defaultFlow` takes
    /// the others (`nil`: calls to unrouted numbers are rejected).
    public init(
        flows: FlowSet, routes: [String: String] = [:], defaultFlow: String? = nil, dedupeWindowSeconds: Int64 = 3600,
        dedupeMaxBytes: Int = DedupeWindow.defaultMaxBytes
    ) {
        engine = CallEngine(flows: flows, routes: routes, defaultFlow: defaultFlow)
        live = LiveCalls(dedupeWindowSeconds: dedupeWindowSeconds, dedupeMaxBytes: dedupeMaxBytes)
    }

    /// The revision new calls start on.
    public var flows: FlowSet { engine.flows }
    /// Live calls by call control id.
    public var calls: [String: CallState] { live.calls }
    /// Traces of recently finished calls, newest last (at most `LiveCalls.finishedKept`).
    public var finished: [(id: String, trace: [TraceEntry], vars: JSONObject)] { live.finished }
    /// The webhook ids seen.
    public var webhookIDs: DedupeWindow { live.dedupe }
    /// The current revision first, then the retired ones live calls still run.
    public var retainedRevisions: [String] { engine.retainedRevisions }

    /// Applies one webhook.
    public mutating func receive(_ event: WebhookEvent, now: Int64) -> InputWork { run(.webhook(event), now: now) }

    /// Applies a shell input (HTTP result, timer, command failure) to a call.
    public mutating func apply(_ input: MachineInput, to id: String, now: Int64) -> InputWork {
        run(.machine(input, call: id), now: now)
    }

    /// Starts a flow on a call we placed (outbound dial); its events then route like any call.
    public mutating func startOutbound(leg: CallLeg, flow: String, vars: JSONObject, now: Int64) -> InputWork {
        run(.startOutbound(leg: leg, flow: flow, vars: vars), now: now)
    }

    /// Loads, steps and keeps one input: what `receive`, `apply` and `startOutbound` do. A webhook
    /// seen before comes back as `.duplicate`, with nothing changed.
    public mutating func run(_ input: EngineInput, now: Int64) -> InputWork {
        guard let (keys, loaded) = live.load(input, now: now) else { return InputWork(.duplicate) }
        let work = engine.step(input, keys: keys, loaded: loaded, now: now)
        live.keep(work)
        if work.ended != nil { engine.prune(keeping: live.revisionsInUse) }
        return work
    }

    /// New calls start on `flows`; calls in progress finish on the revision they started with.
    public mutating func reload(_ flows: FlowSet) {
        engine.reload(flows)
        engine.prune(keeping: live.revisionsInUse)
    }
}
