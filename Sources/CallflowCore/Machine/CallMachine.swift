/// The flow interpreter: `(state, input, now) → (state, effects)`. Pure and deterministic — no
/// clock, disk or network. Everything it needs from the world arrives as `MachineInput`, and
/// everything it wants done leaves as `Effect`, which is what makes simulation, replay and
/// property tests possible.
///
/// ```swift
/// let machine = CallMachine(flows: flows)
/// let leg = CallLeg(callControlID: "v3:call-A", connectionID: "conn-1", from: "+13125550101", to: "+13125550100")
/// var t = machine.start(leg: leg, flow: "main", direction: "inbound", now: now)
/// // t.commands: what to send Telnyx first; t.state: what to keep until the next input
/// let event = try WebhookEvent.decode(body)
/// t = machine.handle(t.state, .webhook(event), now: now + 1)
/// if case .stale(let why) = t.disposition { print(why) }  // an event of a step the call has left
/// ```
public struct CallMachine: Sendable {
    /// The revision the machine runs: a call's own, which may be older than the engine's current one.
    public let flows: FlowSet
    /// How long a `say` with barge-in `keys` listens after its prompt before going on.
    public static let bargeInGraceMs = 500
    /// More node entries than this without waiting for the caller or a timer hangs up (runtime loop guard).
    public static let maxInstantSteps = 100
    /// Subflows running inside one another at most (`check` forbids recursion; this bounds a
    /// revision that slipped past it).
    public static let maxSubflowDepth = 16
    /// Trace entries kept per call (oldest dropped first).
    public static let maxTrace = 400

    /// Agent address → the call that holds it (ringing or talking), across the deployment as the
    /// ledger loaded it: a `ring_group` skips an agent another call holds.
    public let agentHolders: [String: String]
    /// Conference name → who created it and its id, as the ledger loaded it.
    public let conferences: [String: ConferenceEntry]

    /// A machine over one revision; cheap to make per input (the engine makes one per step).
    public init(flows: FlowSet, agentHolders: [String: String] = [:], conferences: [String: ConferenceEntry] = [:]) {
        self.flows = flows
        self.agentHolders = agentHolders
        self.conferences = conferences
    }

    /// Starts `flow` for a new call at its start node (or `node`).
    public func start(
        leg: CallLeg, flow name: String, node: String? = nil, direction: String, vars: JSONObject = [:], answered: Bool = false,
        now: Int64
    ) -> Transition {
        let flow = flows[name]
        var initial = flow?.vars ?? [:]
        for (k, v) in vars.members { initial[k] = v }
        let state = CallState(
            callControlID: leg.callControlID, flowRevision: flows.revision, flow: name, node: node ?? flow?.start ?? "", step: 0,
            waiting: .nothing, vars: initial,
            facts: CallFacts(from: leg.from ?? "", to: leg.to ?? "", direction: direction, connectionID: leg.connectionID),
            answered: answered)
        var run = Run(state: state, now: now, flows: flows, agentHolders: agentHolders, conferences: conferences)
        guard let flow else {
            run.log(.error, "flow \"\(name)\" does not exist")
            run.issue("reject", ["cause": "CALL_REJECTED"])
            run.state.phase = .hangingUp
            run.state.waiting = .hangup
            return run.finish(.applied)
        }
        run.enter(node ?? flow.start)
        run.runCurrent()
        return run.finish(.applied)
    }

    /// Applies one input to a call: the new state, the effects, and whether the input was applied,
    /// stale (an event of a step the call has left) or ignored.
    public func handle(_ state: CallState, _ input: MachineInput, now: Int64) -> Transition {
        var run = Run(state: state, now: now, flows: flows, agentHolders: agentHolders, conferences: conferences)
        let disposition = run.handle(input)
        return run.finish(disposition)
    }
}

