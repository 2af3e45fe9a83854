/// The `ring_group` node in the machine: dialing agents, screening, the bridge, and every way a
/// leg can end. All of one run happens in one step of the call; each agent leg's events find
/// their agent by the index in their client_state (`StepTag.agent`).
extension Run {
    /// The ring the current node runs: a `ring_group`'s own, or the one a `queue` rings while the
    /// caller waits (then `queue` names the queue an answering agent is bridged with).
    var ringContext: (spec: RingGroupSpec, queue: String?)? {
        switch node?.kind {
        case .ringGroup(let spec)?: return (spec, nil)
        case .queue(let q)?: return q.ring.map { ($0, q.queue) }
        default: return nil
        }
    }

    /// The agents of a ring spec, rendered (templates) or from the group file, once each.
    mutating func resolveAgents(_ spec: RingGroupSpec) -> [String] { resolveAgents(spec.agents) }

    mutating func resolveAgents(_ who: RingGroupSpec.Agents) -> [String] {
        var agents: [String] = []
        switch who {
        case .list(let list):
            for t in list {
                let a = render(t)
                guard E164.isDialable(a) else {
                    log(.warning, "ring_group \"\(state.node)\": \"\(state.redact(a))\" is not an E.164 number or a sip: URI; skipped")
                    continue
                }
                agents.append(a)
            }
        case .group(let name):
            agents = flows.groups[name] ?? []
        }
        var seen = Set<String>()
        return agents.filter { seen.insert($0).inserted }
    }

    /// Enters a `ring_group`: rings the free agents (all, or the first in order) with the hold
    /// audio playing. `true` when the call now waits (or already moved on).
    mutating func startRingGroup(_ spec: RingGroupSpec) -> Bool {
        let agents = resolveAgents(spec)
        guard state.facts.connectionID != nil else {
            log(.error, "ring_group needs the call's connection_id, which Telnyx did not send")
            failNode()
            return true
        }
        state.ring = RingProgress(agents: agents)
        guard ringMore(spec) else {
            state.ring = nil
            trace(.note, "ring_group: no agent is free")
            enter(spec.onNoAnswer, via: "on_no_answer")
            return false
        }
        issuePrompt(spec.hold, loop: "infinity")
        state.ring?.holding = true
        return true
    }

    /// Dials the next free agents: every one left (simultaneous) or the next one (sequential).
    /// Returns whether it dialed any; arms the run's deadline when it did.
    mutating func ringMore(_ spec: RingGroupSpec) -> Bool {
        guard var ring = state.ring else { return false }
        var dialed = false
        var busy: [String] = []
        defer {
            // One line for all busy agents: a queue's callers look every round, and a line per
            // agent per round would fill their traces.
            if !busy.isEmpty {
                trace(.note, busy.count == 1 ? "agent \(busy[0]) is busy" : "\(busy.count) agents busy: \(busy.joined(separator: ", "))")
            }
        }
        while ring.nextAgent < ring.agents.count {
            let i = ring.nextAgent
            ring.nextAgent += 1
            let agent = ring.agents[i]
            guard ring.legIndex(agent: i) == nil else { continue }  // never ring one agent twice in a run
            if let holder = agentHolders[agent], holder != state.callControlID {
                busy.append(agent)
                continue
            }
            var body: JSONObject = [
                "to": .string(agent), "from": .string(spec.from.map { render($0) } ?? state.facts.to),
                "connection_id": .string(state.facts.connectionID ?? ""), "timeout_secs": .int(spec.agentRingSecs[agent] ?? spec.ringSecs),
            ]
            if body["from"]?.stringValue?.isEmpty == true { body["from"] = .string(state.facts.to) }
            issue(
                "dial", body, tag: StepTag(step: state.step, parent: state.callControlID, agent: ring.round * RingProgress.agentLimit + i),
                reportsResult: true, ownQueue: true)
            ring.legs.append(RingLeg(agent: i, status: .ringing, dial: commandID))
            trace(.note, "ringing agent \(agent)")
            dialed = true
            if spec.strategy == .sequential { break }
        }
        state.ring = ring
        if dialed {
            let longest =
                ring.legs.filter { $0.status == .ringing }.map { spec.agentRingSecs[ring.agents[$0.agent]] ?? spec.ringSecs }.max() ?? spec.ringSecs
            armRingDeadline(ms: longest * 1000 + RingGroupSpec.graceMs)
        }
        return dialed
    }

