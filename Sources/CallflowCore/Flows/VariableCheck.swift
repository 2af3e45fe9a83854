/// `check`'s warnings about variables read where they may not be set: a data-flow analysis over
/// the nodes of every flow (and the gotos between flows) of which variables are set on every path
/// to a read ("definitely set": the intersection over the paths) and which on at least one.
///
/// A call starts in a flow with that flow's `vars`; a `goto` keeps the call's variables (the target's
/// `vars` do not apply). A flow whose start some `goto` names is taken to be entered only that way,
/// so it is checked with what its callers set, and never warned about for want of a route.
enum VariableCheck {
    /// A place in a call: a node, and whether the caller has already hung up (`on_hangup`).
    struct Key: Hashable, Comparable {
        let flow: String
        let node: String
        let afterHangup: Bool

        static func < (a: Key, b: Key) -> Bool {
            (a.flow, a.node, a.afterHangup ? 1 : 0) < (b.flow, b.node, b.afterHangup ? 1 : 0)
        }
    }

    /// What taking an edge (or a `set` entry) does to the variables.
    struct Change {
        var sets: Set<String> = []
        var unsets: Set<String> = []
        /// Saved, but possibly as null (an `http` body after an error): set on some paths only.
        var maySets: Set<String> = []

        func definitely(_ vars: Set<String>) -> Set<String> { vars.subtracting(unsets).union(sets) }
        func possibly(_ vars: Set<String>) -> Set<String> { vars.union(sets).union(maySets) }

        mutating func set(_ name: String, null: Bool = false) {
            if null {
                sets.remove(name)
                unsets.insert(name)
            } else {
                unsets.remove(name)
                sets.insert(name)
            }
        }
    }

    /// One way on from a place.
    struct Step {
        let to: Key
        var change = Change()
        var hangup = false
    }

    /// A template a node renders, the field it is in, and what the node itself set before (`set`).
    struct Read {
        var pointer: [String]
        let template: Template
        var before = Change()
    }

    static func check(flows: [String: Flow], files: [String: String]) -> [Diagnostic] {
        // A node that did not parse could set anything: report its errors first.
        guard flows.values.allSatisfy({ $0.brokenEdges.isEmpty }) else { return [] }
        let analysis = Analysis(flows: flows)
        var out: [Diagnostic] = []
        var seen = Set<String>()
        for name in flows.keys.sorted() {
            let flow = flows[name]!
            for id in flow.order {
                guard let node = flow.nodes[id] else { continue }
                for key in [Key(flow: name, node: id, afterHangup: false), Key(flow: name, node: id, afterHangup: true)] {
                    if key.afterHangup && node.kind.issuesCallCommand { continue }  // on_hangup stops before it
                    for read in reads(node.kind, defaults: flow.defaults) {
                        for e in read.template.expressions {
                            guard let message = analysis.problem(e, read: read, at: key) else { continue }
                            let pointer = JSONPointer.string(["nodes", id] + read.pointer)
                            if seen.insert(pointer + message).inserted {
                                out.append(Diagnostic(.warning, file: files[name] ?? name, pointer: pointer, message))
                            }
                        }
                    }
                }
            }
        }
        return out
    }

    /// `hours → welcome → [caller hangs up] → log_call`; nodes of other flows as `flow/node`.
    static func text(_ path: [(key: Key, hangup: Bool)], in flow: String) -> String {
        var parts = path.map { ($0.hangup ? "[caller hangs up] → " : "") + ($0.key.flow == flow ? $0.key.node : "\($0.key.flow)/\($0.key.node)") }
        if parts.count > 12 { parts = Array(parts.prefix(4)) + ["…"] + Array(parts.suffix(7)) }
        return parts.joined(separator: " → ")
    }

    /// The fixpoint: for every reachable place, the variables set on every path to it and on some.
    struct Analysis {
        let flows: [String: Flow]
        /// Where calls begin, with the variables they begin with.
        var entries: [Key: Set<String>] = [:]
        /// Absent: the place is never reached.
        var definitely: [Key: Set<String>] = [:]
        var possibly: [Key: Set<String>] = [:]

        init(flows: [String: Flow]) {
            self.flows = flows
            var gotoTargets = Set<Key>()
            for flow in flows.values {
                for node in flow.nodes.values {
                    if case .goto(let other, let target) = node.kind, let o = flows[other] {
                        gotoTargets.insert(Key(flow: other, node: target ?? o.start, afterHangup: false))
                    }
                }
            }
            for (name, flow) in flows {
                let start = Key(flow: name, node: flow.start, afterHangup: false)
                let declared = Set(flow.vars.members.filter { !$0.value.isNull }.map(\.key))
                possibly[start] = declared
                if !gotoTargets.contains(start) { entries[start] = declared }
            }
            definitely = entries
            var work = entries.keys.sorted(by: >)
            while let key = work.popLast() {
                guard let must = definitely[key] else { continue }
                let may = possibly[key] ?? []
                for step in steps(from: key) {
                    let newMust = definitely[step.to].map { $0.intersection(step.change.definitely(must)) } ?? step.change.definitely(must)
                    let newMay = (possibly[step.to] ?? []).union(step.change.possibly(may))
                    if newMust != definitely[step.to] || newMay != possibly[step.to] {
                        definitely[step.to] = newMust
                        possibly[step.to] = newMay
                        work.append(step.to)
                    }
                }
            }
        }

