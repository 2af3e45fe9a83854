import CallflowCore
import Testing

/// `conference`: create-or-join by name through one shared name table, roles, keys while in it,
/// the actions on it, and the creator kept until the conference ends.
@Suite struct ConferenceTests {
    static let flow = #"""
        {"start":"a","defaults":{"on_error":"end"},
         "nodes":{"a":{"type":"answer","next":"route"},
                  "route":{"type":"switch","value":"{{call.from}}","cases":{"+13125550177":"boss"},"default":"room"},
                  "room":{"type":"conference","name":"case-42","beep":"on_enter","hold":{"play":"https://example.com/hold.mp3"},
                          "keys":{"1":"mute_me","2":"leave"},"next":"after"},
                  "boss":{"type":"conference","name":"case-42","role":"moderator","next":"after"},
                  "mute_me":{"type":"conference","action":"mute","who":"self","next":"room"},
                  "leave":{"type":"conference","action":"leave","next":"after"},
                  "after":{"type":"say","text":"The conference is over.","next":"end"},
                  "end":{"type":"hangup"}}}
        """#

    static func engine() throws -> CallHarness { CallHarness(flows: try Flows.single(flow), defaultFlow: "t") }

    static func join(_ h: inout CallHarness, _ call: String, from: String = "+13125550101") {
        h.call = call
        h.from = from
        h.initiated()
        h.answered()
    }

    @Test func theFirstCallerCreatesTheConferenceAndTheNextJoinItByItsID() throws {
        var h = try Self.engine()
        Self.join(&h, "v3:A")
        let create = try #require(h.last)
        #expect(create.action == "conference_create" && create.path == "/conferences" && create.reportsResult)
        #expect(create.body["call_control_id"] == "v3:A" && create.body["name"] == "case-42" && create.body["beep_enabled"] == "on_enter")
        #expect(create.body["hold_audio_url"] == "https://example.com/hold.mp3")
        #expect(h.lastOutput?.conferences == [ConferenceClaim(name: "case-42", id: "")], "the name is claimed with the create")
        let named = h.apply(.commandSucceeded(commandID: try #require(create.commandID), action: create.action, data: ["id": "conf-1"]))
        #expect(named.conferences == [ConferenceClaim(name: "case-42", id: "conf-1")])
        #expect(h.engine.live.conferences["case-42"] == ConferenceEntry(creator: "v3:A", id: "conf-1"))
        h.send("conference.participant.joined", ["conference_id": "conf-1"])
        #expect(h.state?.conference?.joined == true)

        Self.join(&h, "v3:B", from: "+13125550177")
        let join = try #require(h.last)
        #expect(join.action == "conference_join" && join.path == "/conferences/conf-1/actions/join" && join.conference == "conf-1")
        #expect(
            join.body["call_control_id"] == "v3:B" && join.body["start_conference_on_enter"] == true && join.body["end_conference_on_exit"] == true)
        #expect(h.lastOutput?.conferences.isEmpty == true, "a joining call claims nothing")
    }

    @Test func aCallerWhoAsksWhileAnotherCreatesItWaitsForTheIDThenJoins() throws {
        var h = try Self.engine()
        Self.join(&h, "v3:A")
        let create = try #require(h.last)
        Self.join(&h, "v3:C")
        #expect(!h.commands.contains { $0.callControlID == "v3:C" && $0.action.hasPrefix("conference_") }, "no second conference of the name")
        guard case .conference(let poll?)? = h.state?.waiting else {
            Issue.record("not polling: \(String(describing: h.state?.waiting))")
            return
        }
        h.call = "v3:A"
        h.apply(.commandSucceeded(commandID: try #require(create.commandID), action: create.action, data: ["id": "conf-9"]))
        h.call = "v3:C"
        h.apply(.timerFired(id: poll))
        #expect(h.last?.action == "conference_join" && h.last?.conference == "conf-9")
    }

    @Test func keysRunOtherNodesWhileTheCallStaysInTheConference() throws {
        var h = try Self.engine()
        Self.join(&h, "v3:A")
        h.apply(.commandSucceeded(commandID: try #require(h.last?.commandID), action: "conference_create", data: ["id": "conf-1"]))
        h.send("conference.participant.joined", ["conference_id": "conf-1"])
        let muted = h.send("call.dtmf.received", ["digit": "1"])
        let mute = try #require(muted.commands.first)
        #expect(mute.action == "conference_mute" && mute.path == "/conferences/conf-1/actions/mute")
        #expect(mute.body == ["call_control_ids": ["v3:A"]], "mute takes no client_state or command_id")
        #expect(h.state?.node == "room" && h.state?.waiting == .conference(timer: nil), "back in the conference node, still in the conference")
        let left = h.send("call.dtmf.received", ["digit": "2"])
        #expect(left.commands.first?.action == "conference_leave" && left.commands.first?.body["client_state"] == nil)
        #expect(h.state?.node == "after")
    }

    @Test func theCreatorIsKeptAfterItsHangUpUntilTheConferenceEnds() throws {
        var h = try Self.engine()
        Self.join(&h, "v3:A")
        h.apply(.commandSucceeded(commandID: try #require(h.last?.commandID), action: "conference_create", data: ["id": "conf-1"]))
        h.send("conference.participant.joined", ["conference_id": "conf-1"])
        Self.join(&h, "v3:B")
        h.send("conference.participant.joined", ["conference_id": "conf-1"])
        h.call = "v3:A"
        h.hangup()
        #expect(h.state?.phase == .afterHangup, "the creator's call holds the name while the conference goes on")
        #expect(h.engine.live.conferences["case-42"]?.id == "conf-1")
        // B is still in; it leaves when the conference ends.
        h.call = "v3:B"
        h.send("conference.participant.left", ["conference_id": "conf-1"])
        #expect(h.state?.node == "after")
        h.call = "v3:A"
        let ended = h.send("conference.ended", ["conference_id": "conf-1", "reason": "all_left"])
        #expect(ended.ended != nil && ended.conferences == [ConferenceClaim(name: "case-42", id: nil)])
        #expect(h.engine.live.conferences.isEmpty)
    }

    @Test func anInvitedPartyIsDialedAndJoinedWhenItAnswersAThreeWayCall() throws {
        let flow =
            #"{"start":"a","defaults":{"on_error":"end"},"nodes":{"a":{"type":"answer","next":"room"},"room":{"type":"conference","name":"case-{{call.id}}","invite":["+13125550199"],"keys":{"0":"boss"},"next":"end"},"boss":{"type":"conference","action":"invite","invite":["+13125550188"],"next":"room"},"end":{"type":"hangup"}}}"#
        var h = CallHarness(flows: try Flows.single(flow), defaultFlow: "t")
        h.initiated()
        h.answered()
        h.apply(.commandSucceeded(commandID: try #require(h.last?.commandID), action: "conference_create", data: ["id": "conf-3"]))
        #expect(!h.actions.contains("dial"), "invited once the caller is in")
        h.send("conference.participant.joined", ["conference_id": "conf-3"])
        let dial = try #require(h.last)
        #expect(dial.action == "dial" && dial.body["to"] == "+13125550199")
        let guestState = dial.body["client_state"]?.stringValue
        #expect(StepTag(clientState: guestState)?.invite == true)
        let answered = h.send("call.answered", ["to": "+13125550199"], leg: "v3:guest-1", clientState: .some(guestState))
        let join = try #require(answered.commands.first)
        #expect(join.action == "conference_join" && join.conference == "conf-3" && join.body["call_control_id"] == "v3:guest-1")
        // The caller adds a supervisor (key 0), and stays in the conference.
        h.send("call.dtmf.received", ["digit": "0"])
        #expect(h.last?.action == "dial" && h.last?.body["to"] == "+13125550188")
        #expect(h.state?.node == "room")
        // The guest leaves the conference: its leg is hung up.
        let left = h.send("conference.participant.left", ["conference_id": "conf-3"], leg: "v3:guest-1", clientState: .some(guestState))
        #expect(left.commands.map { "\($0.action) \($0.callControlID)" } == ["hangup v3:guest-1"])
    }

    @Test func aCallInAConferenceSurvivesTheStore() throws {
        var h = try Self.engine()
        Self.join(&h, "v3:A")
        let create = try #require(h.last)
        h.apply(.commandSucceeded(commandID: try #require(create.commandID), action: create.action, data: ["id": "conf-1"]))
        let state = try #require(h.state)
        let back = try StateCodec.decodeState(StateCodec.encode(state))
        #expect(back.conference == state.conference && back.waiting == state.waiting)
        var stored = create
        stored.conference = "conf-1"
        #expect(try StateCodec.decodeCommand(StateCodec.encode(stored)).conference == "conf-1")
        var live = LiveCalls()
        live.restore(calls: [back], dedupe: [], dials: [:], now: 0)
        #expect(live.conferences["case-42"] == ConferenceEntry(creator: "v3:A", id: "conf-1"))
    }

    @Test(arguments: [
        (#"{"type":"conference","next":"e"}"#, "missing required field \"name\""),
        (#"{"type":"conference","name":"x","role":"boss","next":"e"}"#, "expected one of participant"),
        (#"{"type":"conference","action":"speak","next":"e"}"#, "missing required field \"prompt\""),
        (#"{"type":"conference","name":"x","whisper_to":["{{call.id}}"],"next":"e"}"#, "whisper_to is for role whisper"),
    ])
    func checkExplainsABadConference(node: String, message: String) {
        let text = #"{"start":"c","nodes":{"c":\#(node),"e":{"type":"hangup"}}}"#
        let d = FlowSet.load(files: [("t", "t.json", Array(text.utf8))], timeZones: TestZones()).diagnostics
        #expect(d.contains { $0.severity == .error && $0.message.contains(message) }, "\(d)")
    }
}