/// One application of the machine: the state being changed and the effects collected.
struct Run {
    var state: CallState
    var effects: [Effect] = []
    let now: Int64
    let flows: FlowSet
    /// See `CallMachine.agentHolders`.
    var agentHolders: [String: String] = [:]
    /// See `CallMachine.conferences`.
    var conferences: [String: ConferenceEntry] = [:]
    var instantSteps = 0
    /// Nodes entered by this run, as values (for the funnel metrics; no trace strings re-split).
    var visits: [NodeVisit] = []
    /// The node the last visit left: the call's node when the run began, `nil` for a new call.
    private var visited: (flow: String, node: String)?

    init(state: CallState, now: Int64, flows: FlowSet, agentHolders: [String: String] = [:], conferences: [String: ConferenceEntry] = [:]) {
        self.state = state
        self.now = now
        self.flows = flows
        self.agentHolders = agentHolders
        self.conferences = conferences
        self.visited = state.step == 0 ? nil : (state.flow, state.node)
    }

    func finish(_ disposition: Disposition) -> Transition {
        Transition(state: state, effects: effects, disposition: disposition, visits: visits)
    }

    // MARK: bookkeeping

    mutating func trace(_ kind: TraceEntry.Kind, _ detail: String, edge: String? = nil) {
        state.trace.append(TraceEntry(at: now, step: state.step, kind: kind, detail: detail, edge: edge))
        if state.trace.count > CallMachine.maxTrace { state.trace.removeFirst(state.trace.count - CallMachine.maxTrace) }
    }

    mutating func log(_ level: Effect.LogLevel, _ message: String) {
        effects.append(.log(level: level, message: message, node: state.node))
        trace(.note, message)
    }

    var callHash: String {
        var h = FNV1a()
        h.add(state.callControlID)
        return String(h.hex.prefix(10))
    }

    var commandID: String { "cf-\(callHash)-\(state.step)-\(state.commandSeq)" }

    /// Issues a call command tagged with the current step. `leg` defaults to this call's leg;
    /// `conference` is the conference a `conference_*` action's path names. `ownQueue`: the command
    /// is queued on its own (a ring group's dials: the client sends one command per leg at a time,
    /// and every agent must ring at once, not one Telnyx round trip after another).
    mutating func issue(
        _ action: String, _ body: JSONObject, leg: String? = nil, tag: StepTag? = nil, reportsResult: Bool = false,
        conference: String? = nil, ownQueue: Bool = false
    ) {
        state.commandSeq += 1
        var b = body
        // Telnyx refuses fields a command's schema lacks (`siprec_start` has no command_id).
        if CommandCatalog.takes(action, "client_state") { b["client_state"] = .string((tag ?? StepTag(step: state.step)).encoded) }
        if CommandCatalog.takes(action, "command_id") { b["command_id"] = .string(commandID) }
        var command = CallCommand(
            callControlID: ownQueue ? "dial:\(commandID)" : leg ?? state.callControlID, action: action, body: b, reportsResult: reportsResult)
        command.conference = conference
        effects.append(.command(command))
        trace(.command, action)  // the command_id is derivable: cf-<call hash>-<step>-<seq>
    }

    mutating func render(_ template: Template) -> String {
        let r = template.render(state.templateContext)
        for m in r.missing { log(.warning, "template value \(m) is missing in node \"\(state.node)\"; rendered empty") }
        return r.text
    }

    mutating func renderJSON(_ value: JSONValue) -> JSONValue {
        var missing: [String] = []
        let out = TemplatedJSON.render(value, state.templateContext, missing: &missing)
        for m in missing { log(.warning, "template value \(m) is missing in node \"\(state.node)\"; rendered empty") }
        return out
    }

    var flow: Flow? { flows[state.flow] }
    var node: Node? { flow?.nodes[state.node] }

    // MARK: moving through the flow

    /// Enters a node by the outcome edge `via`: a new step, fresh attempts. Does not run it.
    mutating func enter(_ id: String, via edge: String? = nil) {
        endRing()
        endQueue(stopHold: true, leave: true)
        leaveNode(for: id)
        state.node = id
        state.step += 1
        state.commandSeq = 0
        state.attempt = 0
        state.lastFailure = nil
        state.waiting = .nothing
        trace(.node, "\(state.flow)/\(id)", edge: edge)
        visits.append(NodeVisit(flow: state.flow, node: id, edge: edge, from: visited))
        visited = (state.flow, id)
        if state.phase == .running, state.sections.contains(where: \.suspended), !isSensitiveGather(id) { resumeSections() }
    }

