import CallflowCore
import CallflowTestSupport
import Foundation
import Testing

/// Builds a sample webhook for an event schema: every payload property present, with the first
/// enum value or a value of its type. Proves each documented event decodes, whatever its fields.
enum SchemaSample {
    static func eventTypes() throws -> [String] {
        try FileManager.default.contentsOfDirectory(atPath: Fixtures.telnyx.appendingPathComponent("events").path)
            .filter { $0.hasSuffix(".schema.json") }.map { String($0.dropLast(".schema.json".count)) }.sorted()
    }

    static func body(for eventType: String) throws -> [UInt8] {
        let schema = try Fixtures.json("events/\(eventType).schema.json") as! [String: Any]
        let defs = schema["$defs"] as? [String: Any] ?? [:]
        var payload: [String: Any] = [:]
        if let p = defs["Payload"] as? [String: Any], let props = p["properties"] as? [String: Any] {
            for (key, prop) in props { payload[key] = sample(prop as! [String: Any], defs: defs, depth: 0) }
        }
        payload["call_control_id"] = "v3:sample-\(eventType)"
        payload["client_state"] = NSNull()
        let root: [String: Any] = [
            "data": [
                "record_type": "event", "event_type": eventType, "id": UUID().uuidString,
                "occurred_at": "2026-11-21T10:00:00.000000Z", "payload": payload,
            ],
            "meta": ["attempt": 1, "delivered_to": "https://ivr.example.com/webhooks/telnyx"],
        ]
        return Array(try JSONSerialization.data(withJSONObject: root, options: [.sortedKeys]))
    }

    static func sample(_ schema: [String: Any], defs: [String: Any], depth: Int) -> Any {
        if depth > 4 { return NSNull() }
        if let ref = schema["$ref"] as? String, let def = defs[String(ref.split(separator: "/").last!)] as? [String: Any] {
            return sample(def, defs: defs, depth: depth + 1)
        }
        if let any = schema["anyOf"] as? [[String: Any]], let first = any.first(where: { ($0["type"] as? String) != "null" }) {
            return sample(first, defs: defs, depth: depth)
        }
        if let values = schema["enum"] as? [Any], let first = values.first { return first }
        if let c = schema["const"] { return c }
        switch schema["type"] as? String {
        case "string": return "sample"
        case "integer": return 7
        case "number": return 0.5
        case "boolean": return true
        case "array":
            if let items = schema["items"] as? [String: Any] { return [sample(items, defs: defs, depth: depth + 1)] }
            return []
        default:
            var object: [String: Any] = [:]
            for (k, v) in schema["properties"] as? [String: Any] ?? [:] {
                object[k] = sample(v as! [String: Any], defs: defs, depth: depth + 1)
            }
            return object
        }
    }
}

@Suite struct WebhookEventTests {
    @Test(arguments: try SchemaSample.eventTypes())
    func everyDocumentedEventDecodes(_ eventType: String) throws {
        let event = try WebhookEvent.decode(try SchemaSample.body(for: eventType))
        #expect(event.eventType == eventType)
        #expect(event.call?.callControlID == "v3:sample-\(eventType)")
        #expect(event.call?.clientState == nil)
        #expect(event.kind != .unknown, "documented type \(eventType) decoded as unknown")
        #expect(event.attempt == 1)
    }

    static func decode(_ type: String, _ payload: String) throws -> EventKind {
        let body =
            #"{"data":{"record_type":"event","event_type":"\#(type)","id":"e1","payload":{"call_control_id":"c1",\#(payload)}},"meta":{"attempt":2}}"#
        return try WebhookEvent.decode(Array(body.utf8)).kind
    }