    /// (Re)arms the run's deadline: a fresh id per arming, so a timer of an earlier round is stale.
    /// A `ring_group` waits on it; a `queue` keeps it beside its announcements.
    mutating func armRingDeadline(ms: Int?) {
        guard var ring = state.ring else { return }
        if let old = ring.deadline { effects.append(.cancelTimer(id: old)) }
        ring.deadline = nil
        if let ms {
            ring.rounds += 1
            let id = "\(timerID).r\(ring.rounds)"
            effects.append(.startTimer(id: id, milliseconds: ms))
            trace(.timer, "start \(ms) ms")
            ring.deadline = id
        }
        state.ring = ring
        if case .ringGroup? = node?.kind { state.waiting = .ringing(timer: ring.deadline) }
    }

    /// A command to agent leg `index` (a hang-up, the screening prompt), tagged with its agent.
    mutating func issueToAgent(_ action: String, _ body: JSONObject, leg: RingLeg) {
        guard let id = leg.leg else { return }
        let tag = (state.ring?.round ?? 0) * RingProgress.agentLimit + leg.agent
        issue(action, body, leg: id, tag: StepTag(step: state.step, parent: state.callControlID, agent: tag))
    }

    /// Hangs up the legs of the run that still ring or wait for the agent's key (not `except`);
    /// with `keepingTaken`, not the agent being bridged either (a queue's caller was just bridged).
    mutating func cancelAgentLegs(except keep: Int? = nil, keepingTaken: Bool = false) {
        guard var ring = state.ring else { return }
        for i in ring.legs.indices where i != keep {
            let status = ring.legs[i].status
            guard status == .ringing || status == .screening || (status == .bridging && !keepingTaken) else { continue }
            ring.legs[i].status = .done
            if state.phase == .running { issueToAgent("hangup", [:], leg: ring.legs[i]) }
        }
        state.ring = ring
    }

    /// Leaving the node (any edge, a failure, the caller gone): no agent keeps ringing for a call
    /// that moved on, the hold audio stops, and the claims go with the run.
    mutating func endRing() {
        guard let ring = state.ring else { return }
        if let d = ring.deadline, state.waiting.timer != d { effects.append(.cancelTimer(id: d)) }
        cancelAgentLegs()
        if ring.holding, state.phase == .running { issue("playback_stop", [:]) }
        state.ring = nil
    }

    /// Nobody took the call this round: ring the next agent (sequential), keep waiting for the
    /// others (simultaneous), or give up.
    mutating func ringAdvance(_ spec: RingGroupSpec) {
        guard let ring = state.ring, ring.taken == nil else { return }
        if spec.strategy == .sequential, !ring.legs.contains(where: { $0.status == .ringing }), ringMore(spec) { return resumeHold(spec) }
        if ring.legs.contains(where: { $0.status == .ringing }) { return resumeHold(spec) }
        if case .queue(let q)? = node?.kind {
            // The caller keeps waiting: ring again (every agent may be rung again) after a pause.
            trace(.note, "queue: no agent took the call; ringing again in \(q.retrySecs) s")
            armRingDeadline(ms: q.retrySecs * 1000)
            return
        }
        trace(.note, "ring_group: nobody answered")
        cancelWaitTimer()
        move(spec.onNoAnswer, via: "on_no_answer")
    }

    /// A bridge that did not form stopped the hold audio: the caller hears it again while agents ring.
    mutating func resumeHold(_ spec: RingGroupSpec) {
        guard case .ringGroup? = node?.kind, state.ring?.holding == false else { return }
        issuePrompt(spec.hold, loop: "infinity")
        state.ring?.holding = true
    }

    /// A rough length of a prompt before the listening starts (Telnyx counts a gather's timeout
    /// from the end of its prompt): speech at about 70 ms a character, audio of unknown length 30 s.
    static func promptMs(_ prompt: Prompt) -> Int {
        if case .say(let text, _, _, _) = prompt { return text.source.count * 70 }
        return 30_000
    }