    /// Follows the outcome edge `via` and runs until the call waits.
    mutating func move(_ target: String?, via edge: String) {
        guard let target else {
            if state.phase == .afterHangup { return end("on_hangup finished") }
            log(.error, "node \"\(state.node)\" has nowhere to go; hanging up")
            return hangUp()
        }
        enter(target, via: edge)
        runCurrent()
    }

    mutating func end(_ reason: String) {
        // A booked callback keeps the call (stored, with a timer) until it is placed or expires.
        if let callback = state.callback {
            if case .callbackDue = state.waiting {} else { return awaitCallback(callback) }
        }
        // Agents its queue's ring bridged with the head still talk: they stay held until they hang up.
        if !state.serving.isEmpty {
            if case .agentsServing = state.waiting {
            } else {
                state.phase = .afterHangup
                let id = "\(state.callControlID)#serving"
                effects.append(.startTimer(id: id, milliseconds: 4 * 3_600_000))
                state.waiting = .agentsServing(timer: id)
                trace(.note, "kept while \(state.serving.count) agent(s) it found still talk")
                return
            }
        }
        // A call that created a conference still going keeps its name until the conference ends.
        if let m = state.conference, m.creator, m.id != nil {
            if case .conference(let t?) = state.waiting, state.phase == .afterHangup, t.hasSuffix("#conference") {
            } else {
                return awaitConferenceEnd()
            }
        }
        state.phase = .ended
        state.waiting = .nothing
        trace(.note, "ended: \(reason)")
        effects.append(.ended(reason: reason))
    }

    mutating func hangUp() {
        guard state.phase == .running || state.phase == .handedOff else {
            if state.phase == .afterHangup { end("on_hangup stopped") }
            return
        }
        issue("hangup", [:])
        state.phase = .hangingUp
        state.waiting = .hangup
    }

