/// Action nodes (`command`, `stream`, `recording`, `ai_assistant`, `wait`, ...) and the
/// background activities they start: one interpreter for every capability, so waiting with a
/// deadline, keeping results and failing to `on_error` behave the same everywhere.
extension CallMachine {
    /// How long `on_hangup` waits for a call's outstanding results (a recording Telnyx is still
    /// saving, its transcript) before it runs without them.
    public static let resultsDeadlineMs = 60_000
}

extension Run {
    var timerID: String { "\(state.callControlID)#\(state.step)" }

    /// Runs an action node: sends its command, then waits or moves on. `true` when the call now waits.
    mutating func startAction(_ spec: ActionSpec) -> Bool {
        if let action = spec.action {
            guard case .object(var body) = renderJSON(.object(spec.params)) else { return true }
            // A template in a Telnyx param may yield anything: check what it yielded.
            for (key, source) in spec.params.members where source.containsTemplate {
                guard let value = body[key], let problem = ParamCheck.problem(action: action, key: key, value: value) else { continue }
                log(.error, "node \"\(state.node)\": \(key) \(state.redact(value.templateText)) is not valid for \(action): \(problem)")
                failNode()
                return true
            }
            var tag: StepTag? = nil
            if action == "dial" {
                guard let connection = state.facts.connectionID ?? body["connection_id"]?.stringValue else {
                    log(.error, "dial needs the call's connection_id, which Telnyx did not send")
                    failNode()
                    return true
                }
                body["connection_id"] = .string(connection)
                tag = StepTag(step: state.step, parent: state.callControlID)
            }
            // Bridged legs end together: the dialed leg no longer needs hanging up with the caller.
            if action == "bridge", body["call_control_id"]?.stringValue == state.childLeg { state.childLeg = nil }
            changeSection(spec)
            issue(action, body, tag: tag, reportsResult: spec.awaitsResponse)
            if spec.awaitsResponse {
                state.waiting = .response(commandID: commandID, timer: armDeadline(spec))
                return true
            }
        }
        guard spec.waitFor.isEmpty else {
            state.waiting = .action(timer: armDeadline(spec))
            return true
        }
        enter(spec.next, via: "next")
        return false
    }

    mutating func armDeadline(_ spec: ActionSpec) -> String? {
        guard let ms = spec.timeoutMs else { return nil }
        effects.append(.startTimer(id: timerID, milliseconds: ms))
        trace(.timer, "start \(ms) ms")
        return timerID
    }

    /// The timer the call is waiting on, cancelled because something else came first.
    mutating func cancelWaitTimer() {
        if let id = state.waiting.timer { effects.append(.cancelTimer(id: id)) }
    }

    // MARK: sections

    mutating func changeSection(_ spec: ActionSpec) {
        guard let change = spec.section else { return }
        let kind = change.kind
        switch change {
        case .start:
            endSection(kind)
            state.sections.append(ActiveSection(kind: kind, flow: state.flow, node: state.node))
            // A replaced recording still runs at Telnyx and is saved too: its entries stay.
            if kind == .recording, let saveAs = spec.saveAs {
                awaitRecording(saveAs, transcript: spec.params["transcription"]?.boolValue == true)
            }
        case .stop:
            endSection(kind)
        case .pause, .resume:
            for i in state.sections.indices where state.sections[i].kind == kind {
                state.sections[i].paused = { if case .pause = change { return true } else { return false } }()
            }
        }
    }

    /// The activity of `kind` is over (stopped, failed or replaced): the call no longer tracks it.
    mutating func endSection(_ kind: SectionKind) { state.sections.removeAll { $0.kind == kind } }

    /// The node that started `section`, if the flow still has it.
    func starter(_ section: ActiveSection) -> ActionSpec? {
        guard case .action(let spec)? = flows[section.flow]?.nodes[section.node]?.kind else { return nil }
        return spec
    }

    /// Stops what would hear a `sensitive` gather's keys (recording, transcription, streams,
    /// forks, SIPREC) before the gather starts; `resumeSections` restarts them after it.
    mutating func suspendSections() {
        for i in state.sections.indices where !state.sections[i].suspended && !state.sections[i].paused {
            guard let commands = state.sections[i].kind.suspend else { continue }
            issue(commands.stop, [:])
            state.sections[i].suspended = true
            trace(.note, "\(state.sections[i].kind.rawValue) held for sensitive input")
        }
    }

    mutating func resumeSections() {
        for i in state.sections.indices where state.sections[i].suspended {
            state.sections[i].suspended = false
            guard let commands = state.sections[i].kind.suspend else { continue }
            var body: JSONObject = [:]
            // A stopped activity restarts with the params of the node that started it.
            if state.sections[i].kind != .recording, let spec = starter(state.sections[i]),
                case .object(let rendered) = renderJSON(.object(spec.params))
            {
                body = rendered
            }
            issue(commands.resume, body)
            trace(.note, "\(state.sections[i].kind.rawValue) resumed after sensitive input")
        }
    }

