import CallflowCore
import CallflowTestSupport
import Foundation
import Testing

@testable import TelnyxEmulator

/// The emulator's side of every call action, driven through `EmulatorModel.command` on a virtual
/// clock: which webhooks come back, in which order, with which client_state, and that each payload
/// is what `shared/telnyx/events` describes (schema-valid, no field its payload schema lacks).
@Suite struct EmulatorCommandsTests {
    // MARK: a phone on a virtual clock

    /// One inbound call against the model: runs its timers, answers its gathers from the script
    /// (as `Simulation` does) and keeps every webhook with the virtual time it was sent.
    struct Phone {
        var model: EmulatorModel
        var leg = ""
        var now: Int64 = 0
        var queue: [(at: Int64, seq: Int, emission: EmulatorModel.Emission)] = []
        var seq = 0
        var webhooks: [(at: Int64, body: JSONValue)] = []
        var notes: [String] = []
        var replies: [EmulatorModel.Reply] = []
        var n = 0

        init(_ configure: (inout CallerScript) -> Void = { _ in }) {
            var script = CallerScript()
            configure(&script)
            model = EmulatorModel(script: script)
            model.nowMs = 0
            let (id, out) = model.inboundCall(from: "+13125550101", to: "+13125550100")
            leg = id
            push(out)
            send("answer")
            run(for: 500)
        }

        mutating func push(_ emissions: [EmulatorModel.Emission]) {
            for e in emissions {
                let delay: Int
                switch e {
                case .webhook(let d, _), .needInput(let d, _, _, _), .gatherTimeout(let d, _, _), .timer(let d, _, _), .note(let d, _, _, _):
                    delay = d
                }
                seq += 1
                queue.append((now + Int64(delay), seq, e))
            }
            queue.sort { ($0.at, $0.seq) < ($1.at, $1.seq) }
        }

        /// Sends a command with a fresh command_id (and client_state `cs-<action>` unless given).
        @discardableResult
        mutating func send(_ action: String, _ body: JSONObject = [:], on leg: String? = nil, state: String?? = .none) -> EmulatorModel.Reply {
            n += 1
            var b = body
            if CommandCatalog.actions[action]?.params.contains("command_id") ?? true { b["command_id"] = b["command_id"] ?? .string("cmd-\(n)") }
            if CommandCatalog.actions[action]?.params.contains("client_state") ?? true, body["client_state"] == nil {
                switch state {
                case .none: b["client_state"] = .string("cs-\(action)")
                case .some(let s): b["client_state"] = s.map(JSONValue.string)
                }
            }
            model.nowMs = now
            let (reply, out) = model.command(action, leg: leg ?? self.leg, body: b)
            replies.append(reply)
            push(out)
            return reply
        }

        mutating func run(for ms: Int) {
            let until = now + Int64(ms)
            while let next = queue.first, next.at <= until {
                queue.removeFirst()
                now = next.at
                model.nowMs = now
                switch next.emission {
                case .webhook(_, let body): webhooks.append((now, body))
                case .needInput(_, let leg, let token, _): push(model.scriptedInput(leg, token: token))
                case .gatherTimeout(_, let leg, let token), .timer(_, let leg, let token): push(model.timeout(leg, token: token))
                case .note(_, _, _, let text): notes.append(text)
                }
            }
            now = until
        }

        mutating func hangUp() {
            model.nowMs = now
            push(model.callerHangsUp(leg))
        }

        /// Event types sent since `index`, in order.
        func types(from index: Int = 0) -> [String] { webhooks[index...].map { Self.type($0.body) } }
        func all(_ type: String) -> [JSONValue] { webhooks.filter { Self.type($0.body) == type }.map { $0.body["data"]?["payload"] ?? .null } }
        func first(_ type: String) -> JSONValue? { all(type).first }
        func at(_ type: String) -> Int64? { webhooks.first { Self.type($0.body) == type }?.at }
        static func type(_ body: JSONValue) -> String { body["data"]?["event_type"]?.stringValue ?? "" }
        var mark: Int { webhooks.count }
    }

    // MARK: the event schemas

    /// Loads each event schema once; checks a webhook against it and that its payload has only
    /// fields the payload schema names (the schemas leave objects open, so this is the real check
    /// of field names). The envelope fields every call event carries are always allowed:
    /// `call.recording.saved`'s SDK schema lacks `call_control_id`, which Telnyx sends and the
    /// engine routes by.
    final class EventSchemas: @unchecked Sendable {
        static let shared = EventSchemas()
        private var cache: [String: (SchemaValidator, Set<String>)] = [:]
        private let lock = NSLock()
        static let envelope: Set<String> = ["call_control_id", "call_leg_id", "call_session_id", "client_state", "connection_id"]