    /// Runs nodes that complete at once until one waits.
    mutating func runCurrent() {
        while true {
            instantSteps += 1
            if instantSteps > CallMachine.maxInstantSteps {
                log(
                    .error,
                    "flow looped: more than \(CallMachine.maxInstantSteps) steps without waiting (at \"\(state.flow)/\(state.node)\"); hanging up")
                return state.phase == .afterHangup ? end("on_hangup looped") : hangUp()
            }
            guard let flow, let node = flow.nodes[state.node] else {
                log(.error, "node \"\(state.flow)/\(state.node)\" does not exist; hanging up")
                return state.phase == .afterHangup ? end("on_hangup broken") : hangUp()
            }
            if state.phase == .afterHangup && node.kind.issuesCallCommand {
                return end("on_hangup reached \(node.kind.typeName) node \"\(node.id)\"")
            }
            switch node.kind {
            case .answer(let next):
                if state.answered {
                    enter(next, via: "next")
                    continue
                }
                issue("answer", [:])
                state.waiting = .answered
                return
            case .say(let prompt, _):
                if let problem = promptProblem(prompt) {
                    log(.error, problem)
                    return failNode()
                }
                if !node.keys.isEmpty {
                    // Telnyx's keypad gather plays the prompt and stops it at a key: barge-in.
                    issueGather(
                        InputSpec(
                            prompt: prompt, failurePrompt: nil, minDigits: 1, maxDigits: 1, validDigits: node.keys.map(\.digit).joined(),
                            terminator: nil, timeoutMs: CallMachine.bargeInGraceMs, interDigitMs: nil))
                    return
                }
                issuePrompt(prompt)
                state.waiting = .speakEnded
                return
            case .play(let prompt, _, _):
                issuePrompt(prompt, loop: node.loop)
                state.waiting = .playbackEnded
                return
            case .menu, .gather:
                return startInput()
            case .set(let vars, let next):
                for (key, value) in vars.members { state.vars[key] = renderJSON(value) }
                enter(next, via: "next")
            case .switch(let value, let cases, _, let fallback):
                let text = render(value)
                if let target = cases[text] { enter(target, via: text) } else { enter(fallback, via: "default") }
            case .if(let conditions, let otherwise):
                var target = (otherwise, "else")
                for (index, condition) in conditions.enumerated() where evaluate(condition) {
                    target = (condition.next, "condition \(index + 1)")
                    break
                }
                enter(target.0, via: target.1)
            case .hours(let hours, let onOpen, let onClosed):
                let local = hours.rules.local(now)
                let open =
                    !hours.closedDates.contains(local.date)
                    && (hours.ranges[local.weekday] ?? []).contains { $0.contains(local.minuteOfDay) }
                trace(
                    .note, "hours \(hours.timezone) \(local.date) weekday \(local.weekday) minute \(local.minuteOfDay): \(open ? "open" : "closed")")
                enter(open ? onOpen : onClosed, via: open ? "on_open" : "on_closed")
            case .transfer(let to, let from, let timeout, _):
                var body: JSONObject = ["to": .string(render(to))]
                if let from { body["from"] = .string(render(from)) }
                if let timeout { body["timeout_secs"] = .int(timeout) }
                body["target_leg_client_state"] = .string(StepTag(step: state.step, parent: state.callControlID).encoded)
                issue("transfer", body)
                state.waiting = .transferResult
                return
            case .connect(let to, let from, let timeout, _, let onFailure):
                guard let connection = state.facts.connectionID else {
                    log(.error, "connect needs the call's connection_id, which Telnyx did not send")
                    enter(onFailure, via: "on_failure")
                    continue
                }
                var body: JSONObject = ["to": .string(render(to)), "from": .string(render(from)), "connection_id": .string(connection)]
                if let timeout { body["timeout_secs"] = .int(timeout) }
                issue("dial", body, tag: StepTag(step: state.step, parent: state.callControlID))
                state.waiting = .dialAnswered
                return
            case .record(let spec):
                if let prompt = spec.prompt {
                    issuePrompt(prompt)
                    state.waiting = .prelude
                } else {
                    startRecording(spec)
                }
                return
            case .http(let spec):
                return startHTTP(spec)
            case .aiGather(let parameters, let greeting, let voice, _, _, _):
                var body: JSONObject = ["parameters": renderJSON(parameters)]
                if let greeting { body["greeting"] = .string(render(greeting)) }
                if let voice { body["voice"] = .string(voice) }
                issue("gather_using_ai", body)
                state.waiting = .aiGatherEnded
                return
            case .machineDetection(let human, let machine, let unknown, let waitForBeep):
                guard let result = state.amdResult else {
                    state.waiting = .machineDetection
                    return
                }
                if result.isMachine && waitForBeep && !state.greetingEnded {
                    state.waiting = .beep
                    return
                }
                enter(
                    result.isHuman ? human : result.isMachine ? machine : unknown,
                    via: result.isHuman ? "on_human" : result.isMachine ? "on_machine" : "on_unknown")
            case .action(let spec):
                if startAction(spec) { return }
            case .pause(let seconds, _):
                let id = "\(state.callControlID)#\(state.step)"
                effects.append(.startTimer(id: id, milliseconds: Int((seconds * 1000).rounded())))
                trace(.timer, "start \(Int((seconds * 1000).rounded())) ms")
                state.waiting = .timer(id: id)
                return
            case .split(let branches):
                // The parser guarantees a positive total, so a branch is always picked.
                guard let branch = SplitBranch.pick(branches, call: state.callControlID, flow: state.flow, node: state.node) else {
                    log(.error, "split \"\(state.node)\" has no branch with a weight; hanging up")
                    return hangUp()
                }
                trace(.note, "split: \(branch.name)")
                enter(branch.next, via: branch.name)
            case .subflow(let spec):
                guard let inner = flows[spec.flow] else {
                    log(.error, "subflow names missing flow \"\(spec.flow)\"; hanging up")
                    return hangUp()
                }
                guard state.frames.count < CallMachine.maxSubflowDepth else {
                    log(.error, "subflows nested deeper than \(CallMachine.maxSubflowDepth); hanging up")
                    return hangUp()
                }
                var vars = inner.vars
                for (key, value) in spec.inputs.members { vars[key] = renderJSON(value) }
                state.frames.append(CallFrame(flow: state.flow, node: state.node, vars: state.vars, sensitiveVars: state.sensitiveVars))
                state.vars = vars
                state.sensitiveVars = []
                state.flow = spec.flow
                enter(inner.start, via: "subflow")
            case .return:
                guard let frame = state.frames.popLast(),
                    case .subflow(let spec)? = flows[frame.flow]?.nodes[frame.node]?.kind
                else {
                    log(.error, "return outside a subflow; hanging up")
                    return hangUp()
                }
                let inner = state.vars
                let innerSensitive = state.sensitiveVars
                state.vars = frame.vars
                state.sensitiveVars = frame.sensitiveVars
                for output in spec.outputs {
                    state.vars[output.caller] = inner[output.subflow] ?? .null
                    if innerSensitive.contains(output.subflow) {
                        state.sensitiveVars.insert(output.caller)
                    } else {
                        state.sensitiveVars.remove(output.caller)
                    }
                }
                state.flow = frame.flow
                enter(spec.next, via: "return")
            case .ringGroup(let spec):
                if startRingGroup(spec) { return }
            case .queue(let spec):
                return startQueue(spec)
            case .callback(let spec):
                if bookCallback(spec) { return }
            case .conference(let spec):
                if conferenceNode(spec) { return }
            case .goto(let other, let target):
                guard let otherFlow = flows[other] else {
                    log(.error, "goto names missing flow \"\(other)\"; hanging up")
                    return hangUp()
                }
                state.flow = other
                enter(target ?? otherFlow.start, via: "goto")
            case .hangup:
                hangUp()
                return
            case .reject(let cause):
                issue("reject", ["cause": .string(cause)])
                state.phase = .hangingUp
                state.waiting = .hangup
                return
            }
        }
    }

