import CallflowCore
import Testing

/// Flow language v2: action nodes use their results, wait with deadlines and survive failures.
@Suite struct ActionNodeTests {
    static func harness(_ nodes: String, extra: String = "") throws -> CallHarness {
        try NodeTests.harness(nodes + #","trouble":{"type":"say","text":"sorry","next":"end"}"#, extra: extra)
    }

    static func parse(_ nodes: String, extra: String = "") -> [Diagnostic] {
        let flow = #"{"start":"a",\#(extra)"nodes":{\#(nodes),"end":{"type":"hangup"},"bye":{"type":"say","text":"bye","next":"end"}}}"#
        return FlowSet.load(files: [("t", "t.json", Array(flow.utf8))], timeZones: TestZones()).diagnostics
    }

    /// Telnyx's 200 for a command the node waits to hear back about.
    static func acknowledge(_ h: inout CallHarness) {
        guard case .response(let id, _)? = h.state?.waiting else {
            Issue.record("not waiting for a response: \(String(describing: h.state?.waiting))")
            return
        }
        h.apply(.commandSucceeded(commandID: id, action: "", data: ["result": "ok"]))
    }

    static func timerFire(_ h: inout CallHarness) {
        guard let id = h.state?.waiting.timer else {
            Issue.record("not waiting on a timer: \(String(describing: h.state?.waiting))")
            return
        }
        h.apply(.timerFired(id: id))
    }

    // MARK: wait_for, timeout_ms, on_timeout, save_as

    @Test func commandWaitsForItsEventAndSavesThePayload() throws {
        var h = try Self.harness(
            #""a":{"type":"command","action":"streaming_start","params":{"stream_url":"wss://bot.example.com/{{call.from}}"},"wait_for":"streaming.started","timeout_ms":5000,"on_timeout":"trouble","save_as":"stream","next":"bye","on_error":"trouble"}"#
        )
        #expect(h.last?.action == "streaming_start")
        #expect(h.last?.body["stream_url"] == "wss://bot.example.com/+13125550101")
        #expect(h.effects.contains(.startTimer(id: "v3:call-A#1", milliseconds: 5000)))
        h.send("streaming.started", ["stream_url": "wss://bot.example.com/x"])
        #expect(h.effects.contains(.cancelTimer(id: "v3:call-A#1")))
        #expect(h.last?.body["payload"] == "bye")
        #expect(h.state?.vars["stream"]?["stream_url"] == "wss://bot.example.com/x")
        #expect(h.state?.vars["stream"]?["event_type"] == "streaming.started")
        #expect(h.state?.vars["stream"]?["client_state"] == nil)
    }

    @Test func aFailureEventTakesOnError() throws {
        var h = try Self.harness(
            #""a":{"type":"command","action":"streaming_start","params":{"stream_url":"wss://x"},"wait_for":"streaming.started","timeout_ms":5000,"next":"bye","on_error":"trouble"}"#
        )
        h.send("streaming.failed", ["failure_reason": "connection_failed", "stream_id": "s1"])
        #expect(h.last?.body["payload"] == "sorry")
        #expect(h.logs.contains { $0.contains("streaming.failed") && $0.contains("connection_failed") })
    }

    @Test func aLostEventEndsAtTheDeadline() throws {
        var h = try Self.harness(
            #""a":{"type":"command","action":"refer","params":{"sip_address":"sip:desk@example.com"},"wait_for":"call.refer.completed","timeout_ms":8000,"on_timeout":"trouble","next":"bye"}"#
        )
        Self.timerFire(&h)
        #expect(h.last?.body["payload"] == "sorry")
        #expect(h.logs.contains { $0.contains("no call.refer.completed within 8000 ms") })
        // The late event belongs to a step the call has left.
        let late = h.send("call.refer.completed", ["sip_notify_response": 200])
        #expect(late.disposition != .accepted)
    }

    @Test func saveAsWithoutAnEventKeepsTheResponse() throws {
        var h = try Self.harness(
            #""a":{"type":"command","action":"ai_assistant_start","params":{"assistant":{"id":"asst_1"}},"save_as":"started","next":"bye"}"#)
        let sent = try #require(h.last)
        #expect(sent.reportsResult)
        #expect(h.state?.waiting == .response(commandID: sent.commandID ?? "", timer: nil))
        h.apply(.commandSucceeded(commandID: sent.commandID ?? "", action: sent.action, data: ["conversation_id": "conv-1", "result": "ok"]))
        #expect(h.state?.vars["started"]?["conversation_id"] == "conv-1")
        #expect(h.last?.body["payload"] == "bye")
    }

    @Test func aRefusedCommandGoesToOnErrorThenTheFlowDefault() throws {
        var h = try Self.harness(
            #""a":{"type":"command","action":"send_dtmf","params":{"digits":"1"},"save_as":"r","next":"bye","on_error":"trouble"}"#)
        let id = h.last?.commandID ?? ""
        h.apply(.commandFailed(commandID: id, action: "send_dtmf", detail: "422 90015 invalid digits", callGone: false))
        #expect(h.last?.body["payload"] == "sorry")

        var d = try Self.harness(#""a":{"type":"say","text":"hi","next":"bye"}"#, extra: #""defaults":{"on_error":"trouble"},"#)
        d.apply(.commandFailed(commandID: d.last?.commandID ?? "", action: "speak", detail: "422 invalid voice", callGone: false))
        #expect(d.last?.body["payload"] == "sorry")

        var n = try Self.harness(#""a":{"type":"say","text":"hi","next":"bye","on_error":"trouble"}"#)
        n.apply(.commandFailed(commandID: n.last?.commandID ?? "", action: "speak", detail: "422 invalid voice", callGone: false))
        #expect(n.last?.body["payload"] == "sorry")
    }

    @Test func aFailureAfterTheFlowMovedOnIsLoggedNotDropped() throws {
        var h = try Self.harness(#""a":{"type":"send_dtmf","digits":"1","next":"bye"}"#)
        let id = h.commands.first { $0.action == "send_dtmf" }?.commandID ?? ""
        #expect(h.last?.body["payload"] == "bye")
        let out = h.apply(.commandFailed(commandID: id, action: "send_dtmf", detail: "422 bad digits", callGone: false))
        #expect(out.disposition != .accepted)
        #expect(h.logs.contains { $0.contains("send_dtmf failed after the call left its node: 422 bad digits") })
    }

    // MARK: bodies Telnyx accepts

    @Test func siprecAndSupervisorRoleBodiesLeaveOutWhatTheirSchemaLacks() throws {
        var h = try Self.harness(
            #""a":{"type":"siprec","connector":"rec-1","next":"b"},"b":{"type":"command","action":"switch_supervisor_role","params":{"role":"barge"},"next":"bye"}"#
        )
        let siprec = try #require(h.commands.first { $0.action == "siprec_start" })
        #expect(h.state?.waiting == .action(timer: "v3:call-A#1"))  // siprec.started, 10 s at most
        h.send("siprec.started", clientState: .some(siprec.body["client_state"]?.stringValue))
        #expect(siprec.body["command_id"] == nil)
        #expect(siprec.body["client_state"] != nil)
        #expect(siprec.body["connector_name"] == "rec-1")
        let role = try #require(h.commands.first { $0.action == "switch_supervisor_role" })
        #expect(role.body == ["role": "barge"])
        _ = h
    }

    @Test func clientStateUpdateBridgeAndDialCanBeIssued() throws {
        #expect(
            Self.parse(
                #""a":{"type":"command","action":"client_state_update","next":"b"},"b":{"type":"command","action":"bridge","params":{"call_control_id":"{{vars.other}}"},"next":"c"},"c":{"type":"command","action":"dial","params":{"to":"+13125550111","from":"+13125550100"},"wait_for":"call.answered","timeout_ms":30000,"save_as":"agent","next":"bye"}"#,
                extra: #""vars":{"other":"v3:leg-B"},"#
            ).filter { $0.severity == .error } == [])
        var h = try Self.harness(
            #""a":{"type":"command","action":"dial","params":{"to":"+13125550111","from":"+13125550100"},"wait_for":"call.answered","timeout_ms":30000,"save_as":"agent","next":"b"},"b":{"type":"command","action":"bridge","params":{"call_control_id":"{{vars.agent.call_control_id}}"},"next":"bye"}"#
        )
        let dial = try #require(h.last)
        #expect(dial.action == "dial")
        #expect(dial.body["connection_id"] == "conn-1")
        h.send("call.answered", leg: "v3:agent-leg", clientState: .some(dial.body["client_state"]?.stringValue))
        #expect(h.state?.vars["agent"]?["call_control_id"] == "v3:agent-leg")
        let bridge = try #require(h.commands.first { $0.action == "bridge" })
        #expect(bridge.body["call_control_id"] == "v3:agent-leg")
    }

    @Test(arguments: [
        (#""a":{"type":"command","action":"dail","next":"bye"}"#, "unknown call action \"dail\"; did you mean \"dial\"?"),
        (
            #""a":{"type":"command","action":"speak","params":{"payload":"x","voice":"female","client_state":"x"},"next":"bye"}"#,
            "client_state is set by the engine"
        ),
        (#""a":{"type":"command","action":"refer","params":{"sip_address":"sip:x@y"},"timeout_ms":100,"next":"bye"}"#, "timeout_ms bounds a wait"),
        (
            #""a":{"type":"command","action":"refer","params":{"sip_address":"sip:x@y"},"wait_for":"call.refer.completed","on_timeout":"bye","next":"bye"}"#,
            "on_timeout needs"
        ),
        (#""a":{"type":"stream","action":"begin","url":"wss://x","next":"bye"}"#, "expected action \"start\", \"stop\", found \"begin\""),
        (#""a":{"type":"stream","next":"bye"}"#, "missing required field \"url\""),
        (#""a":{"type":"stream","action":"stop","url":"wss://x","next":"bye"}"#, "unknown field \"url\" for a stream node with action \"stop\""),
        (#""a":{"type":"wait","for":"call.recording.saved","next":"bye"}"#, "a wait needs a deadline"),
        (#""a":{"type":"wait","for":"call.recording.savd","timeout_ms":1000,"next":"bye"}"#, "did you mean \"call.recording.saved\""),
    ])
    func badActionNodesAreCheckErrors(_ nodes: String, _ expected: String) {
        let errors = Self.parse(nodes).filter { $0.severity == .error }
        #expect(errors.contains { $0.message.contains(expected) }, "\(errors)")
    }

    @Test func checkWarnsOnWaitsWithoutDeadlineAndCallerNodesWithoutOnError() {
        let warnings = Self.parse(
            #""a":{"type":"command","action":"refer","params":{"sip_address":"sip:x@y"},"wait_for":"call.refer.completed","next":"bye","on_error":"bye"}"#
        )
        .filter { $0.severity == .warning }.map(\.message)
        #expect(warnings.contains { $0.contains("with no deadline") })
        #expect(warnings.contains { $0.contains("say node's command the call hangs up") })
        let quiet = Self.parse(#""a":{"type":"say","text":"x","next":"bye"}"#, extra: #""defaults":{"on_error":"end"},"#)
            .filter { $0.severity == .warning }
        #expect(quiet.isEmpty, "\(quiet)")
    }

    // MARK: sections

    @Test func streamFailureLaterInterruptsToTheStartersOnError() throws {
        var h = try Self.harness(
            #""a":{"type":"stream","url":"wss://bot.example.com","track":"both_tracks","next":"b","on_error":"trouble"},"b":{"type":"pause","seconds":30,"next":"bye"}"#
        )
        let start = try #require(h.commands.first { $0.action == "streaming_start" })
        h.send("streaming.started", ["stream_url": "wss://bot.example.com"])
        #expect(h.state?.node == "b")
        #expect(start.body["stream_url"] == "wss://bot.example.com")
        #expect(start.body["stream_track"] == "both_tracks")
        #expect(h.state?.sections.map(\.kind) == [.stream])
        h.send("streaming.failed", ["failure_reason": "connection_failed"], clientState: .some(start.body["client_state"]?.stringValue))
        #expect(h.last?.body["payload"] == "sorry")
        #expect(h.state?.sections.isEmpty == true)
        #expect(h.effects.contains { if case .cancelTimer = $0 { return true } else { return false } })
    }

    @Test func aSensitiveGatherPausesRecordingTranscriptionAndStreamsThenResumes() throws {
        var h = try Self.harness(
            #""a":{"type":"recording","channels":"dual","save_as":"rec","next":"t"},"t":{"type":"transcription","engine":"Google","save_as":"heard","next":"s"},"s":{"type":"stream","url":"wss://x","next":"card"},"card":{"type":"gather","prompt":"Card number","min_digits":4,"max_digits":16,"save_as":"card","sensitive":true,"next":"bye","on_invalid":"bye","on_no_input":"bye","on_error":"trouble"}"#
        )
        Self.acknowledge(&h)
        Self.acknowledge(&h)
        h.send("streaming.started")
        #expect(
            h.actions == [
                "record_start", "transcription_start", "streaming_start", "record_pause", "transcription_stop", "streaming_stop",
                "gather_using_speak",
            ])
        #expect(h.state?.sections.allSatisfy(\.suspended) == true)
        h.gatherEnded("4111111111111111")
        #expect(Array(h.actions.suffix(4)) == ["record_resume", "transcription_start", "streaming_start", "speak"])
        let restarted = h.commands.last { $0.action == "transcription_start" }
        #expect(restarted?.body["transcription_engine"] == "Google")
        #expect(h.state?.sections.contains(where: \.suspended) == false)
    }

    @Test func backgroundResultsLandInVariablesAndOnHangupWaitsForThem() throws {
        var h = try Self.harness(
            #""a":{"type":"recording","transcribe":true,"save_as":"rec","next":"b"},"b":{"type":"pause","seconds":60,"next":"bye"},"notify":{"type":"http","method":"POST","url":"https://crm.example.com/calls","body":{"url":"{{vars.rec}}","text":"{{vars.rec_transcript}}"}}"#,
            extra: #""on_hangup":"notify","#)
        #expect(h.commands.first?.body["transcription"] == true)
        Self.acknowledge(&h)
        h.hangup()
        #expect(h.httpCalls.isEmpty)  // on_hangup waits for the recording
        #expect(h.state?.waiting.timer == "v3:call-A#results")
        h.send("call.recording.saved", ["recording_urls": ["mp3": "https://rec.example.com/1.mp3"]])
        #expect(h.httpCalls.isEmpty)
        h.send("call.recording.transcription.saved", ["transcription_text": "please call me back", "status": "completed"])
        let post = try #require(h.httpCalls.first)
        #expect(String(decoding: post.body ?? [], as: UTF8.self).contains("please call me back"))
        #expect(String(decoding: post.body ?? [], as: UTF8.self).contains("1.mp3"))
    }

    @Test func onHangupRunsWithoutResultsAtTheDeadline() throws {
        var h = try Self.harness(
            #""a":{"type":"record","max_length_secs":60,"transcribe":true,"save_as":"vm","next":"bye"},"notify":{"type":"set","vars":{"done":true},"next":"post"},"post":{"type":"http","method":"POST","url":"https://crm.example.com/vm","body":{"url":"{{vars.vm | ''}}"}}"#,
            extra: #""on_hangup":"notify","#)
        h.hangup()  // mid-message
        #expect(h.httpCalls.isEmpty)
        Self.timerFire(&h)
        #expect(h.httpCalls.count == 1)
        #expect(h.logs.contains { $0.contains("gave up waiting for vm") })
    }

    @Test func voicemailTranscriptArrivesAfterTheCallerHangsUp() throws {
        var h = try Self.harness(
            #""a":{"type":"record","max_length_secs":60,"transcribe":true,"save_as":"vm","next":"bye"},"post":{"type":"http","method":"POST","url":"https://crm.example.com/vm","body":{"text":"{{vars.vm_transcript | ''}}"}}"#,
            extra: #""on_hangup":"post","#)
        #expect(h.last?.body["transcription"] == true)
        h.send("call.recording.saved", ["recording_urls": ["mp3": "https://rec/1.mp3"]])
        #expect(h.state?.vars["vm"] == "https://rec/1.mp3")
        h.speakEnded()
        h.hangup()
        #expect(h.httpCalls.isEmpty)
        h.send("call.recording.transcription.saved", ["transcription_text": "call me"], clientState: .some(nil))
        #expect(h.httpCalls.first.map { String(decoding: $0.body ?? [], as: UTF8.self) } == #"{"text":"call me"}"#)
    }

    // MARK: AI assistant

    @Test func aiAssistantWaitsForTheConversationAndKeepsWhatItProduced() throws {
        var h = try Self.harness(
            #""a":{"type":"ai_assistant","assistant":{"id":"assistant-{{vars.team}}"},"greeting":"Hi, how can I help?","timeout_ms":600000,"save_as":"ai","next":"b","on_timeout":"trouble","on_error":"trouble"},"b":{"type":"switch","value":"{{vars.ai.reason}}","cases":{"transfer_requested":"bye"},"default":"end"}"#,
            extra: #""vars":{"team":"support"},"#)
        #expect(h.last?.action == "ai_assistant_start")
        #expect(h.last?.body["assistant"]?["id"] == "assistant-support")
        h.send("call.conversation_insights.generated", ["results": [["result": "Caller wants billing"]]])
        h.send("call.conversation.ended", ["reason": "transfer_requested", "conversation_id": "c1", "duration_sec": 42])
        #expect(h.state?.vars["ai"]?["duration_sec"] == 42)
        #expect(h.state?.vars["ai_insights"] == [["result": "Caller wants billing"]])
        #expect(h.last?.body["payload"] == "bye")
    }

    @Test(arguments: ["start_failed", "timeout"])
    func aiAssistantFailuresLeaveTheConversation(_ how: String) throws {
        var h = try Self.harness(
            #""a":{"type":"ai_assistant","assistant":{"id":"a1"},"timeout_ms":300000,"next":"bye","on_error":"trouble","on_timeout":"trouble"}"#)
        if how == "timeout" {
            Self.timerFire(&h)
            #expect(h.actions.contains("ai_assistant_stop"))
        } else {
            h.send("call.conversation.start_failed", ["reason": "assistant not found"])
        }
        #expect(h.last?.body["payload"] == "sorry")
    }

    // MARK: speech

    @Test(arguments: [
        ("Billing, please.", 0.9, "b2"), ("I want to talk about billing", 0.8, "b2"), ("SALES!", 0.7, "b1"),
        ("bill", 0.9, "reprompt"), ("billing", 0.2, "reprompt"),
    ])
    func speechMenuChoosesByPhrase(_ heard: String, _ confidence: Double, _ expected: String) throws {
        var h = try Self.harness(
            #""a":{"type":"menu","prompt":"Say sales or billing, or press 1 or 2","choices":{"1":"b1","2":"b2"},"speech":{"1":["sales","buy"],"2":"billing"},"min_confidence":0.5,"on_invalid":"end","on_no_input":"end"},"b1":{"type":"say","text":"sales","next":"end"},"b2":{"type":"say","text":"billing","next":"end"}"#
        )
        #expect(h.actions == ["transcription_start", "gather_using_speak"])
        #expect(h.commands[0].body["transcription_engine_config"]?["hints"] == ["sales", "buy", "billing"])
        #expect(h.commands[0].body["transcription_engine_config"]?["language"] == "en")
        h.send("call.transcription", ["transcription_data": ["transcript": .string(heard), "is_final": true, "confidence": .double(confidence)]])
        #expect(h.actions.contains("gather_stop"))
        if expected == "reprompt" {
            #expect(h.last?.action == "gather_using_speak")
            #expect(h.state?.attempt == 1)
        } else {
            #expect(h.actions.suffix(2) == ["transcription_stop", "speak"])
            #expect(h.last?.body["payload"] == .string(expected == "b1" ? "sales" : "billing"))
        }
    }

    @Test func keysStillWorkInASpeechMenu() throws {
        var h = try Self.harness(
            #""a":{"type":"menu","prompt":"Say or press","choices":{"1":"bye"},"speech":{"1":"yes"},"on_invalid":"end","on_no_input":"end"}"#)
        h.gatherEnded("1")
        #expect(h.actions.suffix(2) == ["transcription_stop", "speak"])
    }

    @Test(arguments: [
        ("Yes, please!", "yes", true), ("yesterday", "yes", false), ("I'd like BILLING", "billing", true),
        ("talk to a human being", "human being", true), ("being human", "human being", false),
    ])
    func saysMatchesWordsIgnoringCaseAndPunctuation(_ heard: String, _ phrase: String, _ expected: Bool) {
        #expect(Speech.says(heard, phrase) == expected)
    }

    @Test func ifSaysRoutesOnATranscript() throws {
        let h = try Self.harness(
            #""a":{"type":"set","vars":{"heard":"Um, I need to CANCEL my order."},"next":"b"},"b":{"type":"if","conditions":[{"value":"{{vars.heard}}","op":"says","to":["cancel","stop"],"next":"bye"}],"else":"end"}"#
        )
        #expect(h.last?.body["payload"] == "bye")
        _ = h
    }

    // MARK: storage

    @Test func sectionsAndNewWaitsSurviveTheStore() throws {
        var s = CallState(
            callControlID: "c", flowRevision: "r", flow: "t", node: "n", step: 3, waiting: .response(commandID: "cf-x-3-1", timer: "c#3"),
            vars: [:], facts: CallFacts(from: "", to: "", direction: "inbound", connectionID: nil))
        s.sections = [
            ActiveSection(kind: .recording, flow: "t", node: "a", paused: true), ActiveSection(kind: .stream, flow: "t", node: "s", suspended: true),
        ]
        s.awaitedResults = ["recording:rec"]
        #expect(try StateCodec.decodeState(StateCodec.encode(s)) == s)
        for w: Waiting in [.action(timer: nil), .action(timer: "c#1"), .results(timer: "c#results")] {
            #expect(try StateCodec.decodeWaiting(StateCodec.encode(w)) == w)
        }
        #expect(try StateCodec.decodeWaiting(["event": "call.refer.completed"]) == .action(timer: nil))
        let c = CallCommand(callControlID: "c", action: "ai_assistant_start", body: [:], reportsResult: true)
        #expect(try StateCodec.decodeCommand(StateCodec.encode(c)) == c)
    }
}

extension ActionNodeTests {
    @Test func aStreamThatNeverStartsStopsWaitingAtItsDeadline() throws {
        var h = try Self.harness(#""a":{"type":"stream","url":"wss://x","next":"bye","on_error":"trouble"}"#)
        #expect(h.effects.contains(.startTimer(id: "v3:call-A#1", milliseconds: ActionSpec.startDeadlineMs)))
        Self.timerFire(&h)
        #expect(h.last?.body["payload"] == "sorry")  // no on_timeout: on_error
    }

    @Test func aRefusedRecordingStartTakesItsOnErrorFromItsNode() throws {
        var h = try Self.harness(#""a":{"type":"recording","save_as":"rec","next":"bye","on_error":"trouble"}"#)
        h.apply(.commandFailed(commandID: h.last?.commandID ?? "", action: "record_start", detail: "422 not answered", callGone: false))
        #expect(h.last?.body["payload"] == "sorry")
        #expect(h.state?.sections.isEmpty == true)
        #expect(h.state?.awaitedResults == ["recording:rec"] || h.state?.awaitedResults.isEmpty == false)
    }

    @Test func aWaitNodeHearsEventsTaggedWithAnEarlierStep() throws {
        var h = try Self.harness(
            #""a":{"type":"recording","save_as":"rec","next":"w"},"w":{"type":"wait","for":"call.recording.saved","timeout_ms":60000,"next":"b"},"b":{"type":"say","text":"{{vars.rec}}","next":"end"}"#
        )
        let tag = h.last?.body["client_state"]?.stringValue
        Self.acknowledge(&h)
        h.send("call.recording.saved", ["recording_urls": ["mp3": "https://rec/2.mp3"]], clientState: .some(tag))
        #expect(h.last?.body["payload"] == "https://rec/2.mp3")
    }

    @Test func aCommandDialWhoseLegHangsUpFailsTheNode() throws {
        var h = try Self.harness(
            #""a":{"type":"command","action":"dial","params":{"to":"+13125550111","from":"+13125550100"},"wait_for":"call.answered","timeout_ms":30000,"next":"bye","on_error":"trouble"}"#
        )
        let tag = h.last?.body["client_state"]?.stringValue
        h.send("call.hangup", ["hangup_cause": "user_busy"], leg: "v3:agent", clientState: .some(tag))
        #expect(h.last?.body["payload"] == "sorry")
    }
}

// MARK: barge-in
extension ActionNodeTests {
    @Test(arguments: [("0", "skip"), ("", "next")])
    func aKeyCutsASayShort(_ key: String, _ expected: String) throws {
        var h = try Self.harness(
            #""a":{"type":"say","text":"Calls are recorded. Press 0 to skip.","keys":{"0":"b"},"next":"c"},"b":{"type":"say","text":"skipped","next":"end"},"c":{"type":"say","text":"listened","next":"end"}"#
        )
        let gather = try #require(h.last)
        #expect(gather.action == "gather_using_speak")
        #expect(gather.body["valid_digits"] == "0")
        #expect(gather.body["payload"] == "Calls are recorded. Press 0 to skip.")
        h.gatherEnded(key, key.isEmpty ? "timeout" : "valid")
        #expect(h.last?.body["payload"] == .string(expected == "skip" ? "skipped" : "listened"))
    }

    @Test func aKeyLeavesHoldMusicThatLoopsForever() throws {
        var h = try Self.harness(
            #""a":{"type":"play","url":"https://x/hold.mp3","loop":"infinity","keys":{"1":"b"},"next":"end"},"b":{"type":"say","text":"back","next":"end"}"#
        )
        #expect(h.last?.body["loop"] == "infinity")
        // A key that arrives before the audio started (the last key of a gather, reported late) is not barge-in.
        h.send("call.dtmf.received", ["digit": "1"])
        #expect(h.last?.action == "playback_start")
        h.send("call.playback.started")
        let ignored = h.send("call.dtmf.received", ["digit": "5"])
        #expect(h.last?.action == "playback_start")
        #expect(ignored.disposition != .accepted || h.state?.node == "a")
        h.send("call.dtmf.received", ["digit": "1"])
        #expect(Array(h.actions.suffix(2)) == ["playback_stop", "speak"])
        // The stopped playback's end belongs to the step the call left.
        let late = h.playbackEnded("stopped")
        #expect(late.disposition != .accepted)
    }

    @Test func loopingForeverNeedsKeys() {
        let errors = Self.parse(#""a":{"type":"play","url":"https://x/hold.mp3","loop":"infinity","next":"bye"}"#).filter { $0.severity == .error }
        #expect(errors.contains { $0.message.contains("needs \"keys\"") })
    }
}

// MARK: every wait, on its success, failure and timeout paths
extension ActionNodeTests {
    /// A node that waits, the event that completes it and the one that fails it (`nil`: only a
    /// refused command fails it; `"response"`: it waits for the API response, not an event).
    static let waits: [(node: String, success: String, failure: String?)] = [
        (#""type":"stream","url":"wss://x""#, "streaming.started", "streaming.failed"),
        (#""type":"fork","rx":"udp:1.2.3.4:5000""#, "call.fork.started", nil),
        (#""type":"siprec","connector":"c1""#, "siprec.started", "siprec.failed"),
        (#""type":"refer","to":"sip:desk@example.com","timeout_ms":8000"#, "call.refer.completed", "call.refer.failed"),
        (#""type":"ai_assistant","assistant":{"id":"a1"},"timeout_ms":60000"#, "call.conversation.ended", "call.conversation.start_failed"),
        (#""type":"ai_assistant","assistant":{"id":"a1"},"wait":false"#, "response", nil),
        (#""type":"recording","save_as":"r""#, "response", nil),
        (#""type":"transcription","engine":"Google""#, "response", nil),
        (#""type":"noise_suppression","direction":"inbound""#, "response", nil),
        (#""type":"send_dtmf","digits":"1","save_as":"r","timeout_ms":5000"#, "response", nil),
        (#""type":"wait","for":"call.recording.saved","timeout_ms":5000"#, "call.recording.saved", "call.recording.error"),
        (
            #""type":"command","action":"streaming_start","params":{"stream_url":"wss://x"},"wait_for":"streaming.started","timeout_ms":5000"#,
            "streaming.started", "streaming.failed"
        ),
        (
            #""type":"command","action":"refer","params":{"sip_address":"sip:x@y"},"wait_for":"call.refer.started","timeout_ms":5000"#,
            "call.refer.started", "call.refer.failed"
        ),
        (#""type":"command","action":"siprec_start","wait_for":"siprec.started","timeout_ms":5000"#, "siprec.started", "siprec.failed"),
        (
            #""type":"command","action":"ai_assistant_start","params":{"assistant":{"id":"a"}},"wait_for":"call.conversation.created","timeout_ms":5000"#,
            "call.conversation.created", "call.conversation.start_failed"
        ),
        (
            #""type":"command","action":"record_start","params":{"channels":"single","format":"mp3"},"wait_for":"call.recording.saved","timeout_ms":5000"#,
            "call.recording.saved", "call.recording.error"
        ),
        (#""type":"command","action":"transcription_start","wait_for":"call.transcription","timeout_ms":5000"#, "call.transcription", nil),
        (
            #""type":"command","action":"gather_using_ai","params":{"parameters":{"type":"object","properties":{}}},"wait_for":"call.ai_gather.ended","timeout_ms":5000"#,
            "call.ai_gather.ended", nil
        ),
    ]

    static func waiting(_ node: String) throws -> CallHarness {
        try Self.harness(
            #""a":{\#(node),"next":"ok","on_error":"failed","on_timeout":"late"},"ok":{"type":"say","text":"ok","next":"end"},"failed":{"type":"say","text":"failed","next":"end"},"late":{"type":"say","text":"late","next":"end"}"#
        )
    }

    static func recordingFirst(_ node: String) -> Bool { node.contains(#""type":"wait""#) }

    @Test(arguments: waits.indices)
    func successPath(_ i: Int) throws {
        let w = Self.waits[i]
        var h = try Self.waiting(w.node)
        if w.success == "response" {
            Self.acknowledge(&h)
        } else {
            h.send(w.success, w.success == "call.transcription" ? ["transcription_data": ["transcript": "hi", "is_final": true]] : [:])
        }
        #expect(h.last?.body["payload"] == "ok", "\(w.node)")
    }

    @Test(arguments: waits.indices)
    func failurePath(_ i: Int) throws {
        let w = Self.waits[i]
        var h = try Self.waiting(w.node)
        if let failure = w.failure {
            h.send(failure)
        } else {
            guard let c = h.commands.last(where: { $0.action != "answer" }) else { return }  // `wait` sends nothing
            h.apply(.commandFailed(commandID: c.commandID ?? "", action: c.action, detail: "422 refused", callGone: false))
        }
        #expect(h.last?.body["payload"] == "failed", "\(w.node)")
    }

    @Test(arguments: waits.indices)
    func timeoutPath(_ i: Int) throws {
        let w = Self.waits[i]
        var h = try Self.waiting(w.node)
        Self.timerFire(&h)
        #expect(h.last?.body["payload"] == "late", "\(w.node)")
    }
}

extension ActionNodeTests {
    @Test func theFlowsErrorNodeIsCheckedForUnsetVariables() {
        let warnings = Self.parse(
            #""a":{"type":"gather","min_digits":1,"max_digits":4,"save_as":"pin","next":"bye","on_invalid":"bye","on_no_input":"bye"},"sorry":{"type":"say","text":"Sorry {{vars.pin}}","next":"end"}"#,
            extra: #""defaults":{"on_error":"sorry"},"#
        ).filter { $0.severity == .warning }
        #expect(warnings.contains { $0.pointer == "/nodes/sorry/text" }, "\(warnings)")
    }
}
