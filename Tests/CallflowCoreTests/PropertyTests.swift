import CallflowCore
import CallflowTestSupport
import Testing

/// Random event sequences against every shipped flow: the engine must never crash, never send a
/// command to a call after its hang-up, and never reuse a command_id for a different command.
@Suite struct PropertyTests {
    static let eventTypes = [
        "call.answered", "call.speak.ended", "call.speak.started", "call.playback.ended", "call.gather.ended",
        "call.dtmf.received", "call.bridged", "call.recording.saved", "call.recording.error", "call.ai_gather.ended",
        "call.machine.detection.ended", "call.machine.greeting.ended", "call.hangup", "call.unknown.type",
        // flow language v2: background activities, AI conversations, transcripts, refer
        "call.transcription", "streaming.failed", "streaming.started", "call.conversation.ended", "call.conversation.start_failed",
        "call.conversation_insights.generated", "call.recording.transcription.saved", "call.refer.completed", "call.refer.failed",
    ]
    static let inboundFlows = ["main", "ai-receptionist", "support", "bilingual", "voicemail"]

    @Test(arguments: 0..<8)
    func randomSequences(_ seed: Int) throws {
        let flows = try Flows.set()
        var rng = SplitMix(seed: UInt64(seed) &* 7919 &+ 17)
        for round in 0..<60 {
            var h = CallHarness(
                flows: flows, now: [Times.mondayMorning, Times.saturdayAfternoon][round % 2],
                defaultFlow: Self.inboundFlows[round % Self.inboundFlows.count])
            if round % 3 == 0 {
                let leg = CallLeg(callControlID: h.call, connectionID: "conn-1", from: "+13125550100", to: "+13125550199")
                h.record(h.engine.startOutbound(leg: leg, flow: "reminder", vars: [:], now: h.now))
            } else {
                h.initiated()
            }
            var hungUpAt: Int? = nil
            for _ in 0..<Int(rng.next() % 40) {
                let type = Self.eventTypes[Int(rng.next() % UInt64(Self.eventTypes.count))]
                var payload: JSONObject = [:]
                switch type {
                case "call.gather.ended":
                    let digits = ["", "1", "2", "9", "1234#", "12#", "#"][Int(rng.next() % 7)]
                    payload = ["digits": .string(digits), "status": .string(["valid", "invalid", "timeout", "call_hangup"][Int(rng.next() % 4)])]
                case "call.machine.detection.ended": payload = ["result": .string(["human", "machine", "not_sure"][Int(rng.next() % 3)])]
                case "call.hangup": payload = ["hangup_cause": "normal_clearing"]
                case "call.recording.saved": payload = ["recording_urls": ["mp3": "u"]]
                case "call.playback.ended": payload = ["status": .string(["completed", "failed"][Int(rng.next() % 2)])]
                case "call.transcription":
                    payload = [
                        "transcription_data": [
                            "transcript": .string(["pay my bill", "agent", "español", "uh", ""][Int(rng.next() % 5)]),
                            "is_final": .bool(rng.next() % 4 != 0), "confidence": .double(Double(rng.next() % 100) / 100),
                        ]
                    ]
                case "call.conversation.ended": payload = ["reason": .string(["completed", "transfer", "error"][Int(rng.next() % 3)])]
                case "call.recording.transcription.saved": payload = ["transcription_text": "hello"]
                default: break
                }
                // Sometimes the client_state is stale, missing or foreign; sometimes an id repeats.
                let cs: String?? =
                    switch rng.next() % 6 {
                    case 0: .some(nil)
                    case 1: .some(StepTag(step: Int(rng.next() % 5)).encoded)
                    case 2: .some("Zm9yZWlnbg==")
                    default: .none
                    }
                let id: String? = rng.next() % 8 == 0 ? "evt-\(max(1, h.counter))" : nil
                h.send(type, payload, clientState: cs, id: id)
                if type == "call.hangup", hungUpAt == nil, h.engine.calls[h.call]?.phase != .running || h.ended {
                    hungUpAt = h.commands.count
                }
                if case .http(let requestID)? = h.state?.waiting, rng.next() % 2 == 0 {
                    h.apply(
                        .httpResult(
                            requestID: requestID,
                            rng.next() % 3 == 0 ? .failed("boom") : .response(status: 200, body: Array(#"{"tier":"gold"}"#.utf8))))
                }
                if let timer = h.state?.waiting.timer, rng.next() % 2 == 0 { h.apply(.timerFired(id: timer)) }
                if case .response(let commandID, _)? = h.state?.waiting, rng.next() % 2 == 0 {
                    h.apply(.commandSucceeded(commandID: commandID, action: "x", data: ["result": "ok"]))
                }
                if rng.next() % 7 == 0, let c = h.commands.last(where: { $0.callControlID == h.call }) {
                    h.apply(.commandFailed(commandID: c.commandID ?? "", action: c.action, detail: "422 refused", callGone: false))
                }
            }
            if let hungUpAt {
                let after = h.commands[hungUpAt...].filter { $0.callControlID == h.call }
                #expect(after.isEmpty, "seed \(seed) round \(round): \(after.map(\.action)) after hangup")
            }
            var byID: [String: CallCommand] = [:]
            for c in h.commands {
                guard let id = c.commandID else {
                    #expect(!CommandCatalog.takes(c.action, "command_id"), "\(c.action) sent without a command_id")
                    continue
                }
                if let previous = byID[id] { #expect(previous == c, "command_id \(id) reused for a different command") }
                byID[id] = c
            }
        }
    }
}
