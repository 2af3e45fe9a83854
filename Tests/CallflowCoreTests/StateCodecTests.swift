import CallflowCore
import CallflowTestSupport
import Testing

@Suite struct StateCodecTests {
    /// Every state a call passes through in the shipped scenarios survives encode → decode.
    @Test func everyIntermediateStateRoundTrips() throws {
        let flows = try Flows.set()
        var checked = 0
        var h = CallHarness(flows: flows)
        func check() throws {
            for state in h.engine.calls.values {
                let bytes = StateCodec.encode(state).jsonBytes
                let back = try StateCodec.decodeState(try JSONParser.parse(bytes))
                // Digits of a sensitive gather are never stored; everything else comes back.
                var stored = state
                for name in state.sensitiveVars { stored.vars[name] = nil }
                #expect(back == stored)
                #expect(!String(decoding: bytes, as: UTF8.self).contains("1234") || state.sensitiveVars.isEmpty)
                checked += 1
            }
        }
        h.initiated(); try check()
        h.answered(); try check()
        h.gatherEnded("9", "invalid"); try check()
        h.gatherEnded("2"); try check()
        h.gatherEnded("1234#"); try check()  // waiting for http, sensitive var set
        h.httpResponse(200, #"{"tier":"gold","nested":{"a":[1,2]}}"#); try check()
        var r = CallHarness(flows: flows)
        r.record(
            r.engine.startOutbound(
                leg: CallLeg(callControlID: "v3:out", connectionID: "c", from: "+13125550100", to: "+13125550199"),
                flow: "reminder", vars: ["appointment_id": "A1"], now: r.now))
        r.send("call.machine.detection.ended", ["result": "machine"], leg: "v3:out", clientState: .some(nil))
        for state in r.engine.calls.values {
            #expect(try StateCodec.decodeState(try JSONParser.parse(StateCodec.encode(state).jsonBytes)) == state)
            checked += 1
        }
        var p = try NodeTests.harness(#""a":{"type":"pause","seconds":2,"next":"bye"}"#)
        for state in p.engine.calls.values {
            #expect(try StateCodec.decodeState(StateCodec.encode(state)) == state)
            checked += 1
        }
        p.hangup()
        #expect(checked >= 8)
    }

    @Test func commandsRequestsAndDialsRoundTrip() throws {
        let command = CallCommand(callControlID: "v3:a", action: "speak", body: ["payload": "hi", "voice": "female", "command_id": "cf-1-2-1"])
        #expect(try StateCodec.decodeCommand(StateCodec.encode(command)) == command)
        let request = HTTPCall(
            id: "v3:a#4", method: "POST", url: "https://x/y", headers: ["A": "b"], body: Array("{\"k\":1}".utf8),
            timeoutMs: 500, idempotencyKey: "cf-k-4")
        #expect(try StateCodec.decodeHTTP(StateCodec.encode(request)) == request)
        let dial = PendingDial(flow: "reminder", vars: ["x": 1], from: "+1", to: "+2", connectionID: "c", at: 99)
        #expect(try StateCodec.decodeDial(StateCodec.encode(dial)) == dial)
    }

    @Test func unreadableRecordsAreErrorsNotCrashes() {
        for bad: JSONValue in [
            .null, ["v": 2], ["v": 1, "id": "x"],
            [
                "v": 1, "id": "x", "rev": "r", "flow": "f", "node": "n", "step": 1,
                "phase": "running", "vars": [:], "waiting": "sleeping",
            ],
        ] {
            #expect(throws: StateCodec.DecodeError.self) { try StateCodec.decodeState(bad) }
        }
        #expect(throws: StateCodec.DecodeError.self) {
            try StateCodec.decodeHTTP(["id": "x", "method": "GET", "url": "u", "timeout_ms": 1, "key": "k", "body": "%%%"])
        }
    }
}
