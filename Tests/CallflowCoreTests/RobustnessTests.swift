import CallflowCore
import Testing

@Suite struct RobustnessTests {
    @Test func duplicatesAreIgnored() throws {
        var h = CallHarness(flows: try Flows.set())
        h.send("call.initiated", ["direction": "incoming"], clientState: .some(nil), id: "same")
        let again = h.send("call.initiated", ["direction": "incoming"], clientState: .some(nil), id: "same")
        #expect(again.disposition == .duplicate)
        #expect(h.actions == ["answer"])
    }

    @Test func staleEventsFromAnEarlierStepAreIgnored() throws {
        var h = CallHarness(flows: try Flows.set())
        h.initiated()
        h.answered()
        let firstGather = try #require(h.lastClientState[h.call])
        h.gatherEnded("9", "invalid")  // re-prompt: a new step
        let count = h.commands.count
        // A late duplicate-looking gather end of the first attempt (different id) must not count.
        let stale = h.send("call.gather.ended", ["digits": "1", "status": "valid"], clientState: .some(firstGather))
        guard case .stale = stale.disposition else { Issue.record("expected stale, got \(stale.disposition)"); return }
        #expect(h.commands.count == count)
        #expect(h.state?.attempt == 1)
        // A second call.answered (out of order, old step) changes nothing either.
        let old = h.send("call.answered", clientState: .some(StepTag(step: 1).encoded))
        guard case .stale = old.disposition else { Issue.record("expected stale, got \(old.disposition)"); return }
        #expect(h.commands.count == count)
    }

    @Test func eventsNotAwaitedAreIgnoredNotFatal() throws {
        var h = CallHarness(flows: try Flows.set())
        h.initiated()
        h.answered()
        let out = h.send("call.speak.ended", ["status": "completed"])
        guard case .ignored = out.disposition else { Issue.record("\(out.disposition)"); return }
        h.send("call.dtmf.received", ["digit": "1"])
        h.send("call.unknown_thing")
        #expect(h.last?.action == "gather_using_speak")
        h.gatherEnded("1")
        #expect(h.last?.action == "transfer")
    }

    @Test func hangupBeforeAnswerRunsOnHangupOnly() throws {
        var h = CallHarness(flows: try Flows.set())
        h.initiated()
        h.hangup("originator_cancel")
        #expect(h.actions == ["answer"])
        #expect(h.httpCalls.count == 1)
        // Events after the hang-up issue nothing.
        h.answered()
        h.gatherEnded("1")
        #expect(h.actions == ["answer"])
    }

