import CallflowCore
import Testing

/// `ring_group`: agents rung at once or in order, the first to answer bridged, the rest hung up,
/// screening, the hold audio, busy agents skipped, and the claims that keep an agent to one caller.
@Suite struct RingGroupTests {
    static func flow(
        strategy: String = "simultaneous", screen: Bool = false, agents: String = #"["+13125550141","+13125550142","+13125550143"]"#
    )
        -> String
    {
        #"""
        {"start":"a","defaults":{"on_error":"end"},
         "nodes":{"a":{"type":"answer","next":"ring"},
                  "ring":{"type":"ring_group","agents":\#(agents),"strategy":"\#(strategy)","ring_secs":15,
                          "hold":{"play":"https://example.com/hold.mp3"},"save_as":"agent",
                          \#(screen ? #""screen":{"prompt":"Call from the support line, press 1 to accept.","accept":"1"},"# : "")
                          "next":"thanks","on_no_answer":"sorry"},
                  "thanks":{"type":"say","text":"Thanks for calling.","next":"end"},
                  "sorry":{"type":"say","text":"Nobody is free.","next":"end"},
                  "end":{"type":"hangup"}}}
        """#
    }

    static func harness(_ text: String) throws -> CallHarness {
        var h = CallHarness(flows: try Flows.single(text), defaultFlow: "t")
        h.initiated()
        h.answered()
        return h
    }

    /// The dials sent so far: agent address → client_state of its leg.
    static func dials(_ h: CallHarness) -> [(to: String, clientState: String)] {
        h.commands.filter { $0.action == "dial" }.map { ($0.body["to"]?.stringValue ?? "", $0.body["client_state"]?.stringValue ?? "") }
    }

    /// An event of agent `to`'s leg, as Telnyx sends it (echoing the dial's client_state, or the
    /// last command's on that leg).
    @discardableResult
    static func agent(_ h: inout CallHarness, _ to: String, _ type: String, _ payload: JSONObject = [:]) -> InputWork {
        let leg = "v3:leg-" + to.suffix(2)
        let dialState = dials(h).first { $0.to == to }?.clientState
        let own = h.commands.last { $0.callControlID == leg }?.body["client_state"]?.stringValue
        var p = payload
        p["to"] = .string(to)
        return h.send(type, p, leg: leg, clientState: .some(own ?? dialState))
    }

    @Test func simultaneousRingsEveryAgentWithHoldAudioAndBridgesTheFirstToAnswer() throws {
        var h = try Self.harness(Self.flow())
        #expect(Self.dials(h).map(\.to) == ["+13125550141", "+13125550142", "+13125550143"])
        let dial = try #require(h.commands.first { $0.action == "dial" })
        #expect(dial.body["timeout_secs"] == 15 && dial.body["connection_id"] == "conn-1" && dial.body["from"] == "+13125550100")
        #expect(dial.reportsResult, "the dial's response names the leg, so a cancel can reach it before its first webhook")
        let queues = Set(h.commands.filter { $0.action == "dial" }.map(\.callControlID))
        #expect(queues.count == 3 && !queues.contains(h.call), "each dial is queued on its own, so all agents ring at once")
        #expect(h.commands.filter { $0.action == "dial" }.allSatisfy { $0.owningCall == h.call }, "their results still come to the caller")
        let hold = try #require(h.commands.first { $0.action == "playback_start" })
        #expect(hold.body["loop"] == "infinity" && hold.callControlID == h.call)
        #expect(h.lastOutput?.agents.take == ["+13125550141", "+13125550142", "+13125550143"])

        Self.agent(&h, "+13125550141", "call.initiated", ["direction": "outgoing"])
        Self.agent(&h, "+13125550142", "call.initiated", ["direction": "outgoing"])
        let answered = Self.agent(&h, "+13125550142", "call.answered")
        #expect(answered.commands.map { "\($0.action) \($0.callControlID)" } == ["hangup v3:leg-41", "playback_stop v3:call-A", "bridge v3:call-A"])
        let bridge = try #require(answered.commands.last)
        #expect(bridge.body["call_control_id"] == "v3:leg-42" && bridge.body["park_after_unbridge"] == "self")
        #expect(bridge.body["prevent_double_bridge"] == true)
        #expect(answered.agents.release == ["+13125550141", "+13125550143"])
        #expect(h.state?.vars["agent"] == "+13125550142")

        // Agent 3's leg had no id yet: the dial's response names it, and it is hung up then.
        let late = h.apply(
            .commandSucceeded(
                commandID: try #require(h.commands.filter { $0.action == "dial" }.last?.commandID), action: "dial",
                data: ["call_control_id": "v3:leg-43"]))
        #expect(late.commands.map { "\($0.action) \($0.callControlID)" } == ["hangup v3:leg-43"])

        h.send("call.bridged")
        #expect(h.state?.ring?.legs.first { $0.agent == 1 }?.status == .bridged)
        let over = Self.agent(&h, "+13125550142", "call.hangup", ["hangup_cause": "normal_clearing"])
        #expect(over.commands.first?.body["payload"] == "Thanks for calling.", "the caller goes on after the agent hangs up")
        #expect(over.agents.release == ["+13125550142"])
        #expect(h.state?.ring == nil)
    }

    @Test func sequentialRingsInOrderSkipsWhoDoesNotAnswerAndGivesUp() throws {
        var h = try Self.harness(Self.flow(strategy: "sequential"))
        #expect(Self.dials(h).map(\.to) == ["+13125550141"])
        Self.agent(&h, "+13125550141", "call.hangup", ["hangup_cause": "user_busy"])
        #expect(Self.dials(h).map(\.to) == ["+13125550141", "+13125550142"])
        Self.agent(&h, "+13125550142", "call.hangup", ["hangup_cause": "timeout"])
        Self.agent(&h, "+13125550143", "call.hangup", ["hangup_cause": "timeout"])
        #expect(h.state?.node == "sorry")
        #expect(h.actions.suffix(2) == ["playback_stop", "speak"], "the hold audio stops before the apology")
        #expect(h.outputs.flatMap(\.visits).last?.edge == "on_no_answer")
    }

    @Test func anAgentListedWithItsOwnRingTimeRingsThatLong() throws {
        var h = try Self.harness(Self.flow(strategy: "sequential", agents: #"[{"to":"+13125550141","ring_secs":8},"+13125550142"]"#))
        #expect(h.commands.last { $0.action == "dial" }?.body["timeout_secs"] == 8)
        Self.agent(&h, "+13125550141", "call.hangup", ["hangup_cause": "timeout"])
        #expect(h.commands.last { $0.action == "dial" }?.body["timeout_secs"] == 15, "the others ring for the node's ring_secs")
    }

    @Test func screeningAsksTheAgentAndADeclineRingsTheNext() throws {
        var h = try Self.harness(Self.flow(strategy: "sequential", screen: true))
        Self.agent(&h, "+13125550141", "call.answered")
        let ask = try #require(h.last)
        #expect(ask.action == "gather_using_speak" && ask.callControlID == "v3:leg-41")
        #expect(ask.body["payload"] == "Call from the support line, press 1 to accept." && ask.body["maximum_digits"] == 1)
        Self.agent(&h, "+13125550141", "call.gather.ended", ["digits": "2", "status": "valid"])
        #expect(h.commands.suffix(2).map(\.action) == ["hangup", "dial"], "declined: that agent is let go and the next rung")
        Self.agent(&h, "+13125550142", "call.answered")
        Self.agent(&h, "+13125550142", "call.gather.ended", ["digits": "1", "status": "valid"])
        #expect(h.last?.action == "bridge" && h.last?.body["call_control_id"] == "v3:leg-42")
    }

    @Test func anAgentAnotherCallHoldsIsBusyAndSkipped() throws {
        var h = try Self.harness(Self.flow(strategy: "simultaneous"))
        #expect(Self.dials(h).count == 3)
        h.call = "v3:call-B"
        h.initiated()
        h.answered()
        #expect(Self.dials(h).count == 3, "call B finds every agent held by call A")
        #expect(h.state?.node == "sorry")
        #expect(h.state?.trace.contains { $0.detail.hasPrefix("3 agents busy: +13125550141") } == true)
        // A frees agent 2 (no answer); a new caller gets it.
        h.call = "v3:call-A"
        Self.agent(&h, "+13125550142", "call.hangup", ["hangup_cause": "timeout"])
        h.call = "v3:call-C"
        h.initiated()
        h.answered()
        #expect(Self.dials(h).last?.to == "+13125550142")
        #expect(h.engine.live.agentHolders["+13125550142"] == "v3:call-C")
    }

    @Test func theCallerHangingUpHangsUpEveryRingingAgentAndFreesThem() throws {
        var h = try Self.harness(Self.flow())
        Self.agent(&h, "+13125550141", "call.initiated")
        Self.agent(&h, "+13125550142", "call.initiated")
        // Agent 3's leg is known only from the dial's response (no webhook yet).
        let third = try #require(h.commands.filter { $0.action == "dial" }.last?.commandID)
        h.apply(.commandSucceeded(commandID: third, action: "dial", data: ["call_control_id": "v3:leg-43"]))
        let gone = h.hangup()
        #expect(gone.commands.map { "\($0.action) \($0.callControlID)" } == ["hangup v3:leg-41", "hangup v3:leg-42", "hangup v3:leg-43"])
        #expect(Set(gone.agents.release) == ["+13125550141", "+13125550142", "+13125550143"])
        #expect(h.engine.live.agentHolders.isEmpty)
        #expect(h.state == nil, "the call ended; nothing of its ring is kept")
    }

    @Test func aLegNamedOnlyAfterTheCallEndedIsHungUp() throws {
        var h = try Self.harness(Self.flow())
        let dials = h.commands.filter { $0.action == "dial" }
        h.hangup()
        #expect(h.state == nil)
        // The dial's response comes after the call ended: the leg it names is hung up.
        let late = h.apply(.commandSucceeded(commandID: try #require(dials[0].commandID), action: "dial", data: ["call_control_id": "v3:leg-41"]))
        #expect(late.commands.map { "\($0.action) \($0.callControlID)" } == ["hangup v3:leg-41"])
        // An agent answering a dial of the ended call, never named to it: hung up as well.
        let answered = Self.agent(&h, "+13125550142", "call.answered")
        #expect(answered.commands.map { "\($0.action) \($0.callControlID)" } == ["hangup v3:leg-42"])
    }

    @Test func aLegCancelledBeforeItWasNamedIsHungUpWhenAnEventNamesIt() throws {
        var h = try Self.harness(Self.flow(strategy: "simultaneous"))
        Self.agent(&h, "+13125550141", "call.answered")
        // Agent 42 was cancelled before any event named its leg; its call.initiated does now.
        let named = Self.agent(&h, "+13125550142", "call.initiated")
        #expect(named.commands.map { "\($0.action) \($0.callControlID)" } == ["hangup v3:leg-42"])
        let answered = Self.agent(&h, "+13125550142", "call.answered")
        #expect(answered.commands.isEmpty, "hung up once, not twice")
    }

    @Test func aDeclinedScreeningLeavesTheOtherAgentsRinging() throws {
        var h = try Self.harness(Self.flow(strategy: "simultaneous", screen: true))
        Self.agent(&h, "+13125550141", "call.initiated")
        Self.agent(&h, "+13125550142", "call.initiated")
        Self.agent(&h, "+13125550141", "call.answered")
        #expect(!h.commands.contains { $0.action == "hangup" && $0.callControlID == "v3:leg-42" }, "the others ring on while agent 41 is asked")
        Self.agent(&h, "+13125550141", "call.gather.ended", ["digits": "9", "status": "valid"])
        #expect(h.state?.node == "ring", "a decline does not end the group")
        Self.agent(&h, "+13125550142", "call.answered")
        Self.agent(&h, "+13125550142", "call.gather.ended", ["digits": "1", "status": "valid"])
        #expect(h.last?.action == "bridge" && h.last?.body["call_control_id"] == "v3:leg-42")
    }

    @Test func aBridgeThatDidNotFormBringsTheHoldAudioBack() throws {
        var h = try Self.harness(Self.flow(strategy: "sequential"))
        Self.agent(&h, "+13125550141", "call.answered")
        #expect(h.actions.suffix(2) == ["playback_stop", "bridge"])
        Self.agent(&h, "+13125550141", "call.hangup", ["hangup_cause": "normal_clearing"])
        #expect(h.actions.suffix(2) == ["dial", "playback_start"], "the next agent rings and the caller hears the hold audio again")
    }

    @Test func anAgentWhoAnswersAfterTheRunEndedIsHungUp() throws {
        var h = try Self.harness(Self.flow(strategy: "simultaneous"))
        Self.agent(&h, "+13125550141", "call.answered")
        // Agent 2 answers late, before Telnyx named its leg to us: it is hung up, not bridged.
        let late = Self.agent(&h, "+13125550142", "call.answered")
        #expect(late.commands.map { "\($0.action) \($0.callControlID)" } == ["hangup v3:leg-42"])
        #expect(h.commands.filter { $0.action == "bridge" }.count == 1)
        h.send("call.bridged")
        Self.agent(&h, "+13125550141", "call.hangup")
        // And after the run is over (the caller is at "thanks" now), an answer is hung up too.
        let after = Self.agent(&h, "+13125550143", "call.answered")
        #expect(after.commands.map { "\($0.action) \($0.callControlID)" } == ["hangup v3:leg-43"])
    }

    @Test func theDeadlineHangsUpAgentsTelnyxNeverReported() throws {
        var h = try Self.harness(Self.flow(strategy: "sequential"))
        Self.agent(&h, "+13125550141", "call.initiated")
        guard case .ringing(let timer?)? = h.state?.waiting else { Issue.record("not ringing with a deadline"); return }
        h.apply(.timerFired(id: timer))
        #expect(
            h.commands.suffix(2).map { "\($0.action) \($0.body["to"]?.stringValue ?? $0.callControlID)" } == [
                "hangup v3:leg-41", "dial +13125550142",
            ])
    }

    @Test func aRefusedDialLetsThatAgentGo() throws {
        var h = try Self.harness(Self.flow(strategy: "sequential"))
        let dial = try #require(h.commands.last { $0.action == "dial" })
        h.apply(.commandFailed(commandID: try #require(dial.commandID), action: "dial", detail: "invalid number", callGone: false))
        #expect(Self.dials(h).map(\.to) == ["+13125550141", "+13125550142"])
        #expect(h.logs.contains { $0.contains("dialing agent +13125550141 failed") })
    }

    @Test func aCallMidRingSurvivesTheStore() throws {
        var h = try Self.harness(Self.flow(screen: true))
        Self.agent(&h, "+13125550141", "call.answered")
        let state = try #require(h.state)
        let back = try StateCodec.decodeState(StateCodec.encode(state))
        #expect(back.ring == state.ring)
        #expect(back.waiting == state.waiting)
        var restored = LiveCalls()
        restored.restore(calls: [back], dedupe: [], dials: [:], now: 0)
        #expect(restored.agentHolders["+13125550141"] == h.call, "a restart rebuilds who holds which agent")
    }

    @Test(arguments: [
        (#"{"type":"ring_group","hold":{"play":"https://x/h.mp3"},"next":"e","on_no_answer":"e"}"#, "name who to ring"),
        (#"{"type":"ring_group","agents":["3125550141"],"hold":{"play":"https://x/h.mp3"},"next":"e","on_no_answer":"e"}"#, "is not an E.164 number"),
        (#"{"type":"ring_group","agents":["+13125550141"],"hold":"Please hold","next":"e","on_no_answer":"e"}"#, "hold audio plays in a loop"),
        (
            #"{"type":"ring_group","group":"sales","hold":{"play":"https://x/h.mp3"},"next":"e","on_no_answer":"e"}"#,
            "agent group \"sales\" does not exist"
        ),
        (
            #"{"type":"ring_group","agents":["+13125550141"],"strategy":"round_robin","hold":{"play":"https://x/h.mp3"},"next":"e","on_no_answer":"e"}"#,
            "expected \"simultaneous\" or \"sequential\""
        ),
        (
            #"{"type":"ring_group","agents":["+13125550141"],"screen":{"prompt":"Press 1","accept":"12"},"hold":{"play":"https://x/h.mp3"},"next":"e","on_no_answer":"e"}"#,
            "expected one key"
        ),
    ])
    func checkExplainsABadRingGroup(node: String, message: String) {
        let text = #"{"start":"r","nodes":{"r":\#(node),"e":{"type":"hangup"}}}"#
        let d = FlowSet.load(files: [("t", "t.json", Array(text.utf8))], timeZones: TestZones()).diagnostics
        #expect(d.contains { $0.severity == .error && $0.message.contains(message) }, "\(d)")
    }

    @Test func aGroupFileNamesTheAgents() throws {
        let text =
            #"{"start":"a","nodes":{"a":{"type":"answer","next":"r"},"r":{"type":"ring_group","group":"support","hold":{"media":"hold"},"next":"e","on_no_answer":"e","on_error":"e"},"e":{"type":"hangup"}}}"#
        let group = #"{"agents":["+13125550141","sip:ann@example.sip.telnyx.com"]}"#
        let (set, d) = FlowSet.load(
            files: [("t", "t.json", Array(text.utf8)), ("groups/support", "groups/support.json", Array(group.utf8))], timeZones: TestZones())
        #expect(d.isEmpty, "\(d)")
        var h = CallHarness(flows: try #require(set), defaultFlow: "t")
        h.initiated()
        h.answered()
        #expect(Self.dials(h).map(\.to) == ["+13125550141", "sip:ann@example.sip.telnyx.com"])
        #expect(h.commands.first { $0.action == "playback_start" }?.body["media_name"] == "hold")
    }
}
