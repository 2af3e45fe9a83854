import ArgumentParser
import CallflowCore
import CallflowLoop
import CallflowServer
import EventHTTP
import Foundation
import TelnyxEmulator
import TelnyxEmulatorServer
import WebhookSignature

typealias DeliverySplit = LoopbackTelnyx.DeliverySplit

/// `bench/calls.sh`: the Telnyx emulator as a separate process, placing calls through the real
/// server at a fixed rate so that about `--rate` webhooks a second reach it.
struct BenchCalls: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "bench-calls", abstract: "Benchmark: drive scripted calls through a running server at a fixed webhook rate (see bench/calls.sh)."
    )

    @Option(help: "Port of the server under test.") var serverPort: Int
    @Option(help: "Ports of more instances (comma-separated): each call's webhooks go to all of them in turn (bench/scale.sh).")
    var alsoPorts = ""
    @Option(help: "Target webhooks per second.") var rate = 1000
    @Option(help: "Seconds to keep placing calls.") var duration = 20
    @Option(help: "Webhooks one scripted call sends the server (main flow, 2 then an account number, transfer; measured: 16).") var webhooksPerCall =
        16
    @Option(help: "File to write the public key and the emulated API port to, once ready.") var readyFile: String
    @Option(help: "Faults to inject, as for dev --faults (default none); redelivery then follows its attempts.") var faults = ""

    func run() throws {
        let loop = try EventLoop()
        let signer = try WebhookSigner.random()
        var options = LoopbackTelnyx.Options()
        options.script.inputs = ["2", "1234#"]
        options.timeScale = 0.2
        do { options.live = try LiveFaults.parse(faults) } catch { throw ValidationError("--faults: \(error)") }
        let deliveries = try HTTPClient(loop: loop)
        deliveries.recordsTiming = true  // the round trip's parts, printed at the end
        let emulator = try LoopbackTelnyx(
            loop: loop, client: deliveries, signer: signer,
            webhookURL: "http://127.0.0.1:\(serverPort)/webhooks/telnyx", options: options,
            clockMs: Clocks.wallMs)
        emulator.deliveryAttempts = faults.isEmpty ? 5 : options.live.attempts
        var others: [Int] = []
        for part in alsoPorts.split(separator: ",") {
            let text = part.trimmingCharacters(in: .whitespaces)
            guard let port = Int(text), (1...65535).contains(port) else {
                throw ValidationError("--also-ports: '\(text)' is not a port (1-65535); give them comma-separated, like 18981,18982")
            }
            others.append(port)
        }
        if !others.isEmpty { emulator.webhookTargets = ([serverPort] + others).map { "http://127.0.0.1:\($0)/webhooks/telnyx" } }
        try writeReplacing(readyFile, "\(signer.publicKeyBase64)\n\(emulator.apiPort)\n")
        let probe = try HTTPClient(loop: loop)
        var legs: [String] = []
        var started: Int64 = 0
        var placingEnded: Int64 = 0
        // Webhooks answered, by the second of the run they were answered in: the steady rate is read
        // from these, not from the total over an elapsed time that includes the ramp-up and -down.
        var answeredPerSecond: [Int] = []
        emulator.onRecord = { record in
            guard case .webhook = record, started > 0 else { return }
            let second = Int((Clocks.wallMs() - started) / 1000)
            while answeredPerSecond.count <= second { answeredPerSecond.append(0) }
            answeredPerSecond[second] += 1
        }
        // How long this process's own loop takes to come back to an event made ready now (a 0 ms
        // timer, every 5 ms): a webhook's 200 read by the driver waits as long, so the round trip it
        // measures includes this share of the load generator's, not the server's.
        var lagMicros: [Int] = []
        func probeLag() {
            _ = try? loop.schedule(afterMilliseconds: 5) {
                let readyNs = DispatchTime.now().uptimeNanoseconds
                _ = try? loop.schedule(afterMilliseconds: 0) {
                    lagMicros.append(Int((DispatchTime.now().uptimeNanoseconds - readyNs) / 1000))
                    if placingEnded == 0 { probeLag() }
                }
            }
        }
        let callsPerSecond = max(1, Double(rate) / Double(webhooksPerCall))
        let total = Int(callsPerSecond * Double(duration))
        func place(_ i: Int) {
            legs.append(emulator.placeInboundCall(from: "+1312555\(String(format: "%04d", i % 10000))", to: "+13125550100"))
            guard i + 1 < total else {
                placingEnded = Clocks.wallMs()
                return waitForEnd()
            }
            let due = started + Int64(Double(i + 1) * 1000 / callsPerSecond)
            _ = try? loop.schedule(afterMilliseconds: max(0, Int(due - Clocks.wallMs()))) { place(i + 1) }
        }
        var deadline: Int64 = 0
        func waitForEnd() {
            if deadline == 0 { deadline = Clocks.wallMs() + 60_000 }
            let ended = legs.filter { emulator.legs[$0]?.ended == true }.count
            if ended == legs.count || Clocks.wallMs() > deadline {
                let seconds = Double(Clocks.wallMs() - started) / 1000
                let webhooks = emulator.records.filter { if case .webhook = $0 { return true } else { return false } }.count
                let failed = emulator.records.filter { if case .webhook(_, _, let s) = $0 { return s != 200 } else { return false } }.count
                print("calls_placed: \(legs.count)")
                print("calls_completed: \(ended)")
                print(String(format: "elapsed_seconds: %.1f", seconds))
                print(String(format: "calls_per_second: %.1f", Double(ended) / seconds))
                print(String(format: "webhooks_per_second_while_placing: %.0f", Double(webhooks) / seconds))
                print("webhooks_not_200: \(failed)")
                // The second half of the placing window: every call then in progress was placed at the
                // full rate, and the last ones are still placed.
                let placing = Int((placingEnded - started) / 1000)
                let steady = answeredPerSecond.count > placing && placing >= 2 ? Array(answeredPerSecond[(placing / 2)..<placing]).sorted() : []
                if !steady.isEmpty { print("webhooks_per_second_steady: \(steady[steady.count / 2]) (median second of the second half of placing)") }
                var usage = rusage()
                if getrusage(__rusage_who_t(RUSAGE_SELF.rawValue), &usage) == 0 {
                    let cpu = Double(usage.ru_utime.tv_sec + usage.ru_stime.tv_sec) + Double(usage.ru_utime.tv_usec + usage.ru_stime.tv_usec) / 1e6
                    print(String(format: "driver_cpu_seconds: %.1f (%.0f%% of one core over the run)", cpu, 100 * cpu / seconds))
                }
                let lag = lagMicros.sorted().map { Double($0) / 1000 }
                if !lag.isEmpty {
                    print(
                        String(
                            format: "driver_loop_lag_ms (an event made ready waits for its loop): p50 %.2f p99 %.2f max %.2f", quantile(lag, 0.5),
                            quantile(lag, 0.99), quantile(lag, 1)))
                }
                if options.live.any {
                    let t = emulator.tally
                    print("faults: \(options.live.description)")
                    print("commands_retried: \(t.retried) conflicting_duplicates: \(t.conflictingDuplicates) commands_after_hangup: \(t.afterHangup)")
                }
                let splits = emulator.deliverySplits
                for (name, part) in [
                    ("before libcurl took it", \DeliverySplit.beforeCurlUs), ("waiting for a connection", \.connectionUs),
                    ("request written -> first byte of the 200", \.toFirstByteUs),
                ] {
                    let values = splits.map { $0[keyPath: part] }.sorted().map { Double($0) / 1000 }
                    guard !values.isEmpty else { continue }
                    print("round_trip_part_ms (\(name)): " + String(format: "p50 %.2f p99 %.2f", quantile(values, 0.5), quantile(values, 0.99)))
                }
                let ms = emulator.deliveryMicros.sorted().map { Double($0) / 1000 }
                if !ms.isEmpty {
                    print(
                        String(
                            format: "webhook_answered_ms (sent by the emulator -> 200 back, %d): p50 %.2f p99 %.2f p99.9 %.2f max %.2f",
                            ms.count, quantile(ms, 0.5), quantile(ms, 0.99), quantile(ms, 0.999), quantile(ms, 1)))
                }
                loop.handle.stop()
            } else {
                _ = try? loop.schedule(afterMilliseconds: 200, waitForEnd)
            }
        }
        whenServerAnswers(probe, port: serverPort, loop: loop) {
            started = Clocks.wallMs()
            probeLag()
            place(0)
        }
        try loop.run()
    }
}

/// Runs `start` once the server on `port` answers `/healthz` with 200, asking every 100 ms: the
/// drivers start their calls only when the server under test is up.
func whenServerAnswers(_ probe: HTTPClient, port: Int, loop: EventLoop, _ start: @escaping () -> Void) {
    probe.send(ClientRequest(method: "GET", url: "http://127.0.0.1:\(port)/healthz", timeoutMs: 500)) { result in
        if case .success(let r) = result, r.status == 200 { return start() }
        _ = try? loop.schedule(afterMilliseconds: 100) { whenServerAnswers(probe, port: port, loop: loop, start) }
    }
}