        func entry(_ type: String) throws -> (SchemaValidator, Set<String>) {
            lock.lock()
            defer { lock.unlock() }
            if let hit = cache[type] { return hit }
            let v = try SchemaValidator.load(Fixtures.telnyx.appendingPathComponent("events/\(type).schema.json"), strict: false)
            func deref(_ s: JSONValue?) -> JSONValue? {
                guard let s else { return nil }
                if let ref = s["$ref"]?.stringValue { return v.root.lookup(path: ref.dropFirst(2).split(separator: "/")) }
                if let branch = s["anyOf"]?.arrayValue?.first(where: { $0["type"] != "null" }) { return deref(branch) }
                return s
            }
            let data = deref(v.root["properties"]?["data"])
            let payload = deref(data?["properties"]?["payload"])
            let names = Set(payload?["properties"]?.objectValue?.keys ?? [])
            cache[type] = (v, names)
            return (v, names)
        }

        func problems(_ body: JSONValue) throws -> [String] {
            let type = Phone.type(body)
            let (validator, names) = try entry(type)
            var out = validator.errors(body)
            for key in body["data"]?["payload"]?.objectValue?.keys ?? [] where !names.contains(key) && !Self.envelope.contains(key) {
                out.append("payload field \(key) is not in the \(type) schema")
            }
            return out
        }
    }

    static func expectValid(_ phone: Phone, sourceLocation: SourceLocation = #_sourceLocation) throws {
        for (_, body) in phone.webhooks {
            let problems = try EventSchemas.shared.problems(body)
            #expect(problems.isEmpty, "\(Phone.type(body)): \(problems)\n\(body.jsonString)", sourceLocation: sourceLocation)
        }
    }

    static func state(_ payload: JSONValue?) -> String? { payload?["client_state"]?.stringValue }

    // MARK: the catalog

    @Test func everyActionOfTheCommandSchemasIsModelled() throws {
        let files = try FileManager.default.contentsOfDirectory(atPath: Fixtures.telnyx.appendingPathComponent("commands").path)
        let actions = Set(files.filter { $0.hasSuffix(".schema.json") }.map { String($0.dropLast(".schema.json".count)) })
        #expect(actions.count >= 41)
        let modelled = Set(EmulatorModel.handlers.keys).union(["dial"])
        #expect(actions.subtracting(modelled).isEmpty, "not modelled: \(actions.subtracting(modelled).sorted())")
        #expect(modelled.subtracting(actions) == ["bridge"], "\(modelled.subtracting(actions))")
    }

    @Test func bodiesAreCheckedAsTelnyxChecksThem() {
        var p = Phone()
        let refusals: [(String, JSONObject, String)] = [
            ("speak", ["payload": "x", "voice": "female", "volume": 3], "speak does not take volume"),
            ("record_start", ["format": "ogg", "channels": "single"], "format"),
            ("record_start", ["format": "mp3", "channels": "single", "max_length": 20_000], "max_length"),
            ("playback_start", ["audio_url": "https://a.example.com/x.mp3", "loop": 0], "loop"),
            ("playback_start", ["audio_url": "https://a.example.com/x.mp3", "loop": "forever"], "loop"),
            ("send_dtmf", ["digits": "12x"], "DTMF"),
            ("switch_supervisor_role", ["role": "listen"], "role"),
            ("enqueue", [:], "requires queue_name"),
            ("fork_stop", ["stream_type": "mixed"], "stream_type"),
            ("transcription_start", ["transcription_engine": "Whisper"], "transcription_engine"),
        ]
        for (action, body, words) in refusals {
            let reply = p.send(action, body)
            guard case .error(422, "10015", _, let detail) = reply else { Issue.record("\(action) \(body.jsonStringRedacted): \(reply)"); continue }
            #expect(detail.contains(words), "\(action): \(detail)")
        }
        #expect(p.send("playback_start", ["audio_url": "https://a.example.com/x.mp3", "loop": "infinity"]).status == 200)
        #expect(p.send("send_dtmf", ["digits": "1w2#"]).status == 200)
    }

    @Test func siprecAndSupervisorBodiesHaveNoCommandID() throws {
        var p = Phone()
        // Their schemas have no command_id (and switch_supervisor_role no client_state): Telnyx refuses them.
        #expect(p.send("siprec_start", ["command_id": "x"], state: .some(nil)).status == 422)
        #expect(p.send("switch_supervisor_role", ["role": "barge", "client_state": "eA=="]).status == 422)
        let mark = p.mark
        #expect(p.send("siprec_start", ["siprec_track": "both_tracks"]).status == 200)
        #expect(p.send("switch_supervisor_role", ["role": "whisper"]).status == 200)
        p.run(for: 1000)
        #expect(p.types(from: mark) == ["siprec.started"])
        #expect(Self.state(p.first("siprec.started")) == "cs-siprec_start")
        p.send("siprec_stop")
        p.run(for: 500)
        #expect(p.first("siprec.stopped")?["hangup_cause"] == "normal_clearing")
        #expect(Self.state(p.first("siprec.stopped")) == "cs-siprec_stop")
        try Self.expectValid(p)
    }

    // MARK: media sessions