    @Test func typedPayloads() throws {
        #expect(
            try Self.decode("call.initiated", #""direction":"incoming","state":"parked","caller_id_name":"Bob""#)
                == .callInitiated(direction: .incoming, state: "parked", callerIDName: "Bob", startTime: nil))
        #expect(try Self.decode("call.answered", #""start_time":"t""#) == .callAnswered(startTime: "t"))
        #expect(
            try Self.decode("call.hangup", #""hangup_cause":"normal_clearing","hangup_source":"caller""#)
                == .callHangup(cause: .normalClearing, source: .caller, sipHangupCause: nil))
        #expect(try Self.decode("call.bridged", #""x":1"#) == .callBridged)
        #expect(try Self.decode("call.speak.started", #""x":1"#) == .speakStarted)
        #expect(try Self.decode("call.speak.ended", #""status":"completed""#) == .speakEnded(status: .completed))
        #expect(
            try Self.decode("call.playback.started", #""media_url":"u""#)
                == .playbackStarted(PlaybackMedia(mediaURL: "u")))
        #expect(
            try Self.decode("call.playback.ended", #""status":"file_not_found","status_detail":"404""#)
                == .playbackEnded(PlaybackMedia(), status: .fileNotFound, statusDetail: "404"))
        #expect(
            try Self.decode("call.gather.ended", #""digits":"12#","status":"valid""#)
                == .gatherEnded(digits: "12#", status: .valid))
        #expect(try Self.decode("call.dtmf.received", #""digit":"5""#) == .dtmfReceived(digit: "5"))
        #expect(
            try Self.decode("call.recording.saved", #""recording_urls":{"mp3":"m"},"channels":"single""#)
                == .recordingSaved(
                    RecordingSaved(
                        recordingURLs: RecordingURLs(mp3: "m"), publicRecordingURLs: RecordingURLs(),
                        channels: "single", startedAt: nil, endedAt: nil)))
        #expect(
            try Self.decode("call.recording.error", #""reason":"Unsupported backend""#)
                == .recordingError(reason: "Unsupported backend"))
        #expect(
            try Self.decode("call.recording.transcription.saved", #""transcription_text":"hi""#)
                == .recordingTranscriptionSaved(RecordingTranscription(text: "hi")))
        #expect(try Self.decode("call.machine.detection.ended", #""result":"machine""#) == .machineDetectionEnded(result: .machine))
        #expect(
            try Self.decode("call.machine.greeting.ended", #""result":"beep_detected""#)
                == .machineGreetingEnded(result: .beepDetected))
        #expect(
            try Self.decode("call.machine.premium.detection.ended", #""result":"human_business""#)
                == .machinePremiumDetectionEnded(result: .humanBusiness))
        #expect(
            try Self.decode("call.machine.premium.greeting.ended", #""result":"no_beep_detected""#)
                == .machinePremiumGreetingEnded(result: .noBeepDetected))
        #expect(
            try Self.decode("call.ai_gather.ended", #""result":{"name":"Ann"},"status":"valid","message_history":[{"role":"user","content":"Ann"}]"#)
                == .aiGatherEnded(result: ["name": "Ann"], status: .valid, history: [AIMessage(role: "user", content: "Ann")]))
        #expect(
            try Self.decode("call.ai_gather.partial_results", #""partial_results":{"a":1}"#)
                == .aiGatherPartialResults(partial: ["a": 1], history: []))
        #expect(
            try Self.decode("call.ai_gather.message_history_updated", #""message_history":[]"#)
                == .aiGatherMessageHistoryUpdated(history: []))
        #expect(
            try Self.decode("call.conversation.ended", #""conversation_id":"k","duration_sec":12"#)
                == .conversationEnded(ConversationEnded(conversationID: "k", durationSeconds: 12)))
        #expect(try Self.decode("call.fork.started", #""stream_type":"decrypted""#) == .forkStarted(streamType: "decrypted"))
        #expect(try Self.decode("call.fork.stopped", #""stream_type":"raw""#) == .forkStopped(streamType: "raw"))
        #expect(try Self.decode("streaming.started", #""stream_url":"wss://x""#) == .streamingStarted(url: "wss://x"))
        #expect(try Self.decode("streaming.stopped", #""stream_url":"wss://x""#) == .streamingStopped(url: "wss://x"))
        #expect(
            try Self.decode("streaming.failed", #""failure_reason":"r","stream_type":"websocket""#)
                == .streamingFailed(reason: "r", streamID: nil, streamType: "websocket"))
        #expect(
            try Self.decode("call.transcription", #""transcription_data":{"transcript":"hello","is_final":true,"confidence":0.9}"#)
                == .transcription(TranscriptionData(transcript: "hello", isFinal: true, confidence: 0.9)))
        #expect(try Self.decode("call.refer.started", #""sip_notify_response":100"#) == .referStarted(sipNotifyResponse: 100))
        #expect(try Self.decode("call.refer.completed", #""sip_notify_response":200"#) == .referCompleted(sipNotifyResponse: 200))
        #expect(try Self.decode("call.refer.failed", #""sip_notify_response":603"#) == .referFailed(sipNotifyResponse: 603))
    }

    @Test func lenientWhereTrafficNeedsIt() throws {
        #expect(try Self.decode("call.brand_new_thing", #""x":1"#) == .unknown)
        #expect(try Self.decode("call.cost", #""x":1"#) == .other)
        // Unknown enum values are kept, not fatal.
        #expect(
            try Self.decode("call.gather.ended", #""status":"something_new""#)
                == .gatherEnded(digits: "", status: GatherStatus(rawValue: "something_new")))
        // Wrong types and nulls on optional fields are tolerated.
        #expect(
            try Self.decode("call.hangup", #""hangup_cause":null,"hangup_source":5"#)
                == .callHangup(cause: nil, source: nil, sipHangupCause: nil))
        let empty = try WebhookEvent.decode(
            Array(#"{"data":{"event_type":"call.answered","id":"i","payload":{"call_control_id":"c","client_state":""}}}"#.utf8))
        #expect(empty.call?.clientState == nil)
        #expect(empty.attempt == nil)
        let set = try WebhookEvent.decode(
            Array(#"{"data":{"event_type":"call.answered","id":"i","payload":{"call_control_id":"c","client_state":"YWJj"}}}"#.utf8))
        #expect(set.call?.clientState == "YWJj")
    }

    @Test(arguments: [
        (#"{"data":"#, "malformed JSON"),
        (#"[]"#, "missing object field data"),
        (#"{"data":{"id":"x"}}"#, "missing string field data.event_type"),
        (#"{"data":{"event_type":"call.answered"}}"#, "missing string field data.id"),
        (#"{"data":{"event_type":"call.answered","id":""}}"#, "missing string field data.id"),
        (#"{"data":{"event_type":7,"id":"x"}}"#, "missing string field data.event_type"),
    ])
    func refusesWhatCannotBeActedOn(_ body: String, _ message: String) {
        #expect {
            _ = try WebhookEvent.decode(Array(body.utf8))
        } throws: { error in
            "\(error)".hasPrefix(message)
        }
    }

    @Test func dedupeWindowForgetsOldIDs() {
        var window = DedupeWindow(windowSeconds: 10)
        let results = [
            window.insert("a", now: 0), window.insert("a", now: 5), window.insert("b", now: 6),
            window.insert("a", now: 11),  // expired, so new again
            window.insert("b", now: 12),
        ]
        #expect(results == [true, false, true, true, false])
        #expect(window.count == 2)
    }
}