    // MARK: prompts and input

    func voice(_ v: String?) -> String { setting(v ?? flow?.defaults.voice ?? "female") }
    func language(_ l: String?) -> String { setting(l ?? flow?.defaults.language ?? "en-US") }

    /// A voice or language, rendered when it is a template (a bilingual flow keeps the caller's
    /// choice in a variable); `check` parsed it, so a failure here renders it as written.
    func setting(_ text: String) -> String {
        guard Self.mayBeTemplate(text), let t = try? Template(text) else { return text }
        return t.render(state.templateContext).text
    }

    /// A byte scan for `{`: settings are nearly always plain words, and this runs per prompt.
    static func mayBeTemplate(_ text: String) -> Bool { text.utf8.contains(UInt8(ascii: "{")) }

    /// Why a prompt's rendered voice or language would be refused by Telnyx, if it would. Only
    /// templated settings can be wrong here: `check` validated the literal ones.
    func promptProblem(_ prompt: Prompt?) -> String? {
        guard case .say(_, let v, let l, _)? = prompt else { return nil }
        let languageSource = l ?? flow?.defaults.language ?? ""
        if Self.mayBeTemplate(languageSource) {
            let lang = setting(languageSource)
            if let p = ParamCheck.problem(action: "speak", key: "language", value: .string(lang)) {
                return "node \"\(state.node)\": language \"\(lang)\" is not valid for speak: \(p)"
            }
        }
        let voiceSource = v ?? flow?.defaults.voice ?? ""
        if Self.mayBeTemplate(voiceSource), setting(voiceSource).isEmpty { return "node \"\(state.node)\": the voice rendered empty" }
        return nil
    }

    /// A prompt's fields in a Telnyx body: `payload`, `voice`, `language` and `payload_type` for
    /// speech, `audio_url` or `media_name` for audio (the same in speak, playback and gathers).
    mutating func promptFields(_ prompt: Prompt) -> JSONObject {
        switch prompt {
        case .say(let text, let v, let l, let ssml):
            return [
                "payload": .string(render(text)), "voice": .string(voice(v)), "language": .string(language(l)),
                "payload_type": .string(ssml ? "ssml" : "text"),
            ]
        case .play(let url): return ["audio_url": .string(render(url))]
        case .media(let name): return ["media_name": .string(render(name))]
        }
    }