    @Test func streamingStartsAndStops() throws {
        var p = Phone()
        let mark = p.mark
        p.send("streaming_start", ["stream_url": "wss://media.example.com/s", "stream_track": "both_tracks"])
        p.run(for: 1000)
        p.send("streaming_stop")
        p.run(for: 1000)
        #expect(p.types(from: mark) == ["streaming.started", "streaming.stopped"])
        #expect(p.first("streaming.started")?["stream_url"] == "wss://media.example.com/s")
        #expect(Self.state(p.first("streaming.started")) == "cs-streaming_start")
        #expect(Self.state(p.first("streaming.stopped")) == "cs-streaming_stop")
        try Self.expectValid(p)
    }

    @Test func streamingFails() throws {
        var p = Phone { $0.failures = [.streaming] }
        let mark = p.mark
        p.send("streaming_start", ["stream_url": "wss://media.example.com/s"])
        p.run(for: 1000)
        #expect(p.types(from: mark) == ["streaming.failed"])
        let failed = try #require(p.first("streaming.failed"))
        #expect(failed["failure_reason"] == "connection_failed")
        #expect(failed["stream_type"] == "websocket")
        #expect(failed["stream_id"]?.stringValue?.isEmpty == false)
        #expect(failed["stream_params"]?["stream_url"] == "wss://media.example.com/s")
        p.send("streaming_stop")
        p.run(for: 500)
        #expect(p.types(from: mark) == ["streaming.failed"], "a stream that never started does not stop")
        try Self.expectValid(p)
    }

    @Test func answerWithStreamURLStreams() throws {
        var m = EmulatorModel(script: CallerScript())
        let (leg, _) = m.inboundCall(from: "+1", to: "+2")
        let (_, out) = m.command("answer", leg: leg, body: ["stream_url": "wss://media.example.com/s", "command_id": "a"])
        let types = out.compactMap { if case .webhook(_, let b) = $0 { return Phone.type(b) } else { return nil } }
        #expect(types == ["call.answered", "streaming.started"])
    }

    @Test func forkStartsAndStopsAlsoWithTheCall() throws {
        var p = Phone()
        let mark = p.mark
        p.send("fork_start", ["rx": "udp:192.0.2.1:9000", "tx": "udp:192.0.2.1:9001"])
        p.run(for: 1000)
        p.send("fork_stop", ["stream_type": "decrypted"])
        p.run(for: 500)
        #expect(p.send("fork_start", ["stream_type": "raw"]).status == 422, "fork_start's schema allows only decrypted")
        p.send("fork_start", ["stream_type": "decrypted", "rx": "udp:192.0.2.1:9000", "tx": "udp:192.0.2.1:9001"])
        p.run(for: 1000)
        p.hangUp()
        p.run(for: 1000)
        #expect(p.types(from: mark) == ["call.fork.started", "call.fork.stopped", "call.fork.started", "call.fork.stopped", "call.hangup"])
        #expect(p.first("call.fork.started")?["stream_type"] == "decrypted")
        #expect(p.all("call.fork.stopped").last?["stream_type"] == "decrypted")
        try Self.expectValid(p)
    }

    // MARK: transcription and speech

    @Test func theCallerSpeaksOncePerPromptWhileTranscriptionIsOn() throws {
        var p = Phone { $0.speech = [.init("Hello there"), .init("Pay my bill", confidence: 0.7), .init("Never said")] }
        // Off: a prompt ends, nothing is said (nor used up).
        p.send("speak", ["payload": "Welcome.", "voice": "female"])
        p.run(for: 5000)
        #expect(p.all("call.transcription").isEmpty)
        // On with nothing playing: the caller speaks right away.
        p.send("transcription_start", ["transcription_tracks": "inbound"])
        p.run(for: 5000)
        let first = try #require(p.first("call.transcription")?["transcription_data"])
        #expect(first["transcript"] == "Hello there")
        #expect(first["is_final"] == true)
        #expect(first["confidence"] == 0.92)
        #expect(first["transcription_track"] == "inbound")
        #expect(Self.state(p.first("call.transcription")) == "cs-transcription_start")
        // One utterance per prompt heard, after it ends.
        p.send("speak", ["payload": "What can I do for you?", "voice": "female"])
        p.run(for: 10_000)
        let said = p.all("call.transcription").map { $0["transcription_data"]?["transcript"]?.stringValue ?? "" }
        #expect(said == ["Hello there", "Pay my bill"])
        #expect(p.all("call.transcription").last?["transcription_data"]?["confidence"] == 0.7)
        let speakEnded = try #require(p.webhooks.lastIndex { Phone.type($0.body) == "call.speak.ended" })
        let spoken = try #require(p.webhooks.lastIndex { Phone.type($0.body) == "call.transcription" })
        #expect(spoken > speakEnded, "the caller waits for the prompt to end")
        #expect(p.notes.contains("caller says \"Pay my bill\""))
        // Stopped: the next prompt's end brings nothing.
        p.send("transcription_stop")
        p.send("speak", ["payload": "Anything else?", "voice": "female"])
        p.run(for: 10_000)
        #expect(p.all("call.transcription").count == 2)
        try Self.expectValid(p)
    }