    /// Whether a dial's command id is of a step other than the current one (a ring's, not a `command`
    /// node's dial, whose response the node awaits in its own step).
    static func isRingDial(_ commandID: String, of state: CallState) -> Bool {
        guard let step = CallCommand.step(ofCommandID: commandID) else { return false }
        return step < state.step
    }

    /// A `queue`'s pause between rounds is over: a fresh run over every agent.
    mutating func ringAgain(_ spec: RingGroupSpec) {
        var fresh = RingProgress(agents: resolveAgents(spec))
        fresh.rounds = state.ring?.rounds ?? 0
        fresh.round = (state.ring?.round ?? 0) + 1
        state.ring = fresh
        if !ringMore(spec) { ringAdvance(spec) }
    }

    /// One event of an agent leg (`agent` from its client_state, `step` the step it was dialed at).
    mutating func agentLegEvent(_ event: WebhookEvent, leg: String, agent tagged: Int, step: Int) -> Disposition {
        if let i = state.serving.firstIndex(where: { $0.leg == leg }) { return servingLegEvent(event, index: i) }
        let agent = tagged % RingProgress.agentLimit
        guard state.phase == .running, step == state.step, let (spec, _) = ringContext, var ring = state.ring,
            tagged / RingProgress.agentLimit == ring.round, let li = ring.legIndex(agent: agent)
        else {
            // A leg of a run the call has left: if it answers now, nobody is behind it.
            if case .callAnswered = event.kind, state.phase != .ended {
                issue("hangup", [:], leg: leg, tag: StepTag(step: step, parent: state.callControlID, agent: tagged))
                trace(.note, "agent leg \(leg) answered after its ring ended; hung up")
                return .applied
            }
            return .stale("\(event.eventType) of agent leg \(leg) from step \(step)")
        }
        let named = ring.legs[li].leg != nil
        if !named {
            ring.legs[li].leg = leg
            state.ring = ring
            // Cancelled before Telnyx named it: this event is the first chance to hang it up.
            if ring.legs[li].status == .done {
                issueToAgent("hangup", [:], leg: ring.legs[li])
                return .applied
            }
        }
        let status = ring.legs[li].status
        switch event.kind {
        case .callInitiated:
            return .applied
        case .callAnswered:
            guard status == .ringing, ring.taken == nil else {
                // Answered after another agent took the call, or after its deadline cancelled it
                // (a leg cancelled once it was named has had its hang-up already).
                let cancelled = status == .done && named
                ring.legs[li].status = .done
                state.ring = ring
                if cancelled { return .applied }
                issueToAgent("hangup", [:], leg: ring.legs[li])
                trace(.note, "agent \(ring.agents[agent]) answered too late; hung up")
                return .applied
            }
            trace(.note, "agent \(ring.agents[agent]) answered")
            // Screened, the others ring on until this agent accepts (a decline must not end the group).
            if spec.screen == nil { cancelAgentLegs(except: li) }
            if let screen = spec.screen {
                state.ring?.legs[li].status = .screening
                screenAgent(screen, leg: ring.legs[li])
                armRingDeadline(ms: screen.timeoutMs + Self.promptMs(screen.prompt) + RingGroupSpec.graceMs)
            } else {
                bridgeAgent(spec, li)
            }
        case .gatherEnded(let digits, let gatherStatus):
            guard status == .screening else { return .ignored("gather of agent leg \(leg) is not awaited") }
            if gatherStatus == .callHangup { return .applied }  // its hang-up follows
            guard let screen = spec.screen, digits == screen.accept else {
                trace(.note, "agent \(ring.agents[agent]) declined")
                state.ring?.legs[li].status = .done
                issueToAgent("hangup", [:], leg: ring.legs[li])
                ringAdvance(spec)
                return .applied
            }
            trace(.note, "agent \(ring.agents[agent]) accepted")
            cancelAgentLegs(except: li)
            bridgeAgent(spec, li)
        case .callBridged:
            agentBridged()
        case .callHangup(let cause, _, _):
            state.ring?.legs[li].status = .done
            switch status {
            case .bridged:
                if case .queue? = node?.kind {
                    // The agent served the head of the queue and is free again.
                    trace(.note, "agent \(ring.agents[agent]) finished a call from the queue")
                    ringAdvance(spec)
                    return .applied
                }
                trace(.note, "agent \(ring.agents[agent]) hung up; the caller goes on")
                cancelWaitTimer()
                move(spec.next, via: "next")
            case .done:
                return .applied
            default:
                trace(.note, "agent \(ring.agents[agent]) did not take the call (\(cause?.rawValue ?? "unknown"))")
                ringAdvance(spec)
            }
        default:
            return .ignored("\(event.eventType) of agent leg \(leg) is not awaited")
        }
        return .applied
    }

