import CallflowCore
import CallflowLoop
import CallflowServer
import Foundation
import Redis
import Synchronization
import Testing

/// The contact-center nodes across a restart: `ring_group` mid-ring, `queue` with an announcement
/// armed, and a booked `callback` waiting for a free agent. Each runs on one SQLite database
/// (the server stopped, a new one started on the file) and on one Redis (the instance stopped, a
/// new instance taking over the shared state). A fake Telnyx API names each dialed leg
/// `v3:leg-<last two digits of to>-<command_id>`; webhooks are signed at the servers' clock.
///
/// Timers are stored with their due time by the server's wall clock, so the test moves the clock
/// between two servers (`Deployment.restart(advancingSeconds:)`) instead of waiting: the new
/// server finds the timer due and fires it on restore (SQLite) or claims it as orphaned (Redis).
@Suite(.serialized) struct ContactCenterRestartTests {
    typealias StoreKind = StoreUnderTest.Kind

    static let agents = ["+13125550141", "+13125550142"]

    /// The leg id the fake API answers a dial with.
    static func leg(to: String, commandID: String) -> String { "v3:leg-\(to.suffix(2))-\(commandID)" }

    /// A wall clock the test moves forward while no server runs.
    final class Clock: Sendable {
        private let offsetMs = Mutex<Int64>(0)
        var nowMs: Int64 { Clocks.wallMs() + offsetMs.withLock { $0 } }
        func advance(seconds: Int64) { offsetMs.withLock { $0 += seconds * 1000 } }
    }

    /// A `dial` the fake API received (first of its command_id).
    struct Dial {
        var to: String
        var clientState: String
        var commandID: String
        var tag: StepTag? { StepTag(clientState: clientState) }
        var leg: String { ContactCenterRestartTests.leg(to: to, commandID: commandID) }
    }

    /// One store (a SQLite file, or a Redis with its prefix), the fake Telnyx API and the server
    /// running on them now. Used from the test's thread alone.
    final class Deployment {
        let kind: StoreKind
        let api: FakeHTTPServer
        let store: StoreUnderTest
        let config: CallflowConfig
        let clock = Clock()
        /// Closed: the fake API holds its answers to dials (which name the legs) until it opens.
        let dialGate = RingGroupRedisTests.Gate()
        private(set) var server: TestServer!
        static let adminToken = "restart-admin-token-0123"