    /// Each flow parks the call in one waiting state; a hang-up there must end it cleanly.
    static let waitingStates: [(String, String)] = [
        ("answer", #""a":{"type":"answer","next":"end"}"#),
        ("say", #""a":{"type":"say","text":"x","next":"end"}"#),
        ("play", #""a":{"type":"play","url":"https://x/y.mp3","next":"end"}"#),
        ("menu", #""a":{"type":"menu","prompt":{"say":"x"},"choices":{"1":"end"},"on_invalid":"end","on_no_input":"end"}"#),
        (
            "menu prelude",
            #""a":{"type":"menu","prompt":{"play":"https://x"},"choices":{"1":"end"},"no_input":{"say":"?"},"on_invalid":"end","on_no_input":"end"}"#
        ),
        ("gather", #""a":{"type":"gather","min_digits":1,"max_digits":2,"save_as":"d","next":"end","on_invalid":"end","on_no_input":"end"}"#),
        ("transfer", #""a":{"type":"transfer","to":"+13125550009","on_failure":"end"}"#),
        ("connect", #""a":{"type":"connect","to":"+13125550009","from":"+13125550100","on_failure":"end"}"#),
        ("record", #""a":{"type":"record","prompt":{"say":"x"},"max_length_secs":5,"save_as":"r","next":"end"}"#),
        ("http", #""a":{"type":"http","method":"GET","url":"https://x","next":"end","on_error":"end"}"#),
        ("ai_gather", #""a":{"type":"ai_gather","parameters":{"type":"object","properties":{}},"save_as":"x","next":"end","on_error":"end"}"#),
        ("machine_detection", #""a":{"type":"machine_detection","on_human":"end","on_machine":"end","on_unknown":"end"}"#),
        ("command wait", #""a":{"type":"command","action":"answer","wait_for":"call.answered","next":"end"}"#),
        ("pause", #""a":{"type":"pause","seconds":3,"next":"end"}"#),
        ("hangup", #""a":{"type":"hangup"}"#),
    ]

    @Test(arguments: RobustnessTests.waitingStates.map(\.0))
    func hangupInEveryWaitingState(_ name: String) throws {
        let nodes = Self.waitingStates.first { $0.0 == name }!.1
        let flow =
            #"{"start":"a","on_hangup":"log","nodes":{\#(nodes),"end":{"type":"hangup"},"log":{"type":"set","vars":{"gone":true},"next":"post"},"post":{"type":"http","method":"POST","url":"https://log.example/{{vars.gone}}"}}}"#
        var h = CallHarness(flows: try Flows.single(flow), defaultFlow: "t")
        h.initiated()
        if name == "menu prelude" { h.gatherEnded("", "timeout") }
        let commandsToA = h.commands.filter { $0.callControlID == h.call }.count
        h.hangup()
        #expect(h.commands.filter { $0.callControlID == h.call }.count == commandsToA, "\(name): command after hangup")
        #expect(h.state?.phase == .afterHangup)
        #expect(h.httpCalls.last?.url == "https://log.example/true")
        // Everything Telnyx might still deliver is ignored.
        for type in ["call.answered", "call.speak.ended", "call.playback.ended", "call.gather.ended", "call.bridged", "call.recording.saved"] {
            h.send(type)
        }
        #expect(h.commands.filter { $0.callControlID == h.call }.count == commandsToA)
        h.httpResponse(200, "")
        #expect(h.ended)
        #expect(h.state == nil)
    }

    @Test func runtimeLoopGuardHangsUp() throws {
        // A cycle that check rejects, built directly to prove the runtime guard.
        let a = Node(id: "a", kind: .set(vars: ["x": 1], next: "b"))
        let b = Node(id: "b", kind: .switch(value: .literal("x"), cases: [:], caseOrder: [], default: "a"))
        let flow = Flow(
            name: "loop", description: nil, start: "a", defaults: .init(), vars: [:], onHangup: nil,
            nodes: ["a": a, "b": b], order: ["a", "b"])
        var h = CallHarness(flows: FlowSet(flows: ["loop": flow], revision: "r1"), defaultFlow: "loop")
        h.initiated()
        #expect(h.actions == ["hangup"])
        #expect(h.logs.contains { $0.contains("flow looped") })
    }

    @Test func routingByCalledNumber() throws {
        let flows = try Flows.set(extra: ["t": #"{"start":"a","nodes":{"a":{"type":"reject","cause":"USER_BUSY"}}}"#])
        var routed = CallHarness(flows: flows, routes: ["+13125550100": "t"], defaultFlow: "main")
        routed.initiated()
        #expect(routed.actions == ["reject"])
        var unrouted = CallHarness(flows: flows, routes: [:], defaultFlow: nil)
        unrouted.initiated()
        #expect(unrouted.actions == ["reject"])
        #expect(unrouted.last?.body["cause"] == "CALL_REJECTED")
        #expect(unrouted.logs.contains { $0.contains("no flow routes calls to +13125550100") })
        #expect(unrouted.state == nil)
        let unknown = unrouted.send("call.answered", leg: "v3:nobody")
        guard case .unknownCall = unknown.disposition else { Issue.record("\(unknown.disposition)"); return }
    }

    @Test func callsKeepTheirRevisionAcrossReload() throws {
        let v1 = try Flows.single(
            #"{"start":"a","nodes":{"a":{"type":"say","text":"one","next":"b"},"b":{"type":"say","text":"one again","next":"c"},"c":{"type":"hangup"}}}"#
        )
        let v2 = try Flows.single(
            #"{"start":"a","nodes":{"a":{"type":"say","text":"two","next":"b"},"b":{"type":"say","text":"two again","next":"c"},"c":{"type":"hangup"}}}"#
        )
        #expect(v1.revision != v2.revision)
        var h = CallHarness(flows: v1, defaultFlow: "t")
        h.initiated()
        h.engine.reload(v2)
        #expect(h.engine.retainedRevisions.count == 2)
        h.speakEnded()
        #expect(h.last?.body["payload"] == "one again")
        h.speakEnded()
        h.hangup()
        #expect(h.engine.retainedRevisions == [v2.revision])
        var fresh = CallHarness(flows: v2, defaultFlow: "t")
        fresh.initiated()
        #expect(fresh.last?.body["payload"] == "two")
    }

    @Test func commandFailures() throws {
        var h = CallHarness(flows: try Flows.set())
        h.initiated()
        h.answered()
        h.gatherEnded("1")
        let transfer = try #require(h.last)
        h.apply(.commandFailed(commandID: transfer.commandID!, action: "transfer", detail: "422 invalid destination", callGone: false))
        #expect(h.state?.flow == "voicemail")  // on_failure → closed → voicemail
        let count = h.commands.count
        h.apply(.commandFailed(commandID: h.last!.commandID!, action: "speak", detail: "90018 call has already ended", callGone: true))
        #expect(h.commands.count == count)
        #expect(h.state?.phase == .hangingUp)
    }

    @Test func clientStateAndCommandIDsAreDeterministic() throws {
        var a = CallHarness(flows: try Flows.set())
        var b = CallHarness(flows: try Flows.set())
        for h in [0, 1] {
            if h == 0 { a.initiated(); a.answered(); a.gatherEnded("2") } else { b.initiated(); b.answered(); b.gatherEnded("2") }
        }
        #expect(a.commands == b.commands)
        #expect(Set(a.commands.compactMap(\.commandID)).count == a.commands.count)
        for c in a.commands {
            let tag = try #require(StepTag(clientState: c.body["client_state"]?.stringValue))
            #expect(tag.step > 0)
        }
    }

    @Test func stepTagRoundTripsAndRejectsForeignState() {
        let tag = StepTag(step: 42, parent: "v3:abc")
        #expect(StepTag(clientState: tag.encoded) == tag)
        #expect(StepTag(clientState: nil) == nil)
        #expect(StepTag(clientState: "aGVsbG8=") == nil)  // someone else's "hello"
        #expect(StepTag(clientState: "%%%") == nil)
        #expect(Base64Text.decode(Base64Text.encode(Array("any bytes \u{00}\u{FF}".utf8))) == Array("any bytes \u{00}\u{FF}".utf8))
    }
}