    /// The screening prompt on the agent's leg: one key, Telnyx tries once.
    mutating func screenAgent(_ screen: RingGroupSpec.Screening, leg: RingLeg) {
        let (action, body) = gatherRequest(
            InputSpec(
                prompt: screen.prompt, failurePrompt: nil, minDigits: 1, maxDigits: 1, validDigits: "0123456789*#", terminator: nil,
                timeoutMs: screen.timeoutMs, interDigitMs: nil))
        issueToAgent(action, body, leg: leg)
    }

    /// Bridges the caller with agent leg `li`: the hold audio stops, the caller stays parked when
    /// the agent hangs up (so the flow goes on), and Telnyx refuses to bridge a leg already bridged.
    mutating func bridgeAgent(_ spec: RingGroupSpec, _ li: Int) {
        guard var ring = state.ring, let leg = ring.legs[li].leg else { return }
        ring.legs[li].status = .bridging
        if let queue = ringContext?.queue {
            // First come, first served: the agent takes the head of the queue, whoever rang them.
            // From here the agent serves that caller: held by this call until its leg hangs up,
            // while this caller's ring goes on for itself.
            issueToAgent("bridge", ["queue": .string(queue), "prevent_double_bridge": true], leg: ring.legs[li])
            ring.legs[li].status = .done
            state.ring = ring
            state.serving.append(ServingAgent(agent: ring.agents[ring.legs[li].agent], leg: leg))
            trace(.note, "agent \(ring.agents[ring.legs[li].agent]) takes the head of queue \(queue)")
            ringAdvance(spec)
            return
        }
        if ring.holding {
            ring.holding = false
            state.ring = ring
            issue("playback_stop", [:])
        } else {
            state.ring = ring
        }
        if let saveAs = spec.saveAs { state.vars[saveAs] = .string(ring.agents[ring.legs[li].agent]) }
        issue("bridge", ["call_control_id": .string(leg), "park_after_unbridge": "self", "prevent_double_bridge": true])
        armRingDeadline(ms: RingGroupSpec.graceMs)
    }

    /// `call.bridged` (of the caller or of the agent leg): the conversation is on.
    mutating func agentBridged() {
        guard var ring = state.ring, let i = ring.legs.firstIndex(where: { $0.status == .bridging }) else { return }
        ring.legs[i].status = .bridged
        state.ring = ring
        trace(.note, "bridged with agent \(ring.agents[ring.legs[i].agent])")
        armRingDeadline(ms: nil)
    }

    /// The run's deadline: a leg Telnyx never reported, a screening nobody answered, a bridge
    /// never confirmed. Those legs are hung up and the group goes on as if they did not answer.
    mutating func ringDeadline() {
        guard let (spec, _) = ringContext else { return }
        state.ring?.deadline = nil
        if case .ringGroup? = node?.kind { state.waiting = .ringing(timer: nil) }
        if case .queue? = node?.kind, state.ring?.legs.allSatisfy({ $0.status == .done }) != false {
            return ringAgain(spec)
        }
        trace(.timer, "ring deadline passed")
        cancelAgentLegs()
        ringAdvance(spec)
    }

