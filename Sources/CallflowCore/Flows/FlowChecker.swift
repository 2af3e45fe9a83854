/// Checks that need the whole flow set: edge targets, gotos, reachability, cycles that never
/// wait, what `on_hangup` may do, and variables read where they may be unset (`VariableCheck`).
public enum FlowChecker {
    /// Each outgoing edge with the JSON pointer (under the node) of the field that names it.
    public static func edges(of node: Node) -> [(pointer: [String], target: String)] {
        edges(of: node.kind) + node.keys.map { (["keys", $0.digit], $0.target) } + (node.onError.map { [(["on_error"], $0)] } ?? [])
    }

    /// Each edge of a node kind with the pointer (under the node) of the field that names it.
    public static func edges(of kind: NodeKind) -> [(pointer: [String], target: String)] {
        switch kind {
        case .answer(let next), .set(_, let next), .pause(_, let next), .say(_, let next):
            return [(["next"], next)]
        case .action(let a):
            return [(["next"], a.next)] + (a.onError.map { [(["on_error"], $0)] } ?? []) + (a.onTimeout.map { [(["on_timeout"], $0)] } ?? [])
        case .play(_, let next, let onError):
            return [(["next"], next)] + (onError.map { [(["on_error"], $0)] } ?? [])
        case .menu(let m):
            return m.choices.map { (["choices", $0.digit], $0.target) } + [(["on_invalid"], m.onInvalid), (["on_no_input"], m.onNoInput)]
        case .gather(let g): return [(["next"], g.next), (["on_invalid"], g.onInvalid), (["on_no_input"], g.onNoInput)]
        case .switch(_, let cases, let order, let def): return order.map { (["cases", $0], cases[$0]!) } + [(["default"], def)]
        case .if(let conditions, let otherwise):
            return conditions.enumerated().map { (["conditions", String($0.offset), "next"], $0.element.next) } + [(["else"], otherwise)]
        case .hours(_, let open, let closed): return [(["on_open"], open), (["on_closed"], closed)]
        case .transfer(_, _, _, let f), .connect(_, _, _, _, let f): return [(["on_failure"], f)]
        case .record(let r): return [(["next"], r.next)]
        case .http(let h):
            return (h.next.map { [(["next"], $0)] } ?? []) + h.onStatus.map { (["on_status", $0.key], $0.target) }
                + (h.onError.map { [(["on_error"], $0)] } ?? [])
        case .aiGather(_, _, _, _, let next, let onError): return [(["next"], next), (["on_error"], onError)]
        case .machineDetection(let h, let m, let u, _): return [(["on_human"], h), (["on_machine"], m), (["on_unknown"], u)]
        case .split(let branches): return branches.map { (["branches", $0.name, "next"], $0.next) }
        case .subflow(let s): return [(["next"], s.next)]
        case .ringGroup(let r): return [(["next"], r.next), (["on_no_answer"], r.onNoAnswer)]
        case .callback(let c): return [(["next"], c.next)]
        case .conference(let c): return c.keys.map { (["keys", $0.digit], $0.target) } + [(["next"], c.next)]
        case .queue(let q): return q.leave.map { (["leave", $0.digit], $0.target) } + [(["on_timeout"], q.onTimeout), (["on_full"], q.onFull)]
        case .goto, .hangup, .reject, .return: return []
        }
    }

