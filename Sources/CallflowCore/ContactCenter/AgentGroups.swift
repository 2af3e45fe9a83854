/// Agent groups: `flows/groups/<name>.json`, `{"agents": ["+13125550141", "sip:ann@example.sip.telnyx.com"]}`.
/// They belong to the flow revision (hashed into it and stored with it), so a roster edit takes
/// effect on reload like a flow edit, and a call keeps the roster it started with.
public enum AgentGroups {
    /// The name prefix under which `FlowSet.load` takes a file as a group (`groups/support`).
    public static let prefix = "groups/"

    /// Reads one group file: its agents in order, or the problems (errors) found.
    public static func parse(_ bytes: [UInt8], file: String) -> (agents: [String]?, diagnostics: [Diagnostic]) {
        func problem(_ pointer: String, _ message: String) -> (agents: [String]?, diagnostics: [Diagnostic]) {
            (nil, [Diagnostic(.error, file: file, pointer: pointer, message)])
        }
        let root: JSONValue
        do { root = try JSONParser.parse(bytes) } catch {
            return problem("", "invalid JSON at \(error.line):\(error.column): \(error.message)")
        }
        guard let top = root.objectValue else { return problem("", "an agent group is {\"agents\": [\"+13125550141\", ...]}") }
        for key in top.keys where !["$schema", "description", "agents"].contains(key) {
            return problem("/\(key)", "unknown field \"\(key)\" for an agent group (it has \"agents\" and \"description\")")
        }
        guard let list = top["agents"]?.arrayValue else { return problem("/agents", "missing \"agents\": a list of E.164 numbers or sip: URIs") }
        var agents: [String] = []
        var diagnostics: [Diagnostic] = []
        for (i, value) in list.enumerated() {
            guard let address = value.stringValue, E164.isDialable(address) else {
                diagnostics.append(
                    Diagnostic(
                        .error, file: file, pointer: "/agents/\(i)",
                        "expected an E.164 number (+13125550141) or a sip: URI, found \(value.jsonString)"))
                continue
            }
            if agents.contains(address) {
                diagnostics.append(Diagnostic(.warning, file: file, pointer: "/agents/\(i)", "\(address) is listed twice; it is rung once"))
                continue
            }
            agents.append(address)
        }
        if list.isEmpty { diagnostics.append(Diagnostic(.warning, file: file, pointer: "/agents", "the group has no agents: it never answers")) }
        return (diagnostics.contains { $0.severity == .error } ? nil : agents, diagnostics)
    }
}
