/// Where each input goes: the one place to read to learn what a gather end, a hang-up or an
/// HTTP result does to a call.
extension Run {
    mutating func handle(_ input: MachineInput) -> Disposition {
        if state.phase == .ended { return .ignored("call already ended") }
        switch input {
        case .webhook(let event):
            trace(.event, "\(event.eventType) \(event.id)")
            if let leg = event.call?.callControlID, leg != state.callControlID {
                return childLegEvent(event, leg: leg)
            }
            return callEvent(event)
        case .httpResult(let id, let outcome):
            guard state.waiting == .http(requestID: id) else { return .stale("http result \(id) is not awaited") }
            httpFinished(outcome)
            return .applied
        case .timerFired(let id):
            switch state.waiting {
            case .timer(id):
                trace(.timer, "fired")
                if case .pause(_, let next)? = node?.kind { move(next, via: "next") }
            case .action(id), .response(_, id):
                actionTimedOut()
            case .results(id):
                resultsDeadline()
            case .ringing(let timer) where timer == id:
                ringDeadline()
            case .callbackDue(id):
                callbackDue()
            case .agentsServing(id):
                state.serving = []
                end("agents it found did not hang up in time")
            case .conference(let t) where t == id && state.phase == .afterHangup:
                state.conference = nil
                end("conference kept too long")
            case .conference(let t) where t == id:
                conferencePoll()
            case .queued where state.queue?.announceTimer == id:
                announce()
            case .queued where state.ring?.deadline == id:
                ringDeadline()
            default:
                return .stale("timer \(id) is not awaited")
            }
            return .applied
        case .commandFailed(let commandID, let action, let detail, let gone):
            return commandFailed(commandID: commandID, action: action, detail: detail, gone: gone)
        case .commandSucceeded(let commandID, _, let data):
            return commandSucceeded(commandID: commandID, data: data)
        }
    }

    mutating func commandFailed(commandID: String, action: String, detail: String, gone: Bool) -> Disposition {
        if let taken = ringCommandFailed(commandID: commandID, action: action, detail: detail, gone: gone) { return taken }
        if !gone, let taken = queueCommandFailed(action: action, detail: detail) { return taken }
        if !gone, let taken = conferenceCommandFailed(action: action, detail: detail) { return taken }
        if gone {
            // 90018: the call already ended. Its call.hangup webhook runs on_hangup; send nothing more.
            trace(.note, "\(action) refused: call already ended")
            if state.phase == .running || state.phase == .handedOff {
                state.phase = .hangingUp
                state.waiting = .hangup
            }
            return .applied
        }
        guard CallCommand.step(ofCommandID: commandID) == state.step, state.phase == .running else {
            // The flow moved on, but a background activity it started may be what failed.
            if let i = state.sections.firstIndex(where: { starter($0)?.action == action }) {
                let section = state.sections.remove(at: i)
                return sectionFailed(section, "\(action) failed: \(detail)")
            }
            // Never silent: the node it came from is gone, the failure is still worth a line.
            effects.append(.log(level: .warning, message: "\(action) failed after the call left its node: \(detail)", node: nil))
            return .stale("failure of \(action) from an earlier step")
        }
        log(.error, "\(action) failed at node \"\(state.node)\": \(detail)")
        if case .action(let spec)? = node?.kind, let kind = spec.section?.started { endSection(kind) }
        failNode()
        return .applied
    }