    @Test func aGatherWithNoDigitsLeftHearsSpeechBeforeItTimesOut() throws {
        var p = Phone {
            $0.inputs = ["1"]; $0.speech = [.init("I would like to speak to someone about my account please")]
        }
        p.send("transcription_start")
        p.run(for: 6000)  // nothing played yet: the caller spoke at once
        #expect(p.all("call.transcription").count == 1)
        var q = Phone {
            $0.inputs = ["1"]; $0.speech = [.init("I would like to speak to someone about my account please")]
        }
        q.send("gather_using_speak", ["payload": "Press or say.", "voice": "female", "maximum_digits": 1, "maximum_tries": 1])
        q.send("transcription_start")  // during the prompt: the caller waits for it
        q.run(for: 10_000)
        // The digits entry answers the first gather; the speech is for a prompt that ends later.
        #expect(q.first("call.gather.ended")?["digits"] == "1")
        let mark = q.mark
        q.send("gather_using_speak", ["payload": "Anything else?", "voice": "female", "timeout_millis": 1000, "maximum_tries": 1])
        q.run(for: 20_000)
        #expect(q.types(from: mark) == ["call.transcription", "call.gather.ended"], "\(q.types(from: mark))")
        #expect(q.all("call.gather.ended").last?["status"] == "timeout")
        try Self.expectValid(q)
    }

    @Test func outboundOnlyTranscriptionDoesNotHearTheCaller() {
        var p = Phone { $0.speech = [.init("Hi")] }
        p.send("transcription_start", ["transcription_tracks": "outbound"])
        p.run(for: 5000)
        #expect(p.all("call.transcription").isEmpty)
    }

    // MARK: prompts and gathers

    @Test func playbackStopCancelsThePlayingPlayback() throws {
        var p = Phone()
        let mark = p.mark
        p.send("playback_start", ["audio_url": "https://a.example.com/hold.mp3", "loop": "infinity"])
        p.run(for: 30_000)
        #expect(p.types(from: mark) == ["call.playback.started"], "an endless loop does not end by itself")
        p.send("playback_stop")
        p.run(for: 10_000)
        #expect(p.types(from: mark) == ["call.playback.started", "call.playback.ended"])
        #expect(p.first("call.playback.ended")?["status"] == "cancelled")
        #expect(p.first("call.playback.ended")?["media_url"] == "https://a.example.com/hold.mp3")
        #expect(Self.state(p.first("call.playback.ended")) == "cs-playback_stop")
        // A finite playback stopped early sends no completed ended afterwards.
        let again = p.mark
        p.send("playback_start", ["audio_url": "https://a.example.com/x.mp3"])
        p.run(for: 100)
        p.send("playback_stop", ["stop": "current"])
        p.run(for: 10_000)
        #expect(p.types(from: again) == ["call.playback.started", "call.playback.ended"])
        #expect(p.all("call.playback.ended").last?["status"] == "cancelled")
        try Self.expectValid(p)
    }

    @Test func aPlaybackStillPlayingAtTheHangUpEndsWithIt() throws {
        var p = Phone()
        p.send("playback_start", ["media_name": "hold_music", "loop": 3])
        p.run(for: 1000)
        p.hangUp()
        p.run(for: 10_000)
        #expect(p.types().suffix(2) == ["call.playback.ended", "call.hangup"])
        #expect(p.first("call.playback.ended")?["status"] == "call_hangup")
        try Self.expectValid(p)
    }

    @Test func gatherStopEndsThePendingGatherCancelled() throws {
        var p = Phone { $0.inputs = ["12"] }
        p.send("gather", ["minimum_digits": 4, "maximum_digits": 6, "terminating_digit": "#", "timeout_millis": 60_000])
        p.run(for: 2000)  // the caller pressed 1 and 2
        p.send("gather_stop")
        p.run(for: 60_000)
        let ended = p.all("call.gather.ended")
        #expect(ended.count == 1)
        #expect(ended.first?["status"] == "cancelled")
        #expect(ended.first?["digits"] == "12")
        #expect(Self.state(ended.first) == "cs-gather_stop")
        try Self.expectValid(p)
    }

    @Test func keysDuringHoldMusicAreDTMFAndPromptsThatPlayOnceTakeNone() throws {
        var p = Phone { $0.inputs = ["1", "5"] }
        // A say before a menu does not eat the menu's keys.
        p.send("speak", ["payload": "Welcome to Acme.", "voice": "female"])
        p.run(for: 5000)
        #expect(p.all("call.dtmf.received").isEmpty)
        p.send("gather_using_speak", ["payload": "Press 1.", "voice": "female", "maximum_digits": 1])
        p.run(for: 5000)
        #expect(p.first("call.gather.ended")?["digits"] == "1")
        // Hold music with no gather: the caller presses the next entry, as call.dtmf.received.
        let mark = p.mark
        p.send("playback_start", ["audio_url": "https://a.example.com/hold.mp3", "loop": "infinity"])
        p.run(for: 5000)
        #expect(p.types(from: mark) == ["call.playback.started", "call.dtmf.received"])
        #expect(p.all("call.dtmf.received").last?["digit"] == "5")
        #expect(Self.state(p.all("call.dtmf.received").last) == "cs-playback_start")
        try Self.expectValid(p)
    }

