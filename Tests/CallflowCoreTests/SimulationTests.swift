import CallflowCore
import CallflowTestSupport
import Foundation
import TelnyxEmulator
import Testing

@Suite struct SimulationTests {
    static func scenarios() throws -> [Scenario] {
        let dir = Fixtures.repoRoot.appendingPathComponent("tests/scenarios")
        return try FileManager.default.contentsOfDirectory(atPath: dir.path).filter { $0.hasSuffix(".json") }.sorted().map { file in
            try Scenario.parse(Array(try Data(contentsOf: dir.appendingPathComponent(file))), name: String(file.dropLast(5)))
        }
    }

    @Test(arguments: try SimulationTests.scenarios().map(\.name))
    func scenarioPasses(_ name: String) throws {
        let scenario = try #require(try Self.scenarios().first { $0.name == name })
        let result = Simulation.run(flows: try Flows.set(), scenario: scenario)
        #expect(result.failures.isEmpty, "\(result.failures)\n\(result.transcript)")
        #expect(result.lines.contains { $0.kind == "end" && $0.text.hasPrefix("call ended") }, "the call must end")
    }

    @Test func scenariosCoverEveryNodeAndEdge() throws {
        let flows = try Flows.set()
        let results = try Self.scenarios().map { Simulation.run(flows: flows, scenario: $0) }
        let coverage = Coverage(flows: flows, results: results)
        for report in coverage.reports {
            #expect(report.complete, "\(report.flow): missing \(report.missingNodes) \(report.missingEdges)")
        }
    }

    @Test func sameInputSameTranscript() throws {
        let flows = try Flows.set()
        for scenario in try Self.scenarios() {
            let a = Simulation.run(flows: flows, scenario: scenario)
            let b = Simulation.run(flows: flows, scenario: scenario)
            #expect(a.transcript == b.transcript)
            #expect(a.json.jsonString == b.json.jsonString)
        }
    }

    @Test func noCommandAfterTheCallerHangsUp() throws {
        var scenario = Scenario(name: "x", flow: "main")
        scenario.caller.hangupAfterNode = "main/menu"
        let result = Simulation.run(flows: try Flows.set(), scenario: scenario)
        let hangup = try #require(result.lines.firstIndex { $0.text.hasPrefix("← call.hangup") })
        #expect(!result.lines[hangup...].contains { $0.kind == "command" }, "\(result.transcript)")
        #expect(result.ending == "caller_hung_up")
    }

    @Test func failingExpectationsAreReported() throws {
        var scenario = Scenario(name: "x", flow: "main")
        scenario.caller.inputs = ["1"]
        scenario.expect.path = ["main/menu", "main/bye"]
        scenario.expect.ending = "rejected"
        scenario.expect.vars = ["account": "1"]
        scenario.expect.spoken = ["Welcome to the moon"]
        scenario.expect.sentOnce = ["hangup"]
        let result = Simulation.run(flows: try Flows.set(), scenario: scenario)
        #expect(result.failures.count == 5, "\(result.failures)")
    }

    @Test func injectedAPIErrorReachesTheFlow() throws {
        var scenario = Scenario(name: "x", flow: "main")
        scenario.caller.inputs = ["1"]
        scenario.faults.apiErrors = ["transfer": (422, "10015")]
        let result = Simulation.run(flows: try Flows.set(), scenario: scenario)
        #expect(result.visits.contains { $0.node == "closed" && $0.edge == "on_failure" }, "\(result.transcript)")
        #expect(result.lines.contains { $0.text.contains("API refuses transfer with 422 [10015] (injected)") })
    }