        /// Why `e`, read at `key`, may render missing; nil when it cannot.
        func problem(_ e: Template.Expression, read: Read, at key: Key) -> String? {
            // A fallback always gives a value, and so does any call.* reference.
            guard let must = definitely[key], e.fallback == nil, e.references.allSatisfy({ $0.variable != nil }),
                let flow = flows[key.flow], let node = flow.nodes[key.node]
            else { return nil }
            let names = Set(e.references.compactMap(\.variable))
            guard names.isDisjoint(with: read.before.definitely(must)) else { return nil }
            let written = "{{\(e.description) | 'default'}}"
            guard !names.isDisjoint(with: read.before.possibly(possibly[key] ?? [])) else {
                // A `set` node may set it in a later entry than the one that reads it.
                let later = !names.isDisjoint(with: change(node.kind, edge: ["next"]).sets)
                return "\(e.description) is read here but \(later ? "set only after this read" : "never set"); "
                    + "declare it in \"vars\" or write \(written)"
            }
            let path = self.path(to: key, before: read.before, unset: names)
            var message =
                "\(e.description) may be unset here: the path \(text(path, in: key.flow)) does not set it; "
                + "set it on that path or write \(written)"
            if let first = path.first?.key, first.flow != key.flow, names.contains(where: { !(flow.vars[$0]?.isNull ?? true) }) {
                message += " (a flow's \"vars\" apply only when a call starts in it, not after a goto)"
            }
            return message
        }

        func steps(from key: Key) -> [Step] {
            guard let flow = flows[key.flow], let node = flow.nodes[key.node] else { return [] }
            if key.afterHangup && node.kind.issuesCallCommand { return [] }
            var out: [Step] = []
            if !key.afterHangup, node.kind.waits, let h = flow.onHangup {
                out.append(Step(to: Key(flow: key.flow, node: h, afterHangup: true), hangup: true))
            }
            if case .goto(let other, let target) = node.kind, let o = flows[other] {
                out.append(Step(to: Key(flow: other, node: target ?? o.start, afterHangup: false)))
            }
            for edge in FlowChecker.edges(of: node) {
                out.append(
                    Step(
                        to: Key(flow: key.flow, node: edge.target, afterHangup: key.afterHangup),
                        change: VariableCheck.change(node.kind, edge: edge.pointer)))
            }
            // A refused command of a node without its own failure edge goes to `defaults.on_error`.
            if !key.afterHangup, node.kind.issuesCallCommand, node.failureEdge == nil, let target = flow.defaults.onError {
                out.append(Step(to: Key(flow: key.flow, node: target, afterHangup: false)))
            }
            return out
        }

        /// A shortest path from where a call begins to `target` on which none of `unset` is set
        /// when the read happens (there is one whenever the read is not definitely set).
        func path(to target: Key, before: Change, unset: Set<String>) -> [(key: Key, hangup: Bool)] {
            struct State: Hashable {
                let key: Key
                let set: Set<String>
            }
            var parent: [State: (State, Bool)?] = [:]
            var queue: [State] = []
            for (key, vars) in entries.sorted(by: { $0.key < $1.key }) {
                let s = State(key: key, set: vars.intersection(unset))
                if parent[s] == nil {
                    parent[s] = .some(nil)
                    queue.append(s)
                }
            }
            var index = 0
            while index < queue.count {
                let s = queue[index]
                index += 1
                if s.key == target && before.definitely(s.set).isDisjoint(with: unset) {
                    var out: [(key: Key, hangup: Bool)] = []
                    var current: State? = s
                    while let c = current {
                        let link = parent[c] ?? nil
                        out.append((c.key, link?.1 ?? false))
                        current = link?.0
                    }
                    return out.reversed()
                }
                for step in steps(from: s.key) {
                    let next = State(key: step.to, set: step.change.definitely(s.set).intersection(unset))
                    if parent[next] == nil {
                        parent[next] = .some((s, step.hangup))
                        queue.append(next)
                    }
                }
            }
            return [(target, false)]
        }
    }

    // MARK: what nodes read and set

