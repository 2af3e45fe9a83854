import CallflowCore
import Testing

/// `callback`: booked in the flow, kept after the hang-up, placed through the outbox when its time
/// comes (within hours, once an agent is free), and the booked flow runs when it is answered.
@Suite struct CallbackTests {
    static func flow(_ extra: String = "") -> String {
        #"""
        {"start":"a","defaults":{"on_error":"end"},
         "nodes":{"a":{"type":"answer","next":"book"},
                  "book":{"type":"callback","flow":"back","vars":{"reason":"billing for {{call.from}}"}\#(extra),"next":"bye"},
                  "bye":{"type":"say","text":"We will call you back.","next":"end"},
                  "end":{"type":"hangup"}}}
        """#
    }
    static let back = #"""
        {"start":"hello","vars":{"reason":""},
         "nodes":{"hello":{"type":"say","text":"Calling you back about {{vars.reason}}.","next":"end"},"end":{"type":"hangup"}}}
        """#

    static func harness(_ extra: String = "", now: Int64 = Times.mondayMorning) throws -> CallHarness {
        var h = CallHarness(flows: try Flows.set(extra: ["t": flow(extra), "back": back]), now: now, defaultFlow: "t")
        h.initiated()
        h.answered()
        return h
    }

    /// The caller hears the goodbye and the flow hangs up.
    static func hangUp(_ h: inout CallHarness) {
        h.speakEnded()
        h.hangup()
    }

    static func callbackTimer(_ h: CallHarness) -> (id: String, ms: Int)? {
        guard case .callbackDue(let id)? = h.state?.waiting else { return nil }
        for case .startTimer(id, let ms) in h.effects.reversed() { return (id, ms) }
        return nil
    }

    @Test func aBookedCallbackIsPlacedAfterTheHangUpAndRunsItsFlowWhenAnswered() throws {
        var h = try Self.harness()
        #expect(h.state?.node == "bye", "booking goes on at once")
        #expect(h.state?.callback?.to == "+13125550101" && h.state?.callback?.vars["reason"] == "billing for +13125550101")
        Self.hangUp(&h)
        #expect(h.state?.phase == .afterHangup, "the call is kept while the callback waits")
        let timer = try #require(Self.callbackTimer(h))
        #expect(timer.ms == 0, "open at once: no hours, no agents")
        let placed = h.apply(.timerFired(id: timer.id))
        let dial = try #require(placed.commands.first)
        #expect(dial.action == "dial" && dial.body["to"] == "+13125550101" && dial.body["from"] == "+13125550100")
        #expect(dial.body["connection_id"] == "conn-1")
        let token = try #require(StepTag(clientState: dial.body["client_state"]?.stringValue)?.dial)
        #expect(dial.body["command_id"] == .string("cf-dial-\(token)"), "a re-send from the outbox is the same dial")
        #expect(placed.effects.contains { if case .expectDial(token, let d) = $0.effect { return d.flow == "back" } else { return false } })
        #expect(placed.ended != nil && h.state == nil)
        // The callee answers: the booked flow starts with the booked variables.
        h.call = "v3:callback-1"
        h.send("call.answered", clientState: .some(dial.body["client_state"]?.stringValue))
        #expect(h.state?.flow == "back")
        #expect(h.last?.body["payload"] == "Calling you back about billing for +13125550101.")
    }

    @Test func outsideItsHoursTheCallbackWaitsForTheNextOpening() throws {
        // Saturday afternoon in Chicago; the callback may be placed weekdays 09:00-17:00 only.
        let hours = #","hours":{"timezone":"America/Chicago","open":{"mon-fri":["09:00-17:00"]}}"#
        var h = try Self.harness(hours, now: Times.saturdayAfternoon)
        Self.hangUp(&h)
        let timer = try #require(Self.callbackTimer(h))
        let booked = try #require(h.state?.callback?.notBefore)
        #expect(timer.ms == Int(booked - h.now) * 1000)
        #expect(booked - Times.saturdayAfternoon > 40 * 3600, "Monday 09:00, not before")
        #expect(h.state?.callback?.expiresAt == booked + 24 * 3600, "the expiry counts from the first time it may be placed")
    }

    @Test func itWaitsForAFreeAgentAndExpires() throws {
        let flows = try Flows.set(extra: [
            "t": Self.flow(#","agents":["+13125550141"],"expire_hours":1"#), "back": Self.back,
            "r": RingGroupTests.flow(agents: #"["+13125550141"]"#),
        ])
        var h = CallHarness(flows: flows, routes: ["+13125550199": "r"], defaultFlow: "t")
        // Another caller's ring group holds the only agent.
        h.call = "v3:ringer"
        h.to = "+13125550199"
        h.initiated()
        h.answered()
        #expect(h.engine.live.agentHolders["+13125550141"] == "v3:ringer")
        h.call = "v3:call-A"
        h.to = "+13125550100"
        h.initiated()
        h.answered()
        Self.hangUp(&h)
        let first = try #require(Self.callbackTimer(h))
        let waited = h.apply(.timerFired(id: first.id))
        #expect(waited.commands.isEmpty, "no agent is free: nothing is dialed")
        let again = try #require(Self.callbackTimer(h))
        #expect(again.ms == CallbackSpec.agentPollMs && again.id != first.id)
        h.now += 3700
        let expired = h.apply(.timerFired(id: again.id))
        #expect(expired.commands.isEmpty && expired.ended != nil)
        #expect(h.logs.contains { $0.contains("expired unplaced") })
    }

    @Test func aCallbackFlowThatRingsAgentsAtOnceClaimsThem() throws {
        let ringing =
            #"{"start":"r","nodes":{"r":{"type":"ring_group","agents":["+13125550141"],"hold":{"play":"https://x/h.mp3"},"next":"e","on_no_answer":"e","on_error":"e"},"e":{"type":"hangup"}}}"#
        var h = CallHarness(flows: try Flows.set(extra: ["t": Self.flow(), "back": ringing]), defaultFlow: "t")
        h.initiated()
        h.answered()
        Self.hangUp(&h)
        let placed = h.apply(.timerFired(id: try #require(Self.callbackTimer(h)).id))
        let dial = try #require(placed.commands.first)
        h.call = "v3:callback-1"
        let answered = h.send("call.answered", clientState: .some(dial.body["client_state"]?.stringValue))
        #expect(answered.agents.take == ["+13125550141"], "the flow started by the answer holds the agent it rings")
        #expect(h.engine.live.agentHolders["+13125550141"] == "v3:callback-1")
    }

    static let sensitiveFlow = #"""
        {"start":"a","defaults":{"on_error":"end"},
         "nodes":{"a":{"type":"answer","next":"acct"},
                  "acct":{"type":"gather","min_digits":4,"max_digits":4,"save_as":"acct","sensitive":true,"next":"book","on_invalid":"end","on_no_input":"end"},
                  "book":{"type":"callback","flow":"back","vars":{"reason":"account {{vars.acct}}","kind":"billing"},"next":"end"},
                  "end":{"type":"hangup"}}}
        """#

    @Test func sensitiveDigitsAreLeftOutOfACallbacksVariables() throws {
        var h = CallHarness(flows: try Flows.set(extra: ["t": Self.sensitiveFlow, "back": Self.back]), defaultFlow: "t")
        h.initiated()
        h.answered()
        h.gatherEnded("4321")
        #expect(h.state?.callback?.vars == ["kind": "billing"])
        #expect(h.logs.contains { $0.contains("vars.reason would carry sensitive digits") })
        let stored = StateCodec.encode(try #require(h.state)).jsonString
        #expect(!stored.contains("4321"))
    }

    @Test func aCallWaitingToCallBackSurvivesTheStore() throws {
        var h = try Self.harness()
        Self.hangUp(&h)
        let state = try #require(h.state)
        let back = try StateCodec.decodeState(StateCodec.encode(state))
        #expect(back.callback == state.callback && back.waiting == state.waiting && back.phase == .afterHangup)
    }

    @Test func checkNamesAMissingCallbackFlow() {
        let text = #"{"start":"c","nodes":{"c":{"type":"callback","flow":"nope","next":"e"},"e":{"type":"hangup"}}}"#
        let d = FlowSet.load(files: [("t", "t.json", Array(text.utf8))], timeZones: TestZones()).diagnostics
        #expect(d.contains { $0.severity == .error && $0.message.contains("callback runs flow \"nope\", which does not exist") }, "\(d)")
    }
}