    @Test func aiGatherWithoutAResultIsInvalidWithResultNull() throws {
        var p = Phone { $0.aiResult = nil }
        let reply = p.send("gather_using_ai", ["parameters": ["type": "object", "properties": [:]], "greeting": "Hi"])
        guard case .ok(let data) = reply else { Issue.record("\(reply)"); return }
        #expect(data["conversation_id"]?.stringValue?.isEmpty == false, "its response names a conversation")
        p.run(for: 10_000)
        let ended = try #require(p.first("call.ai_gather.ended"))
        #expect(ended["status"] == "invalid")
        #expect(ended["result"] == .null)
        try Self.expectValid(p)
    }

    // MARK: recordings

    @Test func aRecordingEndsAtTheCallersSilenceOrItsMaximum() throws {
        func recorded(_ body: JSONObject, talk: Int = 6) -> (Int64?, JSONValue?) {
            var p = Phone { $0.recordingSeconds = talk }
            let start = p.now
            let base: JSONObject = ["format": "mp3", "channels": "single"]
            p.send("record_start", base.merging(body))
            p.run(for: 200_000)
            return (p.at("call.recording.saved").map { $0 - start }, p.first("call.recording.saved"))
        }
        // Talks 6 s, silence 5 s: ends at 11 s, saved 200 ms later (+ delivery).
        let (silence, saved) = recorded(["max_length": 120, "timeout_secs": 5])
        #expect(silence == 11_215)
        #expect(saved?["recording_urls"]?["mp3"]?.stringValue?.hasPrefix("https://emulator.telnyx.local/recordings/") == true)
        #expect(saved?["recording_ended_at"]?.stringValue?.contains("00:00:11.") == true, "\(saved?.jsonString ?? "")")
        #expect(recorded(["max_length": 3, "timeout_secs": 5]).0 == 3_215)
        #expect(recorded(["max_length": 60]).0 == 60_215, "no silence detection: it runs to max_length")
        #expect(recorded(["timeout_secs": 0]).0 == nil, "no limit: it runs until stopped")
    }

    @Test func recordStopAndTheHangUpEndARecording() throws {
        var p = Phone()
        p.send("record_start", ["format": "wav", "channels": "dual"])
        p.run(for: 30_000)
        #expect(p.all("call.recording.saved").isEmpty)
        p.send("record_stop")
        p.run(for: 1000)
        let saved = try #require(p.first("call.recording.saved"))
        #expect(saved["recording_urls"]?["wav"]?.stringValue?.hasSuffix(".wav") == true)
        #expect(saved["channels"] == "dual")
        #expect(Self.state(saved) == "cs-record_stop")
        p.send("record_start", ["format": "mp3", "channels": "single"])
        p.run(for: 2000)
        p.hangUp()
        p.run(for: 2000)
        #expect(p.types().suffix(2) == ["call.hangup", "call.recording.saved"], "Telnyx saves the file after the call")
        #expect(Self.state(p.all("call.recording.saved").last) == "cs-record_start")
        try Self.expectValid(p)
    }

    @Test func keysPressedWhileTheRecordingRunsUnpausedAreInTheFile() throws {
        var p = Phone { $0.inputs = ["12", "4111", "9"] }
        p.send("record_start", ["format": "mp3", "channels": "single"])
        p.send("gather", ["maximum_digits": 2])
        p.run(for: 3000)
        p.send("record_pause")
        p.send("gather", ["maximum_digits": 4])
        p.run(for: 3000)
        p.send("record_resume")
        p.send("gather", ["maximum_digits": 1])
        p.run(for: 3000)
        #expect(p.all("call.gather.ended").map { $0["digits"]?.stringValue ?? "" } == ["12", "4111", "9"])
        #expect(p.model.legs[p.leg]?.keysRecorded == "129", "the card number was keyed in while paused")
        #expect(p.notes.contains("recording paused") && p.notes.contains("recording resumed"))
        #expect(p.model.legs[p.leg]?.recordingPaused == false)
        #expect(p.types().filter { $0.hasPrefix("call.recording") }.isEmpty, "pause and resume send no webhook")
        try Self.expectValid(p)
    }

    @Test func aRecordingIsTranscribedWhenAsked() throws {
        var p = Phone { $0.transcript = "Call me about order A17." }
        p.send("record_start", ["format": "mp3", "channels": "single", "max_length": 10, "transcription": true])
        p.run(for: 20_000)
        #expect(p.types().suffix(2) == ["call.recording.saved", "call.recording.transcription.saved"])
        let t = try #require(p.first("call.recording.transcription.saved"))
        #expect(t["transcription_text"] == "Call me about order A17.")
        #expect(t["status"] == "completed")
        #expect(t["recording_id"]?.stringValue?.isEmpty == false)
        #expect(t["recording_transcription_id"]?.stringValue?.isEmpty == false)
        #expect(Self.state(t) == "cs-record_start")
        try Self.expectValid(p)
    }