    /// Whether node `id` is a gather that holds sensitive digits.
    func isSensitiveGather(_ id: String) -> Bool {
        if case .gather(let g)? = flow?.nodes[id]?.kind { return g.sensitive }
        return false
    }

    // MARK: failures

    /// Where the current node goes when its command fails: its own failure edge, else the
    /// flow's `defaults.on_error`, else the call hangs up.
    mutating func failNode() {
        cancelWaitTimer()
        if let edge = node?.failureEdge { return move(edge.target, via: edge.label) }
        if let target = flow?.defaults.onError, target != state.node { return move(target, via: "on_error") }
        hangUp()
    }

    /// A failure reported while the flow is elsewhere (a stream dropped, a recording failed):
    /// the call leaves its node for the section's `on_error`.
    mutating func interrupt(to target: String) {
        guard state.phase == .running else { return }
        cancelWaitTimer()
        instantSteps = 0
        move(target, via: "on_error")
    }

    /// The event's payload as a variable: typed fields as Telnyx sends them (the leg ids stay,
    /// a dialed leg's id is what a later `bridge` needs), without our own `client_state` and
    /// without message histories.
    static func saved(_ event: WebhookEvent) -> JSONValue {
        var o = event.payload
        o["client_state"] = nil
        // A whole conversation's messages would make every later commit of the call carry them.
        o["messages"] = nil
        o["message_history"] = nil
        o["event_type"] = .string(event.eventType)
        return .object(o)
    }

    // MARK: inputs

    /// An event an action node waits for (success or failure), on this leg or a dialed one.
    mutating func actionEvent(_ event: WebhookEvent) -> Bool {
        guard case .action = state.waiting, case .action(let spec)? = node?.kind else { return false }
        let failed = spec.failOn.contains(event.eventType)
        guard failed || spec.waitFor.contains(event.eventType) else { return false }
        cancelWaitTimer()
        if let saveAs = spec.saveAs { state.vars[saveAs] = Self.saved(event) }
        if failed {
            if let kind = spec.section?.started { endSection(kind) }
            log(.warning, "\(event.eventType) at node \"\(state.node)\"\(Self.reason(event).map { ": \($0)" } ?? "")")
            failNode()
        } else {
            move(spec.next, via: "next")
        }
        return true
    }

    static func reason(_ event: WebhookEvent) -> String? {
        for key in ["failure_reason", "failure_cause", "reason", "cause", "status"] {
            if let s = event.payload[key]?.stringValue { return s }
        }
        return event.payload["sip_notify_response"]?.intValue.map { "SIP \($0)" }
    }

    mutating func actionTimedOut() {
        guard case .action(let spec)? = node?.kind else { return }
        trace(.timer, "deadline passed")
        if let stop = spec.stopOnTimeout { issue(stop, [:]) }
        if let kind = spec.section?.started, spec.stopOnTimeout != nil { endSection(kind) }
        let waited = spec.waitFor.isEmpty ? "the response to \(spec.action ?? "")" : spec.waitFor.sorted().joined(separator: " or ")
        // A deadline the flow routes (`on_timeout`) is an outcome it planned for, not a warning.
        log(spec.onTimeout == nil ? .warning : .info, "node \"\(state.node)\": no \(waited) within \(spec.timeoutMs ?? 0) ms")
        state.waiting = .nothing
        if let t = spec.onTimeout { return move(t, via: "on_timeout") }
        if let e = spec.onError { return move(e, via: "on_error") }
        move(spec.next, via: "next")
    }

    mutating func commandSucceeded(commandID: String, data: JSONValue) -> Disposition {
        if ringDialAnswered(commandID: commandID, data: data) { return .applied }
        if conferenceCreated(commandID: commandID, data: data) { return .applied }
        guard case .response(let expected, _) = state.waiting, expected == commandID, case .action(let spec)? = node?.kind else {
            return .stale("response to \(commandID) is not awaited")
        }
        cancelWaitTimer()
        // A background activity's `save_as` is for its results, not Telnyx's "ok".
        if let saveAs = spec.saveAs, spec.section == nil { state.vars[saveAs] = data }
        move(spec.next, via: "next")
        return .applied
    }

