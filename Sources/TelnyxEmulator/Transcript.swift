import CallflowCore

extension Simulation.Result {
    /// The readable transcript: one line per thing that happened, with a virtual timestamp.
    public var transcript: String {
        var out = ""
        for line in lines {
            let ms = line.t
            let minutes = ms / 60_000, seconds = ms / 1000 % 60, millis = ms % 1000
            func pad(_ v: Int64, _ n: Int) -> String { let s = String(v); return String(repeating: "0", count: max(0, n - s.count)) + s }
            out += "[\(pad(minutes, 2)):\(pad(seconds, 2)).\(pad(millis, 3))] \(line.text)\n"
        }
        out += "ending: \(ending)\n"
        return out
    }

    /// The machine-readable trace (`--json`).
    public var json: JSONValue {
        .object([
            "ending": .string(ending),
            "path": .array(visits.map { .string("\($0.flow)/\($0.node)") }),
            "commands": .array(
                commands.map {
                    .object([
                        "action": .string($0.action), "call_control_id": .string($0.callControlID),
                        "body": .object($0.body),
                    ])
                }),
            "vars": .object(vars),
            "lines": .array(lines.map { .object(["t": .int(Int($0.t)), "kind": .string($0.kind), "text": .string($0.text)]) }),
            "failures": .array(failures.map(JSONValue.string)),
        ])
    }
}

/// Which nodes and outcome edges of each flow a set of runs exercised.
public struct Coverage: Sendable {
    public struct FlowReport: Sendable, Equatable {
        public var flow: String
        public var nodes: [String]
        public var coveredNodes: Set<String>
        /// `node --label--> target`
        public var edges: [String]
        public var coveredEdges: Set<String>
        public var missingNodes: [String] { nodes.filter { !coveredNodes.contains($0) } }
        public var missingEdges: [String] { edges.filter { !coveredEdges.contains($0) } }
        public var complete: Bool { missingNodes.isEmpty && missingEdges.isEmpty }
    }

    public var reports: [FlowReport]

    static func edgeName(_ node: String, _ label: String, _ target: String) -> String { "\(node) --\(label)--> \(target)" }

    public init(flows: FlowSet, results: [Simulation.Result], only: Set<String>? = nil) {
        var reports: [FlowReport] = []
        for name in flows.flows.keys.sorted() where only?.contains(name) ?? true {
            let flow = flows.flows[name]!
            var edges: [String] = []
            for id in flow.order {
                guard let node = flow.nodes[id] else { continue }
                for edge in node.edges { edges.append(Self.edgeName(id, edge.label, edge.target)) }
            }
            var nodes = Set<String>(), taken = Set<String>()
            for result in results {
                for visit in result.visits where visit.flow == name {
                    nodes.insert(visit.node)
                    guard let edge = visit.edge, let from = visit.from else { continue }
                    let parts = from.split(separator: "/", maxSplits: 1).map(String.init)
                    if parts.count == 2, parts[0] == name { taken.insert(Self.edgeName(parts[1], edge, visit.node)) }
                }
            }
            reports.append(FlowReport(flow: name, nodes: flow.order, coveredNodes: nodes, edges: edges, coveredEdges: taken))
        }
        self.reports = reports
    }

    public var text: String {
        var out = "coverage:\n"
        for r in reports {
            out +=
                "  \(r.flow): \(r.coveredNodes.intersection(r.nodes).count)/\(r.nodes.count) nodes, "
                + "\(r.coveredEdges.intersection(r.edges).count)/\(r.edges.count) outcome edges\n"
            for n in r.missingNodes { out += "    node not reached: \(n)\n" }
            for e in r.missingEdges { out += "    edge not taken: \(e)\n" }
        }
        return out
    }
}
