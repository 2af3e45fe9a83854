/// The `queue` node in the machine: `enqueue` with hold audio, announcements on a timer, keys
/// that leave, `call.enqueued`/`call.dequeued`, and agents rung while the caller waits (the ring
/// machinery of `ring_group`, with the bridge made to the head of the queue).
extension Run {
    /// Enters a `queue`: the caller is enqueued and hears the hold audio; agents ring once
    /// Telnyx confirms the caller is in the queue.
    mutating func startQueue(_ spec: QueueSpec) {
        if spec.ring != nil, state.facts.connectionID == nil {
            log(.error, "a queue that rings agents needs the call's connection_id, which Telnyx did not send")
            return failNode()
        }
        var body: JSONObject = ["queue_name": .string(spec.queue)]
        if let w = spec.maxWaitSecs { body["max_wait_time_secs"] = .int(w) }
        if let m = spec.maxSize { body["max_size"] = .int(m) }
        issue("enqueue", body)
        issuePrompt(spec.hold, loop: "infinity")
        state.queue = QueueProgress()
        state.waiting = .queued
        armAnnouncement(spec)
    }

    mutating func armAnnouncement(_ spec: QueueSpec) {
        guard let announce = spec.announce, var q = state.queue else { return }
        if let old = q.announceTimer { effects.append(.cancelTimer(id: old)) }
        q.timers += 1
        let id = "\(timerID).a\(q.timers)"
        q.announceTimer = id
        state.queue = q
        effects.append(.startTimer(id: id, milliseconds: announce.everySecs * 1000))
        trace(.timer, "announcement in \(announce.everySecs) s")
    }

    /// Time for an announcement: the hold audio pauses for it.
    mutating func announce() {
        guard case .queue(let spec)? = node?.kind, let announce = spec.announce else { return }
        state.queue?.announceTimer = nil
        if promptProblem(announce.prompt) != nil {
            log(.warning, "queue \"\(state.node)\": the announcement cannot be spoken: \(promptProblem(announce.prompt) ?? "")")
            return armAnnouncement(spec)
        }
        issue("playback_stop", [:])
        issuePrompt(announce.prompt)
        state.queue?.announcing = true
        trace(.note, "announcement: position \(state.vars[QueueSpec.Variables.position]?.templateText ?? "unknown")")
    }

    /// Leaving the node however it happens: no announcement left armed, the queue's state gone.
    mutating func endQueue(stopHold: Bool, leave: Bool) {
        guard let q = state.queue else { return }
        if let t = q.announceTimer { effects.append(.cancelTimer(id: t)) }
        state.queue = nil
        guard state.phase == .running else { return }
        if leave { issue("leave_queue", [:]) }
        if stopHold { issue("playback_stop", [:]) }
    }

    /// An event of the caller's leg while it waits in the queue; `false`: not one the queue takes.
    mutating func queueEvent(_ event: WebhookEvent) -> Bool {
        guard case .queue(let spec)? = node?.kind, state.queue != nil else { return false }
        switch (event.eventType, event.kind) {
        case ("call.bridged", _):
            // Bridged with an agent (call.dequeued may come after): the flow is done with the call.
            takenFromQueue()
            return true
        case ("call.enqueued", _):
            let position = event.payload["current_position"]?.intValue
            let wait = event.payload["queue_avg_wait_time_secs"]?.intValue ?? 0
            if let position { state.vars[QueueSpec.Variables.position] = .int(position) }
            state.vars[QueueSpec.Variables.averageWaitSecs] = .int(wait)
            state.vars[QueueSpec.Variables.averageWaitMins] = .int(max(1, (wait + 59) / 60))
            trace(.note, "in queue \(spec.queue) at position \(position.map(String.init) ?? "unknown")")
            if state.queue?.enqueued == false {
                state.queue?.enqueued = true
                if let ring = spec.ring {
                    state.ring = RingProgress(agents: resolveAgents(ring))
                    if !ringMore(ring) { ringAdvance(ring) }
                }
            }
            return true
        case ("call.dequeued", _):
            let reason = event.payload["reason"]?.stringValue ?? ""
            switch reason {
            case "bridged", "bridging-in-process":
                takenFromQueue()
            case "timeout":
                state.vars[QueueSpec.Variables.outcome] = "timeout"
                endQueue(stopHold: true, leave: false)
                move(spec.onTimeout, via: "on_timeout")
            default:
                return true  // `hangup` (the hang-up webhook ends the call) or `leave` (we asked)
            }
            return true
        case (_, .dtmfReceived(let digit)):
            guard let key = spec.leave.first(where: { $0.digit == digit }) else { return true }
            trace(.note, "left the queue by \(digit)")
            state.vars[QueueSpec.Variables.outcome] = .string(digit)
            endQueue(stopHold: state.queue?.announcing == false, leave: true)
            move(key.target, via: key.digit)
            return true
        case (_, .speakEnded), (_, .playbackEnded):
            guard state.queue?.announcing == true, event.eventType == (spec.announce?.prompt.endEvent ?? "") else { return true }
            state.queue?.announcing = false
            issuePrompt(spec.hold, loop: "infinity")
            armAnnouncement(spec)
            return true
        default:
            return false
        }
    }

    /// An agent has the caller (`call.bridged` or `call.dequeued` `bridged`, whichever comes first):
    /// the hold audio and the announcements stop, agents still ringing for this caller are hung up
    /// (the one being bridged stays, held until its leg hangs up), and the flow is done.
    mutating func takenFromQueue() {
        trace(.note, "an agent took the call from the queue")
        state.vars[QueueSpec.Variables.outcome] = "answered"
        endQueue(stopHold: true, leave: false)
        cancelAgentLegs(keepingTaken: true)
        if let d = state.ring?.deadline {
            effects.append(.cancelTimer(id: d))
            state.ring?.deadline = nil
        }
        state.phase = .handedOff
        state.waiting = .hangup
    }

    /// A command of the queue Telnyx refused: the enqueue (`on_full`), the hold audio or an
    /// announcement failed (logged; the caller keeps waiting). `nil`: not one of the queue's.
    mutating func queueCommandFailed(action: String, detail: String) -> Disposition? {
        guard state.phase == .running, case .queue(let spec)? = node?.kind, state.queue != nil else { return nil }
        switch action {
        case "enqueue":
            // A full queue is what refuses an enqueue in practice (Telnyx documents no code for
            // it): every refusal goes to `on_full`, and the line says what Telnyx said.
            log(.warning, "queue \(spec.queue) refused the caller (full?): \(detail)")
            state.vars[QueueSpec.Variables.outcome] = "full"
            endQueue(stopHold: true, leave: false)
            move(spec.onFull, via: "on_full")
            return .applied
        case "playback_start", "playback_stop", "speak":
            log(.warning, "queue \"\(state.node)\": \(action) failed: \(detail)")
            if action == "speak", state.queue?.announcing == true {
                state.queue?.announcing = false
                issuePrompt(spec.hold, loop: "infinity")
                armAnnouncement(spec)
            }
            return .applied
        default:
            return nil
        }
    }
}

extension Prompt {
    /// The event that says this prompt played out.
    var endEvent: String {
        if case .say = self { return "call.speak.ended" }
        return "call.playback.ended"
    }
}
