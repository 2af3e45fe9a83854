/// A flow as a diagram, so authors see their menu tree: nodes labelled with their type and
/// prompt, edges labelled with the outcome that takes them (`1`, `on_no_input`, `on_error`, ...).
public enum FlowGraph {
    /// `mermaid` (renders on GitHub and in docs) or `dot` (Graphviz).
    public enum Format: String, Sendable, CaseIterable { case mermaid, dot }

    /// The diagram text of `flow` (`callflow graph FLOW --format ...`).
    public static func render(_ flow: Flow, format: Format) -> String {
        switch format {
        case .mermaid: return mermaid(flow)
        case .dot: return dot(flow)
        }
    }

    /// `say "Thanks for calling…"`-style summary of a node.
    public static func summary(_ kind: NodeKind) -> String {
        func prompt(_ p: Prompt?) -> String {
            switch p {
            case .say(let t, _, _, _)?: return " \"\(clip(t.source))\""
            case .play(let t)?: return " ▶ \(clip(t.source))"
            case .media(let t)?: return " ▶ \(clip(t.source))"
            case nil: return ""
            }
        }
        switch kind {
        case .say(let p, _), .play(let p, _, _): return kind.typeName + prompt(p)
        case .menu(let m): return "menu" + prompt(m.prompt)
        case .gather(let g): return "gather \(g.minDigits)-\(g.maxDigits) → \(g.saveAs)" + prompt(g.prompt)
        case .http(let h): return "http \(h.method) \(clip(h.url.source))"
        case .transfer(let to, _, _, _): return "transfer \(to.source)"
        case .connect(let to, _, _, _, _): return "connect \(to.source)"
        case .hours(let h, _, _): return "hours \(h.timezone)"
        case .switch(let value, _, _, _): return "switch \(clip(value.source))"
        case .goto(let flow, let node): return "goto \(flow)\(node.map { "/\($0)" } ?? "")"
        case .subflow(let s): return "subflow \(s.flow)" + (s.outputs.isEmpty ? "" : " → " + s.outputs.map(\.caller).joined(separator: ", "))
        case .split(let branches): return "split " + branches.map { "\($0.name) \($0.weight)" }.joined(separator: " / ")
        case .ringGroup(let r):
            let who: String
            switch r.agents {
            case .list(let list): who = list.count == 1 ? clip(list[0].source) : "\(list.count) agents"
            case .group(let g): who = "group \(g)"
            }
            return "ring_group \(r.strategy.rawValue) \(who)" + (r.screen == nil ? "" : " (screened)")
        case .callback(let c): return "callback → \(c.flow)"
        case .conference(let c): return "conference \(c.action.rawValue)" + (c.name.map { " \(clip($0.source))" } ?? "")
        case .queue(let q): return "queue \(q.queue)" + (q.ring == nil ? "" : " (rings agents)")
        case .pause(let s, _): return "pause \(s) s"
        case .action(let a):
            let waits = a.waitFor.isEmpty ? "" : " ⏳ \(a.waitFor.sorted().joined(separator: " | "))"
            return a.type == "command" ? "command \(a.action ?? "")\(waits)" : "\(a.type)\(a.action.map { " (\($0))" } ?? "")\(waits)"
        case .record(let r): return "record → \(r.saveAs)" + prompt(r.prompt)
        case .reject(let cause): return "reject \(cause)"
        default: return kind.typeName
        }
    }

    static func clip(_ s: String, _ n: Int = 40) -> String { s.count > n ? String(s.prefix(n - 1)) + "…" : s }

    static func mermaidID(_ id: String) -> String {
        "n_" + String(id.unicodeScalars.map { ($0.properties.isAlphabetic && $0.isASCII) || ("0"..."9").contains($0) ? Character($0) : "_" })
    }

    static func mermaidText(_ s: String) -> String {
        s.replacing("\"", with: "#quot;").replacing("<", with: "#lt;").replacing(">", with: "#gt;")
    }

    static func mermaid(_ flow: Flow) -> String {
        var out = "flowchart TD\n"
        out += "  start((\"start\")) --> \(mermaidID(flow.start))\n"
        var externals: [String] = []
        for id in flow.order {
            guard let node = flow.nodes[id] else { continue }
            let shape = node.kind.waits ? ("[\"", "\"]") : ("{{\"", "\"}}")
            out += "  \(mermaidID(id))\(shape.0)\(mermaidText(id))<br/><small>\(mermaidText(summary(node.kind)))</small>\(shape.1)\n"
        }
        for id in flow.order {
            guard let node = flow.nodes[id] else { continue }
            for edge in node.edges {
                out += "  \(mermaidID(id)) -->|\(mermaidText(edge.label))| \(mermaidID(edge.target))\n"
            }
            if case .goto(let other, let target) = node.kind {
                let ext = "ext_" + mermaidID(other + "_" + (target ?? "start"))
                if !externals.contains(ext) {
                    externals.append(ext)
                    out += "  \(ext)[/\"flow \(mermaidText(other))\(target.map { "/\(mermaidText($0))" } ?? "")\"/]\n"
                }
                out += "  \(mermaidID(id)) -.->|goto| \(ext)\n"
            }
            if case .subflow(let spec) = node.kind {
                let ext = "ext_" + mermaidID(spec.flow + "_start")
                if !externals.contains(ext) {
                    externals.append(ext)
                    out += "  \(ext)[/\"flow \(mermaidText(spec.flow))\"/]\n"
                }
                out += "  \(mermaidID(id)) -.->|runs| \(ext)\n"
            }
        }
        if let h = flow.onHangup {
            out += "  hangup((\"caller hangs up\")) -.->|on_hangup| \(mermaidID(h))\n"
        }
        return out
    }

    static func dotText(_ s: String) -> String { s.replacing("\\", with: "\\\\").replacing("\"", with: "\\\"") }

    static func dot(_ flow: Flow) -> String {
        var out = "digraph \"\(dotText(flow.name))\" {\n  rankdir=TB;\n  node [shape=box, fontname=\"Helvetica\"];\n"
        out += "  \"__start\" [shape=circle, label=\"start\"];\n  \"__start\" -> \"\(dotText(flow.start))\";\n"
        for id in flow.order {
            guard let node = flow.nodes[id] else { continue }
            let shape = node.kind.waits ? "box" : "diamond"
            out += "  \"\(dotText(id))\" [shape=\(shape), label=\"\(dotText(id))\\n\(dotText(summary(node.kind)))\"];\n"
        }
        for id in flow.order {
            guard let node = flow.nodes[id] else { continue }
            for edge in node.edges {
                out += "  \"\(dotText(id))\" -> \"\(dotText(edge.target))\" [label=\"\(dotText(edge.label))\"];\n"
            }
            if case .goto(let other, let target) = node.kind {
                let ext = "flow \(other)\(target.map { "/\($0)" } ?? "")"
                out += "  \"\(dotText(ext))\" [shape=parallelogram];\n  \"\(dotText(id))\" -> \"\(dotText(ext))\" [label=\"goto\", style=dashed];\n"
            }
            if case .subflow(let spec) = node.kind {
                let ext = "flow \(spec.flow)"
                out += "  \"\(dotText(ext))\" [shape=parallelogram];\n  \"\(dotText(id))\" -> \"\(dotText(ext))\" [label=\"runs\", style=dashed];\n"
            }
        }
        if let h = flow.onHangup {
            out +=
                "  \"__hangup\" [shape=circle, label=\"caller hangs up\"];\n  \"__hangup\" -> \"\(dotText(h))\" [label=\"on_hangup\", style=dotted];\n"
        }
        return out + "}\n"
    }
}
