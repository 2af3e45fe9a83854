import CallflowCore
import Testing

/// The shipped flows, end to end through the engine.
@Suite struct MainFlowTests {
    @Test func openHoursMenuToTransfer() throws {
        var h = CallHarness(flows: try Flows.set())
        h.initiated()
        #expect(h.actions == ["answer"])
        h.answered()
        let gather = try #require(h.last)
        #expect(gather.action == "gather_using_speak")
        #expect(gather.body["payload"] == "Thanks for calling Acme. For sales press 1, support 2.")
        #expect(gather.body["valid_digits"] == "12")
        #expect(gather.body["maximum_tries"] == 1)
        #expect(gather.body["timeout_millis"] == 5000)
        #expect(gather.body["voice"] == "female")
        h.gatherEnded("1")
        let transfer = try #require(h.last)
        #expect(transfer.action == "transfer")
        #expect(transfer.body["to"] == "+13125550001")
        #expect(transfer.body["timeout_secs"] == 30)
        let tag = try #require(StepTag(clientState: transfer.body["target_leg_client_state"]?.stringValue))
        #expect(tag.parent == h.call)
        h.send("call.bridged")
        #expect(h.state?.phase == .handedOff)
        let before = h.commands.count
        h.hangup()
        #expect(h.commands.count == before, "no command after hangup")
        // on_hangup: log_call posts the call to the CRM.
        let post = try #require(h.httpCalls.last)
        #expect(post.method == "POST")
        #expect(post.url == "https://crm.example.com/calls")
        #expect(post.body.map { String(decoding: $0, as: UTF8.self) } == #"{"from":"+13125550101","account":""}"#)
        #expect(!h.logs.contains { $0.contains("is missing") }, "the fallback covers a caller who never gave an account")
        h.httpResponse(204, "")
        #expect(h.ended)
        #expect(h.state == nil)
    }

    @Test func menuRepromptsThenGivesUpByLastFailure() throws {
        var h = CallHarness(flows: try Flows.set())
        h.initiated()
        h.answered()
        h.gatherEnded("9", "invalid")
        #expect(h.last?.body["payload"] == "Sorry, that is not an option. Thanks for calling Acme. For sales press 1, support 2.")
        h.gatherEnded("", "timeout")
        #expect(h.last?.body["payload"] == "I did not hear a choice. Thanks for calling Acme. For sales press 1, support 2.")
        h.gatherEnded("7", "invalid")
        // Third failure: on_invalid → bye.
        #expect(h.last?.action == "speak")
        #expect(h.last?.body["payload"] == "Goodbye.")
        h.speakEnded()
        #expect(h.last?.action == "hangup")
        h.hangup()
        #expect(h.state?.phase == .afterHangup)
    }

