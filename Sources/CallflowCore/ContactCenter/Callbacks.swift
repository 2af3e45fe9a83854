/// The `callback` node in the machine: booking, waiting after the hang-up, and placing the call.
extension Run {
    /// Books the callback and goes on at once (the flow says goodbye and hangs up). `true` when
    /// it failed instead and the call moved (or waits) elsewhere.
    mutating func bookCallback(_ spec: CallbackSpec) -> Bool {
        let to = spec.to.map { render($0) } ?? state.facts.from
        guard E164.isDialable(to) else {
            log(.warning, "callback \"\(state.node)\": \"\(state.redact(to))\" is not an E.164 number or a sip: URI; nothing booked")
            failNode()
            return true
        }
        guard state.facts.connectionID != nil else {
            log(.error, "a callback needs the call's connection_id, which Telnyx did not send")
            failNode()
            return true
        }
        var vars: JSONObject = [:]
        let secrets = state.sensitiveValues
        for (key, value) in spec.vars.members {
            let rendered = renderJSON(value)
            // Digits of a sensitive gather never reach a store; a callback is stored until it is placed.
            if !secrets.isEmpty, secrets.contains(where: { rendered.jsonString.contains($0) }) {
                log(.warning, "callback \"\(state.node)\": vars.\(key) would carry sensitive digits; left out")
                continue
            }
            vars[key] = rendered
        }
        let notBefore = spec.hours.map { $0.nextOpening(after: now) ?? now } ?? now
        let agents = spec.agents.map { resolveAgents($0) } ?? []
        state.callback = PendingCallback(
            to: to, from: spec.from.map { render($0) } ?? state.facts.to, flow: spec.flow, vars: vars, notBefore: notBefore,
            expiresAt: notBefore + Int64(spec.expireHours) * 3600, agents: agents, node: state.node, nodeFlow: state.flow)
        trace(.note, "callback to \(state.redact(to)) booked\(notBefore > now ? " for \(notBefore)" : "")")
        enter(spec.next, via: "next")
        return false
    }

    /// Instead of ending: the caller is gone, the callback waits for its time.
    mutating func awaitCallback(_ callback: PendingCallback) {
        state.phase = .afterHangup
        let id = "\(state.callControlID)#callback\(state.step)"
        let ms = max(0, Int(callback.notBefore - now) * 1000)
        effects.append(.startTimer(id: id, milliseconds: ms))
        trace(.timer, "callback in \(ms / 1000) s")
        state.waiting = .callbackDue(timer: id)
    }

    /// The callback's timer: place it now, or wait (for the hours, for a free agent), or give up.
    mutating func callbackDue() {
        guard let cb = state.callback else { return end("hangup") }
        state.step += 1
        state.commandSeq = 0
        if now > cb.expiresAt {
            log(.warning, "callback to \(state.redact(cb.to)) expired unplaced")
            state.callback = nil
            return end("callback expired")
        }
        if case .callback(let spec)? = flows[cb.nodeFlow]?.nodes[cb.node]?.kind, let hours = spec.hours, !hours.isOpen(at: now) {
            let next = hours.nextOpening(after: now) ?? (now + 3600)
            trace(.note, "callback waits for opening hours")
            return rearmCallback(afterMs: Int(next - now) * 1000)
        }
        if !cb.agents.isEmpty, cb.agents.allSatisfy({ agentHolders[$0] != nil }) {
            trace(.note, "callback waits for a free agent")
            return rearmCallback(afterMs: CallbackSpec.agentPollMs)
        }
        let token = "cb-\(callHash)-\(state.step)"
        let dial = PendingDial(
            flow: cb.flow, vars: cb.vars, from: cb.from, to: cb.to, connectionID: state.facts.connectionID ?? "", at: now)
        effects.append(.expectDial(token: token, dial: dial))
        effects.append(.command(.outboundDial(token: token, to: cb.to, from: cb.from, connectionID: dial.connectionID)))
        trace(.command, "dial")
        log(.info, "placing the callback to \(state.redact(cb.to)) (flow \(cb.flow))")
        state.callback = nil
        end("callback placed")
    }

    mutating func rearmCallback(afterMs ms: Int) {
        let id = "\(state.callControlID)#callback\(state.step)"
        effects.append(.startTimer(id: id, milliseconds: max(1000, ms)))
        state.waiting = .callbackDue(timer: id)
    }
}