    /// A command of the run that Telnyx refused: a dial (that agent cannot be rung), the bridge
    /// or a screening prompt (that agent is let go), or the hold audio (logged; ringing goes on).
    /// `nil` when the command is not one of the run's.
    mutating func ringCommandFailed(commandID: String, action: String, detail: String, gone: Bool) -> Disposition? {
        if gone {
            // A hang-up refused as "already ended" while the flow runs was for another leg (the
            // caller's own hang-up is only sent as the flow stops): that agent is gone already.
            if action == "hangup" { return state.phase == .running ? .applied : nil }
            // The hold audio refused that way: the caller is gone, which is the usual path.
            if state.ring == nil || action.hasPrefix("playback") { return nil }
        }
        guard state.phase == .running, let (spec, _) = ringContext, var ring = state.ring,
            CallCommand.step(ofCommandID: commandID) == state.step
        else { return nil }
        if let li = ring.legs.firstIndex(where: { $0.dial == commandID }) {
            log(.warning, "ring_group \"\(state.node)\": dialing agent \(ring.agents[ring.legs[li].agent]) failed: \(detail)")
            ring.legs[li].status = .done
            state.ring = ring
            ringAdvance(spec)
            return .applied
        }
        switch action {
        case "playback_start", "playback_stop":
            log(.warning, "ring_group \"\(state.node)\": hold audio failed: \(detail)")
            if action == "playback_start" { state.ring?.holding = false }
            return .applied
        case "bridge" where ringContext?.queue != nil:
            // The queue was empty (its head left): the agent is let go.
            guard let serving = state.serving.popLast() else { return .applied }
            log(.warning, "queue: bridging agent \(serving.agent) with the head failed: \(detail)")
            issue("hangup", [:], leg: serving.leg, tag: StepTag(step: state.step, parent: state.callControlID))
            ringAdvance(spec)
            return .applied
        case "bridge", "gather_using_speak", "gather_using_audio":
            guard let li = ring.legs.firstIndex(where: { $0.status == .bridging || $0.status == .screening }) else { return .applied }
            log(.warning, "ring_group \"\(state.node)\": \(action) with agent \(ring.agents[ring.legs[li].agent]) failed: \(detail)")
            ring.legs[li].status = .done
            state.ring = ring
            issueToAgent("hangup", [:], leg: ring.legs[li])
            ringAdvance(spec)
            return .applied
        case "hangup":
            return .applied  // an agent leg already gone
        default:
            return nil
        }
    }

    /// An event of an agent serving the queue's head: its hang-up frees it (and a call kept only
    /// for it ends).
    mutating func servingLegEvent(_ event: WebhookEvent, index: Int) -> Disposition {
        guard case .callHangup = event.kind else { return .ignored("\(event.eventType) of an agent serving the queue") }
        let served = state.serving.remove(at: index)
        trace(.note, "agent \(served.agent) finished a call from the queue")
        if state.serving.isEmpty, case .agentsServing(let t) = state.waiting {
            effects.append(.cancelTimer(id: t))
            end("the agents it found are free")
        } else if state.phase == .running, let (spec, _) = ringContext {
            ringAdvance(spec)
        }
        return .applied
    }

    /// The dial's response names the leg before its first webhook: a hang-up can reach it at once.
    mutating func ringDialAnswered(commandID: String, data: JSONValue) -> Bool {
        guard var ring = state.ring, let li = ring.legs.firstIndex(where: { $0.dial == commandID }) else {
            // A ring group's dial answered after its run ended (the call moved on): hang that leg up.
            guard case .response(let awaited, _) = state.waiting, awaited == commandID else {
                if let leg = data["call_control_id"]?.stringValue, state.phase != .ended, Self.isRingDial(commandID, of: state) {
                    issue("hangup", [:], leg: leg, tag: StepTag(step: state.step, parent: state.callControlID))
                    trace(.note, "agent leg \(leg) named after its ring ended; hung up")
                    return true
                }
                return false
            }
            return false
        }
        if ring.legs[li].leg == nil, let leg = data["call_control_id"]?.stringValue {
            ring.legs[li].leg = leg
            state.ring = ring
            // Cancelled before Telnyx named it (another agent answered first, or the deadline).
            if ring.legs[li].status == .done, state.phase == .running { issueToAgent("hangup", [:], leg: ring.legs[li]) }
        }
        return true
    }
}