    mutating func callEvent(_ event: WebhookEvent) -> Disposition {
        switch event.kind {
        case .callHangup(let cause, let source, _):
            callHungUp(cause: cause, source: source)
            return .applied
        case .callAnswered:
            state.answered = true
        case .machineDetectionEnded(let result), .machinePremiumDetectionEnded(let result):
            // Remembered whenever it arrives: the flow may reach its machine_detection node later.
            state.amdResult = result ?? .notSure
        case .machineGreetingEnded, .machinePremiumGreetingEnded:
            state.greetingEnded = true
        default:
            break
        }
        // A `wait` sends nothing, so what it waits for carries an earlier step's client_state; it
        // may also wait in `on_hangup`, and a result it waits for is saved as well.
        if waitNodeAwaits(event) {
            _ = backgroundEvent(event)
            if state.phase != .ended, actionWaits(for: event) { _ = actionEvent(event) }
            return .applied
        }
        if let taken = backgroundEvent(event) { return taken }
        // Conference events concern the membership wherever the call is (and after a creator's hang-up).
        if let taken = conferenceEvent(event) { return taken }
        guard state.phase == .running || state.phase == .handedOff else {
            return .ignored("\(event.eventType) after the flow stopped issuing commands")
        }
        // Detection results answer the dial (its client_state), not a step: never stale.
        switch (state.waiting, event.kind) {
        case (.machineDetection, .machineDetectionEnded), (.machineDetection, .machinePremiumDetectionEnded):
            // Re-run the node: it branches now, or waits for the beep.
            instantSteps = 0
            runCurrent()
            return .applied
        case (.beep, .machineGreetingEnded), (.beep, .machinePremiumGreetingEnded):
            guard case .machineDetection(_, let machine, _, _)? = node?.kind else { break }
            move(machine, via: "on_machine")
            return .applied
        default:
            break
        }
        // A key in a conference: the caller's own act, whose client_state is the leg's last one
        // (conference actions set none), so it names an earlier step and is still meant now.
        if case .conference = state.waiting, case .dtmfReceived(let digit) = event.kind, state.phase == .running {
            guard case .conference(let spec)? = node?.kind, let key = spec.keys.first(where: { $0.digit == digit }) else {
                return .ignored("key \(digit) is not one of the conference's keys")
            }
            trace(.note, "conference key \(digit)")
            move(key.target, via: key.digit)
            return .applied
        }
        if let tag = StepTag(clientState: event.call?.clientState), tag.step != state.step {
            return .stale("\(event.eventType) belongs to step \(tag.step); the call is at step \(state.step)")
        }
        if state.phase == .handedOff { return .ignored("\(event.eventType) after the call was handed off") }

        switch (state.waiting, event.kind) {
        case (.answered, .callAnswered):
            if case .answer(let next)? = node?.kind { move(next, via: "next") }
        case (.speakEnded, .speakEnded(let status)):
            if status == .callHangup { return .applied }
            if case .say(_, let next)? = node?.kind { move(next, via: "next") }
        case (.playbackEnded, .playbackEnded(_, let status, let detail)), (.playbackPlaying, .playbackEnded(_, let status, let detail)):
            guard case .play(_, let next, let onError)? = node?.kind else { break }
            if status == .callHangup { return .applied }
            let failed = status == .fileNotFound || status == .failed || status == .unknown
            if failed {
                log(.warning, "playback failed at node \"\(state.node)\": \(status?.rawValue ?? "unknown")\(detail.map { " (\($0))" } ?? "")")
                move(onError ?? next, via: onError == nil ? "next" : "on_error")
            } else {
                move(next, via: "next")
            }
        case (.playbackEnded, .playbackStarted):
            guard node?.keys.isEmpty == false else { return .ignored("playback started") }
            state.waiting = .playbackPlaying
        case (.playbackPlaying, .dtmfReceived(let digit)):
            // Barge-in on a `play`: the key's edge, with the audio stopped (it may loop forever).
            guard case .play? = node?.kind, let key = node?.keys.first(where: { $0.digit == digit }) else {
                return .ignored("key \(digit) does not interrupt node \"\(state.node)\"")
            }
            issue("playback_stop", [:])
            trace(.note, "audio cut short by \(key.digit)")
            move(key.target, via: key.digit)
        case (.prelude, .speakEnded(let status)):
            if status == .callHangup { return .applied }
            preludeEnded()
        case (.prelude, .playbackEnded(_, let status, _)):
            if status == .callHangup { return .applied }
            preludeEnded()
        case (.gatherEnded, .gatherEnded(let digits, let status)):
            gatherEnded(digits: digits, status: status)
        case (.ringing, .callBridged):
            agentBridged()
        case (.queued, _) where queueEvent(event):
            break
        case (.transferResult, .callBridged), (.bridged, .callBridged):
            trace(.note, "bridged; the flow is done for this leg")
            state.phase = .handedOff
            state.waiting = .hangup
        case (.recordingSaved, .recordingSaved(let saved)):
            guard case .record(let spec)? = node?.kind else { break }
            let url = spec.format == "wav" ? (saved.recordingURLs.wav ?? saved.recordingURLs.preferred) : saved.recordingURLs.preferred
            state.vars[spec.saveAs] = url.map(JSONValue.string) ?? .null
            stopAwaiting(recording: spec.saveAs, transcriptToo: false)  // its transcript comes later
            move(spec.next, via: "next")
        case (.recordingSaved, .recordingError(let reason)):
            guard case .record(let spec)? = node?.kind else { break }
            log(.warning, "recording failed at node \"\(state.node)\": \(reason ?? "unknown")")
            state.vars[spec.saveAs] = .null
            stopAwaiting(recording: spec.saveAs)
            if let edge = self.node?.onError { move(edge, via: "on_error") } else { move(spec.next, via: "next") }
        case (.aiGatherEnded, .aiGatherEnded(let result, let status, _)):
            guard case .aiGather(_, _, _, let saveAs, let next, let onError)? = node?.kind else { break }
            if status == .valid {
                state.vars[saveAs] = result ?? .null
                move(next, via: "next")
            } else {
                move(onError, via: "on_error")
            }
        case (.action, _) where actionEvent(event):
            break
        default:
            return .ignored("\(event.eventType) is not what node \"\(state.node)\" waits for")
        }
        return .applied
    }