    /// Every template a node renders, with the field it is in.
    static func reads(_ kind: NodeKind, defaults: Flow.Defaults = Flow.Defaults()) -> [Read] {
        /// A templated voice or language, the prompt's own or the flow's default one.
        func setting(_ own: String?, _ fallback: String, _ pointer: [String]) -> [Read] {
            let source = own ?? fallback
            guard source.contains("{{"), let t = try? Template(source) else { return [] }
            return [Read(pointer: pointer, template: t)]
        }
        func prompt(_ p: Prompt?, _ key: String) -> [Read] {
            switch p {
            case .say(let t, let v, let l, _)?:
                let at: [String] = key == "text" ? [] : [key]
                return [Read(pointer: [key], template: t)] + setting(v, defaults.voice, at + ["voice"])
                    + setting(l, defaults.language, at + ["language"])
            case .play(let t)?, .media(let t)?: return [Read(pointer: [key], template: t)]
            case nil: return []
            }
        }
        func json(_ value: JSONValue, _ pointer: [String], before: Change = Change()) -> [Read] {
            TemplatedJSON.strings(in: value, at: pointer).map { Read(pointer: $0.pointer, template: Template.literal($0.text), before: before) }
        }
        func template(_ t: Template?, _ key: String) -> [Read] { t.map { [Read(pointer: [key], template: $0)] } ?? [] }
        switch kind {
        case .say(let p, _): return prompt(p, "text")
        case .play(let p, _, _):
            if case .media = p { return prompt(p, "media") }
            return prompt(p, "url")
        case .menu(let m): return prompt(m.prompt, "prompt") + prompt(m.invalid, "invalid") + prompt(m.noInput, "no_input")
        case .gather(let g): return prompt(g.prompt, "prompt")
        case .record(let r): return prompt(r.prompt, "prompt")
        case .set(let vars, _):
            // Entries are set in order: a later one sees the earlier ones.
            var out: [Read] = []
            var before = Change()
            for (key, value) in vars.members {
                out += json(value, ["vars", key], before: before)
                before.set(key, null: value.isNull)
            }
            return out
        case .switch(let value, _, _, _): return template(value, "value")
        case .if(let conditions, _):
            return conditions.enumerated().flatMap { i, c in
                (template(c.value, "value") + template(c.to?.stringValue.map(Template.literal), "to"))
                    .map { Read(pointer: ["conditions", String(i)] + $0.pointer, template: $0.template) }
            }
        case .transfer(let to, let from, _, _): return template(to, "to") + template(from, "from")
        case .connect(let to, let from, _, let whisper, _): return template(to, "to") + template(from, "from") + prompt(whisper, "whisper")
        case .http(let h):
            return template(h.url, "url") + h.headers.map { Read(pointer: ["headers", $0.name], template: $0.value) }
                + (h.body.map { json($0, ["body"]) } ?? [])
        case .aiGather(let parameters, let greeting, _, _, _, _): return template(greeting, "greeting") + json(parameters, ["parameters"])
        case .action(let a):
            // A named node's fields become Telnyx params: a warning names the field as written.
            let fields = Capability.all[a.type]?.verbs.values.flatMap(\.fields) ?? []
            return json(.object(a.params), ["params"]).map { read in
                guard read.pointer.count > 1, let field = fields.first(where: { $0.param == read.pointer[1] }) else { return read }
                var r = read
                r.pointer = [field.key] + read.pointer.dropFirst(2)
                return r
            }
        case .subflow(let s): return json(.object(s.inputs), ["inputs"])
        case .ringGroup(let r):
            var reads = template(r.from, "from") + prompt(r.hold, "hold") + prompt(r.screen?.prompt, "screen")
            if case .list(let agents) = r.agents {
                reads += agents.enumerated().map { Read(pointer: ["agents", String($0.offset)], template: $0.element) }
            }
            return reads
        case .conference(let c):
            return template(c.name, "name") + prompt(c.prompt, "prompt") + prompt(c.hold, "hold")
                + c.whisperTo.enumerated().map { Read(pointer: ["whisper_to", String($0.offset)], template: $0.element) }
                + c.invite.enumerated().map { Read(pointer: ["invite", String($0.offset)], template: $0.element) }
        case .callback(let c):
            var reads = template(c.to, "to") + template(c.from, "from") + json(.object(c.vars), ["vars"])
            if case .list(let agents)? = c.agents {
                reads += agents.enumerated().map { Read(pointer: ["agents", String($0.offset)], template: $0.element) }
            }
            return reads
        case .queue(let q):
            // The announcement may read what the queue sets (`queue_position`, ...).
            var queued = Change()
            for name in [QueueSpec.Variables.position, QueueSpec.Variables.averageWaitSecs, QueueSpec.Variables.averageWaitMins] {
                queued.set(name)
            }
            var reads = prompt(q.hold, "hold")
            if case .say(let t, _, _, _)? = q.announce?.prompt { reads.append(Read(pointer: ["announce", "prompt"], template: t, before: queued)) }
            if let r = q.ring {
                var ringReads = template(r.from, "from") + prompt(r.screen?.prompt, "screen")
                if case .list(let agents) = r.agents {
                    ringReads += agents.enumerated().map { Read(pointer: ["agents", String($0.offset)], template: $0.element) }
                }
                reads += ringReads.map { Read(pointer: ["ring"] + $0.pointer, template: $0.template) }
            }
            return reads
        case .answer, .hours, .machineDetection, .pause, .split, .goto, .hangup, .reject, .return: return []
        }
    }