    /// Events of background activities, taken whatever node the call is at (and, for results,
    /// after the caller hung up). `nil`: not one of those; the node's own handling applies.
    mutating func backgroundEvent(_ event: WebhookEvent) -> Disposition? {
        switch event.kind {
        case .recordingSaved(let saved):
            if state.waiting == .recordingSaved, case .record? = node?.kind, state.phase == .running { return nil }
            guard let name = takeAwaited(AwaitedResult.recording) else { return nil }
            var url = saved.recordingURLs.preferred
            if case .record(let spec)? = node?.kind, spec.saveAs == name, spec.format == "wav" { url = saved.recordingURLs.wav ?? url }
            state.vars[name] = url.map(JSONValue.string) ?? .null
            trace(.note, "recording saved as \(name)")
        case .recordingTranscriptionSaved(let t):
            guard let name = takeAwaited(AwaitedResult.transcript) else { return nil }
            state.vars[name] = t.text.map(JSONValue.string) ?? .null
            trace(.note, "transcript saved as \(name)")
        case .recordingError(let reason):
            if state.waiting == .recordingSaved, case .record? = node?.kind, state.phase == .running { return nil }
            let awaits = state.awaitedResults.contains { $0.hasPrefix(AwaitedResult.recording) }
            let section = state.sections.first { $0.kind == .recording }
            guard awaits || section != nil else { return nil }
            if let name = takeAwaited(AwaitedResult.recording) {
                state.vars[name] = .null
                stopAwaiting(recording: name)
            }
            endSection(.recording)
            return sectionFailed(section, "recording failed: \(reason ?? "unknown")")
        case .streamingFailed(let reason, _, _):
            if actionWaits(for: event) { return nil }
            guard let section = state.sections.first(where: { $0.kind == .stream }) else { return nil }
            endSection(.stream)
            return sectionFailed(section, "stream failed: \(reason ?? "unknown")")
        case .transcription(let data):
            if actionWaits(for: event) { return nil }
            if let d = speechHeard(data) { return d }
            guard data.isFinal != false, let section = state.sections.first(where: { $0.kind == .transcription }),
                let saveAs = starter(section)?.saveAs
            else { return .ignored("transcript with no transcription section saving it") }
            state.vars[saveAs] = .string(data.transcript ?? "")
            trace(.note, "heard into \(saveAs)")
        case .conversationEnded:
            if actionWaits(for: event) { return nil }
            guard let section = state.sections.first(where: { $0.kind == .assistant }), let saveAs = starter(section)?.saveAs else { return nil }
            state.vars[saveAs] = Self.saved(event)
        case .other where event.eventType == "call.conversation_insights.generated":
            guard let section = state.sections.first(where: { $0.kind == .assistant }), let saveAs = starter(section)?.saveAs else { return nil }
            state.vars[saveAs + "_insights"] = event.payload["results"] ?? .null
            trace(.note, "insights saved as \(saveAs)_insights")
        case .other where event.eventType == "call.conversation.start_failed":
            if actionWaits(for: event) { return nil }
            guard let section = state.sections.first(where: { $0.kind == .assistant }) else { return nil }
            endSection(.assistant)
            return sectionFailed(section, "AI assistant did not start: \(Self.reason(event) ?? "unknown")")
        case .other where event.eventType == "siprec.failed":
            if actionWaits(for: event) { return nil }
            guard let section = state.sections.first(where: { $0.kind == .siprec }) else { return nil }
            endSection(.siprec)
            return sectionFailed(section, "SIPREC failed: \(Self.reason(event) ?? "unknown")")
        default:
            return nil
        }
        resultsArrived()
        return .applied
    }

    func waitNodeAwaits(_ event: WebhookEvent) -> Bool {
        // Every webhook asks: the cheap test of the waiting state goes before the node lookup.
        guard case .action = state.waiting, state.phase == .running || state.phase == .afterHangup,
            case .action(let spec)? = node?.kind, spec.action == nil
        else {
            return false
        }
        return actionWaits(for: event)
    }

    func actionWaits(for event: WebhookEvent) -> Bool {
        guard case .action = state.waiting, case .action(let spec)? = node?.kind else { return false }
        return spec.waitFor.contains(event.eventType) || spec.failOn.contains(event.eventType)
    }

    /// A background activity failed: its starter's `on_error` takes the call, else a warning.
    mutating func sectionFailed(_ section: ActiveSection?, _ message: String) -> Disposition {
        let name = section.map { "\($0.flow)/\($0.node)" } ?? "recording"
        log(.warning, "\(message) (started at \(name))")
        if let section, let target = starter(section)?.onError, state.phase == .running { interrupt(to: target) }
        resultsArrived()
        return .applied
    }

    // MARK: awaited results

    /// `on_hangup` will wait for recording `saveAs` (and its transcript) to be saved.
    mutating func awaitRecording(_ saveAs: String, transcript: Bool) {
        state.awaitedResults.append(AwaitedResult.recording + saveAs)
        if transcript { state.awaitedResults.append(AwaitedResult.transcript + RecordSpec.transcriptVariable(saveAs)) }
    }

