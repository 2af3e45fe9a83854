import CallflowCore
import CallflowTestSupport
import Foundation
import Testing

/// Every command body the engine produced in a sweep of the flows validates against Telnyx's
/// schema for that action: required fields present, no unknown fields, enum values legal.
@Suite struct CommandSchemaTests {
    static func sdkShape(_ body: JSONObject) -> JSONValue { CommandSchemas.sdkShape(body) }
    static func validator(for action: String) throws -> SchemaValidator { try CommandSchemas.validator(for: action) }

    /// Drives many paths through the shipped and inline flows and collects every command.
    static func producedCommands() throws -> [CallCommand] {
        var all: [CallCommand] = []
        let flows = try Flows.set()
        var h = CallHarness(flows: flows)
        h.initiated(); h.answered(); h.gatherEnded("9", "invalid"); h.gatherEnded("", "timeout"); h.gatherEnded("2")
        h.gatherEnded("12345#"); h.httpResponse(200, #"{"tier":"gold"}"#)
        let target = h.lastClientState["transfer"]
        h.send("call.hangup", ["hangup_cause": "user_busy"], leg: "v3:B", clientState: .some(target))
        h.answered(); h.speakEnded()
        h.send("call.recording.saved", ["recording_urls": ["mp3": "u"]]); h.speakEnded()
        all += h.commands
        var r = CallHarness(flows: flows)
        r.record(
            r.engine.startOutbound(
                leg: CallLeg(callControlID: r.call, connectionID: "c", from: "+13125550100", to: "+13125550199"),
                flow: "reminder", vars: [:], now: r.now))
        r.send("call.machine.detection.ended", ["result": "human"], clientState: .some(nil))
        all += r.commands
        for (_, nodes) in RobustnessTests.waitingStates {
            let flow = #"{"start":"a","nodes":{\#(nodes),"end":{"type":"hangup"}}}"#
            var x = CallHarness(flows: try Flows.single(flow), defaultFlow: "t")
            x.initiated()
            all += x.commands
        }
        var c = try NodeTests.harness(
            #""a":{"type":"connect","to":"+13125550002","from":"+13125550100","timeout_secs":20,"whisper":{"say":"hi"},"on_failure":"bye"}"#)
        let child = c.lastClientState["dial"]
        c.send("call.answered", leg: "v3:B", clientState: .some(child))
        c.send("call.speak.ended", leg: "v3:B")
        all += c.commands
        var a = try NodeTests.harness(
            #""a":{"type":"ai_gather","parameters":{"type":"object","properties":{}},"greeting":"hi","voice":"female","save_as":"x","next":"b","on_error":"b"},"b":{"type":"reject","cause":"USER_BUSY"}"#
        )
        a.send("call.ai_gather.ended", ["status": "invalid"])
        all += a.commands
        var m = try NodeTests.harness(
            #""a":{"type":"menu","prompt":{"media":"menu_audio"},"choices":{"1":"end"},"on_invalid":"end","on_no_input":"end"}"#)
        m.gatherEnded("1")
        all += m.commands
        // Contact-center nodes: dials of agents, screening on an agent's leg, both bridges, the queue.
        var ring = try RingGroupTests.harness(RingGroupTests.flow(screen: true))
        RingGroupTests.agent(&ring, "+13125550141", "call.answered")
        RingGroupTests.agent(&ring, "+13125550141", "call.gather.ended", ["digits": "1", "status": "valid"])
        all += ring.commands
        var queued = try QueueTests.harness()
        queued.send("call.enqueued", ["queue": "support", "current_position": 1])
        queued.apply(.timerFired(id: try #require(queued.state?.queue?.announceTimer)))
        RingGroupTests.agent(&queued, "+13125550141", "call.answered")
        RingGroupTests.agent(&queued, "+13125550142", "call.initiated")
        queued.send("call.dtmf.received", ["digit": "1"])
        all += queued.commands
        var conf = try ConferenceTests.engine()
        ConferenceTests.join(&conf, "v3:A")
        conf.apply(.commandSucceeded(commandID: try #require(conf.last?.commandID), action: "conference_create", data: ["id": "conf-1"]))
        conf.send("conference.participant.joined", ["conference_id": "conf-1"])
        conf.send("call.dtmf.received", ["digit": "1"])
        conf.send("call.dtmf.received", ["digit": "2"])
        ConferenceTests.join(&conf, "v3:B", from: "+13125550177")
        all += conf.commands
        // A listener and a whisperer who create their conferences get their roles after the create;
        // an invite dials a guest and joins it.
        for (role, extra) in [("listener", ""), ("whisper", #","whisper_to":["v3:agent-1"]"#)] {
            let text =
                #"{"start":"c","nodes":{"c":{"type":"conference","name":"r","role":"\#(role)"\#(extra),"invite":["+13125550199"],"next":"e","on_error":"e"},"e":{"type":"hangup"}}}"#
            var x = CallHarness(flows: try Flows.single(text), defaultFlow: "t")
            x.initiated()
            x.apply(.commandSucceeded(commandID: try #require(x.last?.commandID), action: "conference_create", data: ["id": "conf-7"]))
            x.send("conference.participant.joined", ["conference_id": "conf-7"])
            let guest = x.commands.last { $0.action == "dial" }?.body["client_state"]?.stringValue
            x.send("call.answered", leg: "v3:guest", clientState: .some(guest))
            all += x.commands
        }
        var unrouted = CallHarness(flows: flows, defaultFlow: nil)
        unrouted.initiated()
        all += unrouted.commands
        return all
    }

    @Test func everyProducedBodyValidates() throws {
        let commands = try Self.producedCommands()
        let actions = Set(commands.map(\.action))
        #expect(
            actions.isSuperset(of: [
                "answer", "speak", "gather_using_speak", "gather_using_audio", "gather", "transfer", "dial",
                "bridge", "record_start", "gather_using_ai", "hangup", "reject", "playback_start", "enqueue", "leave_queue",
                "playback_stop", "conference_create", "conference_join", "conference_mute", "conference_leave", "conference_update",
            ]))
        #expect(commands.contains { $0.action == "bridge" && $0.body["queue"] != nil }, "a queue's bridge with its head is validated too")
        var validators: [String: SchemaValidator] = [:]
        for command in commands {
            if validators[command.action] == nil { validators[command.action] = try Self.validator(for: command.action) }
            let body = CommandSchemas.schemaShape(command.action, command.body)
            var errors = validators[command.action]!.errors(body)
            // BridgeRequest lists call_control_id as required, and its own `queue` field says it
            // "can't be used together with call_control_id": a bridge with a queue sends `queue` alone.
            if command.action == "bridge", command.body["queue"] != nil, command.body["call_control_id"] == nil {
                errors.removeAll { $0.hasSuffix("missing required call_control_id") }
            }
            #expect(errors.isEmpty, "\(command.action) \(command.body.jsonStringRedacted): \(errors)")
        }
    }

    @Test func validatorCatchesBadBodies() throws {
        let speak = try Self.validator(for: "speak")
        #expect(!speak.errors(["payload": "x"]).isEmpty, "missing voice")
        #expect(!speak.errors(["payload": "x", "voice": "female", "volume": 3]).isEmpty, "unknown field")
        #expect(!speak.errors(["payload": "x", "voice": "female", "payload_type": "html"]).isEmpty, "enum")
        #expect(speak.errors(["payload": "x", "voice": "female", "payload_type": "ssml"]).isEmpty)
    }

    @Test func catalogMatchesTheSchemas() throws {
        for (action, spec) in CommandCatalog.actions {
            let schema = try JSONParser.parse(Array(try Data(contentsOf: Fixtures.telnyx.appendingPathComponent("commands/\(action).schema.json"))))
            let names = Set((schema["properties"]?.objectValue?.keys ?? []).map { $0 == "from_" ? "from" : $0 })
            #expect(names == spec.params, "\(action)")
        }
    }
}

@Test(arguments: [("v3:AbC-12_x.y~z", "v3:AbC-12_x.y~z"), ("a/b c", "a%2Fb%20c"), ("é?#", "%C3%A9%3F%23"), ("", "")])
func pathSegmentsAreEscaped(raw: String, escaped: String) {
    #expect(PathEscape.segment(raw) == escaped)
    #expect(CallCommand(callControlID: raw, action: "answer", body: [:]).path == "/calls/\(escaped)/actions/answer")
}

/// Query names keep `[` `]` as Telnyx documents them (`page[number]`); path segments do not.
@Test func queryPartsKeepBrackets() {
    #expect(PathEscape.segment("filter[occurred_at][gte]", keepingBrackets: true) == "filter[occurred_at][gte]")
    #expect(PathEscape.segment("page[number]") == "page%5Bnumber%5D")
    #expect(PathEscape.segment("a b/[é]", keepingBrackets: true) == "a%20b%2F[%C3%A9]")
}