    @Test(arguments: [CallerScript.Failure.recording, .recordingTranscription])
    func recordingFailures(_ failure: CallerScript.Failure) throws {
        var p = Phone { $0.failures = [failure] }
        p.send("record_start", ["format": "mp3", "channels": "single", "max_length": 10, "transcription": true])
        p.run(for: 30_000)
        let types = p.types().filter { $0.hasPrefix("call.recording") }
        #expect(types == (failure == .recording ? ["call.recording.error"] : ["call.recording.saved"]))
        if failure == .recording { #expect(p.first("call.recording.error")?["reason"] == "Internal server error") }
        try Self.expectValid(p)
    }

    // MARK: AI assistants

    @Test func anAIConversationEndsWithItsInsights() throws {
        var p = Phone {
            $0.ai.summary = "Wants a callback"; $0.ai.afterMs = 8000; $0.ai.fields = ["callback": "tomorrow"]
        }
        let mark = p.mark
        let reply = p.send("ai_assistant_start", ["assistant": ["id": "assistant-42"], "greeting": "Hi!"])
        guard case .ok(let data) = reply else { Issue.record("\(reply)"); return }
        p.run(for: 20_000)
        #expect(p.types(from: mark) == ["call.conversation.created", "call.conversation_insights.generated", "call.conversation.ended"])
        let id = try #require(p.first("call.conversation.created")?["conversation_id"]?.stringValue)
        #expect(data["conversation_id"]?.stringValue == id, "the response names the conversation")
        let results = try #require(p.first("call.conversation_insights.generated")?["results"]?.arrayValue)
        #expect(results.first?["result"] == "Wants a callback")
        #expect(results.last?["result"]?["callback"] == "tomorrow")
        let ended = try #require(p.first("call.conversation.ended"))
        #expect(ended["conversation_id"]?.stringValue == id)
        #expect(ended["assistant_id"] == "assistant-42")
        #expect(ended["reason"] == "completed")
        #expect(ended["duration_sec"] == 8)
        #expect(Self.state(ended) == "cs-ai_assistant_start")
        #expect(p.send("ai_assistant_add_messages", ["messages": []]).status == 200)
        try Self.expectValid(p)
    }

    @Test func aiFailures() throws {
        var start = Phone { $0.failures = [.aiStart] }
        var mark = start.mark
        start.send("ai_assistant_start")
        start.run(for: 30_000)
        #expect(start.types(from: mark) == ["call.conversation.start_failed"])
        #expect(start.first("call.conversation.start_failed")?["reason"] == "service_error")

        var early = Phone { $0.failures = [.aiEarly] }
        mark = early.mark
        early.send("ai_assistant_start")
        early.run(for: 30_000)
        #expect(early.types(from: mark) == ["call.conversation.created", "call.conversation.ended"])
        #expect(early.first("call.conversation.ended")?["reason"] == "error")

        var never = Phone { $0.failures = [.aiNever] }
        mark = never.mark
        never.send("ai_assistant_start")
        never.run(for: 600_000)
        #expect(never.types(from: mark) == ["call.conversation.created"])
        never.send("ai_assistant_stop")
        never.run(for: 1000)
        #expect(never.types(from: mark) == ["call.conversation.created", "call.conversation_insights.generated", "call.conversation.ended"])
        #expect(never.first("call.conversation.ended")?["reason"] == "stopped")
        #expect(Self.state(never.first("call.conversation.ended")) == "cs-ai_assistant_stop")
        for p in [start, early, never] { try Self.expectValid(p) }
    }

    @Test func joiningAnswersWithTheConversation() throws {
        var p = Phone()
        p.send("ai_assistant_start")
        p.run(for: 1000)
        let id = try #require(p.first("call.conversation.created")?["conversation_id"])
        let reply = p.send("ai_assistant_join", ["conversation_id": id, "participant": ["id": "v3:x", "role": "user"]])
        guard case .ok(let data) = reply else { Issue.record("\(reply)"); return }
        #expect(data["conversation_id"] == id)
        #expect(p.send("ai_assistant_join", ["conversation_id": id, "participant": ["id": "v3:x"]]).status == 422, "role is required")
    }

    @Test func conversationRelayEndsWhenStopped() throws {
        var p = Phone()
        let mark = p.mark
        let reply = p.send("conversation_relay_start", ["url": "wss://relay.example.com"])
        guard case .ok(let data) = reply else { Issue.record("\(reply)"); return }
        #expect(data["conversation_relay_id"]?.stringValue?.isEmpty == false)
        p.run(for: 60_000)
        #expect(p.types(from: mark).isEmpty)
        p.send("conversation_relay_stop")
        p.run(for: 1000)
        #expect(p.types(from: mark) == ["call.conversation.ended"])
        try Self.expectValid(p)
    }

    // MARK: refer, queues, pay, the rest

    @Test func aCompletedReferHangsTheCallUp() throws {
        var p = Phone()
        let mark = p.mark
        p.send("refer", ["sip_address": "sip:agent@pbx.example.com"])
        p.run(for: 10_000)
        #expect(p.types(from: mark) == ["call.refer.started", "call.refer.completed", "call.hangup"])
        #expect(p.first("call.refer.started")?["sip_notify_response"] == 100)
        #expect(p.first("call.refer.completed")?["sip_notify_response"] == 200)
        #expect(Self.state(p.first("call.refer.completed")) == "cs-refer")
        #expect(p.model.legs[p.leg]?.ended == true)
        try Self.expectValid(p)
    }

    @Test func aFailedReferLeavesTheCall() throws {
        var p = Phone { $0.failures = [.refer] }
        let mark = p.mark
        p.send("refer", ["sip_address": "sip:agent@pbx.example.com"])
        p.run(for: 10_000)
        #expect(p.types(from: mark) == ["call.refer.started", "call.refer.failed"])
        #expect(p.first("call.refer.failed")?["sip_notify_response"] == 603)
        #expect(p.send("speak", ["payload": "Sorry.", "voice": "female"]).status == 200, "the call goes on")
        try Self.expectValid(p)
    }

    @Test func queues() throws {
        var p = Phone()
        p.send("enqueue", ["queue_name": "support"])
        let (second, _) = p.model.inboundCall(from: "+13125550102", to: "+13125550100")
        p.send("answer", on: second)
        p.send("enqueue", ["queue_name": "support", "max_wait_time_secs": 30], on: second)
        p.run(for: 1000)
        let enqueued = p.all("call.enqueued")
        #expect(enqueued.map { $0["current_position"]?.intValue ?? 0 } == [1, 2])
        #expect(enqueued.first?["queue"] == "support")
        #expect(enqueued.first?["queue_avg_wait_time_secs"] == 0)
        p.run(for: 9000)
        p.send("leave_queue")
        p.run(for: 1000)
        let left = try #require(p.first("call.dequeued"))
        #expect(left["reason"] == "leave")
        #expect(left["queue_position"] == 1)
        #expect(left["wait_time_secs"] == 10)
        p.run(for: 30_000)
        #expect(p.all("call.dequeued").last?["reason"] == "timeout", "max_wait_time_secs")
        // The next call in line hears the average wait of those that left.
        p.send("enqueue", ["queue_name": "support"])
        p.run(for: 1000)
        #expect(p.all("call.enqueued").last?["queue_avg_wait_time_secs"] == 20)
        p.hangUp()
        p.run(for: 1000)
        #expect(p.all("call.dequeued").last?["reason"] == "hangup")
        try Self.expectValid(p)
    }

    @Test(arguments: [false, true])
    func pay(failing: Bool) throws {
        var p = Phone { if failing { $0.failures = [.pay] } }
        p.send("pay", ["payment_method": "credit-card", "transaction_type": "tokenize", "amount": 12.5, "currency": "USD"])
        p.run(for: 30_000)
        let done = try #require(p.first("call.payment.completed"))
        #expect(done["result"] == (failing ? "too-many-failed-attempts" : "success"))
        #expect((done["token_id"] != nil) == !failing)
        try Self.expectValid(p)
    }

    @Test func clientStateUpdateChangesWhatLaterWebhooksCarry() throws {
        var p = Phone { $0.inputs = ["", "7"] }
        #expect(p.send("client_state_update", ["client_state": "bmV3"], state: .some(nil)).status == 200)
        p.send("playback_start", ["audio_url": "https://a.example.com/x.mp3"], state: .some(nil))
        p.run(for: 5000)
        #expect(Self.state(p.first("call.playback.ended")) == "bmV3")
        p.hangUp()
        p.run(for: 500)
        #expect(Self.state(p.first("call.hangup")) == "bmV3")
    }

    @Test func commandsWithoutWebhooksAnswer200() throws {
        var p = Phone()
        let mark = p.mark
        for (action, body) in [
            ("send_dtmf", ["digits": "123#"]), ("send_sip_info", ["body": "x", "content_type": "text/plain"]),
            ("suppression_start", ["direction": "inbound"]), ("suppression_stop", [:]),
        ] as [(String, JSONObject)] {
            #expect(p.send(action, body).status == 200, "\(action)")
        }
        p.run(for: 5000)
        #expect(p.types(from: mark).isEmpty)
    }

    @Test func everythingRunningStopsBeforeTheHangUp() throws {
        var p = Phone { $0.failures = [.aiNever] }
        p.send("streaming_start", ["stream_url": "wss://media.example.com/s"])
        p.send("siprec_start")
        p.send("ai_assistant_start")
        p.send("record_start", ["format": "mp3", "channels": "single"])
        p.send("gather_using_speak", ["payload": "Press a key.", "voice": "female"])
        p.run(for: 1000)
        let mark = p.mark
        p.send("hangup")
        p.run(for: 2000)
        let types = p.types(from: mark)
        #expect(
            Set(types.prefix(5)) == [
                "call.gather.ended", "streaming.stopped", "siprec.stopped", "call.conversation_insights.generated",
                "call.conversation.ended",
            ], "\(types)")
        #expect(types.suffix(2) == ["call.hangup", "call.recording.saved"])
        #expect(p.first("call.conversation.ended")?["reason"] == "hangup")
        #expect(p.send("speak", ["payload": "x", "voice": "female"]).status == 422)
        try Self.expectValid(p)
    }