    /// speak / playback_start for a prompt.
    mutating func issuePrompt(_ prompt: Prompt, leg: String? = nil, tag: StepTag? = nil, loop: JSONValue? = nil) {
        var body = promptFields(prompt)
        if case .say = prompt {
            issue("speak", body, leg: leg, tag: tag)
        } else {
            if let loop { body["loop"] = loop }
            issue("playback_start", body, leg: leg, tag: tag)
        }
    }

    struct InputSpec {
        var prompt: Prompt?
        var failurePrompt: Prompt?
        var minDigits: Int
        var maxDigits: Int
        var validDigits: String?
        var terminator: String?
        var timeoutMs: Int?
        var interDigitMs: Int?
    }

    func inputSpec(_ kind: NodeKind?? = .none) -> InputSpec? {
        switch kind ?? node?.kind {
        case .menu(let m)?:
            let failure = state.lastFailure == .invalid ? m.invalid : state.lastFailure == .noInput ? m.noInput : nil
            return InputSpec(
                prompt: m.prompt, failurePrompt: failure, minDigits: 1, maxDigits: 1,
                validDigits: m.choices.map(\.digit).joined(), terminator: nil, timeoutMs: m.timeoutMs, interDigitMs: nil)
        case .gather(let g)?:
            return InputSpec(
                prompt: g.prompt, failurePrompt: nil, minDigits: g.minDigits, maxDigits: g.maxDigits, validDigits: nil,
                terminator: g.terminator, timeoutMs: g.timeoutMs, interDigitMs: g.interDigitTimeoutMs)
        default:
            return nil
        }
    }

    /// Starts (or restarts, after a failed attempt) a menu or gather.
    mutating func startInput() {
        let kind = node?.kind
        guard var spec = inputSpec(kind) else { return }
        if let problem = promptProblem(spec.prompt) ?? promptProblem(spec.failurePrompt) {
            log(.error, problem)
            return failNode()
        }
        switch kind {
        case .gather(let g)? where g.sensitive: suspendSections()
        case .menu(let m)? where !m.speech.isEmpty: listenForSpeech(m)
        default: break
        }
        if let failure = spec.failurePrompt {
            // Same voice and kind: one interruptible prompt ("Sorry... For sales press 1").
            if case .say(let f, let fv, let fl, let fs) = failure, case .say(let p, let pv, let pl, let ps)? = spec.prompt,
                voice(fv) == voice(pv), language(fl) == language(pl), fs == ps
            {
                spec.prompt = .say(Template.text(render(f) + " " + render(p)), voice: pv, language: pl, ssml: ps)
            } else {
                issuePrompt(failure)
                state.waiting = .prelude
                return
            }
        }
        issueGather(spec)
    }

    mutating func issueGather(_ spec: InputSpec) {
        let (action, body) = gatherRequest(spec)
        issue(action, body)
        state.waiting = .gatherEnded
    }

    /// The gather command of `spec`: `gather_using_speak`, `gather_using_audio`, or plain `gather`.
    mutating func gatherRequest(_ spec: InputSpec) -> (action: String, body: JSONObject) {
        var body: JSONObject = spec.prompt.map { promptFields($0) } ?? [:]
        let action: String
        switch spec.prompt {
        case .say?: action = "gather_using_speak"
        case .play?, .media?: action = "gather_using_audio"
        case nil: action = "gather"
        }
        body["minimum_digits"] = .int(spec.minDigits)
        body["maximum_digits"] = .int(spec.maxDigits)
        if let t = spec.timeoutMs { body["timeout_millis"] = .int(t) }
        if let t = spec.interDigitMs { body["inter_digit_timeout_millis"] = .int(t) }
        if let t = spec.terminator { body["terminating_digit"] = .string(t) }
        if let v = spec.validDigits { body["valid_digits"] = .string(v) }
        // Callflow counts attempts itself (to play the right re-prompt), so Telnyx tries once.
        if action != "gather" { body["maximum_tries"] = .int(1) }
        return (action, body)
    }