    @Test func accountLookupGoldGoesToSales() throws {
        var h = CallHarness(flows: try Flows.set())
        h.initiated()
        h.answered()
        h.gatherEnded("2")
        let gather = try #require(h.last)
        #expect(gather.body["minimum_digits"] == 4)
        #expect(gather.body["maximum_digits"] == 10)
        #expect(gather.body["terminating_digit"] == "#")
        h.gatherEnded("123456#")
        #expect(h.state?.vars["account"] == "123456")
        #expect(h.state?.sensitiveVars == ["account"])
        #expect(h.state?.trace.contains { $0.detail.contains("123456") } == false, "sensitive digits leaked into the trace")
        let lookup = try #require(h.httpCalls.last)
        #expect(lookup.url == "https://crm.example.com/accounts/123456")
        #expect(lookup.method == "GET")
        #expect(lookup.body == nil)
        #expect(lookup.timeoutMs == 3000)
        h.httpResponse(200, #"{"tier":"gold","name":"Ann"}"#)
        #expect(h.last?.action == "transfer")
    }

    @Test(arguments: [(200, #"{"tier":"silver"}"#, "speak"), (500, "oops", "transfer"), (200, "not json", "transfer")])
    func accountLookupOutcomes(_ status: Int, _ body: String, _ expected: String) throws {
        var h = CallHarness(flows: try Flows.set())
        h.initiated()
        h.answered()
        h.gatherEnded("2")
        h.gatherEnded("4444#")
        h.httpResponse(status, body)
        #expect(h.last?.action == expected)
    }

    @Test func lookupFailureGoesToOnError() throws {
        var h = CallHarness(flows: try Flows.set())
        h.initiated()
        h.answered()
        h.gatherEnded("2")
        h.gatherEnded("4444#")
        guard case .http(let id)? = h.state?.waiting else { Issue.record("not waiting for http"); return }
        h.apply(.httpResult(requestID: id, .failed("timeout after 3000 ms")))
        #expect(h.last?.action == "transfer")
    }

    @Test func tooShortAccountIsInvalidThreeTimes() throws {
        var h = CallHarness(flows: try Flows.set())
        h.initiated()
        h.answered()
        h.gatherEnded("2")
        h.gatherEnded("12#")
        #expect(h.last?.action == "gather_using_speak", "first failure re-prompts (max_attempts defaults to 3)")
        #expect(h.state?.attempt == 1)
        h.gatherEnded("12#")
        #expect(h.state?.attempt == 2)
        #expect(h.last?.action == "gather_using_speak")
        h.gatherEnded("12#")
        #expect(h.last?.body["payload"] == "Goodbye.")
    }

    @Test(arguments: [Times.saturdayAfternoon, Times.christmas])
    func closedGoesToVoicemailAndPostsTheRecording(_ now: Int64) throws {
        var h = CallHarness(flows: try Flows.set(), now: now)
        h.initiated()
        #expect(h.state?.flow == "voicemail")
        #expect(h.actions == ["answer"])
        h.answered()
        #expect(h.last?.action == "speak")
        h.speakEnded()
        let record = try #require(h.last)
        #expect(record.action == "record_start")
        #expect(record.body["format"] == "mp3")
        #expect(record.body["channels"] == "single")
        #expect(record.body["play_beep"] == true)
        #expect(record.body["max_length"] == 120)
        #expect(record.body["timeout_secs"] == 5)
        #expect(record.body["transcription"] == true)
        h.send("call.recording.saved", ["recording_urls": ["mp3": "https://rec.example/1.mp3"], "channels": "single"])
        #expect(h.state?.vars["voicemail_url"] == "https://rec.example/1.mp3")
        h.speakEnded()
        #expect(h.last?.action == "hangup")
        h.hangup()
        #expect(h.httpCalls.isEmpty)  // on_hangup waits for the transcript
        h.send("call.recording.transcription.saved", ["transcription_text": "Please call me back.", "status": "completed"])
        let post = try #require(h.httpCalls.last)
        #expect(post.url == "https://crm.example.com/voicemails")
        #expect(String(decoding: post.body ?? [], as: UTF8.self).contains(#""transcript":"Please call me back.""#))
        h.httpResponse(201, "{}")
        #expect(h.httpCalls.last?.url == "https://crm.example.com/voicemail-sessions")
        h.httpResponse(200, "")
        #expect(h.ended)
    }

    @Test func transferFailureGoesToVoicemail() throws {
        var h = CallHarness(flows: try Flows.set())
        h.initiated()
        h.answered()
        h.gatherEnded("1")
        let target = try #require(h.lastClientState["transfer"])
        h.send("call.hangup", ["hangup_cause": "user_busy", "hangup_source": "callee"], leg: "v3:call-B", clientState: .some(target))
        #expect(h.state?.flow == "voicemail")
        // Already answered: voicemail's answer node passes straight to the prompt.
        #expect(h.last?.action == "speak")
    }

    @Test func reminderMachineWaitsForBeep() throws {
        var h = CallHarness(flows: try Flows.set())
        let leg = CallLeg(callControlID: h.call, connectionID: "conn-1", from: "+13125550100", to: "+13125550199")
        h.record(
            h.engine.startOutbound(leg: leg, flow: "reminder", vars: ["appointment_time": "Tuesday at 3 PM", "appointment_id": "A7"], now: h.now))
        #expect(h.state?.waiting == .machineDetection)
        h.send("call.machine.detection.ended", ["result": "machine"], clientState: .some(StepTag(step: 0).encoded))
        #expect(h.state?.waiting == .beep)
        #expect(h.commands.isEmpty)
        h.send("call.machine.greeting.ended", ["result": "beep_detected"], clientState: .some(StepTag(step: 0).encoded))
        #expect(h.last?.action == "speak")
        #expect(h.last?.body["payload"]?.stringValue?.contains("Tuesday at 3 PM") == true)
    }

    @Test func reminderHumanConfirms() throws {
        var h = CallHarness(flows: try Flows.set())
        let leg = CallLeg(callControlID: h.call, connectionID: "conn-1", from: "+13125550100", to: "+13125550199")
        // The detection result arrives before the flow starts waiting for it.
        h.record(h.engine.startOutbound(leg: leg, flow: "reminder", vars: ["appointment_id": "A7"], now: h.now))
        h.send("call.machine.detection.ended", ["result": "human"], clientState: .some(nil))
        #expect(h.last?.action == "gather_using_speak")
        h.gatherEnded("1")
        let patch = try #require(h.httpCalls.last)
        #expect(patch.method == "PATCH")
        #expect(patch.url == "https://crm.example.com/appointments/A7")
        #expect(patch.body.map { String(decoding: $0, as: UTF8.self) } == #"{"status":"confirmed"}"#)
        #expect(patch.headers["Content-Type"] == "application/json")
        h.httpResponse(200, #"{"ok":true}"#)
        #expect(h.last?.body["payload"] == "Thank you. Your appointment is confirmed. Goodbye.")
    }
}
