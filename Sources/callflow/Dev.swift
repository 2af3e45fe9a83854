import ArgumentParser
import CallflowCore
import CallflowLoop
import CallflowRuntime
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
            No Telnyx account needed. Press c (or Enter) to call; prompts appear as text; type keys 0-9 * # to press \
            them, h to hang up, q to quit; after a call, c calls again. Keys piped into standard input wait for the \
            menus: one line (or comma-separated entry) per menu or gather, c starts a call (printf 'c2\\n1234#\\n' | \
            callflow dev). With --digits the caller is scripted instead and dev exits after the call. The server's \
            logs go to --log-file; warnings and errors also get one line here.
            """
    )

    @Argument(help: "The flow to call: a name in the flows directory, or a path to a flow file (default: main, or the only flow).")
    var flow: String?

    @Option(help: "The flows directory (default: flows).")
    var flows: String?

    @Option(help: "Port of the webhook server (0 picks a free one).")
    var port = 8080

    @Option(help: "The caller's number.")
    var from = "+13125550101"

    @Option(help: "The number called.")
    var to = "+13125550100"

    @Option(help: "Script the caller instead of the keyboard: keys per menu or gather, comma-separated (1,,23#); dev exits after the call.")
    var digits: String?

    @Option(help: "JSON file of mocked responses for the http nodes, as for simulate (default: mocks.json when it exists; none makes real requests).")
    var httpMock: String?

    @Option(help: "Start the clock at this time (ISO-8601 with offset, like 2026-11-23T10:00:00-06:00) to steer hours nodes; default: now.")
    var now: String?

    @Option(help: "Emulated time runs this many times faster (1 = real time).")
    var speed = 1.0

    @Option(help: "Where the server's logs go (default: callflow-dev.log in the temporary directory).")
    var logFile: String?

    @Option(help: "Log level of the server's log file: trace, debug, info, notice, warning, error or critical.")
    var logLevel = "info"

    @Option(
        help:
            "Faults the emulated Telnyx injects, by share and seeded: commands_5xx=0.1,commands_429=0.05,duplicate=0.1,reorder=0.1,late=0.05,late_ms=2000,slow_api=0.2,slow_api_ms=300,lost_ack=0.05,seed=7 (see docs/testing.md)."
    )
    var faults: String?

    func run() throws {
        try runWithUsage(Self.self) {
            guard speed > 0 else { throw ValidationError("--speed must be positive") }
            guard let level = Logger.Level(rawValue: logLevel) else {
                throw ValidationError("--log-level is trace, debug, info, notice, warning, error or critical, got \"\(logLevel)\"")
            }
            let script = try digits.map(parseDigits)
            let live: LiveFaults
            do { live = try LiveFaults.parse(faults ?? "") } catch { throw ValidationError("--faults: \(error)") }
            let start = try now.map(parseStart)
            let mockFile = httpMock == "none" ? nil : httpMock ?? (FileManager.default.fileExists(atPath: "mocks.json") ? "mocks.json" : nil)
            let mocks = try mockFile.map(loadMocks)
            let selection = try selectFlow(flow ?? Self.defaultFlow(in: flows ?? defaultFlowsDirectory), flows: flows)
            // The server loads its whole flows directory strictly; when a file the call never reaches
            // is broken, it gets a copy of only the files the call needs.
            var served = selection.flow.directory
            var copy: URL? = nil
            if !selection.skipped.isEmpty {
                let dir = FileManager.default.temporaryDirectory.appendingPathComponent("callflow-dev-flows-\(getpid())")
                try? FileManager.default.removeItem(at: dir)
                try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
                for file in selection.files {
                    try FileManager.default.copyItem(atPath: file, toPath: dir.appendingPathComponent((file as NSString).lastPathComponent).path)
                }
                copy = dir
                served = dir.path
            }
            defer { if let copy { try? FileManager.default.removeItem(at: copy) } }

            let logPath = logFile ?? FileManager.default.temporaryDirectory.appendingPathComponent("callflow-dev.log").path
            let log = try DevLog(path: logPath)
            LoggingSystem.bootstrap { label in DevLogHandler(label: label, level: level, log: log) }
            let logger = Logger(label: "callflow")

            // --now: both clocks (the emulator's timestamps and the server's) run from that time.
            let offset = start.map { $0 * 1000 - Clocks.wallMs() } ?? 0
            let clock: @Sendable () -> Int64 = { Clocks.wallMs() + offset }
            let loop = try EventLoop()
            let signer = try WebhookSigner.random()
            var options = LoopbackTelnyx.Options()
            options.timeScale = 1 / speed
            let mode: Phone.Mode = script != nil ? .scripted : isatty(0) == 1 ? .keyboard : .typeAhead
            options.interactive = mode != .scripted
            options.script.inputs = script ?? []
            options.live = live
            let emulator = try LoopbackTelnyx(
                loop: loop, client: try HTTPClient(loop: loop), signer: signer, webhookURL: "",
                options: options, clockMs: clock)
            var config = CallflowConfig()
            config.server.host = "127.0.0.1"
            config.server.port = port
            config.telnyx.publicKey = signer.publicKeyBase64
            config.telnyx.apiKey = "dev-emulator"
            config.telnyx.apiBaseURL = emulator.apiBaseURL
            config.flows.dir = served
            config.flows.defaultFlow = selection.flow.name
            config.store.kind = .memory  // a dev session is throwaway: no database left behind
            let app: ServerApp
            do {
                app = try ServerApp(
                    config: config, insecureSkipVerify: false, logger: logger, clockMs: clock, loop: loop,
                    backend: mocks.map { MockBackend(mocks: $0, loop: loop, timeScale: options.timeScale) })
            } catch {
                throw Failure("dev: \(error)" + (port == 0 ? "" : " (--port 0 picks a free port)"))
            }
            emulator.webhookURL = "http://127.0.0.1:\(app.port)/webhooks/telnyx"
            if faults != nil { emulator.deliveryAttempts = live.attempts }

            print(
                "callflow dev: flow \(selection.flow.name) (\(selection.flow.file)), server on http://127.0.0.1:\(app.port) (webhooks signed), emulated Telnyx API on \(emulator.apiBaseURL)"
            )
            if copy != nil {
                print(
                    "serving only \(selection.files.joined(separator: ", ")): \(selection.skipped.joined(separator: ", ")) \(selection.skipped.count == 1 ? "has" : "have") errors"
                )
            }
            if let mocks, let mockFile {
                let keys = mocks.keys
                print(
                    "http nodes: answered from \(mockFile)" + (httpMock == nil ? " (--http-mock none makes real requests)" : "")
                        + (keys.count <= 12 ? ":" + keys.map { "\n  \($0)" }.joined() : " (\(keys.count) mocks)"))
            } else {
                print(
                    "http nodes: real requests"
                        + (httpMock == "none" ? " (--http-mock none)" : " (no mocks.json here; --http-mock FILE answers them from a file)"))
            }
            if let now { print("clock: starts at \(now) (--now)") }
            if live.any { print("faults: \(live.description) (--faults; retried commands show as repeated lines)") }
            print("server logs: \(logPath) (warnings and errors are summarised here)")
            log.release()

            let phone = Phone(emulator: emulator, app: app, loop: loop, mode: mode, from: from, to: to, timeScale: options.timeScale)
            emulator.onRecord = { phone.show($0) }
            emulator.onNeedInput = { _ in phone.gatherWaiting() }
            try phone.start()
            defer { phone.restoreTerminal() }
            do { try app.run(handleSignals: true) } catch { throw Failure("dev: \(error)") }
        }
    }

    /// `main` when the directory has one, else its only flow.
    static func defaultFlow(in directory: String) -> String {
        let files = (try? FlowLoader.flowFiles(in: directory, defaulted: false)) ?? [:]
        return files["main"] == nil && files.count == 1 ? files.keys.first! : "main"
    }
}

/// Answers the server's `http` node requests from a mock table (dev's `--http-mock`), after the
/// mock's delay, on the loop; the same matching as `simulate` (`HTTPMocks.answer`).
final class MockBackend: BackendRequests {
    let mocks: HTTPMocks
    let loop: EventLoop
    let timeScale: Double

    init(mocks: HTTPMocks, loop: EventLoop, timeScale: Double) {
        self.mocks = mocks
        self.loop = loop
        self.timeScale = timeScale
    }

    func perform(_ call: HTTPCall, completion: @escaping (HTTPOutcome) -> Void) {
        let (delay, outcome) = mocks.answer(method: call.method, url: call.url)
        do { try loop.schedule(afterMilliseconds: Int(Double(delay) * timeScale)) { completion(outcome) } } catch { completion(outcome) }
    }
}

/// dev's server log: a file, so log lines never interleave with the phone; warnings and worse
/// also get one summary line on the phone.
final class DevLog: @unchecked Sendable {
    let path: String
    private let fd: Int32
    private let lock = NSLock()

    init(path: String) throws {
        self.path = path
        fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_APPEND, 0o644)
        guard fd >= 0 else { throw ValidationError("--log-file: cannot write \(path): \(String(cString: strerror(errno)))") }
    }

    deinit { close(fd) }

    /// Summaries wait until the banner has been printed (the server logs while it starts).
    private var held: [String]? = []

    func write(_ line: String, level: Logger.Level, summary: String) {
        lock.lock()
        defer { lock.unlock() }
        var bytes = Array(line.utf8)
        bytes.append(0x0A)
        _ = bytes.withUnsafeBytes { Glibc.write(fd, $0.baseAddress, $0.count) }
        guard level >= .warning else { return }
        let text = "   ! " + (summary.contains("\(level): ") ? "" : "\(level): ") + "\(summary) (details in \(path))"
        if held != nil { held!.append(text) } else { Self.show(text) }
    }

    /// Prints the summaries held back so far, and from now on each as it comes.
    func release() {
        lock.lock()
        defer { lock.unlock() }
        for text in held ?? [] { Self.show(text) }
        held = nil
    }

    private static func show(_ text: String) {
        print(text)
        fflush(nil)  // all streams: referencing the C global stdout is not concurrency-safe
    }
}

struct DevLogHandler: LogHandler {
    var metadata: Logger.Metadata = [:]
    var logLevel: Logger.Level
    let label: String
    let log: DevLog

    init(label: String, level: Logger.Level, log: DevLog) {
        self.label = label
        self.logLevel = level
        self.log = log
    }

    subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    func log(event: LogEvent) {
        let merged = metadata.merging(event.metadata ?? [:]) { $1 }
        let fields = merged.keys.sorted().map { "\($0)=\(merged[$0]!)" }.joined(separator: " ")
        log.write(
            "\(Date().formatted(.iso8601)) \(event.level.rawValue.uppercased()) \(event.message)\(fields.isEmpty ? "" : " " + fields)",
            level: event.level, summary: "\(event.message)")
    }
}

/// The terminal side of `callflow dev`: starts calls, prints what the caller hears and what the
/// server does, and turns keys into DTMF.
final class Phone {
    enum Mode {
        /// A terminal: keys act as they are typed.
        case keyboard
        /// A pipe or file: keys are typed ahead and wait for the gathers, one entry per gather.
        case typeAhead
        /// `--digits`: one scripted call, then exit.
        case scripted
    }

    /// Type-ahead, in the order typed.
    enum Step: Equatable {
        case call
        case keys(String)
        case hangup
        case quit
    }

    let emulator: LoopbackTelnyx
    let app: ServerApp
    let loop: EventLoop
    let mode: Mode
    let from: String
    let to: String
    /// Emulated time per real time (dev's 1 / --speed).
    let timeScale: Double
    private var saved: termios? = nil
    private var leg: String?
    private var calls = 0
    private var inputOpen = true
    private var quitting = false
    private var steps: [Step] = []
    private var typing = ""
    private var afterCallKey = false

    init(emulator: LoopbackTelnyx, app: ServerApp, loop: EventLoop, mode: Mode, from: String, to: String, timeScale: Double) {
        self.timeScale = timeScale
        self.emulator = emulator
        self.app = app
        self.loop = loop
        self.mode = mode
        self.from = from
        self.to = to
    }

    var inCall: Bool { leg != nil }

    func start() throws {
        try loop.schedule(afterMilliseconds: 50) { [unowned self] in self.watch() }
        switch mode {
        case .scripted:
            call()
        case .keyboard:
            try loop.onReadable(0) { [unowned self] in self.readKeys() }
            enterRawMode()
            say("press c (or Enter) to call \(to) from \(from), q to quit; in a call: keys 0-9 * # press, h hangs up")
        case .typeAhead:
            say("keys come from standard input: c calls, one line or comma-separated entry per menu or gather, h hangs up, q quits")
            // epoll takes pipes and sockets; it refuses regular files and /dev/null (a service,
            // `docker run` without -i), which are read at once instead.
            var info = stat()
            let kind = fstat(0, &info) == 0 ? info.st_mode & S_IFMT : 0
            if kind == S_IFIFO || kind == S_IFSOCK {
                try loop.onReadable(0) { [unowned self] in self.readKeys() }
            } else {
                while readKeys() {}
            }
        }
    }

    func say(_ line: String) {
        print(line)
        fflush(nil)  // all streams: referencing the C global stdout is not concurrency-safe
    }

    func call() {
        calls += 1
        leg = emulator.placeInboundCall(from: from, to: to)
        say("☎ call started: \(from) calls \(to)" + (calls > 1 ? " (call \(calls))" : ""))
    }

    func quit() {
        quitting = true
        if inCall { emulator.hangup() }
        _ = try? loop.schedule(afterMilliseconds: 300) { [loop] in loop.handle.stop() }
    }

    private func watch() {
        if let leg, emulator.legs[leg]?.ended == true, app.liveCalls == 0, app.pendingCommands == 0 {
            self.leg = nil
            say("☎ call ended")
            if mode == .scripted || quitting {
                _ = try? loop.schedule(afterMilliseconds: 100) { [loop] in loop.handle.stop() }
                return
            }
            if mode == .typeAhead { advance() } else { say("press c (or Enter) to call again, q to quit") }
        }
        _ = try? loop.schedule(afterMilliseconds: 50) { [unowned self] in self.watch() }
    }

    /// A gather's prompt has played: type-ahead answers it with the next entry.
    func gatherWaiting() {
        guard mode == .typeAhead, inCall else { return }
        switch steps.first {
        case .keys(let digits)?:
            steps.removeFirst()
            if let leg { emulator.press(digits, on: leg) }
        case .hangup?:
            steps.removeFirst()
            say("   ☎ you hang up")
            emulator.hangup()
        case .quit?:
            steps.removeFirst()
            quit()
        case .call?, nil:
            return  // nothing typed for this gather: silence
        }
    }

    /// A typed-ahead caller who got through hangs up when told to (`h`), else after talking a while,
    /// as a scripted caller does.
    private func talkThenHangUp(_ connected: String) {
        if steps.first == .hangup {
            steps.removeFirst()
            say("   ☎ you hang up")
            return emulator.hangup()
        }
        _ = try? loop.schedule(afterMilliseconds: Int(Double(emulator.talkMs) * timeScale)) { [weak self] in
            guard let self, self.leg == connected else { return }
            self.say("   ☎ you hang up after talking for \(self.emulator.talkMs / 1000) s")
            self.emulator.hangup()
        }
    }

    /// Between calls, type-ahead starts the next one (or quits); with no input left, dev ends.
    private func advance() {
        guard !inCall, !quitting else { return }
        while let step = steps.first {
            steps.removeFirst()
            switch step {
            case .call: return call()
            case .quit: return quit()
            case .keys(let k): if !k.isEmpty { say("   (keys \(k) typed outside a call: ignored)") }
            case .hangup: continue
            }
        }
        guard !inputOpen else { return }
        if calls == 0 {
            say("standard input has ended without a c: starting the call anyway; the caller stays silent")
            call()
        } else {
            _ = try? loop.schedule(afterMilliseconds: 100) { [loop] in loop.handle.stop() }
        }
    }

    func show(_ record: LoopbackTelnyx.Record) {
        switch record {
        case .prompt(let text): print("🔊 \(text)")
        case .command(let action, _, let body, let status):
            var line = "   → \(action)"
            if let to = body["to"]?.stringValue { line += " \(to)" }
            if let url = body["audio_url"]?.stringValue { line += " \(url)" }
            if status != 200 { line += " (API answered \(status))" }
            if action.hasPrefix("gather") && mode == .keyboard { line += "  [press keys]" }
            print(line)
        case .webhook(let type, let leg, let status):
            if status != 200 { print("   ! server answered \(status) to \(type)") }
            if type == "call.bridged", leg == emulator.currentLeg {
                switch mode {
                case .typeAhead: print("   ☎ connected"); talkThenHangUp(leg)
                // The emulated caller talks a while before hanging up: say so, or the wait looks like a hang.
                case .scripted: print("   ☎ connected; the scripted caller hangs up after talking for \(emulator.talkMs / 1000) s")
                case .keyboard: print("   ☎ connected — h hangs up")
                }
            }
        case .note(let text): print("   \(text)")
        }
        fflush(nil)
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

    /// Reads what is there; false at the end of input.
    @discardableResult
    func readKeys() -> Bool {
        var buffer = [UInt8](repeating: 0, count: 256)
        let n = read(0, &buffer, buffer.count)
        guard n > 0 else {
            loop.stopReading(0)
            inputOpen = false
            if mode == .typeAhead {
                if !typing.isEmpty { steps.append(.keys(typing)) }
                typing = ""
                advance()
            }
            return false
        }
        for byte in buffer[0..<n] {
            let c = Character(Unicode.Scalar(byte))
            if mode == .keyboard { key(c) } else { typeAhead(c) }
        }
        if mode == .typeAhead { advance() }
        fflush(nil)
        return true
    }

    /// A key typed at the terminal.
    private func key(_ c: Character) {
        switch c {
        case "0"..."9", "*", "#":
            guard inCall else { return say("   (no call: press c to call)") }
            print("   ☎ you press \(c)")
            emulator.key(c)
        case "c", "C", "\n", "\r":
            if !inCall && !quitting { call() }
        case "h", "H":
            guard inCall else { return }
            print("   ☎ you hang up")
            emulator.hangup()
        case "q", "Q":
            quit()
        default:
            return
        }
    }

    /// A key piped in: c, h and q are steps; digits gather into one entry until a newline or comma.
    private func typeAhead(_ c: Character) {
        switch c {
        case "0"..."9", "*", "#":
            typing.append(c)
            afterCallKey = false
        case ",":
            steps.append(.keys(typing))
            typing = ""
            afterCallKey = false
        case "\n":
            if !typing.isEmpty {
                steps.append(.keys(typing))
            } else if !afterCallKey {
                // An empty line: Enter starts a call when none is on its way, else it is silence.
                steps.append(inCall || steps.contains(.call) ? .keys("") : .call)
            }
            typing = ""
            afterCallKey = false
        case "c", "C", "h", "H", "q", "Q":
            if !typing.isEmpty { steps.append(.keys(typing)) }
            typing = ""
            let step: Step = c == "c" || c == "C" ? .call : c == "h" || c == "H" ? .hangup : .quit
            steps.append(step)
            afterCallKey = step == .call
        default:
            return
        }
    }
}
