import ArgumentParser
import CallflowCore
import CallflowServer
import Foundation

/// `bench/queue.sh`: a queue of waiting callers with announcements and agents rung for them, in
/// the engine on a virtual clock. Reports memory and CPU per waiting caller and the engine's time
/// from an agent's answer to the bridge command, each beside a reference run in the same process:
/// the same callers held in the cheapest wait loop the language had before queues (`pause` →
/// `say` → `pause`), with the same period as the announcements.
struct BenchQueue: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "bench-queue", abstract: "Benchmark: a queue of waiting callers with announcements (see bench/queue.sh).")

    @Option(help: "Waiting callers.")
    var callers = 1000

    @Option(help: "Agents rung for the queue (each waiting caller rings the free ones).")
    var agents = 20

    @Option(help: "Virtual minutes the callers wait.")
    var minutes = 10

    @Option(help: "Seconds between announcements (and between the reference's prompts).")
    var every = 30

    static func cpuSeconds() -> Double {
        var t = timespec()
        clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &t)
        return Double(t.tv_sec) + Double(t.tv_nsec) / 1e9
    }

    /// An engine, a virtual clock and the timers the engine armed: enough of Telnyx and the shell
    /// to hold calls waiting for minutes.
    struct Driver {
        var engine: MemoryEngine
        var now: Int64 = 1_795_449_600  // Monday 10:00 in Chicago
        var timers: [String: (call: String, at: Int64)] = [:]
        var lastState: [String: String] = [:]
        var counter = 0
        var bridges: [Double] = []

        mutating func event(_ type: String, _ leg: String, _ payload: String = "", clientState: String?) -> WebhookEvent {
            counter += 1
            let cs = clientState.map { "\"\($0)\"" } ?? "null"
            let body =
                #"{"data":{"record_type":"event","event_type":"\#(type)","id":"e-\#(counter)","payload":{"call_control_id":"\#(leg)","connection_id":"1494404757140276705","client_state":\#(cs),"from":"+13125559999"\#(payload.contains(#""to":"#) ? "" : #","to":"+13125550100""#)\#(payload)}}}"#
            return try! WebhookEvent.decode(Array(body.utf8))
        }

        @discardableResult
        mutating func take(_ work: InputWork) -> InputWork {
            for e in work.effects {
                switch e.effect {
                case .startTimer(let id, let ms): timers[id] = (e.call, now + Int64(ms / 1000))
                case .cancelTimer(let id): timers[id] = nil
                case .command(let c):
                    if let cs = c.body["client_state"]?.stringValue {
                        lastState[c.action == "dial" ? "dial:" + (c.body["to"]?.stringValue ?? "") : c.callControlID] = cs
                    }
                default: break
                }
            }
            return work
        }

        @discardableResult
        mutating func send(_ type: String, _ leg: String, _ payload: String = "", clientState: String? = nil) -> InputWork {
            let e = event(type, leg, payload, clientState: clientState ?? lastState[leg])
            return take(engine.receive(e, now: now))
        }

        /// Fires every timer due by `until`, in time order, answering prompts as Telnyx would.
        mutating func run(until: Int64, callers: [String]) {
            while let (id, t) = timers.min(by: { $0.value.at < $1.value.at }), t.at <= until {
                timers[id] = nil
                now = max(now, t.at)
                let work = take(engine.apply(.timerFired(id: id), to: t.call, now: now))
                // A spoken prompt ends (an announcement, the reference's say): the next one follows.
                for c in work.commands where c.action == "speak" && c.callControlID == t.call {
                    send("call.speak.ended", t.call, #","status":"completed""#)
                }
            }
            now = until
        }
    }

    static let queueFlow = #"""
        {"start":"a","nodes":{"a":{"type":"answer","next":"q"},
         "q":{"type":"queue","queue":"support","hold":{"play":"https://example.com/hold.mp3"},
              "announce":{"every_secs":EVERY,"prompt":"You are caller number {{vars.queue_position}}. The wait is about {{vars.queue_avg_wait_mins}} minutes."},
              "leave":{"1":"e"},"ring":{"agents":AGENTS,"ring_secs":20},"on_timeout":"e","on_full":"e","on_error":"e"},
         "e":{"type":"hangup"}}}
        """#
    static let referenceFlow = #"""
        {"start":"a","nodes":{"a":{"type":"answer","next":"p"},
         "p":{"type":"pause","seconds":EVERY,"next":"s"},
         "s":{"type":"say","text":"You are caller number {{vars.n}}. Please stay on the line.","next":"p","on_error":"e"},
         "e":{"type":"hangup"}}}
        """#

    /// One run: `callers` held `minutes` in `flow`; returns RSS bytes per caller, stored bytes per
    /// caller and CPU microseconds per caller-minute.
    func measure(_ flowText: String, queue: Bool) throws -> (rss: Int, stored: Int, cpuUs: Double, driver: Driver) {
        let agentList = "[" + (0..<agents).map { "\"+1312555\(String(format: "%04d", 1000 + $0))\"" }.joined(separator: ",") + "]"
        let text = flowText.replacing("EVERY", with: String(every)).replacing("AGENTS", with: agentList)
        let (set, diagnostics) = FlowSet.load(files: [("q", "q.json", Array(text.utf8))], timeZones: SystemTimeZones())
        guard let set else { throw ValidationError("bench flow: \(diagnostics)") }
        var d = Driver(engine: MemoryEngine(flows: set, defaultFlow: "q"))
        let before = BenchMemory.rssBytes()
        let cpu0 = Self.cpuSeconds()
        var ids: [String] = []
        for i in 0..<callers {
            let id = "v3:queue-caller-\(i)-MdI91X4lWFEs7IgbBEOT9M4AigoY08M0WWZFISt1Yw2a"
            ids.append(id)
            d.send("call.initiated", id, #","direction":"incoming","state":"parked""#, clientState: nil)
            d.send("call.answered", id)
            if queue {
                d.send("call.enqueued", id, #","queue":"support","current_position":\#(i + 1),"queue_avg_wait_time_secs":240"#)
            }
        }
        d.run(until: d.now + Int64(minutes * 60), callers: ids)
        let cpu = Self.cpuSeconds() - cpu0
        let after = BenchMemory.rssBytes()
        let stored = d.engine.calls.values.reduce(0) { $0 + StateCodec.encode($1, withTrace: false).jsonBytes.count }
        return ((after - before) / max(1, callers), stored / max(1, d.engine.calls.count), cpu * 1e6 / Double(callers * minutes), d)
    }

    /// The engine's time from an agent's `call.answered` to the `bridge` it sends, over `samples`
    /// answers by agents rung for waiting callers.
    func answerToBridge(_ driver: inout Driver, samples: Int) -> [Double] {
        var out: [Double] = []
        var round = 0
        while out.count < samples, round < samples * 4 {
            round += 1
            // The callers ringing now: every agent leg they dialed (known by its dial's client_state).
            let ringing = driver.engine.calls.values.filter { $0.ring?.legs.contains { $0.status == .ringing } == true }
            guard let caller = ringing.first, let ring = caller.ring, let leg = ring.legs.first(where: { $0.status == .ringing }) else {
                // Nobody rings: let the retry timers run (agents were freed below).
                driver.run(until: driver.now + 16, callers: [])
                continue
            }
            let agent = ring.agents[leg.agent]
            let legID = "v3:agent-\(round)"
            let tag = StepTag(step: caller.step, parent: caller.callControlID, agent: ring.round * RingProgress.agentLimit + leg.agent).encoded
            let e = driver.event("call.answered", legID, #","to":"\#(agent)""#, clientState: tag)
            let t0 = DispatchTime.now().uptimeNanoseconds
            let work = driver.engine.receive(e, now: driver.now)
            let t1 = DispatchTime.now().uptimeNanoseconds
            driver.take(work)
            if work.commands.contains(where: { $0.action == "bridge" }) { out.append(Double(t1 - t0) / 1000) }
            // The head is served; the agent finishes and is free again, the caller leaves the queue.
            _ = driver.send("call.dequeued", caller.callControlID, #","queue":"support","reason":"bridged""#)
            _ = driver.send("call.hangup", legID, #","to":"\#(agent)","hangup_cause":"normal_clearing""#, clientState: tag)
            _ = driver.send("call.hangup", caller.callControlID, #","hangup_cause":"normal_clearing""#)
        }
        return out
    }

    func run() throws {
        // Warm-up pass (allocators, lazy tables), then the measured runs, reference first.
        _ = try measure(Self.referenceFlow, queue: false)
        let reference = try measure(Self.referenceFlow, queue: false)
        var queued = try measure(Self.queueFlow, queue: true)
        let waiting = queued.driver.engine.calls.values.filter { $0.node == "q" }.count
        let ringing = queued.driver.engine.calls.values.filter { $0.ring?.legs.contains { $0.status == .ringing } == true }.count
        print("callers: \(callers) waiting \(minutes) virtual minutes, announcements every \(every) s, \(agents) agents")
        let traces = queued.driver.engine.calls.values.reduce(0) { $0 + $1.trace.count } / max(1, queued.driver.engine.calls.count)
        let referenceTraces = reference.driver.engine.calls.values.reduce(0) { $0 + $1.trace.count } / max(1, reference.driver.engine.calls.count)
        print("queue: \(waiting) still waiting, \(ringing) of them ringing agents, \(queued.driver.engine.live.agentHolders.count) agents held")
        print("trace_entries_per_caller: queue \(traces)  reference \(referenceTraces) (kept in memory, not stored while live)")
        print(
            String(
                format: "rss_bytes_per_caller: queue %d  reference %d  ratio %.2f", queued.rss, reference.rss,
                Double(queued.rss) / Double(max(1, reference.rss))))
        print(
            String(
                format: "stored_bytes_per_caller: queue %d  reference %d  ratio %.2f", queued.stored, reference.stored,
                Double(queued.stored) / Double(max(1, reference.stored))))
        print(
            String(
                format: "cpu_us_per_caller_minute: queue %.1f  reference %.1f  ratio %.2f", queued.cpuUs, reference.cpuUs,
                queued.cpuUs / max(0.001, reference.cpuUs)))
        var samples = answerToBridge(&queued.driver, samples: 500).sorted()
        if samples.isEmpty { samples = [0] }
        print(
            String(
                format: "answer_to_bridge_us (engine, %d answers): p50 %.1f  p99 %.1f  max %.1f", samples.count, quantile(samples, 0.5),
                quantile(samples, 0.99), samples.last ?? 0))
    }
}