    /// Recording `saveAs` and its transcript are no longer awaited.
    mutating func stopAwaiting(recording saveAs: String, transcriptToo: Bool = true) {
        let transcript = AwaitedResult.transcript + RecordSpec.transcriptVariable(saveAs)
        state.awaitedResults.removeAll { $0 == AwaitedResult.recording + saveAs || (transcriptToo && $0 == transcript) }
    }

    /// The variable of the oldest awaited result of `kind`, no longer awaited; nil when none is.
    mutating func takeAwaited(_ kind: String) -> String? {
        guard let i = state.awaitedResults.firstIndex(where: { $0.hasPrefix(kind) }) else { return nil }
        return AwaitedResult.variable(state.awaitedResults.remove(at: i))
    }

    /// `on_hangup` was waiting for results: run it once none is outstanding.
    mutating func resultsArrived() {
        guard case .results = state.waiting, state.awaitedResults.isEmpty else { return }
        cancelWaitTimer()
        state.waiting = .nothing
        runOnHangup()
    }

    mutating func resultsDeadline() {
        let names = state.awaitedResults.map(AwaitedResult.variable)
        log(.warning, "gave up waiting for \(names.joined(separator: ", ")) after the hang-up")
        for name in names { state.vars[name] = .null }
        state.awaitedResults = []
        state.waiting = .nothing
        runOnHangup()
    }
}

extension JSONValue {
    /// Whether a string anywhere in the value holds a `{{template}}`.
    var containsTemplate: Bool {
        switch self {
        case .string(let s): return s.contains("{{")
        case .array(let a): return a.contains { $0.containsTemplate }
        case .object(let o): return o.members.contains { $0.value.containsTemplate }
        default: return false
        }
    }
}

// MARK: speech menus

extension Run {
    /// A menu with `speech` hears the caller through Telnyx transcription, started for the menu
    /// (unless the flow already runs one) while the keypad gather plays the prompt, so keys and
    /// words both work and either interrupts the prompt.
    mutating func listenForSpeech(_ m: MenuSpec) {
        guard !state.sections.contains(where: { $0.kind == .transcription }) else { return }
        // Google's engine names languages without a region ("es" for es-MX).
        let language = speechLanguage(m).split(separator: "-").first.map(String.init) ?? "en"
        var config: JSONObject = ["transcription_engine": "Google", "language": .string(language)]
        config["hints"] = .array(m.speech.flatMap(\.phrases).map(JSONValue.string))
        if ParamCheck.problem(action: "transcription_start", key: "transcription_engine_config", value: .object(config)) != nil {
            config["language"] = nil  // a language Google does not list: let it detect
        }
        issue(
            "transcription_start",
            [
                "transcription_engine": "Google", "transcription_tracks": "inbound",
                "transcription_engine_config": .object(config),
            ])
        state.sections.append(ActiveSection(kind: .transcription, flow: state.flow, node: state.node))
    }

    func speechLanguage(_ m: MenuSpec) -> String {
        if case .say(_, _, let l, _) = m.prompt { return language(l) }
        return language(nil)
    }

    /// Leaving a node: a transcription its speech menu started stops with it.
    mutating func leaveNode(for next: String) {
        guard next != state.node || state.phase != .running,
            let i = state.sections.firstIndex(where: { $0.kind == .transcription && $0.flow == state.flow && $0.node == state.node }),
            case .menu? = node?.kind
        else { return }
        state.sections.remove(at: i)
        if state.phase == .running { issue("transcription_stop", [:]) }
    }

    /// A final transcript while a speech menu waits: a choice by its phrases, or an invalid answer.
    mutating func speechHeard(_ data: TranscriptionData) -> Disposition? {
        guard state.phase == .running, state.waiting == .gatherEnded || state.waiting == .prelude,
            case .menu(let m)? = node?.kind, !m.speech.isEmpty
        else { return nil }
        guard data.isFinal != false else { return .ignored("interim transcript") }
        let heard = data.transcript ?? ""
        guard !Speech.words(heard).isEmpty else { return .ignored("empty transcript") }
        issue("gather_stop", [:])
        if (data.confidence ?? 1) >= m.minConfidence,
            let said = m.speech.first(where: { $0.phrases.contains { Speech.says(heard, $0) } }),
            let choice = m.choices.first(where: { $0.digit == said.digit })
        {
            trace(.note, "menu choice \(choice.digit) by speech")
            move(choice.target, via: choice.digit)
        } else {
            trace(.note, "speech not matched (confidence \(data.confidence.map { "\($0)" } ?? "unknown"))")
            inputFailed(.invalid, maxAttempts: m.maxAttempts, onInvalid: m.onInvalid, onNoInput: m.onNoInput)
        }
        return .applied
    }
}