    mutating func gatherEnded(digits raw: String, status: GatherStatus?) {
        if status == .callHangup { return }  // the hang-up webhook ends the flow
        switch node?.kind {
        case .say(_, let next)?:
            // A `say` with barge-in keys: a key takes its edge, none (the prompt played out) `next`.
            if let key = node?.keys.first(where: { $0.digit == raw }) {
                trace(.note, "prompt cut short by \(key.digit)")
                return move(key.target, via: key.digit)
            }
            move(next, via: "next")
        case .menu(let m)?:
            if !raw.isEmpty, let choice = m.choices.first(where: { $0.digit == raw }) {
                trace(.note, "menu choice \(raw)")
                return move(choice.target, via: choice.digit)
            }
            inputFailed(raw.isEmpty ? .noInput : .invalid, maxAttempts: m.maxAttempts, onInvalid: m.onInvalid, onNoInput: m.onNoInput)
        case .gather(let g)?:
            var digits = raw
            if let t = g.terminator, digits.hasSuffix(t) { digits.removeLast() }
            if digits.isEmpty {
                return inputFailed(.noInput, maxAttempts: g.maxAttempts, onInvalid: g.onInvalid, onNoInput: g.onNoInput)
            }
            var valid = (g.minDigits...g.maxDigits).contains(digits.count) && digits.allSatisfy { "0123456789*#".contains($0) }
            if valid, let pattern = g.pattern, let regex = try? Regex(pattern) {
                valid = (try? regex.wholeMatch(in: digits)) != nil
            }
            guard valid else {
                trace(.note, "gather invalid: \(g.sensitive ? "***" : digits)")
                return inputFailed(.invalid, maxAttempts: g.maxAttempts, onInvalid: g.onInvalid, onNoInput: g.onNoInput)
            }
            state.vars[g.saveAs] = .string(digits)
            if g.sensitive { state.sensitiveVars.insert(g.saveAs) }
            trace(.note, "gather saved \(g.saveAs) = \(g.sensitive ? "***" : digits)")
            move(g.next, via: "next")
        default:
            return
        }
    }

    mutating func inputFailed(_ failure: InputFailure, maxAttempts: Int, onInvalid: String, onNoInput: String) {
        state.attempt += 1
        state.lastFailure = failure
        trace(.note, "attempt \(state.attempt)/\(maxAttempts) failed: \(failure.rawValue)")
        if state.attempt >= maxAttempts {
            return move(failure == .invalid ? onInvalid : onNoInput, via: failure == .invalid ? "on_invalid" : "on_no_input")
        }
        // A new step for the retry: events of the failed attempt are stale from here on.
        state.step += 1
        state.commandSeq = 0
        instantSteps = 0
        startInput()
    }

    mutating func startRecording(_ spec: RecordSpec) {
        var body: JSONObject = [
            "format": .string(spec.format), "channels": "single", "play_beep": .bool(spec.beep),
            "max_length": .int(spec.maxLengthSecs),
        ]
        if let s = spec.silenceTimeoutSecs { body["timeout_secs"] = .int(s) }
        if spec.transcribe { body["transcription"] = true }
        // If the caller hangs up mid-message, `on_hangup` waits for the saved recording (and its
        // transcript), whichever node the call is at when they arrive.
        stopAwaiting(recording: spec.saveAs)
        awaitRecording(spec.saveAs, transcript: spec.transcribe)
        issue("record_start", body)
        state.waiting = .recordingSaved
    }

    // MARK: http