    /// What taking the edge at `edge` (its pointer under the node) does to the variables.
    static func change(_ kind: NodeKind, edge: [String]) -> Change {
        var change = Change()
        switch kind {
        case .set(let vars, _):
            for (key, value) in vars.members { change.set(key, null: value.isNull) }
        case .gather(let g) where edge == ["next"]: change.set(g.saveAs)
        case .subflow(let s) where edge == ["next"]: for o in s.outputs { change.set(o.caller) }
        case .ringGroup(let r) where edge == ["next"]: if let saveAs = r.saveAs { change.set(saveAs) }
        case .queue:
            // Known only once Telnyx confirmed the place in line, which a key or the deadline may
            // come before: set on some paths.
            for name in [QueueSpec.Variables.position, QueueSpec.Variables.averageWaitSecs, QueueSpec.Variables.averageWaitMins] {
                change.maySets.insert(name)
            }
            change.set(QueueSpec.Variables.outcome)
        case .record(let r) where edge == ["next"]: change.set(r.saveAs)
        case .aiGather(_, _, _, let saveAs, _, _) where edge == ["next"]: change.set(saveAs)
        case .action(let a):
            // `next` after a wait or a response promises the saved value; a failure or a deadline may not.
            guard let saveAs = a.saveAs else { break }
            if edge == ["next"] && a.waits { change.set(saveAs) } else { change.maySets.insert(saveAs) }
        case .http(let h):
            guard let saveAs = h.saveAs else { break }
            change.set(HTTPSpec.statusVariable(saveAs))
            // Only `next` promises a parsed body; a status route or an error may have saved null.
            if edge == ["next"] {
                change.set(saveAs)
            } else {
                change.set(saveAs, null: true)
                change.maySets.insert(saveAs)
            }
        case .switch(let value, _, _, _):
            if edge.first == "cases", let key = edge.last { change.sets = setIfEquals(value, key) }
        case .if(let conditions, _):
            // Conditions are tried in order: an edge is taken when its condition holds and all
            // earlier ones failed; `else` when all failed.
            let taken = edge.first == "conditions" ? Int(edge[1]) ?? conditions.count : conditions.count
            for c in conditions.prefix(taken) { change.sets.formUnion(implied(by: c, holding: false)) }
            if taken < conditions.count { change.sets.formUnion(implied(by: conditions[taken], holding: true)) }
        default:
            break
        }
        return change
    }

    /// The variables a condition's outcome proves set: `{{vars.x}}` not empty, or equal to a text.
    static func implied(by c: Condition, holding: Bool) -> Set<String> {
        var text: String? = nil
        switch c.to {
        case .string(let s)? where Template.literal(s).expressions.isEmpty: text = s
        case .int?, .double?, .bool?: text = c.to?.templateText
        default: break
        }
        switch (c.op, holding) {
        case (.empty, let holds): return holds == (c.to?.boolValue == false) ? setIfNonEmpty(c.value) : []
        case (.eq, true), (.ne, false): return text.map { setIfEquals(c.value, $0) } ?? []
        default: return []
        }
    }

    /// The variable a template shows on its own (`{{vars.crm.tier}}`, maybe `| 'text'`).
    static func shown(_ t: Template) -> (variable: String, fallback: String?)? {
        guard let e = t.soleExpression, e.references.count == 1, let v = e.references[0].variable else { return nil }
        return (v, e.fallback)
    }

    /// Rendering a non-empty text proves the variable set, unless the fallback could have given it.
    static func setIfNonEmpty(_ t: Template) -> Set<String> {
        guard let (v, fallback) = shown(t), fallback?.isEmpty ?? true else { return [] }
        return [v]
    }

    /// Rendering exactly `text` proves the variable set, unless the fallback could have given it
    /// (compared as numbers too, as `eq` does).
    static func setIfEquals(_ t: Template, _ text: String) -> Set<String> {
        guard let (v, fallback) = shown(t), !text.isEmpty else { return [] }
        if let fallback, fallback == text || (Double(fallback) != nil && Double(fallback) == Double(text)) { return [] }
        return [v]
    }
}
