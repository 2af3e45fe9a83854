import ArgumentParser
import CallflowCore
import CallflowLoop
import CallflowServer
import EventHTTP
import Foundation
import TelnyxEmulator
import TelnyxEmulatorServer
import WebhookSignature

/// `bench/soak.sh` and the soak test: the Telnyx emulator as its own process, placing calls at a
/// fixed rate through one or more running servers, with `--faults`, while the script kills and
/// restarts servers. It sees every command, so it checks the invariants: every call completes,
/// no `command_id` comes twice with different bodies, no new command follows a hang-up the server
/// acknowledged. Exits 1 when one fails.
struct BenchSoak: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "bench-soak",
        abstract: "Soak: drive calls with injected faults through running servers and check invariants (see bench/soak.sh).")

    @Option(help: "Ports of the servers under test, comma-separated: each call's webhooks go to them in turn (a load balancer).")
    var targets: String
    @Option(help: "Calls placed per second.") var rate = 10.0
    @Option(help: "Seconds to keep placing calls.") var duration = 30
    @Option(help: "Faults to inject (see LiveFaults; e.g. commands_5xx=0.1,duplicate=0.1,seed=7).") var faults = ""
    @Option(help: "Caller input, comma-separated, one entry per menu or gather.") var digits = "1"
    @Option(help: "The actions every call must have executed (2xx), in order, comma-separated; \"ended\": the call only has to end.")
    var expect = "answer,gather_using_speak,speak,hangup"
    @Option(help: "Emulated delays are multiplied by this (0.1 = ten times faster than life).") var timeScale = 0.1
    @Option(help: "Seconds to wait, after the last call is placed, for calls to end.") var drainSeconds = 120
    @Option(help: "Milliseconds to keep watching for stray commands once every call has ended.") var settleMs = 3000
    @Option(help: "Seed of the webhook signing key (the same seed gives the same public key).") var keySeed = 9
    @Option(help: "File to write the public key and the emulated API port to, once ready.") var readyFile: String

    func run() throws {
        let ports = targets.split(separator: ",").compactMap { Int($0.trimmingCharacters(in: .whitespaces)) }
        guard !ports.isEmpty else { throw ValidationError("--targets: give at least one port") }
        let live: LiveFaults
        do { live = try LiveFaults.parse(faults) } catch { throw ValidationError("--faults: \(error)") }
        let loop = try EventLoop()
        let signer = try WebhookSigner(seed: Array(repeating: UInt8(truncatingIfNeeded: keySeed), count: 32))
        var options = LoopbackTelnyx.Options()
        options.script.inputs = digits.split(separator: ",", omittingEmptySubsequences: false).map(String.init)
        options.timeScale = timeScale
        options.live = live
        let urls = ports.map { "http://127.0.0.1:\($0)/webhooks/telnyx" }
        let emulator = try LoopbackTelnyx(
            loop: loop, client: try HTTPClient(loop: loop), signer: signer, webhookURL: urls[0],
            options: options, clockMs: Clocks.wallMs)
        if urls.count > 1 { emulator.webhookTargets = urls }
        emulator.deliveryAttempts = live.attempts
        emulator.onRecord = { record in
            if case .note(let text) = record, text.hasPrefix("INVARIANT") { print(text) }
        }
        try writeReplacing(readyFile, "\(signer.publicKeyBase64)\n\(emulator.apiPort)\n")
        let probe = try HTTPClient(loop: loop)
        var legs: [String] = []
        var started: Int64 = 0
        let total = max(1, Int(rate * Double(duration)))
        let expected = expect == "ended" ? nil : expect.split(separator: ",").map(String.init)
        var status: Int32 = 0
        func place(_ i: Int) {
            legs.append(emulator.placeInboundCall(from: "+1312555\(String(format: "%04d", i % 10000))", to: "+13125550100"))
            guard i + 1 < total else { return waitForEnd() }
            let due = started + Int64(Double(i + 1) * 1000 / rate)
            _ = try? loop.schedule(afterMilliseconds: max(0, Int(due - Clocks.wallMs()))) { place(i + 1) }
        }
        var deadline: Int64 = 0
        var settled: Int64 = 0
        func waitForEnd() {
            if deadline == 0 { deadline = Clocks.wallMs() + Int64(drainSeconds) * 1000 }
            let ended = legs.filter { emulator.legs[$0]?.ended == true }.count
            let now = Clocks.wallMs()
            if ended == legs.count && settled == 0 { settled = now + Int64(settleMs) }
            if (settled != 0 && now >= settled) || now > deadline {
                status = report(emulator: emulator, legs: legs, ended: ended, expected: expected, seconds: Double(now - started) / 1000, live: live)
                loop.handle.stop()
            } else {
                _ = try? loop.schedule(afterMilliseconds: 200, waitForEnd)
            }
        }
        whenServerAnswers(probe, port: ports[0], loop: loop) {
            started = Clocks.wallMs()
            place(0)
        }
        try loop.run()
        fflush(nil)
        if status != 0 { throw ExitCode(status) }
    }

    /// Prints `key: value` lines (the script and the test read them); 1 when an invariant failed.
    func report(emulator: LoopbackTelnyx, legs: [String], ended: Int, expected: [String]?, seconds: Double, live: LiveFaults) -> Int32 {
        // Per leg, the actions whose command_id was answered 2xx, in the order of their first 2xx.
        var executed: [String: [String]] = [:]
        var done: Set<String> = []
        for case .command(let action, let leg, let body, let status) in emulator.records where status == 200 {
            let key = leg + "/" + (body["command_id"]?.stringValue ?? UUID().uuidString)
            if done.insert(key).inserted { executed[leg, default: []].append(action) }
        }
        let completed = legs.filter { leg in
            guard emulator.legs[leg]?.ended == true else { return false }
            return expected.map { executed[leg] == $0 } ?? true
        }
        let t = emulator.tally
        let lines: [(String, String)] = [
            ("faults", live.any ? live.description : "none"),
            ("calls_placed", "\(legs.count)"),
            ("calls_ended", "\(ended)"),
            ("calls_completed", "\(completed.count)"),
            ("elapsed_seconds", String(format: "%.1f", seconds)),
            ("commands", "\(t.commands)"),
            ("commands_retried", "\(t.retried)"),
            ("conflicting_duplicates", "\(t.conflictingDuplicates)"),
            ("commands_after_hangup", "\(t.afterHangup)"),
            ("resent_after_hangup", "\(t.resentAfterHangup)"),
            ("commands_without_command_id", "\(t.withoutCommandID)"),
            ("injected_5xx", "\(t.injected5xx)"),
            ("injected_429", "\(t.injected429)"),
            ("slow_answers", "\(t.slowAnswers)"),
            ("webhook_deliveries", "\(t.deliveries)"),
            ("webhook_redeliveries", "\(t.redeliveries)"),
            ("webhooks_duplicated", "\(t.duplicated)"),
            ("webhooks_reordered", "\(t.reordered)"),
            ("webhooks_late", "\(t.late)"),
            ("webhook_acks_lost", "\(t.lostAcks)"),
            ("webhooks_undelivered", "\(t.undelivered)"),
        ]
        for (k, v) in lines { print("\(k): \(v)") }
        let incomplete = legs.filter { !completed.contains($0) }
        for leg in incomplete.prefix(5) {
            let attempts = emulator.records.compactMap { r -> String? in
                guard case .command(let action, let l, _, let status) = r, l == leg else { return nil }
                return "\(action):\(status)"
            }
            print(
                "incomplete: \(leg) ended=\(emulator.legs[leg]?.ended == true) executed=\(executed[leg] ?? []) attempts=\(attempts.joined(separator: " "))"
            )
        }
        for e in t.examples { print("example: \(e)") }
        let ok = incomplete.isEmpty && t.conflictingDuplicates == 0 && t.afterHangup == 0
        print("invariants: \(ok ? "ok" : "FAILED")")
        return ok ? 0 : 1
    }
}