    /// The prompt before a node's main command finished: now the command itself.
    mutating func preludeEnded() {
        switch node?.kind {
        case .record(let spec)?: startRecording(spec)
        case .menu?, .gather?:
            guard let spec = inputSpec() else { return }
            issueGather(
                InputSpec(
                    prompt: spec.prompt, failurePrompt: nil, minDigits: spec.minDigits, maxDigits: spec.maxDigits,
                    validDigits: spec.validDigits, terminator: spec.terminator, timeoutMs: spec.timeoutMs,
                    interDigitMs: spec.interDigitMs))
        default: break
        }
    }

    /// Events of a leg we created (a transfer target or a `connect` dial), routed here by the
    /// parent id in their client_state.
    mutating func childLegEvent(_ event: WebhookEvent, leg: String) -> Disposition {
        let tag = StepTag(clientState: event.call?.clientState)
        guard tag?.parent == state.callControlID else { return .ignored("\(event.eventType) for unrelated leg \(leg)") }
        if let tag, let agent = tag.agent { return agentLegEvent(event, leg: leg, agent: agent, step: tag.step) }
        if let tag, tag.invite { return guestLegEvent(event, leg: leg) }
        guard state.phase == .running, tag?.step == state.step else {
            if case .callHangup = event.kind, state.childLeg == leg { state.childLeg = nil }
            return .stale("\(event.eventType) of leg \(leg) from step \(tag?.step ?? -1)")
        }
        switch (state.waiting, event.kind) {
        case (.transferResult, .callHangup(let cause, _, _)):
            guard case .transfer(_, _, _, let onFailure)? = node?.kind else { break }
            log(.info, "transfer target did not connect (\(cause?.rawValue ?? "unknown"))")
            move(onFailure, via: "on_failure")
        case (.dialAnswered, .callAnswered):
            guard case .connect(_, _, _, let whisper, _)? = node?.kind else { break }
            state.childLeg = leg
            if let whisper {
                issuePrompt(whisper, leg: leg, tag: StepTag(step: state.step, parent: state.callControlID))
                state.waiting = .whisperEnded
            } else {
                bridge(to: leg)
            }
        case (.whisperEnded, .speakEnded), (.whisperEnded, .playbackEnded):
            bridge(to: leg)
        case (.dialAnswered, .callHangup(let cause, _, _)), (.whisperEnded, .callHangup(let cause, _, _)), (.bridged, .callHangup(let cause, _, _)):
            guard case .connect(_, _, _, _, let onFailure)? = node?.kind else { break }
            state.childLeg = nil
            log(.info, "connect target did not connect (\(cause?.rawValue ?? "unknown"))")
            move(onFailure, via: "on_failure")
        case (.action, .callHangup(let cause, _, _)):
            // A leg a `command` dial created ended before what the node waits for (busy, no answer).
            guard case .action(let spec)? = node?.kind, spec.action == "dial" else {
                return .ignored("\(event.eventType) of leg \(leg) is not awaited")
            }
            if state.childLeg == leg { state.childLeg = nil }
            log(.info, "dialed leg did not connect (\(cause?.rawValue ?? "unknown"))")
            failNode()
        case (.action, _) where actionWaits(for: event):
            // The dialed leg lives on: hung up with the caller unless the flow bridges it.
            if case .callAnswered = event.kind { state.childLeg = leg }
            _ = actionEvent(event)
        default:
            return .ignored("\(event.eventType) of leg \(leg) is not awaited")
        }
        return .applied
    }

