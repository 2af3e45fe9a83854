import CallflowCore
import Testing

/// `queue`: enqueue with hold audio, announcements with the caller's place, keys that leave, the
/// ways out Telnyx reports, and agents rung while the caller waits (bridged with the queue's head).
@Suite struct QueueTests {
    static let flow = #"""
        {"start":"a","defaults":{"on_error":"end"},
         "nodes":{"a":{"type":"answer","next":"wait"},
                  "wait":{"type":"queue","queue":"support","max_wait_secs":600,"max_size":20,
                          "hold":{"play":"https://example.com/hold.mp3"},
                          "announce":{"every_secs":30,"prompt":"You are caller {{vars.queue_position}}. The wait is about {{vars.queue_avg_wait_mins}} minutes."},
                          "leave":{"1":"voicemail"},
                          "ring":{"agents":["+13125550141","+13125550142"],"ring_secs":15},
                          "on_timeout":"voicemail","on_full":"voicemail"},
                  "voicemail":{"type":"say","text":"Please leave a message.","next":"end"},
                  "end":{"type":"hangup"}}}
        """#

    static func harness() throws -> CallHarness {
        var h = CallHarness(flows: try Flows.single(flow), defaultFlow: "t")
        h.initiated()
        h.answered()
        return h
    }

    @Test func theCallerIsEnqueuedWithHoldAudioAndAgentsRingOnceTelnyxConfirms() throws {
        var h = try Self.harness()
        let enqueue = try #require(h.commands.first { $0.action == "enqueue" })
        #expect(enqueue.body["queue_name"] == "support" && enqueue.body["max_wait_time_secs"] == 600 && enqueue.body["max_size"] == 20)
        #expect(h.commands.first { $0.action == "playback_start" }?.body["loop"] == "infinity")
        #expect(RingGroupTests.dials(h).isEmpty, "no agent rings before the caller is in line")
        h.send("call.enqueued", ["queue": "support", "current_position": 3, "queue_avg_wait_time_secs": 130])
        #expect(h.state?.vars["queue_position"] == 3 && h.state?.vars["queue_avg_wait_mins"] == 3)
        #expect(RingGroupTests.dials(h).map(\.to) == ["+13125550141", "+13125550142"])
    }

    @Test func announcementsPauseTheHoldAudioAndTellThePlaceInLine() throws {
        var h = try Self.harness()
        h.send("call.enqueued", ["queue": "support", "current_position": 2, "queue_avg_wait_time_secs": 45])
        let timer = try #require(h.state?.queue?.announceTimer)
        let said = h.apply(.timerFired(id: timer))
        #expect(said.commands.map(\.action) == ["playback_stop", "speak"])
        #expect(said.commands.last?.body["payload"] == "You are caller 2. The wait is about 1 minutes.")
        // Stopping the hold audio ends its playback: that is not the announcement ending.
        h.playbackEnded("completed")
        #expect(h.state?.queue?.announcing == true)
        let resumed = h.speakEnded()
        #expect(resumed.commands.map(\.action) == ["playback_start"])
        #expect(h.state?.queue?.announceTimer != nil && h.state?.queue?.announceTimer != timer, "the next announcement is armed")
    }

    @Test func aKeyLeavesTheQueueForItsNode() throws {
        var h = try Self.harness()
        h.send("call.enqueued", ["queue": "support", "current_position": 1])
        RingGroupTests.agent(&h, "+13125550141", "call.initiated")
        RingGroupTests.agent(&h, "+13125550142", "call.initiated")
        let left = h.send("call.dtmf.received", ["digit": "1"])
        #expect(left.commands.map(\.action) == ["leave_queue", "playback_stop", "hangup", "hangup", "speak"], "ringing agents are hung up")
        #expect(h.state?.node == "voicemail")
        #expect(h.state?.vars["queue_outcome"] == "1")
        #expect(left.agents.release.count == 2)
    }

    @Test func telnyxTakingTheCallerOutAfterTheMaximumWaitGoesToOnTimeout() throws {
        var h = try Self.harness()
        h.send("call.enqueued", ["queue": "support", "current_position": 1])
        h.send("call.dequeued", ["queue": "support", "reason": "timeout", "queue_position": 1, "wait_time_secs": 600])
        #expect(h.state?.node == "voicemail")
        #expect(h.outputs.flatMap(\.visits).last?.edge == "on_timeout")
    }

    @Test func aFullQueueGoesToOnFull() throws {
        var h = try Self.harness()
        let enqueue = try #require(h.commands.first { $0.action == "enqueue" })
        h.apply(
            .commandFailed(
                commandID: try #require(enqueue.commandID), action: "enqueue", detail: "queue support is full (max_size 20)", callGone: false))
        #expect(h.state?.node == "voicemail")
        #expect(h.state?.vars["queue_outcome"] == "full")
    }

    @Test func anAnsweringAgentIsBridgedWithTheHeadOfTheQueue() throws {
        var h = try Self.harness()
        h.send("call.enqueued", ["queue": "support", "current_position": 1])
        let answered = RingGroupTests.agent(&h, "+13125550142", "call.answered")
        let bridge = try #require(answered.commands.last)
        #expect(bridge.action == "bridge" && bridge.callControlID == "v3:leg-42")
        #expect(bridge.body["queue"] == "support" && bridge.body["call_control_id"] == nil)
        // Telnyx may report the caller dequeued before the agent's leg is bridged: the agent stays.
        let dequeued = h.send("call.dequeued", ["queue": "support", "reason": "bridged", "queue_position": 1, "wait_time_secs": 20])
        #expect(!dequeued.commands.contains { $0.action == "hangup" && $0.callControlID == "v3:leg-42" }, "the agent taking the call is not hung up")
        RingGroupTests.agent(&h, "+13125550142", "call.bridged")
        #expect(h.state?.phase == .handedOff)
        #expect(h.state?.vars["queue_outcome"] == "answered")
        #expect(h.engine.live.agentHolders["+13125550142"] == h.call, "the agent stays held while talking")
        h.hangup()
        #expect(h.state?.waiting == .agentsServing(timer: "v3:call-A#serving"), "kept until the agent it found is free")
        #expect(h.engine.live.agentHolders["+13125550142"] == h.call)
        // Telnyx hangs the agent up with the caller (bridged): then the agent is free and the call ends.
        let done = RingGroupTests.agent(&h, "+13125550142", "call.hangup", ["hangup_cause": "normal_clearing"])
        #expect(done.ended != nil)
        #expect(h.engine.live.agentHolders.isEmpty)
    }

    @Test func anAgentServingAnotherCallerStaysHeldWhileThisCallerRingsOthersAndLeaves() throws {
        var h = try Self.harness()
        h.send("call.enqueued", ["queue": "support", "current_position": 2])
        RingGroupTests.agent(&h, "+13125550141", "call.initiated")
        // Agent 42 answers this caller's ring and is bridged with the head (another caller); the
        // other agent this caller rang is let go (it rings again for it after the pause).
        let answered = RingGroupTests.agent(&h, "+13125550142", "call.answered")
        #expect(h.state?.serving == [ServingAgent(agent: "+13125550142", leg: "v3:leg-42")])
        #expect(answered.commands.contains { $0.action == "hangup" && $0.callControlID == "v3:leg-41" })
        #expect(h.state?.ring?.deadline != nil, "this caller's ring goes on after the pause")
        // This caller leaves by a key: the serving agent is not touched.
        let left = h.send("call.dtmf.received", ["digit": "1"])
        #expect(!left.commands.contains { $0.callControlID == "v3:leg-42" })
        #expect(h.engine.live.agentHolders["+13125550142"] == h.call, "still held while it talks with the head")
        RingGroupTests.agent(&h, "+13125550142", "call.hangup")
        #expect(h.engine.live.agentHolders["+13125550142"] == nil)
    }

    @Test func aRoundsLateEventIsNotTakenForTheNextRoundsLeg() throws {
        var h = try Self.harness()
        h.send("call.enqueued", ["queue": "support", "current_position": 1])
        let round0 = RingGroupTests.dials(h)
        // Nobody reports anything; the deadline cancels round 0, the pause ends, round 1 rings.
        h.apply(.timerFired(id: try #require(h.state?.ring?.deadline)))
        h.apply(.timerFired(id: try #require(h.state?.ring?.deadline)))
        let round1 = RingGroupTests.dials(h).suffix(2)
        #expect(round0.count == 2 && round1.count == 2 && round1.first?.clientState != round0.first?.clientState)
        // Round 0's late hang-up of agent 41 does not touch round 1's leg of agent 41.
        h.send("call.hangup", ["to": "+13125550141", "hangup_cause": "timeout"], leg: "v3:old-41", clientState: .some(round0[0].clientState))
        #expect(h.state?.ring?.legs.first { $0.agent == 0 }?.status == .ringing)
    }

    @Test func whenNoAgentTakesTheCallTheQueueRingsAgainAfterAPause() throws {
        var h = try Self.harness()
        h.send("call.enqueued", ["queue": "support", "current_position": 1])
        RingGroupTests.agent(&h, "+13125550141", "call.hangup", ["hangup_cause": "timeout"])
        RingGroupTests.agent(&h, "+13125550142", "call.hangup", ["hangup_cause": "user_busy"])
        #expect(h.state?.node == "wait", "the caller keeps waiting")
        let retry = try #require(h.state?.ring?.deadline)
        h.apply(.timerFired(id: retry))
        #expect(RingGroupTests.dials(h).count == 4, "every agent is rung again")
    }

    @Test func aCallWaitingInAQueueSurvivesTheStore() throws {
        var h = try Self.harness()
        h.send("call.enqueued", ["queue": "support", "current_position": 1])
        let state = try #require(h.state)
        let back = try StateCodec.decodeState(StateCodec.encode(state))
        #expect(back.queue == state.queue && back.ring == state.ring && back.waiting == .queued)
    }

    @Test(arguments: [
        (#""announce":{"every_secs":30,"prompt":{"play":"https://x/a.mp3"}},"#, "an announcement is spoken"),
        (#""announce":{"every_secs":3,"prompt":"x"},"#, "every_secs"),
        (#""leave":{"12":"e"},"#, "leave keys are single keys"),
        (#""ring":{"agents":["+13125550141"],"hold":{"play":"x"}},"#, "unknown field \"hold\""),
    ])
    func checkExplainsABadQueue(fields: String, message: String) {
        let text =
            #"{"start":"q","nodes":{"q":{"type":"queue","queue":"s",\#(fields)"hold":{"play":"https://x/h.mp3"},"on_timeout":"e","on_full":"e"},"e":{"type":"hangup"}}}"#
        let d = FlowSet.load(files: [("t", "t.json", Array(text.utf8))], timeZones: TestZones()).diagnostics
        #expect(d.contains { $0.severity == .error && $0.message.contains(message) || $0.pointer.contains(message) }, "\(d)")
    }
}
