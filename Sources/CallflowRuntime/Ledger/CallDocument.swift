import CallflowCore

/// A call as `GET /v1/calls/{id}` shows it, whichever ledger holds it: its state (sensitive
/// variables masked), trace and recorded inputs (`callflow replay` reads them).
package enum CallDocument {
    package static func live(_ s: CallState, inputs recorded: [[UInt8]]) -> JSONValue {
        var vars = s.vars
        for name in s.sensitiveVars where vars[name] != nil { vars[name] = "***" }
        return .object([
            "call_control_id": .string(s.callControlID), "phase": .string(s.phase.rawValue), "flow": .string(s.flow), "node": .string(s.node),
            "step": .int(s.step), "revision": .string(s.flowRevision), "waiting": .string("\(s.waiting)"),
            "from": .string(s.facts.from), "to": .string(s.facts.to), "direction": .string(s.facts.direction),
            "vars": .object(vars), "trace": .array(s.trace.map(StateCodec.encode)), "inputs": inputs(recorded),
        ])
    }

    package static func ended(_ id: String, trace: [TraceEntry], inputs recorded: [[UInt8]]) -> JSONValue {
        .object(["call_control_id": .string(id), "phase": "ended", "trace": .array(trace.map(StateCodec.encode)), "inputs": inputs(recorded)])
    }

    private static func inputs(_ recorded: [[UInt8]]) -> JSONValue {
        .array(recorded.map { (try? JSONParser.parse($0)) ?? .null })
    }
}
