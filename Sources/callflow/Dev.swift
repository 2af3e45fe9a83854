import ArgumentParser
import CallflowCore
import CallflowServer
import EventHTTP
import Foundation
import Logging
import TelnyxEmulator
import TelnyxEmulatorServer
import WebhookSignature

#if canImport(Glibc)
import Glibc
#endif

struct Dev: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Run the real server with a Telnyx emulator on loopback, and a phone in this terminal.",
        discussion: """
            No Telnyx account needed. Prompts appear as text; type keys 0-9 * # to press them, h to hang up, \
            q to quit. With --digits the caller is scripted instead (one entry per menu or gather).
            """
    )

    @Argument(help: "The flow to call (default: flows.default, else main).")
    var flow: String?

    @Option(help: "The flows directory.")
    var flows = "flows"

    @Option(help: "Port of the webhook server (0 picks a free one).")
    var port = 8080

    @Option(help: "The caller's number.")
    var from = "+13125550101"

    @Option(help: "The number called.")
    var to = "+13125550100"

    @Option(help: "Script the caller instead of the keyboard: keys per menu or gather, comma-separated (1,,23#).")
    var digits: String?

    @Option(help: "Emulated time runs this many times faster (1 = real time).")
    var speed = 1.0

    @Option(help: "Log level of the server (its logs go to stderr).")
    var logLevel = "warning"

    func run() throws {
        guard speed > 0 else { throw ValidationError("--speed must be positive") }
        LoggingSystem.bootstrap { label in
            CallflowLogHandler(label: label, level: Logger.Level(rawValue: logLevel) ?? .warning, format: .text)
        }
        let logger = Logger(label: "callflow")
        let loop = try EventLoop()
        let signer = try WebhookSigner.random()
        var options = LoopbackTelnyx.Options()
        options.timeScale = 1 / speed
        options.interactive = digits == nil
        if let digits { options.script.inputs = digits.split(separator: ",", omittingEmptySubsequences: false).map(String.init) }
        let emulator = try LoopbackTelnyx(loop: loop, client: try HTTPClient(loop: loop), signer: signer, webhookURL: "",
                                          options: options, clockMs: ServerApp.wallClockMs)
        var config = CallflowConfig()
        config.server.host = "127.0.0.1"
        config.server.port = port
        config.telnyx.publicKey = signer.publicKeyBase64
        config.telnyx.apiKey = "dev-emulator"
        config.telnyx.apiBaseURL = emulator.apiBaseURL
        config.flows.dir = flows
        config.flows.defaultFlow = flow ?? "main"
        config.store.kind = "memory"  // a dev session is throwaway: no database left behind
        let app: ServerApp
        do { app = try ServerApp(config: config, insecureSkipVerify: false, logger: logger, loop: loop) } catch {
            FileHandle.standardError.write(Data("callflow dev: \(error)\n".utf8))
            throw ExitCode(1)
        }
        emulator.webhookURL = "http://127.0.0.1:\(app.port)/webhooks/telnyx"
        let phone = Phone(emulator: emulator, interactive: options.interactive)
        emulator.onRecord = { phone.show($0) }
        print("callflow dev: server on http://127.0.0.1:\(app.port) (webhooks signed), emulated Telnyx API on \(emulator.apiBaseURL)")
        print("calling \(to) from \(from), flow \(config.flows.defaultFlow!)" + (options.interactive ? " — keys 0-9 * # to press, h hang up, q quit" : ""))
        let leg = emulator.placeInboundCall(from: from, to: to)
        if options.interactive {
            do {
                try loop.onReadable(0) { phone.readKeys(loop: loop) }
            } catch {
                // epoll refuses regular files and /dev/null (a service, `docker run` without -i).
                FileHandle.standardError.write(Data("callflow dev: standard input cannot be watched for keys (\(error)); run it in a terminal, pipe keys in, or script the caller with --digits\n".utf8))
                throw ExitCode(1)
            }
            phone.enterRawMode()
        }
        func watch() {
            if emulator.legs[leg]?.ended == true && app.runtime.liveCalls == 0 && app.runtime.pendingCommands == 0 {
                print("☎ call ended")
                _ = try? loop.schedule(afterMilliseconds: 100) { loop.handle.stop() }
            } else {
                _ = try? loop.schedule(afterMilliseconds: 50, watch)
            }
        }
        try loop.schedule(afterMilliseconds: 50, watch)
        defer { phone.restoreTerminal() }
        try app.run(handleSignals: true)
    }
}

/// The terminal side of `callflow dev`.
final class Phone {
    let emulator: LoopbackTelnyx
    let interactive: Bool
    private var saved: termios? = nil

    init(emulator: LoopbackTelnyx, interactive: Bool) {
        self.emulator = emulator
        self.interactive = interactive
    }

    func show(_ record: LoopbackTelnyx.Record) {
        switch record {
        case .prompt(let text): print("🔊 \(text)")
        case .command(let action, _, let body, let status):
            var line = "   → \(action)"
            if let to = body["to"]?.stringValue { line += " \(to)" }
            if let url = body["audio_url"]?.stringValue { line += " \(url)" }
            if status != 200 { line += " (API answered \(status))" }
            if action.hasPrefix("gather") && interactive { line += "  [press keys]" }
            print(line)
        case .webhook(let type, let leg, let status):
            if status != 200 { print("   ! server answered \(status) to \(type)") }
            if type == "call.bridged", leg == emulator.currentLeg { print("   ☎ connected") }
        case .note(let text): print("   \(text)")
        }
        fflush(nil)  // all streams: referencing the C global stdout is not concurrency-safe
    }

    func enterRawMode() {
        guard isatty(0) == 1 else { return }
        var t = termios()
        tcgetattr(0, &t)
        saved = t
        t.c_lflag &= ~tcflag_t(ICANON | ECHO)
        tcsetattr(0, TCSANOW, &t)
    }

    func restoreTerminal() {
        if var t = saved { tcsetattr(0, TCSANOW, &t) }
    }

    func readKeys(loop: EventLoop) {
        var buffer = [UInt8](repeating: 0, count: 64)
        let n = read(0, &buffer, buffer.count)
        if n <= 0 {
            loop.stopReading(0)  // end of input: the call goes on without more keys
            return
        }
        for byte in buffer[0..<n] {
            let c = Character(Unicode.Scalar(byte))
            switch c {
            case "0"..."9", "*", "#":
                print("   ☎ you press \(c)")
                emulator.key(c)
            case "h", "H":
                print("   ☎ you hang up")
                emulator.hangup()
            case "q", "Q":
                emulator.hangup()
                _ = try? loop.schedule(afterMilliseconds: 300) { loop.handle.stop() }
            default:
                continue
            }
        }
        fflush(nil)  // all streams: referencing the C global stdout is not concurrency-safe
    }
}