        init(_ kind: StoreKind, flows: [String: String], routes: [String: String] = [:]) throws {
            self.kind = kind
            let gate = dialGate
            api = try FakeHTTPServer { r, _ in
                if r.method == "POST", r.path == "/v2/calls", let body = r.json, let to = body["to"]?.stringValue,
                    let id = body["command_id"]?.stringValue
                {
                    let leg = ContactCenterRestartTests.leg(to: to, commandID: id)
                    gate.wait()
                    return .status(
                        200, #"{"data":{"record_type":"call","call_control_id":"\#(leg)","call_leg_id":"l-\#(id)","is_alive":false}}"#)
                }
                return .status(200, #"{"data":{"result":"ok"}}"#)
            }
            var config = try TelnyxSide.config(api: api, flows: flows, defaultFlow: "t")
            config.flows.routes = routes
            config.server.adminToken = Self.adminToken
            store = try StoreUnderTest(kind, name: "cc-restart", config: &config)
            self.config = config
            try start()
        }

        private func start() throws {
            let clock = self.clock
            let server = try TestServer(config: config, clockMs: { clock.nowMs })
            self.server = server
            let ready = try RingGroupRedisTests.until {
                try TestHTTP.request(port: server.port, method: "GET", path: "/readyz").status == 200
            }
            try #require(ready, "the \(kind) server never became ready")
        }

        /// Stops the server (its loop ends: nothing more is sent or committed), moves the clock,
        /// and starts a new server on the same store. Returns the API log's length at the restart.
        @discardableResult
        func restart(advancingSeconds seconds: Int64 = 0) throws -> Int {
            server.stop()
            server = nil
            clock.advance(seconds: seconds)
            let mark = api.requests.count
            try start()
            return mark
        }

        func stop() {
            dialGate.open()
            server?.stop()
            api.stop()
            store.remove()
        }

        // MARK: Telnyx's webhooks

        /// Posts a signed webhook of `type` for leg `call`; its status.
        @discardableResult
        func send(_ type: String, call: String, _ payload: JSONObject = [:], clientState: String?) throws -> Int {
            let bytes = TelnyxSide.event(type, call: call, payload, clientState: clientState)
            let headers = IngressTests.signed(bytes, at: clock.nowMs / 1000)
            return try IngressTests.post(server.port, bytes, headers: headers).status
        }

        /// A caller's webhook, echoing the client_state of the last command sent on its leg.
        @discardableResult
        func caller(_ type: String, _ call: String, _ payload: JSONObject = [:]) throws -> Int {
            if type == "call.initiated" {
                var p = payload
                p["direction"] = "incoming"
                p["state"] = "parked"
                return try send(type, call: call, p, clientState: nil)
            }
            return try send(type, call: call, payload, clientState: commands(for: call).last?.body["client_state"]?.stringValue)
        }

        /// A dialed leg's webhook, as Telnyx sends it: the dial's client_state, `to` = who was dialed.
        @discardableResult
        func dialed(_ type: String, _ dial: Dial, _ payload: JSONObject = [:]) throws -> Int {
            var p = payload
            p["to"] = .string(dial.to)
            p["from"] = "+13125550100"
            p["direction"] = "outgoing"
            return try send(type, call: dial.leg, p, clientState: dial.clientState)
        }

        // MARK: what the fake API received

        /// Commands sent for `call` (every request, resends included), as (action, body).
        func commands(for call: String) -> [(action: String, body: JSONValue)] { TelnyxSide.commands(api, for: call) }

        func actions(of call: String) -> [String] { commands(for: call).map(\.action) }

        /// Commands for `call` first sent after request `mark`: a resend (after the restart) of a
        /// command sent before it (same command_id) is not one.
        func commands(for call: String, after mark: Int) -> [(action: String, body: JSONValue)] {
            let prefix = "/v2/calls/\(call)/actions/"
            var seen = Set<String>()
            var out: [(action: String, body: JSONValue)] = []
            for (i, r) in api.requests.enumerated() where r.path.hasPrefix(prefix) {
                guard let body = r.json, let id = body["command_id"]?.stringValue, seen.insert(id).inserted, i >= mark else { continue }
                out.append((String(r.path.dropFirst(prefix.count)), body))
            }
            return out
        }

        func actions(of call: String, after mark: Int) -> [String] { commands(for: call, after: mark).map(\.action) }

        /// How many requests for `action` on `call` reached the API (resends counted).
        func sent(_ action: String, to call: String) -> Int { actions(of: call).filter { $0 == action }.count }

        /// Every dial, once per command_id, in the order the API received them.
        func dials() -> [Dial] { TelnyxSide.dials(api).map { Dial(to: $0.to, clientState: $0.clientState, commandID: $0.commandID) } }

        /// The agents rung for caller `call`.
        func dials(for call: String) -> [Dial] { dials().filter { $0.tag?.parent == call } }

        /// Dial requests to `to` (resends counted).
        func dialRequests(to: String) -> Int {
            api.requests.filter { $0.method == "POST" && $0.path == "/v2/calls" && $0.json?["to"]?.stringValue == to }.count
        }

        func spoke(_ call: String, _ text: String) -> Bool {
            commands(for: call).contains { $0.action == "speak" && $0.body["payload"]?.stringValue == text }
        }

        // MARK: the server's side

        /// `GET /v1/calls/{id}`: the call's document, or nil (404).
        func document(_ call: String) throws -> JSONValue? {
            let r = try TestHTTP.request(
                port: server.port, method: "GET", path: "/v1/calls/\(call)", headers: [("Authorization", "Bearer \(Self.adminToken)")])
            return r.status == 200 ? try JSONParser.parse(Array(r.body.utf8)) : nil
        }

        /// How many trace entries of `call` contain `text`.
        func traced(_ call: String, _ text: String) throws -> Int {
            let trace = try document(call)?["trace"]?.arrayValue ?? []
            return trace.filter { String(decoding: $0.jsonBytes, as: UTF8.self).contains(text) }.count
        }

        /// Every command chosen so far was sent and answered: nothing queued or in flight, no
        /// command result waiting for its step (and, shared, the Redis outbox is empty).
        func settled() throws -> Bool { try store.settled(ports: [server.port]) }

        func settle(sourceLocation: SourceLocation = #_sourceLocation) throws {
            try #require(try RingGroupRedisTests.until { try settled() }, "commands still pending", sourceLocation: sourceLocation)
        }

        /// The Redis `agents` hash: agent → the call holding it (nil with SQLite).
        func holders() throws -> [String: String]? { try store.hash("agents") }
    }

    static let hangupPayload: JSONObject = ["hangup_cause": "normal_clearing", "hangup_source": "caller"]

    // MARK: ring_group

    static let ringFlow = #"""
        {"start":"a","defaults":{"on_error":"end"},
         "nodes":{"a":{"type":"answer","next":"ring"},
                  "ring":{"type":"ring_group","agents":["+13125550141","+13125550142"],"ring_secs":60,
                          "hold":{"play":"https://example.com/hold.mp3"},"next":"end","on_no_answer":"sorry"},
                  "sorry":{"type":"say","text":"Nobody is free.","next":"end"},
                  "end":{"type":"hangup"}}}
        """#

    /// A caller's two agents ring when the server stops. Agent 1's leg was named by its webhook,
    /// agent 2's only by the dial's response. Agent 1 answers on the new server: it bridges the
    /// caller with agent 1's leg and hangs up agent 2's, once each, with nothing rung again; agent 1
    /// stays held (a caller on the new server rings only agent 2), agent 2 is free.
    @Test(arguments: StoreKind.allCases)
    func aRingGroupRingingAcrossARestartBridgesTheAgentWhoAnswers(store: StoreKind) throws {
        let d = try Deployment(store, flows: ["t": Self.ringFlow])
        defer { d.stop() }
        let (a, c) = ("v3:ring-A", "v3:ring-C")
        let (first, second) = (Self.agents[0], Self.agents[1])

        #expect(try d.caller("call.initiated", a) == 200)
        try #require(try RingGroupRedisTests.until { d.actions(of: a).contains("answer") }, "A is answered")
        #expect(try d.caller("call.answered", a) == 200)
        try #require(
            try RingGroupRedisTests.until { d.dials(for: a).count == 2 && d.actions(of: a).contains("playback_start") },
            "A rings both agents with hold audio: \(d.dials(for: a).map(\.to)), \(d.actions(of: a))")
        // Both dials answered by the API and their responses applied (they name the legs).
        try d.settle()
        let ring = d.dials(for: a)
        let firstDial = try #require(ring.first { $0.to == first })
        let secondDial = try #require(ring.first { $0.to == second })
        // Its 200 comes once committed, with everything applied before it (the dials' responses).
        #expect(try d.dialed("call.initiated", firstDial) == 200)
        if let holders = try d.holders() { #expect(holders == [first: a, second: a]) }

        let mark = try d.restart()

        #expect(try d.dialed("call.answered", firstDial) == 200)
        try #require(
            try RingGroupRedisTests.until { d.actions(of: a).contains("bridge") && d.actions(of: secondDial.leg).contains("hangup") },
            "the new server bridges A and hangs up the other agent: A \(d.actions(of: a)), agent 2 \(d.actions(of: secondDial.leg))")
        try d.settle()
        #expect(d.sent("bridge", to: a) == 1, "one bridge: \(d.actions(of: a))")
        let bridge = try #require(d.commands(for: a).first { $0.action == "bridge" }?.body)
        #expect(bridge["call_control_id"]?.stringValue == firstDial.leg, "bridged with agent 1's leg: \(bridge)")
        #expect(bridge["park_after_unbridge"] == "self" && bridge["prevent_double_bridge"] == true)
        #expect(d.actions(of: a, after: mark) == ["playback_stop", "bridge"], "the hold audio stops, then the bridge")
        #expect(d.actions(of: secondDial.leg) == ["hangup"], "agent 2's leg is hung up once: \(d.actions(of: secondDial.leg))")
        #expect(d.actions(of: firstDial.leg).isEmpty, "agent 1's leg gets no command: \(d.actions(of: firstDial.leg))")
        #expect(d.dials().count == 2, "nobody was rung again: \(d.dials().map(\.to))")
        if let holders = try d.holders() { #expect(holders == [first: a], "agent 1 talks to A, agent 2 is free") }

        // A new caller on the new server finds agent 1 busy and rings agent 2 alone.
        #expect(try d.caller("call.initiated", c) == 200)
        try #require(try RingGroupRedisTests.until { d.actions(of: c).contains("answer") })
        #expect(try d.caller("call.answered", c) == 200)
        try #require(try RingGroupRedisTests.until { d.actions(of: c).contains("playback_start") || d.spoke(c, "Nobody is free.") })
        try d.settle()
        #expect(d.dials(for: c).map(\.to) == [second], "C rings only the free agent: \(d.dials(for: c).map(\.to))")
        #expect(!d.spoke(c, "Nobody is free."))
        #expect(try d.traced(c, "agent \(first) is busy") == 1, "agent 1 is busy for C")
        if let holders = try d.holders() { #expect(holders == [first: a, second: c]) }
        #expect(d.sent("bridge", to: a) == 1 && d.actions(of: secondDial.leg) == ["hangup"], "still once each")
    }

    /// The server stops while Telnyx has not yet answered the first dial (nothing named a leg;
    /// the second dial waits behind it). The new server sends the unanswered dials (the first
    /// again, with its command_id: one ring each), learns the legs from the answers, and bridges
    /// agent 1 when it answers, hanging up agent 2's leg once.
    @Test(arguments: StoreKind.allCases)
    func aRingGroupRestartedBeforeTheDialsWereAnsweredLearnsTheLegsFromTheResentDials(store: StoreKind) throws {
        let d = try Deployment(store, flows: ["t": Self.ringFlow])
        defer { d.stop() }
        let a = "v3:ring-early"
        let (first, second) = (Self.agents[0], Self.agents[1])
        #expect(try d.caller("call.initiated", a) == 200)
        try #require(try RingGroupRedisTests.until { d.actions(of: a).contains("answer") })
        d.dialGate.close()
        #expect(try d.caller("call.answered", a) == 200)
        // Commands go out one at a time per leg: the first dial waits for its answer, the second behind it.
        try #require(try RingGroupRedisTests.until { !d.dials(for: a).isEmpty }, "A rings its agents")
        let dialsBefore = d.api.requests.filter { $0.path == "/v2/calls" }.count
        if let holders = try d.holders() { #expect(holders == [first: a, second: a]) }

        // Redis: the dead instance's claims on its dials run out by the new instance's clock.
        try d.restart(advancingSeconds: 10)
        d.dialGate.open()
        try #require(
            try RingGroupRedisTests.until { d.api.requests.filter { $0.path == "/v2/calls" }.count >= dialsBefore + 2 },
            "the new server sends the unanswered dials again")
        try d.settle()
        let ring = d.dials(for: a)
        #expect(ring.count == 2, "the same two dials (same command_id): \(d.api.requests.filter { $0.path == "/v2/calls" }.count) requests")
        let firstDial = try #require(ring.first { $0.to == first })
        let secondDial = try #require(ring.first { $0.to == second })

        #expect(try d.dialed("call.answered", firstDial) == 200)
        try #require(
            try RingGroupRedisTests.until { d.actions(of: a).contains("bridge") && d.actions(of: secondDial.leg).contains("hangup") },
            "A \(d.actions(of: a)), agent 2 \(d.actions(of: secondDial.leg))")
        try d.settle()
        #expect(d.sent("bridge", to: a) == 1)
        #expect(d.commands(for: a).first { $0.action == "bridge" }?.body["call_control_id"]?.stringValue == firstDial.leg)
        #expect(d.actions(of: secondDial.leg) == ["hangup"], "agent 2's leg, named by the resent dial's answer, is hung up once")
        #expect(d.actions(of: firstDial.leg).isEmpty)
        if let holders = try d.holders() { #expect(holders == [first: a]) }
    }

    // MARK: queue

    static let queueFlow = #"""
        {"start":"a","defaults":{"on_error":"end"},
         "nodes":{"a":{"type":"answer","next":"wait"},
                  "wait":{"type":"queue","queue":"support","hold":{"play":"https://example.com/hold.mp3"},
                          "announce":{"every_secs":600,"prompt":"You are caller number {{vars.queue_position}}."},
                          "leave":{"1":"voicemail"},"on_timeout":"voicemail","on_full":"voicemail"},
                  "voicemail":{"type":"say","text":"Please leave a message.","next":"end"},
                  "end":{"type":"hangup"}}}
        """#

    /// A caller waits in a queue, placed third by `call.enqueued`, with its announcement armed for
    /// 600 s when the server stops. The new server starts 900 s later by its clock: the hold audio
    /// pauses and the announcement tells the stored place; it resumes after; the leave key takes
    /// the caller out of the queue (`leave_queue`) to voicemail.
    @Test(arguments: StoreKind.allCases)
    func aQueueAnnouncementArmedBeforeARestartIsMadeByTheNewServer(store: StoreKind) throws {
        let d = try Deployment(store, flows: ["t": Self.queueFlow])
        defer { d.stop() }
        let a = "v3:queue-A"
        #expect(try d.caller("call.initiated", a) == 200)
        try #require(try RingGroupRedisTests.until { d.actions(of: a).contains("answer") })
        #expect(try d.caller("call.answered", a) == 200)
        try #require(try RingGroupRedisTests.until { d.actions(of: a) == ["answer", "enqueue", "playback_start"] }, "\(d.actions(of: a))")
        #expect(try d.caller("call.enqueued", a, ["queue": "support", "current_position": 3, "queue_avg_wait_time_secs": 90]) == 200)
        try d.settle()
        #expect(d.actions(of: a) == ["answer", "enqueue", "playback_start"], "no announcement before the restart")

        let mark = try d.restart(advancingSeconds: 900)

        try #require(
            try RingGroupRedisTests.until { d.actions(of: a, after: mark).contains("speak") },
            "the new server announces: \(d.actions(of: a, after: mark))")
        try d.settle()
        let announced = d.commands(for: a, after: mark)
        #expect(announced.map(\.action) == ["playback_stop", "speak"], "the hold audio pauses for the announcement")
        #expect(announced.last?.body["payload"] == "You are caller number 3.", "the place from call.enqueued: \(announced.last?.body ?? .null)")

        #expect(try d.caller("call.speak.ended", a, ["status": "completed"]) == 200)
        try #require(try RingGroupRedisTests.until { d.actions(of: a, after: mark).count == 3 })
        let resumed = try #require(d.commands(for: a, after: mark).last)
        #expect(resumed.action == "playback_start" && resumed.body["loop"] == "infinity", "the hold audio resumes: \(resumed)")
        try d.settle()

        let beforeKey = d.commands(for: a, after: mark).count
        #expect(try d.caller("call.dtmf.received", a, ["digit": "1"]) == 200)
        try #require(try RingGroupRedisTests.until { d.spoke(a, "Please leave a message.") }, "the key moves the caller: \(d.actions(of: a))")
        try d.settle()
        #expect(Array(d.actions(of: a, after: mark).dropFirst(beforeKey)) == ["leave_queue", "playback_stop", "speak"])
        #expect(d.sent("leave_queue", to: a) == 1)
        #expect(d.actions(of: a, after: mark).filter { $0 == "speak" }.count == 2, "one announcement, then voicemail's prompt")
        let document = try #require(try d.document(a))
        #expect(document["node"] == "voicemail" && document["vars"]?["queue_outcome"] == "1", "\(document)")
    }

    // MARK: callback

    static let callbackNumber = "+13125550177"
    static let ringerNumber = "+13125550199"

    static let bookFlow = #"""
        {"start":"a","defaults":{"on_error":"end"},
         "nodes":{"a":{"type":"answer","next":"book"},
                  "book":{"type":"callback","flow":"back","vars":{"reason":"billing"},"agents":["+13125550141"],"next":"bye"},
                  "bye":{"type":"say","text":"We will call you back.","next":"end"},
                  "end":{"type":"hangup"}}}
        """#
    static let ringOneFlow = #"""
        {"start":"a","defaults":{"on_error":"end"},
         "nodes":{"a":{"type":"answer","next":"ring"},
                  "ring":{"type":"ring_group","agents":["+13125550141"],"ring_secs":120,
                          "hold":{"play":"https://example.com/hold.mp3"},"next":"end","on_no_answer":"end"},
                  "end":{"type":"hangup"}}}
        """#
    static let backFlow = #"""
        {"start":"hello","vars":{"reason":""},
         "nodes":{"hello":{"type":"say","text":"Calling you back about {{vars.reason}}.","next":"end"},"end":{"type":"hangup"}}}
        """#

    /// Caller A books a callback that waits for agent 1, whom caller B's ring group holds, and
    /// hangs up; the callback looks again every 15 s. Restart 20 s later by the clock: the timer
    /// fires on the new server, which still knows B holds the agent: no dial. B hangs up there.
    /// Restart 20 s later again: the callback is placed, one `dial` to A's number with
    /// `cf-dial-<token>` and that token in its client_state. A last restart while it rings: its
    /// answer, on that server, starts the booked flow.
    @Test(arguments: StoreKind.allCases)
    func aCallbackBookedBeforeARestartIsPlacedOnceByTheNewServer(store: StoreKind) throws {
        let d = try Deployment(store, flows: ["t": Self.bookFlow, "r": Self.ringOneFlow, "back": Self.backFlow], routes: [Self.ringerNumber: "r"])
        defer { d.stop() }
        let (a, b) = ("v3:book-A", "v3:ring-B")
        let agent = Self.agents[0]
        let waits = "callback waits for a free agent"

        // B rings the agent.
        #expect(try d.caller("call.initiated", b, ["to": .string(Self.ringerNumber)]) == 200)
        try #require(try RingGroupRedisTests.until { d.actions(of: b).contains("answer") })
        #expect(try d.caller("call.answered", b) == 200)
        try #require(try RingGroupRedisTests.until { d.dials(for: b).count == 1 && d.actions(of: b).contains("playback_start") })
        let ringB = try #require(d.dials(for: b).first)
        #expect(ringB.to == agent)
        #expect(try d.dialed("call.initiated", ringB) == 200)

        // A books, hears the goodbye and hangs up; the callback finds the agent held and waits.
        #expect(try d.caller("call.initiated", a, ["from": .string(Self.callbackNumber)]) == 200)
        try #require(try RingGroupRedisTests.until { d.actions(of: a).contains("answer") })
        #expect(try d.caller("call.answered", a) == 200)
        try #require(try RingGroupRedisTests.until { d.spoke(a, "We will call you back.") })
        #expect(try d.caller("call.speak.ended", a, ["status": "completed"]) == 200)
        try #require(try RingGroupRedisTests.until { d.actions(of: a).last == "hangup" })
        #expect(try d.caller("call.hangup", a, Self.hangupPayload) == 200)
        try #require(
            try RingGroupRedisTests.until { try d.traced(a, waits) == 1 },
            "the callback waits for the agent: \(String(describing: try? d.document(a)))")
        // A webhook's 200 comes after its commit, which holds everything applied before it.
        #expect(try d.caller("call.playback.started", b) == 200)
        try d.settle()
        let kept = try #require(try d.document(a), "A is kept while the callback waits")
        let waiting = try #require(kept["waiting"]?.stringValue)
        let step = try #require(kept["step"]?.intValue)
        #expect(kept["phase"] == "afterHangup" && waiting.hasPrefix("callbackDue"), "\(kept)")
        #expect(d.dialRequests(to: Self.callbackNumber) == 0)
        if let holders = try d.holders() { #expect(holders == [agent: b]) }

        // The new server fires the due timer at once and finds the agent still held by B: the
        // callback takes a step and waits again, on a new timer.
        try d.restart(advancingSeconds: 20)
        try #require(
            try RingGroupRedisTests.until { try (d.document(a)?["step"]?.intValue ?? 0) > step },
            "the callback's timer fired on the new server: \(String(describing: try? d.document(a)))")
        let again = try #require(try d.document(a))
        #expect(again["phase"] == "afterHangup", "\(again)")
        #expect(again["waiting"]?.stringValue?.hasPrefix("callbackDue") == true && again["waiting"]?.stringValue != waiting, "\(again)")
        // SQLite stores a live call without its trace (the restart starts it again, noting the
        // restart); Redis keeps the trace beside the call: one look before the restart, one after.
        let looks = store == .sqlite ? 1 : 2
        #expect(try d.traced(a, waits) == looks, "it looked on the new server and found the agent held: \(again)")
        if store == .sqlite { #expect(try d.traced(a, "resumed after a restart") == 1) }
        #expect(d.dialRequests(to: Self.callbackNumber) == 0, "the callback was placed while the agent rings for B")
        // B hangs up on the new server: its agent leg is hung up and the agent is free.
        #expect(try d.caller("call.hangup", b, Self.hangupPayload) == 200)
        try #require(try RingGroupRedisTests.until { d.actions(of: ringB.leg).contains("hangup") }, "B's agent leg is hung up")
        try d.settle()
        if let holders = try d.holders() { #expect(holders.isEmpty, "\(holders)") }
        #expect(d.dialRequests(to: Self.callbackNumber) == 0)

        // The next look, on the next server: the agent is free, the callback is placed.
        try d.restart(advancingSeconds: 20)
        try #require(try RingGroupRedisTests.until { d.dialRequests(to: Self.callbackNumber) >= 1 }, "the callback is placed: \(d.dials().map(\.to))")
        try d.settle()
        let callback = try #require(d.dials().first { $0.to == Self.callbackNumber })
        let token = try #require(callback.tag?.dial, "the dial's client_state carries a dial token: \(callback.clientState)")
        #expect(callback.commandID == "cf-dial-\(token)")
        #expect(callback.tag?.step == 0 && callback.tag?.parent == nil)
        let body = try #require(d.api.requests.first { $0.path == "/v2/calls" && $0.json?["to"]?.stringValue == Self.callbackNumber }?.json)
        #expect(body["from"] == "+13125550100" && body["connection_id"] == "conn-1", "\(body)")
        #expect(try d.document(a)?["phase"] == "ended", "A ended with the callback placed")

        // The callee's phone rings (its 200 also stores that the dial was answered); the server
        // restarts before they answer. The callee answers on the new server: the pending dial,
        // stored with the step that placed it, starts the booked flow on the new leg.
        #expect(try d.dialed("call.initiated", callback) == 200)
        try d.restart()
        #expect(try d.dialed("call.answered", callback) == 200)
        try #require(
            try RingGroupRedisTests.until { d.spoke(callback.leg, "Calling you back about billing.") },
            "the booked flow runs on the callback's leg: \(d.actions(of: callback.leg))")
        try d.settle()
        #expect(d.dialRequests(to: Self.callbackNumber) == 1, "one dial for one callback")
        #expect(d.actions(of: callback.leg) == ["speak"])
    }
}