    mutating func startHTTP(_ spec: HTTPSpec) {
        let id = "\(state.callControlID)#\(state.step)"
        var headers: [String: String] = [:]
        for (name, value) in spec.headers { headers[name] = render(value) }
        var body: [UInt8]? = nil
        if let b = spec.body {
            body = renderJSON(b).jsonBytes
            if headers.keys.contains(where: { $0.lowercased() == "content-type" }) == false {
                headers["Content-Type"] = "application/json"
            }
        }
        var call = HTTPCall(
            id: id, method: spec.method, url: render(spec.url), headers: headers, body: body, timeoutMs: spec.timeoutMs,
            idempotencyKey: "cf-\(callHash)-\(state.step)")
        // A sensitive value in the request is named so no store keeps it (`HTTPCall.secrets`).
        let secrets = state.sensitiveValues
        if !secrets.isEmpty {
            let text = call.url + (body.map { String(decoding: $0, as: UTF8.self) } ?? "") + headers.values.joined()
            call.secrets = secrets.filter { text.contains($0) }
        }
        effects.append(.http(call))
        trace(.http, "\(spec.method) \(state.redact(call.url))")
        state.waiting = .http(requestID: id)
    }

    /// An `http` result: saves the body and status (with `save_as`), then follows `on_status`
    /// (exact status, then class), else `next` for a 2xx whose body is usable, else `on_error`.
    mutating func httpFinished(_ outcome: HTTPOutcome) {
        guard case .http(let spec)? = node?.kind else { return }
        guard case .response(let status, let body) = outcome else {
            if case .failed(let reason) = outcome { log(.warning, "http node \"\(state.node)\": \(reason)") }
            save(spec, status: 0, body: .null)
            return move(spec.onError, via: "on_error")
        }
        var value: JSONValue = .null
        var usable = true
        if spec.saveAs != nil, !body.allSatisfy({ $0 == 0x20 || $0 == 0x0A || $0 == 0x0D || $0 == 0x09 }) {
            if let parsed = try? JSONParser.parse(body) {
                value = parsed
            } else {
                usable = false
                log(.warning, "http node \"\(state.node)\": response \(status) is not JSON; saved null")
            }
        }
        save(spec, status: status, body: value)
        if let route = spec.statusRoute(status) {
            trace(.http, "response \(status)")
            return move(route.target, via: HTTPSpec.statusLabel(route.key))
        }
        guard (200..<300).contains(status) else {
            log(.warning, "http node \"\(state.node)\": response status \(status)")
            return move(spec.onError, via: "on_error")
        }
        guard usable else { return move(spec.onError, via: "on_error") }
        trace(.http, "response \(status)")
        move(spec.next, via: "next")
    }

    /// `save_as` gets the body (JSON, or null) and `<save_as>_status` the status (0: no response).
    mutating func save(_ spec: HTTPSpec, status: Int, body: JSONValue) {
        guard let saveAs = spec.saveAs else { return }
        state.vars[saveAs] = body
        state.vars[HTTPSpec.statusVariable(saveAs)] = .int(status)
    }

    // MARK: conditions

    mutating func evaluate(_ c: Condition) -> Bool {
        let lhs = render(c.value)
        var rhs = ""
        if let to = c.to {
            if case .string(let s) = to { rhs = render(Template.literal(s)) } else { rhs = to.templateText }
        }
        let numbers = (Double(lhs), Double(rhs))
        switch c.op {
        case .eq: if let a = numbers.0, let b = numbers.1 { return a == b } else { return lhs == rhs }
        case .ne: if let a = numbers.0, let b = numbers.1 { return a != b } else { return lhs != rhs }
        case .lt: if let a = numbers.0, let b = numbers.1 { return a < b } else { return lhs < rhs }
        case .le: if let a = numbers.0, let b = numbers.1 { return a <= b } else { return lhs <= rhs }
        case .gt: if let a = numbers.0, let b = numbers.1 { return a > b } else { return lhs > rhs }
        case .ge: if let a = numbers.0, let b = numbers.1 { return a >= b } else { return lhs >= rhs }
        case .contains: return lhs.contains(rhs)
        case .matches:
            guard let regex = try? Regex(rhs) else { return false }
            return (try? regex.firstMatch(in: lhs)) != nil
        case .empty:
            let wantEmpty = c.to?.boolValue ?? true
            return lhs.isEmpty == wantEmpty
        case .says:
            if case .array(let phrases)? = c.to {
                return phrases.contains { $0.stringValue.map { Speech.says(lhs, render(Template.literal($0))) } ?? false }
            }
            return Speech.says(lhs, rhs)
        }
    }
}