    /// Every whole-set problem of `flows` (name → flow); `files` names each flow's file in diagnostics.
    /// `groups` are the agent groups of the set (`flows/groups/`), which `ring_group` nodes name.
    public static func check(flows: [String: Flow], files: [String: String], groups: [String: [String]] = [:]) -> [Diagnostic] {
        var out: [Diagnostic] = []
        for name in flows.keys.sorted() {
            let flow = flows[name]!
            let file = files[name] ?? name
            func error(_ pointer: [String], _ message: String) {
                out.append(Diagnostic(.error, file: file, pointer: JSONPointer.string(pointer), message))
            }
            func missing(_ target: String, _ pointer: [String]) {
                var message = "\"\(target)\" is not a node of this flow"
                if let s = Spelling.nearest(to: target, in: flow.order) { message += "; did you mean \"\(s)\"?" }
                error(pointer, message)
            }
            let known = Set(flow.order)  // not flow.order.contains: quadratic on big flows
            if !known.contains(flow.start) { missing(flow.start, ["start"]) }
            if let h = flow.onHangup, !known.contains(h) { missing(h, ["on_hangup"]) }
            for id in flow.order {
                for edge in flow.brokenEdges[id] ?? [] where !known.contains(edge.target) {
                    missing(edge.target, ["nodes", id] + edge.pointer)
                }
                guard let node = flow.nodes[id] else { continue }
                for edge in edges(of: node) where !known.contains(edge.target) {
                    missing(edge.target, ["nodes", id] + edge.pointer)
                }
                if case .subflow(let spec) = node.kind {
                    if let inner = flows[spec.flow] {
                        func declared(_ name: String, _ pointer: [String], _ what: String) {
                            guard inner.vars[name] == nil else { return }
                            var message = "\(what) \"\(name)\" is not a variable of flow \"\(spec.flow)\"; declare it in its \"vars\""
                            if let s = Spelling.nearest(to: name, in: inner.vars.keys) { message += " (did you mean \"\(s)\"?)" }
                            error(["nodes", id] + pointer, message)
                        }
                        for key in spec.inputs.keys { declared(key, ["inputs", key], "input") }
                        for o in spec.outputs { declared(o.subflow, ["outputs", o.caller], "output") }
                    } else if files[spec.flow] == nil {
                        var message = "subflow names flow \"\(spec.flow)\", which does not exist"
                        if let s = Spelling.nearest(to: spec.flow, in: files.keys) { message += "; did you mean \"\(s)\"?" }
                        error(["nodes", id, "flow"], message)
                    }
                }
                if case .callback(let spec) = node.kind {
                    if flows[spec.flow] == nil && files[spec.flow] == nil {
                        var message = "callback runs flow \"\(spec.flow)\", which does not exist"
                        if let s = Spelling.nearest(to: spec.flow, in: files.keys) { message += "; did you mean \"\(s)\"?" }
                        error(["nodes", id, "flow"], message)
                    }
                    if case .group(let group)? = spec.agents, groups[group] == nil {
                        error(
                            ["nodes", id, "group"],
                            "agent group \"\(group)\" does not exist; add flows/groups/\(group).json ({\"agents\": [\"+13125550141\"]})")
                    }
                }
                var ringSpec: RingGroupSpec?
                var at = ["nodes", id, "group"]
                if case .ringGroup(let spec) = node.kind { ringSpec = spec }
                if case .queue(let q) = node.kind {
                    ringSpec = q.ring
                    at = ["nodes", id, "ring", "group"]
                }
                if let spec = ringSpec, case .group(let group) = spec.agents, groups[group] == nil {
                    var message = "agent group \"\(group)\" does not exist; add flows/groups/\(group).json ({\"agents\": [\"+13125550141\"]})"
                    if let s = Spelling.nearest(to: group, in: groups.keys) { message += "; did you mean \"\(s)\"?" }
                    error(at, message)
                }
                if case .goto(let other, let target) = node.kind {
                    if let otherFlow = flows[other] {
                        if let target, otherFlow.nodes[target] == nil && !otherFlow.brokenEdges.keys.contains(target) {
                            var message = "flow \"\(other)\" has no node \"\(target)\""
                            if let s = Spelling.nearest(to: target, in: otherFlow.order) { message += "; did you mean \"\(s)\"?" }
                            error(["nodes", id, "node"], message)
                        }
                    } else if files[other] == nil {
                        var message = "goto names flow \"\(other)\", which does not exist"
                        if let s = Spelling.nearest(to: other, in: files.keys) { message += "; did you mean \"\(s)\"?" }
                        error(["nodes", id, "flow"], message)
                    }
                }
            }

            // What runs from the start, and what runs after a hang-up.
            let fromStart = reachable(from: [flow.start] + (flow.defaults.onError.map { [$0] } ?? []), in: flow)
            let fromHangup = flow.onHangup.map { reachable(from: [$0], in: flow) } ?? []
            for id in flow.order where !fromStart.contains(id) && !fromHangup.contains(id) {
                out.append(
                    Diagnostic(
                        .warning, file: file, pointer: JSONPointer.string(["nodes", id]),
                        "node \"\(id)\" is unreachable from \"\(flow.start)\""
                            + (flow.onHangup == nil ? "" : " or on_hangup")))
            }
            for id in flow.order where fromHangup.contains(id) {
                guard let node = flow.nodes[id] else { continue }
                if node.kind.issuesCallCommand {
                    error(
                        ["nodes", id, "type"],
                        "on_hangup runs after the caller has gone: it may use only nodes that send no call command (set, switch, if, split, http, wait, callback), not \(node.kind.typeName)"
                    )
                }
            }
            if let target = flow.defaults.onError, !known.contains(target) { missing(target, ["defaults", "on_error"]) }
            for id in flow.order where fromStart.contains(id) {
                guard let node = flow.nodes[id] else { continue }
                func warn(_ pointer: [String], _ message: String) {
                    out.append(Diagnostic(.warning, file: file, pointer: JSONPointer.string(["nodes", id] + pointer), message))
                }
                if node.talksToCaller, node.failureEdge == nil, flow.defaults.onError == nil {
                    warn(
                        [],
                        "if Telnyx refuses this \(node.kind.typeName) node's command the call hangs up; "
                            + "add \"on_error\" here or \"defaults\": {\"on_error\": ...} for the flow")
                }
                if case .action(let a) = node.kind, !a.waitFor.isEmpty, a.timeoutMs == nil {
                    warn(
                        [],
                        "waits for \(a.waitFor.sorted().joined(separator: " or ")) with no deadline; "
                            + "add \"timeout_ms\" (and \"on_timeout\") so a lost event cannot leave the caller waiting")
                }
            }
            for id in flow.order where fromStart.contains(id) {
                guard let node = flow.nodes[id], case .http(let h) = node.kind else { continue }
                if h.next == nil { error(["nodes", id], "missing required field \"next\"") }
                if h.onError == nil { error(["nodes", id], "missing required field \"on_error\"") }
            }
        }
        out += instantCycles(flows: flows, files: files)
        out += subflowRecursion(flows: flows, files: files)
        out += VariableCheck.check(flows: flows, files: files)
        return out
    }