    @Test func theExistingCallEventsAreSchemaValidToo() throws {
        var p = Phone { $0.inputs = ["9", "1"] }
        p.send("speak", ["payload": "Hello.", "voice": "female"])
        p.send(
            "gather_using_speak",
            [
                "payload": "Press 1.", "voice": "female", "valid_digits": "12", "maximum_digits": 1,
                "invalid_payload": "No.",
            ])
        p.run(for: 20_000)
        p.send("playback_start", ["media_name": "missing_file"])
        p.send("transfer", ["to": "+13125550001"])
        p.run(for: 10_000)
        #expect(p.types().contains("call.bridged"))
        #expect(p.all("call.playback.ended").first?["status"] == "file_not_found")
        p.hangUp()
        p.run(for: 1000)
        try Self.expectValid(p)
    }
}

/// The new caller keys of scenario files, as strictly checked as the rest.
@Suite struct EmulatorScenarioKeysTests {
    static let full = #"""
        {"flow":"main","caller":{
          "digits":["1"],
          "speech":["I want to pay", {"text":"Yes","confidence":0.6}],
          "transcript":"Call me back.",
          "ai":{"summary":"Callback","reason":"completed","after_ms":8000,"fields":{"when":"tomorrow"}},
          "fail":["streaming","refer","recording_transcription"]}}
        """#

    @Test func theKeysParse() throws {
        let s = try Scenario.parse(Array(Self.full.utf8), name: "t")
        #expect(s.caller.speech == [.init("I want to pay"), .init("Yes", confidence: 0.6)])
        #expect(s.caller.transcript == "Call me back.")
        #expect(s.caller.ai.summary == "Callback" && s.caller.ai.afterMs == 8000 && s.caller.ai.fields["when"] == "tomorrow")
        #expect(s.caller.failures == [.streaming, .refer, .recordingTranscription])
        let defaults = try Scenario.parse(Array(#"{"flow":"main"}"#.utf8), name: "t").caller
        #expect(defaults.speech.isEmpty && defaults.failures.isEmpty && defaults.transcript == "Hello, please call me back.")
        #expect(defaults.ai.reason == "completed" && defaults.ai.afterMs == 10_000)
    }

    @Test(arguments: [
        (#"{"flow":"main","caller":{"fail":["streming"]}}"#, "/caller/fail/0", "did you mean \"streaming\"?"),
        (#"{"flow":"main","caller":{"fail":["ai_early","ai_never"]}}"#, "/caller/fail", "exclude each other"),
        (#"{"flow":"main","caller":{"speech":[{"text":"x","confidence":1.5}]}}"#, "/caller/speech/0/confidence", "from 0 to 1"),
        (#"{"flow":"main","caller":{"speech":[{"txt":"x"}]}}"#, "/caller/speech/0/txt", "did you mean \"text\"?"),
        (#"{"flow":"main","caller":{"speech":[3]}}"#, "/caller/speech/0", "expected \"text\""),
        (#"{"flow":"main","caller":{"speech":"hello"}}"#, "/caller/speech", "expected a list of utterances"),
        (#"{"flow":"main","caller":{"ai":{"sumary":"x"}}}"#, "/caller/ai/sumary", "did you mean \"summary\"?"),
        (#"{"flow":"main","caller":{"ai":{"after_ms":-1}}}"#, "/caller/ai/after_ms", "at least 0"),
        (#"{"flow":"main","caller":{"transcript":7}}"#, "/caller/transcript", "expected a string"),
        (#"{"flow":"main","expect":{"ending":"refered"}}"#, "/expect/ending", "did you mean \"referred\"?"),
    ])
    func badKeysAreNamed(_ text: String, _ pointer: String, _ message: String) {
        var problems: [Scenario.ParseError.Problem] = []
        do { _ = try Scenario.parse(Array(text.utf8), name: "t") } catch { problems = error.problems }
        #expect(problems.contains { $0.pointer == pointer && $0.message.contains(message) }, "\(problems)")
    }

    @Test func theSchemaTakesTheKeys() throws {
        let schema = try SchemaValidator.load(Fixtures.repoRoot.appendingPathComponent("schema/scenario.schema.json"), strict: false)
        #expect(schema.errors(try JSONParser.parse(Self.full)).isEmpty)
        #expect(!schema.errors(try JSONParser.parse(#"{"flow":"main","caller":{"fail":["strem"]}}"#)).isEmpty)
        #expect(!schema.errors(try JSONParser.parse(#"{"flow":"main","caller":{"speech":[{"confidence":0.5}]}}"#)).isEmpty)
        let names = schema.root.lookup(path: ["properties", "caller", "properties", "fail", "items", "enum"])?.arrayValue?.compactMap(\.stringValue)
        #expect(names == Scenario.failures, "the schema lists exactly the parser's failure names")
        let endings = schema.root.lookup(path: ["properties", "expect", "properties", "ending", "enum"])?.arrayValue?.compactMap(\.stringValue)
        #expect(endings == Scenario.endings)
    }
}