    @Test func scenarioParseErrorsNameThePlace() {
        #expect(throws: Scenario.ParseError.self) { try Scenario.parse(Array(#"{"flow":"main","calller":{}}"#.utf8), name: "x") }
        #expect {
            try Scenario.parse(Array(#"{"flow":"main","now":"tomorrow"}"#.utf8), name: "x")
        } throws: { "\($0)".hasPrefix("/now:") }
        #expect {
            try Scenario.parse(Array(#"{"flow":"main","expect":{"endin":"x"}}"#.utf8), name: "x")
        } throws: { "\($0)".contains("did you mean \"ending\"") }
    }

    @Test func timestamps() {
        #expect(Timestamp.parse("2026-11-23T10:00:00-06:00") == 1_795_449_600)
        #expect(Timestamp.parse("2026-11-23T16:00:00Z") == 1_795_449_600)
        #expect(Timestamp.parse("2026-11-23T16:00:00.250Z") == 1_795_449_600)
        #expect(Timestamp.parse("2026-13-23T16:00:00Z") == nil)
        #expect(Timestamp.iso(1_795_449_600_250) == "2026-11-23T16:00:00.250000Z")
    }
}

@Suite struct EmulatorModelTests {
    static func gatherBody(_ id: String, _ extra: JSONObject) -> JSONObject {
        var b: JSONObject = ["payload": "Press", "voice": "female", "client_state": "Y3M=", "command_id": .string(id)]
        for (k, v) in extra.members { b[k] = v }
        return b
    }

    static func events(_ emissions: [EmulatorModel.Emission]) -> [String] {
        emissions.compactMap {
            guard case .webhook(_, let body) = $0 else { return nil }
            let type = body["data"]?["event_type"]?.stringValue ?? ""
            let p = body["data"]?["payload"]
            if type == "call.gather.ended" { return "\(type) \(p?["status"]?.stringValue ?? "") \(p?["digits"]?.stringValue ?? "")" }
            return type
        }
    }

    @Test func gatherSemanticsAsTelnyxReportsThem() {
        var m = EmulatorModel(script: CallerScript())
        let (leg, _) = m.inboundCall(from: "+1", to: "+2")
        _ = m.command("answer", leg: leg, body: ["command_id": "a"])
        // valid_digits and maximum_digits 1: one valid key ends it.
        _ = m.command("gather_using_speak", leg: leg, body: Self.gatherBody("g1", ["valid_digits": "12", "maximum_digits": 1, "maximum_tries": 1]))
        #expect(Self.events(m.key(leg, "2")) == ["call.dtmf.received", "call.gather.ended valid 2"])
        // An invalid key with tries left replays the prompt instead of ending.
        _ = m.command(
            "gather_using_speak", leg: leg,
            body: Self.gatherBody(
                "g2",
                [
                    "valid_digits": "12", "maximum_digits": 1, "maximum_tries": 2,
                    "invalid_payload": "Nope.",
                ]))
        let first = m.key(leg, "9")
        #expect(first.contains { if case .needInput(_, _, _, let prompt) = $0 { return prompt == "Nope. Press" } else { return false } })
        #expect(Self.events(m.key(leg, "9")) == ["call.dtmf.received", "call.gather.ended invalid 9"])
        // The terminator ends input and is not reported; too few digits is invalid.
        _ = m.command("gather", leg: leg, body: ["minimum_digits": 3, "maximum_digits": 6, "terminating_digit": "#", "command_id": "g"])
        _ = m.key(leg, "1")
        #expect(Self.events(m.key(leg, "#")) == ["call.dtmf.received", "call.gather.ended invalid 1"])
        // Silence: timeout.
        let emissions = m.command("gather", leg: leg, body: ["minimum_digits": 1, "command_id": "h"]).1
        guard case .gatherTimeout(_, _, let token)? = emissions.last else { Issue.record("no timeout"); return }
        #expect(Self.events(m.timeout(leg, token: token)) == ["call.gather.ended timeout "])
    }

    @Test func aRepeatedCommandIDIsAcceptedButNotExecutedAgain() {
        var m = EmulatorModel(script: CallerScript())
        let (leg, _) = m.inboundCall(from: "+1", to: "+2")
        let speak: JSONObject = ["payload": "Hi", "voice": "female", "command_id": "cf-x-3-1"]
        let first = m.command("speak", leg: leg, body: speak)
        let again = m.command("speak", leg: leg, body: speak)
        #expect(first.0.status == 200 && again.0.status == 200)
        #expect(Self.events(first.1) == ["call.speak.started", "call.speak.ended"])
        #expect(again.1.isEmpty, "Telnyx ignores a repeated command_id on the same call")
    }

    @Test func apiErrorsLikeTelnyx() {
        var m = EmulatorModel(script: CallerScript())
        let (leg, _) = m.inboundCall(from: "+1", to: "+2")
        #expect(m.command("speak", leg: leg, body: ["payload": "x"]).0.status == 422, "missing voice")
        #expect(m.command("speak", leg: leg, body: ["payload": "x", "voice": "female", "volume": 1]).0.status == 422, "unknown field")
        #expect(
            m.command("answer", leg: "v3:nobody", body: [:]).0
                == .error(status: 422, code: "90015", title: "Invalid call control ID", detail: "no call v3:nobody"))
        _ = m.command("hangup", leg: leg, body: [:])
        let (reply, _) = m.command("speak", leg: leg, body: ["payload": "x", "voice": "female"])
        guard case .error(422, "90018", _, _) = reply else { Issue.record("\(reply)"); return }
        #expect(reply.body["errors"]?.arrayValue?.first?["code"] == "90018")
    }

    @Test func webhooksCarryTheLatestClientStateAndValidPayloads() throws {
        var m = EmulatorModel(script: CallerScript())
        let (leg, _) = m.inboundCall(from: "+13125550101", to: "+13125550100")
        let (_, out) = m.command("answer", leg: leg, body: ["client_state": "c3RlcA==", "command_id": "x"])
        guard case .webhook(_, let body)? = out.first else { Issue.record("no webhook"); return }
        let event = try WebhookEvent.decode(body.jsonBytes)
        #expect(event.eventType == "call.answered")
        #expect(event.call?.clientState == "c3RlcA==")
        #expect(event.call?.from == "+13125550101")
        #expect(event.occurredAt?.hasSuffix("Z") == true)
    }
}
