import CallflowCore
import Testing

/// Every node type and every outcome edge, each in a small inline flow.
@Suite struct NodeTests {
    static func harness(_ nodes: String, start: String = "a", extra: String = "", now: Int64 = Times.mondayMorning) throws -> CallHarness {
        let flow = #"{"start":"\#(start)",\#(extra)"nodes":{\#(nodes),"end":{"type":"hangup"},"bye":{"type":"say","text":"bye","next":"end"}}}"#
        var h = CallHarness(flows: try Flows.single(flow), now: now, defaultFlow: "t")
        h.initiated()
        return h
    }

    @Test func sayUsesDefaultsAndOverrides() throws {
        var h = try Self.harness(
            #""a":{"type":"say","text":"Hi {{call.from}}","voice":"male","ssml":true,"next":"b"},"b":{"type":"say","text":"x","next":"end"}"#,
            extra: #""defaults":{"voice":"Polly.Joanna","language":"es-MX"},"#)
        #expect(h.last?.body["payload"] == "Hi +13125550101")
        #expect(h.last?.body["voice"] == "male")
        #expect(h.last?.body["language"] == "es-MX")
        #expect(h.last?.body["payload_type"] == "ssml")
        h.speakEnded()
        #expect(h.last?.body["voice"] == "Polly.Joanna")
        #expect(h.last?.body["payload_type"] == "text")
    }

    @Test(arguments: [("completed", "speak"), ("file_not_found", "hangup"), ("failed", "hangup"), ("cancelled", "speak")])
    func playOutcomes(_ status: String, _ expected: String) throws {
        var h = try Self.harness(#""a":{"type":"play","url":"https://x/a.mp3","next":"bye","on_error":"end"}"#)
        #expect(h.last?.action == "playback_start")
        #expect(h.last?.body["audio_url"] == "https://x/a.mp3")
        h.playbackEnded(status)
        #expect(h.last?.action == expected)
    }

    @Test func playMediaWithoutOnErrorContinues() throws {
        var h = try Self.harness(#""a":{"type":"play","media":"hold_music","next":"bye"}"#)
        #expect(h.last?.body["media_name"] == "hold_music")
        h.playbackEnded("file_not_found")
        #expect(h.last?.action == "speak")
        #expect(h.logs.contains { $0.contains("file_not_found") })
    }

    @Test func setSwitchAndTypedValues() throws {
        let h = try Self.harness(
            #"""
            "a":{"type":"set","vars":{"n":5,"id":"{{call.id}}","dir":"{{call.direction}}","who":"{{call.to}}","obj":{"k":"{{call.from}}"},"copy":"{{vars.obj}}"},"next":"s"},
            "s":{"type":"switch","value":"{{vars.obj.k}}","cases":{"+13125550101":"bye"},"default":"end"}
            """#)
        #expect(h.state?.vars["n"] == 5)
        #expect(h.state?.vars["id"] == "v3:call-A")
        #expect(h.state?.vars["dir"] == "inbound")
        #expect(h.state?.vars["who"] == "+13125550100")
        #expect(h.state?.vars["copy"] == ["k": "+13125550101"])
        #expect(h.last?.body["payload"] == "bye")
    }

    @Test(arguments: [
        ("eq", #""5""#, "5", true), ("eq", #"5"#, "5.0", true), ("ne", #""a""#, "b", true), ("lt", "10", "9", true),
        ("lt", #""10""#, "9", true), ("le", "3", "3", true), ("gt", "2", "3", true), ("ge", "4", "3", false),
        ("contains", #""ell""#, "hello", true), ("matches", #""^h.*o$""#, "hello", true), ("matches", #""^x""#, "hello", false),
        ("empty", "true", "", true), ("empty", "false", "", false), ("eq", #""b""#, "a", false),
    ])
    func ifOperators(_ op: String, _ to: String, _ value: String, _ taken: Bool) throws {
        let h = try Self.harness(
            #"""
            "a":{"type":"set","vars":{"v":"\#(value)"},"next":"i"},
            "i":{"type":"if","conditions":[{"value":"{{vars.v}}","op":"\#(op)","to":\#(to),"next":"bye"}],"else":"end"}
            """#)
        #expect(h.last?.action == (taken ? "speak" : "hangup"), "\(value) \(op) \(to)")
    }

    @Test(arguments: [
        (Times.mondayMorning, "speak"), (Times.saturdayAfternoon, "hangup"), (Times.christmas, "hangup"),
        (Times.mondayMorning - 4 * 3600, "hangup"),
    ])
    func hoursInLocalTime(_ now: Int64, _ expected: String) throws {
        let h = try Self.harness(
            #"""
            "a":{"type":"hours","timezone":"America/Chicago","open":{"mon-fri":["09:00-17:00"],"sat":["10:00-13:00"]},
                 "closed_dates":["2026-12-25"],"on_open":"bye","on_closed":"end"}
            """#, now: now)
        #expect(h.last?.action == expected)
    }

    @Test func connectWithWhisperBridges() throws {
        var h = try Self.harness(
            #""a":{"type":"connect","to":"+13125550002","from":"+13125550100","timeout_secs":20,"whisper":{"say":"Call from {{call.from}}"},"on_failure":"bye"}"#
        )
        let dial = try #require(h.last)
        #expect(dial.action == "dial")
        #expect(dial.path == "/calls")
        #expect(dial.body["to"] == "+13125550002")
        #expect(dial.body["from"] == "+13125550100")
        #expect(dial.body["connection_id"] == "conn-1")
        #expect(dial.body["timeout_secs"] == 20)
        let childState = try #require(h.lastClientState["dial"])
        h.send("call.initiated", ["direction": "outgoing"], leg: "v3:B", clientState: .some(childState))
        h.send("call.answered", leg: "v3:B", clientState: .some(childState))
        let whisper = try #require(h.last)
        #expect(whisper.action == "speak")
        #expect(whisper.callControlID == "v3:B")
        #expect(whisper.body["payload"] == "Call from +13125550101")
        h.send("call.speak.ended", ["status": "completed"], leg: "v3:B")
        let bridge = try #require(h.last)
        #expect(bridge.action == "bridge")
        #expect(bridge.callControlID == h.call)
        #expect(bridge.body["call_control_id"] == "v3:B")
        h.send("call.bridged")
        #expect(h.state?.phase == .handedOff)
    }

    @Test func connectTargetNoAnswerGoesToOnFailure() throws {
        var h = try Self.harness(#""a":{"type":"connect","to":"sip:desk@example.com","from":"+13125550100","on_failure":"bye"}"#)
        let childState = try #require(h.lastClientState["dial"])
        h.send("call.hangup", ["hangup_cause": "timeout", "hangup_source": "callee"], leg: "v3:B", clientState: .some(childState))
        #expect(h.last?.action == "speak")
    }

    @Test func callerHangsUpWhileConnectRingsHangsUpTheTarget() throws {
        var h = try Self.harness(#""a":{"type":"connect","to":"+13125550002","from":"+13125550100","whisper":{"say":"x"},"on_failure":"bye"}"#)
        let childState = try #require(h.lastClientState["dial"])
        h.send("call.answered", leg: "v3:B", clientState: .some(childState))
        h.hangup()
        #expect(h.last?.action == "hangup")
        #expect(h.last?.callControlID == "v3:B")
        #expect(h.ended)
    }

    @Test func recordWithoutPromptAndRecordingError() throws {
        var h = try Self.harness(#""a":{"type":"record","max_length_secs":30,"format":"wav","beep":false,"save_as":"msg","next":"bye"}"#)
        #expect(h.last?.action == "record_start")
        #expect(h.last?.body["format"] == "wav")
        #expect(h.last?.body["play_beep"] == false)
        h.send("call.recording.error", ["reason": "Internal server error"])
        #expect(h.state?.vars["msg"] == .null)
        #expect(h.last?.action == "speak")
    }

    @Test(arguments: [("valid", "speak"), ("invalid", "hangup")])
    func aiGather(_ status: String, _ expected: String) throws {
        var h = try Self.harness(
            #""a":{"type":"ai_gather","parameters":{"type":"object","properties":{"name":{"type":"string"}}},"greeting":"Your name?","voice":"female","save_as":"ai","next":"bye","on_error":"end"}"#
        )
        let ai = try #require(h.last)
        #expect(ai.action == "gather_using_ai")
        #expect(ai.body["greeting"] == "Your name?")
        #expect(ai.body["parameters"]?["type"] == "object")
        h.send("call.ai_gather.ended", ["status": .string(status), "result": ["name": "Ann"]])
        #expect(h.last?.action == expected)
        if status == "valid" { #expect(h.state?.vars["ai"] == ["name": "Ann"]) }
    }

    @Test(arguments: [("human", "speak"), ("machine", "hangup"), ("not_sure", "reject"), ("human_business", "speak"), ("fax_detected", "hangup")])
    func machineDetection(_ result: String, _ expected: String) throws {
        var h = try Self.harness(
            #""a":{"type":"machine_detection","on_human":"bye","on_machine":"end","on_unknown":"r"},"r":{"type":"reject","cause":"USER_BUSY"}"#)
        #expect(h.commands.isEmpty)
        let type = result.hasPrefix("human_") || result == "fax_detected" ? "call.machine.premium.detection.ended" : "call.machine.detection.ended"
        h.send(type, ["result": .string(result)], clientState: .some(nil))
        #expect(h.last?.action == expected)
        if expected == "reject" { #expect(h.last?.body["cause"] == "USER_BUSY") }
    }

    @Test func commandWithAndWithoutWait() throws {
        var h = try Self.harness(
            #"""
            "a":{"type":"command","action":"send_dtmf","params":{"digits":"1{{vars.ext}}"},"next":"b"},
            "b":{"type":"command","action":"record_start","params":{"format":"mp3","channels":"dual"},"wait_for":"call.recording.saved","next":"bye"}
            """#, extra: #""vars":{"ext":"23"},"#)
        #expect(h.actions == ["send_dtmf", "record_start"])
        #expect(h.commands[0].body["digits"] == "123")
        h.send("call.speak.ended")
        #expect(h.actions.count == 2)
        h.send("call.recording.saved", ["recording_urls": ["mp3": "u"]])
        #expect(h.last?.action == "speak")
    }

    @Test func pauseStartsTimerAndIgnoresStaleTimers() throws {
        var h = try Self.harness(#""a":{"type":"pause","seconds":1.5,"next":"bye"}"#)
        guard case .startTimer(let id, let ms)? = h.effects.last else { Issue.record("no timer"); return }
        #expect(ms == 1500)
        let stale = h.apply(.timerFired(id: "someone-else"))
        #expect(stale.disposition != .accepted || stale.effects.isEmpty)
        #expect(h.commands.isEmpty)
        h.apply(.timerFired(id: id))
        #expect(h.last?.action == "speak")
    }

    @Test func hangupDuringPauseCancelsTheTimer() throws {
        var h = try Self.harness(#""a":{"type":"pause","seconds":5,"next":"bye"}"#)
        h.hangup()
        #expect(h.effects.contains { if case .cancelTimer = $0 { return true } else { return false } })
        #expect(h.ended)
    }

    @Test func gotoAnotherFlowAndNode() throws {
        var h = CallHarness(
            flows: try Flows.set(extra: ["t": #"{"start":"a","nodes":{"a":{"type":"goto","flow":"voicemail","node":"thanks"}}}"#]),
            defaultFlow: "t")
        h.initiated()
        #expect(h.state?.flow == "voicemail")
        #expect(h.last?.body["payload"] == "Thank you. We will call you back. Goodbye.")
    }

    @Test func gatherPatternAndNoInput() throws {
        var h = try Self.harness(
            #"""
            "a":{"type":"gather","min_digits":3,"max_digits":5,"pattern":"^9.*","max_attempts":2,"save_as":"pin","next":"bye","on_invalid":"end","on_no_input":"r"},
            "r":{"type":"reject","cause":"CALL_REJECTED"}
            """#)
        #expect(h.last?.action == "gather")
        #expect(h.last?.body["maximum_tries"] == nil)
        h.gatherEnded("1234")
        #expect(h.last?.action == "gather")
        h.gatherEnded("", "timeout")
        #expect(h.last?.action == "reject")
    }

    @Test func menuWithAudioPromptAndSpokenRepromptPlaysPreludeFirst() throws {
        var h = try Self.harness(
            #"""
            "a":{"type":"menu","prompt":{"play":"https://x/menu.mp3"},"choices":{"1":"bye","#":"end"},"invalid":{"say":"Nope."},
                 "on_invalid":"end","on_no_input":"end"}
            """#)
        #expect(h.last?.action == "gather_using_audio")
        #expect(h.last?.body["valid_digits"] == "1#")
        h.gatherEnded("5", "invalid")
        #expect(h.last?.action == "speak")
        #expect(h.last?.body["payload"] == "Nope.")
        h.speakEnded()
        #expect(h.last?.action == "gather_using_audio")
        h.gatherEnded("#")
        #expect(h.last?.action == "hangup")
    }

    @Test func rejectAndHangupAreTerminal() throws {
        var h = try Self.harness(#""a":{"type":"reject","cause":"USER_BUSY"}"#)
        #expect(h.actions == ["reject"])
        h.hangup("call_rejected")
        #expect(h.ended)
        #expect(h.actions == ["reject"])
    }
}
