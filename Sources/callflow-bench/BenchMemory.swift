import ArgumentParser
import CallflowCore
import CallflowServer
import Foundation

/// `bench/memory.sh`: RSS growth per live call held mid-menu in the engine.
struct BenchMemory: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "bench-memory", abstract: "Benchmark: bytes of memory per live call held mid-menu (see bench/memory.sh).")

    @Option(help: "Live calls to hold.")
    var calls = 10_000

    @Option(help: "The flows directory.")
    var flows = "flows"

    @Option(
        help:
            "Where each call is held: menu (main/menu), assistant (ai-receptionist, in an AI conversation), recorded (support/menu, recording and transcription running)."
    )
    var held = "menu"

    static func rssBytes() -> Int {
        guard let text = try? String(contentsOfFile: "/proc/self/statm", encoding: .utf8),
            let pages = text.split(separator: " ").dropFirst().first.flatMap({ Int($0) })
        else { return 0 }
        return pages * Int(sysconf(Int32(_SC_PAGESIZE)))
    }

    func run() throws {
        let (loaded, diagnostics, _) = FlowLoader.load(paths: [flows])
        guard let set = loaded else {
            for d in diagnostics where d.severity == .error { FileHandle.standardError.write(Data("\(d)\n".utf8)) }
            throw ValidationError("the flows in \(flows)/ cannot be loaded (see above)")
        }
        let flow = ["menu": "main", "assistant": "ai-receptionist", "recorded": "support"][held]
        guard let flow else { throw ValidationError("--held is menu, assistant or recorded, not \(held)") }
        var engine = MemoryEngine(flows: set, routes: [:], defaultFlow: flow)
        // Monday 10:00 in Chicago: the main flow is open and reaches its menu.
        let now: Int64 = 1_795_449_600
        func event(_ type: String, _ call: String, _ n: Int, clientState: String?, extra: String = "") -> WebhookEvent {
            let cs = clientState.map { "\"\($0)\"" } ?? "null"
            let body =
                #"{"data":{"record_type":"event","event_type":"\#(type)","id":"\#(type)-\#(n)","payload":{"call_control_id":"\#(call)","connection_id":"1494404757140276705","call_leg_id":"leg-\#(n)","client_state":\#(cs),"from":"+1312555\#(String(format: "%04d", n % 10000))","to":"+13125550100","direction":"incoming","state":"parked"\#(extra)}}}"#
            return try! WebhookEvent.decode(Array(body.utf8))
        }
        // Warm up allocators and lazy tables, then measure.
        for i in 0..<200 { _ = engine.receive(event("call.initiated", "v3:warm-\(i)", 1_000_000 + i, clientState: nil), now: now) }
        let before = Self.rssBytes()
        for i in 0..<calls {
            let id = "v3:bench-call-\(i)-MdI91X4lWFEs7IgbBEOT9M4AigoY08M0WWZFISt1Yw2a"
            let started = engine.receive(event("call.initiated", id, i, clientState: nil), now: now)
            let tag = started.effects.compactMap {
                if case .command(let c) = $0.effect { return c.body["client_state"]?.stringValue } else { return nil }
            }.last
            let answered = engine.receive(event("call.answered", id, i, clientState: tag), now: now)
            if held == "recorded" {
                // The notice ends, then Telnyx accepts record_start: the call is at the menu with the
                // recording and the menu's transcription running.
                let said = answered.effects.compactMap {
                    if case .command(let c) = $0.effect { return c.body["client_state"]?.stringValue } else { return nil }
                }.last
                let recording = engine.receive(event("call.speak.ended", id, i, clientState: said, extra: #","status":"completed""#), now: now)
                if case .command(let c)? = recording.effects.last(where: { if case .command = $0.effect { return true } else { return false } })?
                    .effect
                {
                    _ = engine.apply(.commandSucceeded(commandID: c.commandID ?? "", action: c.action, data: ["result": "ok"]), to: id, now: now)
                }
            }
        }
        let after = Self.rssBytes()
        let node = ["menu": "menu", "assistant": "assistant", "recorded": "menu"][held] ?? ""
        let atNode = engine.calls.values.filter { $0.node == node }.count
        let sections = engine.calls.values.reduce(0) { $0 + $1.sections.count }
        print("live_calls: \(engine.calls.count) (\(atNode) at \(flow)/\(node), \(sections) background activities running)")
        print("rss_before_bytes: \(before)")
        print("rss_after_bytes: \(after)")
        print("bytes_per_call: \((after - before) / max(1, calls))")
    }
}