    mutating func bridge(to leg: String) {
        issue("bridge", ["call_control_id": .string(leg)])
        state.waiting = .bridged
    }

    /// `call.hangup` of this call: no call command after this, ever. Runs `on_hangup` if any.
    mutating func callHungUp(cause: HangupCause?, source: HangupSource?) {
        guard state.phase != .afterHangup else { return }
        trace(.note, "hangup \(cause?.rawValue ?? "unknown") by \(source?.rawValue ?? "unknown")")
        // A dialed leg still ringing or whispering would otherwise ring on with nobody behind it.
        if let child = state.childLeg, state.phase == .running {
            state.commandSeq += 1
            effects.append(
                .command(
                    CallCommand(
                        callControlID: child, action: "hangup",
                        body: [
                            "client_state": .string(StepTag(step: state.step, parent: state.callControlID).encoded),
                            "command_id": .string(commandID),
                        ])))
            state.childLeg = nil
        }
        // Agents still ringing for a caller who is gone are hung up; the run's claims go with it.
        cancelAgentLegs()
        if let d = state.ring?.deadline, state.waiting.timer != d { effects.append(.cancelTimer(id: d)) }
        state.ring = nil
        if let t = state.queue?.announceTimer { effects.append(.cancelTimer(id: t)) }
        state.queue = nil
        cancelWaitTimer()
        if let outermost = state.frames.first {
            // Hung up inside a subflow: the call's own flow hears it (its `on_hangup`, its variables).
            state.flow = outermost.flow
            state.vars = outermost.vars
            state.sensitiveVars = outermost.sensitiveVars
            state.frames = []
            trace(.note, "left the subflow: the caller hung up")
        }
        state.phase = .afterHangup
        state.waiting = .nothing
        state.sections = []  // Telnyx stops every activity with the call
        if !state.awaitedResults.isEmpty, flow?.onHangup != nil {
            // A recording still being saved: `on_hangup` is what hands it on, so it waits.
            let id = "\(state.callControlID)#results"
            effects.append(.startTimer(id: id, milliseconds: CallMachine.resultsDeadlineMs))
            trace(.timer, "waiting for \(state.awaitedResults.joined(separator: ", "))")
            state.waiting = .results(timer: id)
            return
        }
        runOnHangup()
    }

    mutating func runOnHangup() {
        guard let onHangup = flow?.onHangup else { return end("hangup") }
        instantSteps = 0
        enter(onHangup, via: "on_hangup")
        runCurrent()
        if state.phase == .afterHangup, state.waiting == .nothing { end("on_hangup finished") }
    }
}
