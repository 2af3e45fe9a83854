import ArgumentParser
import CallflowCore
import CallflowLoop
import CallflowRuntime
import CallflowServer
import EventHTTP
import Foundation
import Logging
import TelnyxREST

/// `bench/commands.sh` drives this: N commands over M call legs through the real Telnyx client
/// to a loopback sink, reporting commands/s and how many TCP connections that took.
struct BenchCommands: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "bench-commands",
        abstract: "Benchmark: send commands through the Telnyx client to a loopback sink (see bench/commands.sh)."
    )

    @Option(help: "Commands to send.")
    var commands = 20_000

    @Option(help: "Call legs they are spread over (each leg's commands go one at a time, in order).")
    var calls = 64

    @Option(help: "Only run the sink on this port, for wrk to measure as the reference.")
    var sinkOnly: Int?

    func run() throws {
        let loop = try EventLoop()
        let ok = HTTPResponse.json(200, Array(#"{"data":{"result":"ok"}}"#.utf8))
        let sink = try HTTPServer(loop: loop, options: HTTPServerOptions(host: "127.0.0.1", port: sinkOnly ?? 0, maxConnections: 10_000)) { _ in ok }
        if sinkOnly != nil {
            print("sink on 127.0.0.1:\(sink.boundPort)")
            try loop.onSignal(SIGTERM) { loop.handle.stop() }
            try loop.onSignal(SIGINT) { loop.handle.stop() }
            try loop.run()
            return
        }
        guard commands > 0, calls > 0 else { throw ValidationError("--commands and --calls must be positive") }
        let client = try HTTPClient(loop: loop)
        let quiet = Logger(label: "bench") { _ in SwiftLogNoOpLogHandler() }
        let telnyx = TelnyxClient(
            http: client, loop: loop, baseURL: "http://127.0.0.1:\(sink.boundPort)/v2", apiKey: "bench",
            policy: RetryPolicy(maxAttempts: 1), logger: quiet, clockMs: Clocks.wallMs)
        var sent = 0
        var failed = 0
        telnyx.onSent = { _, _ in
            sent += 1
            if sent + failed == commands { loop.handle.stop() }
        }
        telnyx.onFailure = { _, _ in
            failed += 1
            if sent + failed == commands { loop.handle.stop() }
        }
        let start = Clocks.wallMs()
        for i in 0..<commands {
            let leg = "v3:bench-\(i % calls)"
            telnyx.enqueue(
                CallCommand(
                    callControlID: leg, action: "speak",
                    body: [
                        "payload": "Thanks for calling.", "voice": "female", "client_state": "eyJjZiI6MX0=",
                        "command_id": .string("cf-bench-\(i)-1"),
                    ]))
        }
        try loop.run()
        let seconds = Double(Clocks.wallMs() - start) / 1000
        print("commands: \(sent) sent, \(failed) failed, \(calls) legs")
        print(String(format: "elapsed: %.3f s", seconds))
        print(String(format: "commands_per_second: %.0f", Double(sent) / max(seconds, 0.001)))
        print("tcp_connections_opened: \(client.connectionsOpened)")
        if failed > 0 { throw ExitCode(1) }
    }
}
