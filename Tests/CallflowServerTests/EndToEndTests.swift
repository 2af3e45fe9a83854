import CallflowCore
import Foundation
import TelnyxEmulator
import Testing

/// Real server + Telnyx emulator over loopback HTTP, signatures on.
@Suite(.serialized) struct EndToEndTests {
    static func call(_ digits: [String] = [], configure: (inout EndToEnd.Call) -> Void = { _ in }) throws -> EndToEnd.Outcome {
        var c = EndToEnd.Call()
        c.script.inputs = digits
        configure(&c)
        let outcome = try EndToEnd.run(c)
        #expect(outcome.finished, "the call did not finish: \(outcome.records)")
        #expect(outcome.webhookStatuses.allSatisfy { $0 == 200 }, "every signed webhook is accepted")
        #expect(
            !outcome.commands.contains { $0.status == 422 },
            "no command for an ended or unknown call: \(outcome.commands.map { ($0.action, $0.status) })")
        return outcome
    }

    @Test func menuChoiceTransfers() throws {
        let o = try Self.call(["1"])
        #expect(o.actions == ["answer", "gather_using_speak", "transfer"])
        #expect(o.prompts.first == "Thanks for calling Acme. For sales press 1, support 2.")
    }

    @Test func invalidThreeTimesThenGoodbye() throws {
        let o = try Self.call(["9", "9", "9"])
        #expect(o.actions == ["answer", "gather_using_speak", "gather_using_speak", "gather_using_speak", "speak", "hangup"])
        #expect(o.prompts[1].hasPrefix("Sorry, that is not an option."))
        #expect(o.prompts.last == "Goodbye.")
    }

    @Test func silenceThreeTimesThenGoodbye() throws {
        let o = try Self.call(["", "", ""])
        #expect(o.actions == ["answer", "gather_using_speak", "gather_using_speak", "gather_using_speak", "speak", "hangup"])
        #expect(o.prompts[1].hasPrefix("I did not hear a choice."))
    }

    @Test func gatherPatternLookupSwitch() throws {
        let backend = try FakeHTTPServer { r, _ in
            r.path == "/accounts/98765" ? .status(200, #"{"tier":"gold"}"#) : .status(404, #"{"error":"no"}"#)
        }
        defer { backend.stop() }
        let flow = #"""
            {"start":"a","nodes":{
              "a":{"type":"answer","next":"g"},
              "g":{"type":"gather","prompt":"Account?","min_digits":4,"max_digits":8,"terminator":"#","pattern":"^9[0-9]+$",
                   "save_as":"acct","sensitive":true,"next":"l","on_invalid":"bye","on_no_input":"bye"},
              "l":{"type":"http","method":"GET","url":"http://127.0.0.1:\#(backend.port)/accounts/{{vars.acct}}","timeout_ms":2000,
                   "save_as":"crm","next":"s","on_error":"bye"},
              "s":{"type":"switch","value":"{{vars.crm.tier}}","cases":{"gold":"vip"},"default":"bye"},
              "vip":{"type":"say","text":"Welcome back, gold member.","next":"end"},
              "bye":{"type":"say","text":"Goodbye.","next":"end"},
              "end":{"type":"hangup"}}}
            """#
        let dir = try EndToEnd.flowsDir(["t": flow])
        let o = try Self.call(["1234#", "98765#"]) {
            $0.flowsDir = dir; $0.defaultFlow = "t"
        }
        #expect(o.prompts == ["Account?", "Account?", "Welcome back, gold member."])
        #expect(backend.requests.map(\.path) == ["/accounts/98765"])
    }

    /// The warning about a failed `http` node names that node, though the step went on to its
    /// `on_error` target before the line was written.
    @Test func aFailedHTTPNodeIsNamedInItsLogLine() throws {
        let backend = try FakeHTTPServer { _, _ in .status(503, #"{"error":"down"}"#) }
        defer { backend.stop() }
        let flow = #"""
            {"start":"a","nodes":{
              "a":{"type":"answer","next":"lookup"},
              "lookup":{"type":"http","method":"GET","url":"http://127.0.0.1:\#(backend.port)/x","timeout_ms":2000,
                        "save_as":"crm","next":"bye","on_error":"sorry"},
              "sorry":{"type":"say","text":"Sorry.","next":"end"},
              "bye":{"type":"say","text":"Goodbye.","next":"end"},
              "end":{"type":"hangup"}}}
            """#
        let dir = try EndToEnd.flowsDir(["t": flow])
        let o = try Self.call([]) {
            $0.flowsDir = dir; $0.defaultFlow = "t"
        }
        let line = try #require(o.logs.first { $0.contains(#"http node "lookup": response status 503"#) }, "\(o.logs)")
        #expect(line.contains("flow.node=lookup"), "\(line)")
        #expect(line.contains("flow.node_after=sorry"), "\(line)")
    }

    @Test func voicemailRecordingURLIsSaved() throws {
        let backend = try FakeHTTPServer { _, _ in .status(201, "{}") }
        defer { backend.stop() }
        let flow = #"""
            {"start":"a","on_hangup":"post","nodes":{
              "a":{"type":"answer","next":"r"},
              "r":{"type":"record","prompt":"Leave a message.","max_length_secs":60,"save_as":"vm","next":"end"},
              "end":{"type":"hangup"},
              "post":{"type":"http","method":"POST","url":"http://127.0.0.1:\#(backend.port)/vm","body":{"url":"{{vars.vm}}"}}}}
            """#
        let dir = try EndToEnd.flowsDir(["t": flow])
        let o = try Self.call {
            $0.flowsDir = dir; $0.defaultFlow = "t"
        }
        #expect(o.actions == ["answer", "speak", "record_start", "hangup"])
        let url = try #require(backend.requests.first?.json?["url"]?.stringValue)
        #expect(url.hasPrefix("https://emulator.telnyx.local/recordings/") && url.hasSuffix(".mp3"))
    }

    @Test func businessHoursFollowThePinnedClock() throws {
        let open = try Self.call(["1"])
        #expect(open.actions.prefix(2) == ["answer", "gather_using_speak"])
        let closed = try Self.call { $0.start = 1_795_291_200 }  // Saturday 14:00 in Chicago
        #expect(closed.actions.prefix(3) == ["answer", "speak", "record_start"])
        #expect(closed.prompts.first?.hasPrefix("Sorry, nobody can take your call") == true)
    }

    @Test func callerHangsUpDuringPrompt() throws {
        let o = try Self.call { $0.script.hangupAfterMs = 1500 }  // the menu prompt takes ~3 s
        #expect(o.actions == ["answer", "gather_using_speak"])
    }

    @Test func duplicateWebhooksSendNoDuplicateCommand() throws {
        let o = try Self.call(["1"]) { $0.faults.duplicate = ["call.initiated", "call.answered", "call.gather.ended"] }
        #expect(o.actions == ["answer", "gather_using_speak", "transfer"])
    }

    @Test func staleSpeakEndedIsIgnored() throws {
        let o = try Self.call {
            $0.start = 1_795_291_200; $0.faults.lateCopyMs = ["call.speak.ended": 1500]
        }
        #expect(o.actions.filter { $0 == "record_start" }.count == 1)
        #expect(o.actions.suffix(2) == ["speak", "hangup"])
    }

    @Test func reorderedAnsweredAndSpeakStarted() throws {
        let o = try Self.call {
            $0.start = 1_795_291_200; $0.faults.delayMs = ["call.speak.started": 6000, "call.answered": 400]
        }
        #expect(o.actions == ["answer", "speak", "record_start", "speak", "hangup"])
    }

    @Test(arguments: [("human", "gather_using_speak"), ("machine", "speak")])
    func outboundReminder(_ amd: String, _ second: String) throws {
        let o = try Self.call(amd == "human" ? ["3", "3"] : []) {
            $0.script.amd = amd
            $0.outbound = ("reminder", ["appointment_time": "Tuesday at 3 PM", "appointment_id": "A7"])
        }
        #expect(o.actions.first == second)
        #expect(o.prompts.first?.contains("Tuesday at 3 PM") == true)
        #expect(o.actions.last == "hangup")
        // No on_hangup here: the hangup webhook itself ends the call and files its recording away.
        #expect(o.recordedCalls == 0)
        let inputs = try #require(try JSONParser.parse(o.callDocument)["inputs"]?.arrayValue)
        #expect(inputs.last?["webhook"]?["event_type"]?.stringValue == "call.hangup")
    }
}
