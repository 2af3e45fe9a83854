import CallflowCore
import CallflowServer
import Foundation
import Redis
import Synchronization
import Testing

/// `ring_group` across two instances sharing one Redis: an agent's claim (the `agents` hash,
/// taken and released by the commit script) keeps one agent to one caller, whichever instance
/// each webhook reaches. A real `redis-server`, two in-process servers, and a fake Telnyx API
/// that names each dialed leg `v3:agent-<last two digits>-<command_id>`.
@Suite(.serialized) struct RingGroupRedisTests {
    static let agents = ["+13125550141", "+13125550142"]

    static func flow(strategy: String) -> String {
        #"""
        {"start":"a","defaults":{"on_error":"end"},
         "nodes":{"a":{"type":"answer","next":"ring"},
                  "ring":{"type":"ring_group","agents":["+13125550141","+13125550142"],"strategy":"\#(strategy)",
                          "hold":{"play":"https://example.com/hold.mp3"},"next":"end","on_no_answer":"sorry"},
                  "sorry":{"type":"say","text":"Nobody is free.","next":"end"},
                  "end":{"type":"hangup"}}}
        """#
    }

    /// The leg id the fake API answers a dial with.
    static func leg(to: String, commandID: String) -> String { "v3:agent-\(to.suffix(2))-\(commandID)" }

    /// A `dial` the fake API received (deduplicated by command_id: a resent dial is one ring).
    struct Dial {
        var to: String
        /// The caller it rings for (`StepTag.parent` of its client_state).
        var parent: String
        var clientState: String
        var commandID: String
        var leg: String { RingGroupRedisTests.leg(to: to, commandID: commandID) }
    }

    /// Holds the fake API's connection threads while closed (bounded: 20 s).
    final class Gate: Sendable {
        private let isOpen = Mutex(true)
        func close() { isOpen.withLock { $0 = false } }
        func open() { isOpen.withLock { $0 = true } }
        func wait() {
            let deadline = Date().addingTimeInterval(20)
            while !isOpen.withLock({ $0 }), Date() < deadline { usleep(5_000) }
        }
    }

    /// One Redis, the fake Telnyx API and two instances on them. Webhooks may be sent from
    /// several threads at once (`send`, `caller`, `agent` touch only the servers and the API's
    /// log, both thread-safe); `redis` and `store` are used from the test's thread alone.
    final class Deployment: @unchecked Sendable {
        let redis: RedisProcess
        let api: FakeHTTPServer
        let instances: [TestServer]
        let prefix: String
        let store: RedisStartupConnection

        /// Closed: the fake API holds its answers to dials (which name the legs) until it opens.
        let dialGate = Gate()

        init(strategy: String = "simultaneous") throws {
            redis = try RedisProcess()
            let gate = dialGate
            api = try FakeHTTPServer { r, _ in
                if r.method == "POST", r.path == "/v2/calls", let body = r.json, let to = body["to"]?.stringValue,
                    let id = body["command_id"]?.stringValue
                {
                    let leg = RingGroupRedisTests.leg(to: to, commandID: id)
                    let reply = FakeHTTPServer.Reply.status(
                        200, #"{"data":{"record_type":"call","call_control_id":"\#(leg)","call_leg_id":"l-\#(id)","is_alive":false}}"#)
                    gate.wait()
                    return reply
                }
                return .status(200, #"{"data":{"result":"ok"}}"#)
            }
            var config = try TelnyxSide.config(api: api, flows: ["t": RingGroupRedisTests.flow(strategy: strategy)], defaultFlow: "t")
            config.store.kind = .redis
            config.store.redisURL = redis.url
            config.store.redisPrefix = "ring\(UUID().uuidString.prefix(8)):"
            prefix = config.store.redisPrefix
            instances = [try TestServer(config: config), try TestServer(config: config)]
            store = try RedisStartupConnection(url: RedisURL(redis.url))
            for server in instances {
                let ready = try RingGroupRedisTests.until(seconds: 10) {
                    try TestHTTP.request(port: server.port, method: "GET", path: "/readyz").status == 200
                }
                #expect(ready, "instance on port \(server.port) never became ready")
            }
        }

        func stop() {
            for server in instances { server.stop() }
            api.stop()
            redis.stop()
        }

        /// Posts a signed webhook of `type` for leg `call` to instance `instance` (0 or 1); its status.
        @discardableResult
        func send(_ type: String, call: String, to instance: Int, _ payload: JSONObject = [:], clientState: String?) throws -> Int {
            let bytes = TelnyxSide.event(type, call: call, payload, clientState: clientState)
            return try IngressTests.post(instances[instance].port, bytes, headers: IngressTests.signed(bytes)).status
        }

        /// A caller's webhook, echoing the client_state of the last command sent on its leg.
        @discardableResult
        func caller(_ type: String, _ call: String, to instance: Int, _ payload: JSONObject = [:]) throws -> Int {
            if type == "call.initiated" {
                return try send(type, call: call, to: instance, ["direction": "incoming", "state": "parked"], clientState: nil)
            }
            return try send(type, call: call, to: instance, payload, clientState: commands(for: call).last?.body["client_state"]?.stringValue)
        }

        /// An agent leg's webhook, as Telnyx sends it: the dial's client_state, the leg's id, `to` = the agent.
        @discardableResult
        func agent(_ type: String, _ dial: Dial, to instance: Int, _ payload: JSONObject = [:]) throws -> Int {
            var p = payload
            p["to"] = .string(dial.to)
            p["from"] = "+13125550100"
            p["direction"] = "outgoing"
            return try send(type, call: dial.leg, to: instance, p, clientState: dial.clientState)
        }

        func commands(for call: String) -> [(action: String, body: JSONValue)] { TelnyxSide.commands(api, for: call) }

        func actions(of call: String) -> [String] { commands(for: call).map(\.action) }

        /// Every ring sent so far, in the order the fake API received them.
        func dials() -> [Dial] {
            TelnyxSide.dials(api).map {
                Dial(to: $0.to, parent: StepTag(clientState: $0.clientState)?.parent ?? "", clientState: $0.clientState, commandID: $0.commandID)
            }
        }

        func dials(for call: String) -> [Dial] { dials().filter { $0.parent == call } }

        /// The caller went to `on_no_answer`: it was told nobody is free.
        func toldNobodyIsFree(_ call: String) -> Bool {
            commands(for: call).contains { $0.action == "speak" && $0.body["payload"]?.stringValue == "Nobody is free." }
        }

        /// The `agents` hash: agent address → the call holding it.
        func holders() throws -> [String: String] { try store.hash("\(prefix)agents") }

        /// Every command committed so far was sent and answered (the shared outbox is empty).
        func outboxDrained() throws -> Bool { try store.command(["HLEN", "\(prefix)outbox"]) == .integer(0) }
    }

    /// Polls `condition` until it holds or `seconds` pass; whether it held.
    static func until(seconds: Double = 10, _ condition: () throws -> Bool) throws -> Bool {
        let deadline = Date().addingTimeInterval(seconds)
        while Date() < deadline {
            if try condition() { return true }
            usleep(10_000)
        }
        return try condition()
    }

    /// Runs `body(i)` for `count` indices, each on its own thread, released together once all
    /// are up (not a pool as wide as the cores); the statuses, in index order (-1: it threw).
    static func atOnce(_ count: Int, _ body: @escaping @Sendable (Int) throws -> Int) -> [Int] {
        let statuses = Statuses(count)
        let ready = DispatchGroup()
        let done = DispatchGroup()
        let go = DispatchSemaphore(value: 0)
        for i in 0..<count {
            ready.enter()
            done.enter()
            Thread {
                ready.leave()
                go.wait()
                statuses.set(i, (try? body(i)) ?? -1)
                done.leave()
            }
            .start()
        }
        ready.wait()
        for _ in 0..<count { go.signal() }
        done.wait()
        return statuses.all
    }

    final class Statuses: Sendable {
        private let values: Mutex<[Int]>
        init(_ count: Int) { values = Mutex([Int](repeating: 0, count: count)) }
        func set(_ i: Int, _ status: Int) { values.withLock { $0[i] = status } }
        var all: [Int] { values.withLock { $0 } }
    }

    /// Callers ringing at once through both instances: no agent is rung for two of them, the
    /// callers that find every agent taken go to `on_no_answer`, and the `agents` hash names
    /// exactly who rings whom. Three rounds, each ended by the callers hanging up on the other
    /// instance, which frees every agent for the next.
    @Test(arguments: ["simultaneous", "sequential"])
    func concurrentCallersOnTwoInstancesNeverRingOneAgentTwice(strategy: String) throws {
        let d = try Deployment(strategy: strategy)
        defer { d.stop() }
        let callersPerRound = 6
        // Simultaneous: the first caller committed takes both agents. Sequential: two callers take one each.
        let ringing = strategy == "simultaneous" ? 1 : 2
        for round in 0..<3 {
            let callers = (0..<callersPerRound).map { "v3:r\(round)-caller-\($0)" }
            let initiated = Self.atOnce(callersPerRound) { i in try d.caller("call.initiated", callers[i], to: i % 2) }
            #expect(initiated.allSatisfy { $0 == 200 }, "call.initiated: \(initiated)")
            #expect(try Self.until { callers.allSatisfy { d.actions(of: $0).contains("answer") } }, "every caller is answered")
            // call.answered, on the other instance than call.initiated, all at once: every caller
            // reaches the ring group at the same moment.
            let answered = Self.atOnce(callersPerRound) { i in try d.caller("call.answered", callers[i], to: (i + 1) % 2) }
            #expect(answered.allSatisfy { $0 == 200 }, "call.answered: \(answered)")
            let settled = try Self.until {
                try d.outboxDrained()
                    && callers.allSatisfy { d.actions(of: $0).contains("playback_start") || d.toldNobodyIsFree($0) }
            }
            #expect(settled, "round \(round): every caller rings or is told nobody is free")

            let dials = d.dials().filter { callers.contains($0.parent) }
            for agent in Self.agents {
                let rungFor = dials.filter { $0.to == agent }.map(\.parent)
                #expect(rungFor.count == 1, "round \(round): agent \(agent) was rung for \(rungFor)")
            }
            let ringers = Set(dials.map(\.parent))
            #expect(ringers.count == ringing, "round \(round): \(ringers.sorted()) ring; dials: \(dials.map { "\($0.parent)→\($0.to)" })")
            for caller in callers {
                if ringers.contains(caller) {
                    #expect(!d.toldNobodyIsFree(caller), "\(caller) rings an agent and was told nobody is free")
                    #expect(d.actions(of: caller).contains("playback_start"), "\(caller) rings without hold audio")
                } else {
                    #expect(d.toldNobodyIsFree(caller), "\(caller) rings nobody and did not go to on_no_answer: \(d.actions(of: caller))")
                    #expect(!d.actions(of: caller).contains("playback_start"))
                }
            }
            let expected = Dictionary(dials.map { ($0.to, $0.parent) }) { first, _ in first }
            #expect(try d.holders() == expected, "round \(round): the agents hash names who rings whom")

            // Every caller hangs up, each on the other instance than the one that rang (or did not ring) for it.
            let hungUp = Self.atOnce(callersPerRound) { i in
                try d.caller("call.hangup", callers[i], to: i % 2, ["hangup_cause": "normal_clearing", "hangup_source": "caller"])
            }
            #expect(hungUp.allSatisfy { $0 == 200 }, "call.hangup: \(hungUp)")
            try #require(try Self.until { try d.holders().isEmpty }, "round \(round): agents still held: \((try? d.holders()) ?? [:])")
        }
    }

    /// Caller A's agent answers (on instance 0, which bridges) and is bridged: caller B, on
    /// instance 1, rings only the other agent. The agent's leg hangs up on instance 1: the agent
    /// is free again and caller C rings it.
    @Test func aBridgedAgentIsBusyUntilItsLegHangsUpOnTheOtherInstance() throws {
        let d = try Deployment()
        defer { d.stop() }
        let (a, b, c) = ("v3:caller-A", "v3:caller-B", "v3:caller-C")
        let (first, second) = (Self.agents[0], Self.agents[1])

        #expect(try d.caller("call.initiated", a, to: 0) == 200)
        #expect(try Self.until { d.actions(of: a).contains("answer") })
        #expect(try d.caller("call.answered", a, to: 1) == 200)
        #expect(try Self.until { d.dials(for: a).count == 2 }, "A rings both agents: \(d.dials(for: a).map(\.to))")
        #expect(try d.holders() == [first: a, second: a])
        let ringA = d.dials(for: a)
        let firstLeg = try #require(ringA.first { $0.to == first })
        let secondLeg = try #require(ringA.first { $0.to == second })

        // The first agent answers; instance 0 bridges it and hangs up the other agent.
        #expect(try d.agent("call.initiated", firstLeg, to: 1) == 200)
        #expect(try d.agent("call.answered", firstLeg, to: 0) == 200)
        #expect(try Self.until { d.actions(of: a).contains("bridge") }, "A is bridged: \(d.actions(of: a))")
        let bridge = try #require(d.commands(for: a).first { $0.action == "bridge" }?.body)
        #expect(bridge["call_control_id"]?.stringValue == firstLeg.leg)
        #expect(bridge["prevent_double_bridge"] == true)
        #expect(try Self.until { d.actions(of: secondLeg.leg).contains("hangup") }, "the agent that did not answer is hung up")
        #expect(try d.holders() == [first: a], "the agent hung up is released at once")
        #expect(try d.caller("call.bridged", a, to: 1) == 200)
        #expect(try d.agent("call.bridged", firstLeg, to: 0) == 200)
        #expect(try d.agent("call.hangup", secondLeg, to: 1, ["hangup_cause": "originator_cancel"]) == 200)
        #expect(try d.holders() == [first: a], "the bridged agent is still held")

        // Caller B, on the other instance, finds the first agent talking to A.
        #expect(try d.caller("call.initiated", b, to: 1) == 200)
        #expect(try Self.until { d.actions(of: b).contains("answer") })
        #expect(try d.caller("call.answered", b, to: 0) == 200)
        #expect(try Self.until { try d.outboxDrained() && d.actions(of: b).contains("playback_start") })
        #expect(d.dials(for: b).map(\.to) == [second], "B rings only the free agent")
        #expect(!d.dials().contains { $0.to == first && $0.parent != a }, "the bridged agent was rung for another caller")
        #expect(try d.holders() == [first: a, second: b])

        // The agent talking to A hangs up; the webhook reaches instance 1, not the one that bridged.
        #expect(try d.agent("call.hangup", firstLeg, to: 1, ["hangup_cause": "normal_clearing", "hangup_source": "callee"]) == 200)
        #expect(try Self.until { try d.holders() == [second: b] }, "the agent is free again: \((try? d.holders()) ?? [:])")
        #expect(try Self.until { d.actions(of: a).last == "hangup" }, "A goes on to `next` (hangup): \(d.actions(of: a))")

        // A new caller rings the agent freed, and not the one B still rings.
        #expect(try d.caller("call.initiated", c, to: 0) == 200)
        #expect(try Self.until { d.actions(of: c).contains("answer") })
        #expect(try d.caller("call.answered", c, to: 1) == 200)
        #expect(try Self.until { try d.outboxDrained() && d.actions(of: c).contains("playback_start") })
        #expect(d.dials(for: c).map(\.to) == [first])
        #expect(try d.holders() == [first: c, second: b])
        #expect(d.api.requests.filter { $0.path.hasSuffix("/actions/bridge") }.count == 1, "one bridge in all")
    }

    /// A caller that hangs up while its agents ring, the hang-up reaching the other instance
    /// than the one that rang: both agent legs are hung up, both claims released, and the next
    /// caller rings both agents.
    @Test func aCallerHangingUpWhileRingingReleasesItsAgentsOnTheOtherInstance() throws {
        let d = try Deployment()
        defer { d.stop() }
        let (a, next) = ("v3:caller-gone", "v3:caller-next")
        #expect(try d.caller("call.initiated", a, to: 0) == 200)
        #expect(try Self.until { d.actions(of: a).contains("answer") })
        #expect(try d.caller("call.answered", a, to: 1) == 200)
        #expect(try Self.until { d.dials(for: a).count == 2 })
        let ring = d.dials(for: a)
        #expect(Set(ring.map(\.to)) == Set(Self.agents))
        #expect(try d.holders() == Dictionary(uniqueKeysWithValues: Self.agents.map { ($0, a) }))
        // Telnyx reports the legs ringing (to either instance), so the call knows both leg ids.
        for (i, leg) in ring.enumerated() { #expect(try d.agent("call.initiated", leg, to: i % 2) == 200) }

        #expect(try d.caller("call.hangup", a, to: 0, ["hangup_cause": "normal_clearing", "hangup_source": "caller"]) == 200)
        #expect(try Self.until { try d.holders().isEmpty }, "claims left after the caller hung up: \((try? d.holders()) ?? [:])")
        #expect(
            try Self.until { ring.allSatisfy { d.actions(of: $0.leg) == ["hangup"] } },
            "every ringing agent leg is hung up: \(ring.map { d.actions(of: $0.leg) })")
        // Telnyx then reports those legs ended, to both instances: nothing is held again.
        for (i, leg) in ring.enumerated() {
            #expect(try d.agent("call.hangup", leg, to: (i + 1) % 2, ["hangup_cause": "normal_clearing"]) == 200)
        }
        #expect(try d.holders().isEmpty)

        #expect(try d.caller("call.initiated", next, to: 1) == 200)
        #expect(try Self.until { d.actions(of: next).contains("answer") })
        #expect(try d.caller("call.answered", next, to: 0) == 200)
        #expect(try Self.until { try d.outboxDrained() && d.actions(of: next).contains("playback_start") })
        #expect(Set(d.dials(for: next).map(\.to)) == Set(Self.agents), "both agents are free for the next caller")
        #expect(try d.holders() == Dictionary(uniqueKeysWithValues: Self.agents.map { ($0, next) }))
    }

    /// KNOWN ISSUE (production, `CallflowCore`): a caller that hangs up before Telnyx's answer
    /// to the dials (the only thing that names an agent leg before its first webhook) leaves
    /// those agents ringing. The call ends with the legs unknown, so no hangup can be sent; the
    /// dial's answer then comes for a call no longer live (`unknownCall`), and so does the
    /// agent's `call.answered`: nothing hangs the leg up, the agent answers into silence, and
    /// the claim (already released) lets another caller ring that agent meanwhile.
    /// docs/flows.md promises "agents still ringing are hung up".
    @Test func agentsRungForACallerGoneBeforeTheDialAnswerAreHungUp() throws {
        let d = try Deployment()
        defer { d.stop() }
        let a = "v3:caller-early"
        #expect(try d.caller("call.initiated", a, to: 0) == 200)
        #expect(try Self.until { d.actions(of: a).contains("answer") })
        d.dialGate.close()
        #expect(try d.caller("call.answered", a, to: 1) == 200)
        #expect(try Self.until { !d.dials(for: a).isEmpty }, "A rings its agents")
        // The caller hangs up (on the other instance) while Telnyx has not yet answered the dials.
        #expect(try d.caller("call.hangup", a, to: 0, ["hangup_cause": "normal_clearing", "hangup_source": "caller"]) == 200)
        #expect(try d.holders().isEmpty, "the claims go with the call")
        d.dialGate.open()
        #expect(try Self.until { try d.outboxDrained() && d.dials(for: a).count == 2 })
        let ring = d.dials(for: a)
        // The agents' phones ring on; they answer, each webhook on another instance.
        for (i, leg) in ring.enumerated() { #expect(try d.agent("call.answered", leg, to: i % 2) == 200) }
        #expect(try Self.until { try d.outboxDrained() })
        // Every command the engine chose is sent by now (each webhook answered after its commit).
        for leg in ring {
            #expect(d.actions(of: leg.leg).contains("hangup"), "agent \(leg.to)'s leg \(leg.leg) was left up")
        }
    }
}