    /// A `subflow` that can come back to a flow already waiting for it (directly, through other
    /// subflows or through `goto`) would nest without end: an error at the node that closes the
    /// circle. And a flow with `return` that no `subflow` runs hangs up there: a warning.
    static func subflowRecursion(flows: [String: Flow], files: [String: String]) -> [Diagnostic] {
        // Flow → the flows it continues in (goto) or calls (subflow), with the node that does it.
        func next(_ name: String) -> [(flow: String, node: String, calls: Bool)] {
            guard let flow = flows[name] else { return [] }
            return flow.order.compactMap { id in
                switch flow.nodes[id]?.kind {
                case .subflow(let s)?: return (s.flow, id, true)
                case .goto(let other, _)?: return (other, id, false)
                default: return nil
                }
            }
        }
        var out: [Diagnostic] = []
        var called: Set<String> = []
        for name in flows.keys.sorted() {
            for step in next(name) where step.calls {
                called.insert(step.flow)
                // Can the called flow lead back to `name`? Then the subflow recurses.
                var seen: Set<String> = [step.flow]
                var queue: [(flow: String, path: [String])] = [(step.flow, [name, step.flow])]
                while !queue.isEmpty {
                    let (current, path) = queue.removeFirst()
                    if current == name {
                        out.append(
                            Diagnostic(
                                .error, file: files[name] ?? name, pointer: JSONPointer.string(["nodes", step.node, "flow"]),
                                "subflow recursion: \(path.joined(separator: " → ")) never returns; a subflow may not run a flow that is waiting for it"
                            ))
                        break
                    }
                    for n in next(current) where !seen.contains(n.flow) || n.flow == name {
                        seen.insert(n.flow)
                        queue.append((n.flow, path + [n.flow]))
                    }
                }
            }
        }
        for name in flows.keys.sorted() where !called.contains(name) {
            guard let flow = flows[name] else { continue }
            for id in flow.order {
                guard case .return? = flow.nodes[id]?.kind else { continue }
                out.append(
                    Diagnostic(
                        .warning, file: files[name] ?? name, pointer: JSONPointer.string(["nodes", id]),
                        "no subflow node runs flow \"\(name)\", so this return hangs up the call"))
            }
        }
        return out
    }

    static func reachable(from roots: [String], in flow: Flow) -> Set<String> {
        var seen = Set<String>()
        var stack = roots
        while let id = stack.popLast() {
            guard seen.insert(id).inserted else { continue }
            if let node = flow.nodes[id] { stack += edges(of: node).map(\.target) }
            stack += (flow.brokenEdges[id] ?? []).map(\.target)
        }
        return seen
    }

    /// Cycles made only of nodes that do not wait (set, switch, if, hours, goto, command without
    /// wait_for): at run time they would spin without ever giving the caller a turn.
    static func instantCycles(flows: [String: Flow], files: [String: String]) -> [Diagnostic] {
        struct Key: Hashable { let flow: String, node: String }
        func successors(_ k: Key) -> [Key] {
            guard let flow = flows[k.flow], let node = flow.nodes[k.node], !node.kind.waits else { return [] }
            if case .goto(let other, let target) = node.kind {
                guard let o = flows[other] else { return [] }
                return [Key(flow: other, node: target ?? o.start)]
            }
            return edges(of: node).map { Key(flow: k.flow, node: $0.target) }
        }
        var state: [Key: Int] = [:]  // 1 = on stack, 2 = done
        var reported = Set<Set<Key>>()
        var out: [Diagnostic] = []
        for name in flows.keys.sorted() {
            for id in flows[name]!.order {
                var path: [Key] = []
                func visit(_ k: Key) {
                    if state[k] == 2 { return }
                    if state[k] == 1 {
                        guard let start = path.firstIndex(of: k) else { return }
                        let cycle = Array(path[start...])
                        if reported.insert(Set(cycle)).inserted {
                            let names = (cycle + [k]).map { $0.flow == k.flow ? $0.node : "\($0.flow)/\($0.node)" }
                            out.append(
                                Diagnostic(
                                    .error, file: files[k.flow] ?? k.flow, pointer: JSONPointer.string(["nodes", k.node]),
                                    "cycle that never waits for the caller or a timer: \(names.joined(separator: " → "))"))
                        }
                        return
                    }
                    state[k] = 1
                    path.append(k)
                    for s in successors(k) { visit(s) }
                    path.removeLast()
                    state[k] = 2
                }
                visit(Key(flow: name, node: id))
            }
        }
        return out
    }
}
