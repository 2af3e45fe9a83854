import CallflowCore
import CallflowLoop
import CallflowRuntime
import CallflowServer
import CallflowTestSupport
import EventHTTP
import Foundation
import Synchronization
import TelnyxEmulator
import TelnyxEmulatorServer
import Testing
import WebhookSignature

#if canImport(Glibc)
    import Glibc
#endif

@Suite(.serialized) struct CrashRecoveryTests {
    static let flow = #"""
        {"start":"a","nodes":{
          "a":{"type":"answer","next":"m"},
          "m":{"type":"menu","prompt":"Press 1.","choices":{"1":"bye"},"on_invalid":"bye","on_no_input":"bye"},
          "bye":{"type":"say","text":"Goodbye.","next":"end"},
          "end":{"type":"hangup"}}}
        """#

    /// The `callflow` executable `swift test` built next to the test bundle.
    static var binary: String {
        URL(fileURLWithPath: ProcessInfo.processInfo.arguments[0]).deletingLastPathComponent().appendingPathComponent("callflow").path
    }

    /// The `callflow-bench` executable (the bench-* drivers) built beside it.
    static var benchBinary: String {
        URL(fileURLWithPath: binary).deletingLastPathComponent().appendingPathComponent("callflow-bench").path
    }

    static func freePort() -> Int {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        defer { close(fd) }
        var addr = sockaddr_in()
        addr.sin_family = sa_family_t(AF_INET)
        addr.sin_addr.s_addr = inet_addr("127.0.0.1")
        _ = withUnsafePointer(to: &addr) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        _ = withUnsafeMutablePointer(to: &addr) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &length) } }
        return Int(UInt16(bigEndian: addr.sin_port))
    }

    /// The emulator on its own loop thread: places `calls` calls and runs until all ended.
    final class EmulatorThread: Sendable {
        final class Shared: Sendable {
            let result = Mutex<[LoopbackTelnyx.Record]?>(nil)
            let endedCount = Mutex(0)
            let port = Mutex(0)
            let done = DispatchSemaphore(value: 0)
            let ready = DispatchSemaphore(value: 0)
        }
        let apiPort: Int
        let publicKey: String
        let shared = Shared()

        /// With several `serverPorts`, each call's webhooks go to them in turn (a load balancer).
        init(calls: Int, serverPorts: [Int], signerSeed: [UInt8]) throws {
            let signer = try WebhookSigner(seed: signerSeed)
            publicKey = signer.publicKeyBase64
            let shared = self.shared
            Thread {
                do {
                    let loop = try EventLoop()
                    var options = LoopbackTelnyx.Options()
                    options.script.inputs = ["1"]
                    options.timeScale = 0.05
                    let emulator = try LoopbackTelnyx(
                        loop: loop, client: try HTTPClient(loop: loop), signer: signer,
                        webhookURL: "http://127.0.0.1:\(serverPorts[0])/webhooks/telnyx", options: options,
                        clockMs: Clocks.wallMs)
                    if serverPorts.count > 1 { emulator.webhookTargets = serverPorts.map { "http://127.0.0.1:\($0)/webhooks/telnyx" } }
                    emulator.deliveryAttempts = 600  // a minute of redeliveries while the server is down
                    shared.port.withLock { $0 = emulator.apiPort }
                    shared.ready.signal()
                    var legs: [String] = []
                    for i in 0..<calls {
                        try loop.schedule(afterMilliseconds: i * 12) {
                            legs.append(emulator.placeInboundCall(from: "+1312555\(1000 + i)", to: "+13125550100"))
                        }
                    }
                    let deadline = Clocks.wallMs() + 90_000
                    func watch() {
                        let ended = legs.filter { emulator.legs[$0]?.ended == true }.count
                        shared.endedCount.withLock { $0 = ended }
                        if (legs.count == calls && ended == calls) || Clocks.wallMs() > deadline {
                            _ = try? loop.schedule(afterMilliseconds: 300) { loop.handle.stop() }
                        } else {
                            _ = try? loop.schedule(afterMilliseconds: 50, watch)
                        }
                    }
                    try loop.schedule(afterMilliseconds: 50, watch)
                    try loop.run()
                    shared.result.withLock { $0 = emulator.records }
                } catch {
                    shared.ready.signal()
                }
                shared.done.signal()
            }.start()
            shared.ready.wait()
            apiPort = shared.port.withLock { $0 }
        }

        var endedCount: Int { shared.endedCount.withLock { $0 } }
        var records: [LoopbackTelnyx.Record]? { shared.result.withLock { $0 } }
        func wait(seconds: Double) -> Bool { shared.done.wait(timeout: .now() + seconds) == .success }
    }

    static func startServer(config: String, env: [String: String], log: URL) throws -> Process {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: binary)
        p.arguments = ["serve", "--config", config]
        p.environment = ProcessInfo.processInfo.environment.merging(env) { $1 }
        p.standardOutput = FileHandle.nullDevice
        if !FileManager.default.fileExists(atPath: log.path) { _ = FileManager.default.createFile(atPath: log.path, contents: nil) }
        let handle = try FileHandle(forWritingTo: log)
        handle.seekToEndOfFile()
        p.standardError = handle
        try p.run()
        return p
    }

    /// `full`: every commit is fsynced, on the store's writer thread while the loop keeps serving.
    @Test(arguments: ["normal", "full"]) func sigkillAtRandomPointsLosesNoCall(synchronous: String) throws {
        #expect(FileManager.default.isExecutableFile(atPath: Self.binary), "swift test builds the callflow executable next to the tests")
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("callflow-crash-\(UUID())")
        try FileManager.default.createDirectory(at: dir.appendingPathComponent("flows"), withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        try Data(Self.flow.utf8).write(to: dir.appendingPathComponent("flows/t.json"))
        let port = Self.freePort()
        let calls = 200
        let emulator = try EmulatorThread(calls: calls, serverPorts: [port], signerSeed: Array(repeating: 3, count: 32))
        let config = dir.appendingPathComponent("config.json")
        try Data(
            """
            {"server":{"host":"127.0.0.1","port":\(port)},"flows":{"dir":"\(dir.path)/flows","default":"t"},
             "store":{"kind":"sqlite","path":"\(dir.path)/calls.db","synchronous":"\(synchronous)"},"log":{"level":"info","format":"text"}}
            """.utf8
        ).write(to: config)
        let env = [
            "TELNYX_PUBLIC_KEY": emulator.publicKey, "TELNYX_API_KEY": "KEY_crash",
            "TELNYX_API_BASE_URL": "http://127.0.0.1:\(emulator.apiPort)/v2", "PORT": String(port),
        ]
        let log = dir.appendingPathComponent("server.log")
        var rng = SplitMix(seed: 20261121)
        var server = try Self.startServer(config: config.path, env: env, log: log)
        var kills = 0
        for started in 1...4 {
            // Each kill lands at a random point once the server is up (listening, its state restored
            // and its signal handlers in place): counted from then, not from its launch, so a machine
            // slowed by the other tests still kills a running server.
            #expect(Self.waitForLines("listening", count: started, in: log), "start \(started) never came up")
            usleep(useconds_t(250_000 + rng.next() % 900_000))
            kill(server.processIdentifier, SIGKILL)
            server.waitUntilExit()
            kills += 1
            server = try Self.startServer(config: config.path, env: env, log: log)
        }
        // The last start must be up before SIGTERM, or the signal finds no handler yet.
        #expect(Self.waitForLines("listening", count: 5, in: log), "the last start never came up")
        let finished = emulator.wait(seconds: 120)
        server.terminate()
        let stopping = Date()
        while server.isRunning && Date().timeIntervalSince(stopping) < 15 { usleep(50_000) }
        #expect(!server.isRunning, "the server did not stop on SIGTERM")
        if server.isRunning { kill(server.processIdentifier, SIGKILL) }
        server.waitUntilExit()
        #expect(server.terminationStatus == 0, "SIGTERM drains and exits 0")
        #expect(finished, "the emulator did not finish; \(emulator.endedCount) of \(calls) calls ended")
        let records = try #require(emulator.records)
        #expect(kills == 4)
        Self.expectEveryCallCompleted(records, calls: calls)
        let serverLog = (try? String(contentsOf: log, encoding: .utf8)) ?? ""
        let restores = serverLog.split(separator: "\n").filter { $0.contains("state restored") }
        #expect(restores.count == 5, "one start and four restarts: \(restores.count)")
        // The kills must land mid-call: some restart found live calls or unsent commands to resume.
        let resumed = restores.contains { !$0.contains("restored=0 live calls, 0 unsent commands") }
        #expect(resumed, "no restart had work to resume: \(restores)")
    }

    /// Waits (up to 20 s) until `log` holds `count` lines containing `text`.
    static func waitForLines(_ text: String, count: Int, in log: URL) -> Bool {
        let deadline = Date().addingTimeInterval(20)
        repeat {
            let lines = ((try? String(contentsOf: log, encoding: .utf8)) ?? "").split(separator: "\n")
            if lines.filter({ $0.contains(text) }).count >= count { return true }
            usleep(20_000)
        } while Date() < deadline
        return false
    }

    /// Every call reached its ending (answer, the menu, goodbye and hang-up executed, in that
    /// order), and a command sent twice (after a crash) carried the same id and body.
    static func expectEveryCallCompleted(_ records: [LoopbackTelnyx.Record], calls: Int, sourceLocation: SourceLocation = #_sourceLocation) {
        var executed: [String: [String]] = [:]
        var bodies: [String: JSONObject] = [:]
        for case .command(let action, let leg, let body, let status) in records {
            guard let id = body["command_id"]?.stringValue else { continue }
            if let earlier = bodies[id] {
                #expect(earlier == body, "command \(id) was sent twice with different bodies", sourceLocation: sourceLocation)
                continue
            }
            bodies[id] = body
            if status == 200 { executed[leg, default: []].append(action) }
        }
        let legs = Set(records.compactMap { if case .command(_, let leg, _, _) = $0, !leg.isEmpty { return leg } else { return nil } })
        #expect(legs.count == calls, "calls seen: \(legs.count)", sourceLocation: sourceLocation)
        let complete = legs.filter { executed[$0] == ["answer", "gather_using_speak", "speak", "hangup"] }
        #expect(
            complete.count == calls,
            "\(calls - complete.count) calls did not complete; e.g. \(legs.subtracting(complete).prefix(3).map { "\($0): \(executed[$0] ?? [])" })",
            sourceLocation: sourceLocation)
    }

    /// The say flow against `api`, with the store `kind` (a given store object for `memory`).
    static func storeConfig(api: FakeHTTPServer, kind: CallflowConfig.Store.Kind = .sqlite, db: String = "") throws -> CallflowConfig {
        var config = try TelnyxSide.config(api: api, flows: ["t": CommandClientTests.sayFlow], defaultFlow: "t")
        config.store.kind = kind
        config.store.path = db
        return config
    }

    /// A restart with the same SQLite file, without sockets: each instance answers through
    /// `InMemoryServer`; only the commands go to the fake API.
    @Test func aWebhookRedeliveredAfterARestartIsStillADuplicate() throws {
        let waker = LoopWaker()
        let api = try FakeHTTPServer.waking(waker) { _, _ in .status(200, #"{"data":{"result":"ok"}}"#) }
        defer { api.stop() }
        let db = FileManager.default.temporaryDirectory.appendingPathComponent("callflow-dedupe-\(UUID()).db").path
        defer { for suffix in ["", "-wal", "-shm"] { try? FileManager.default.removeItem(atPath: db + suffix) } }
        let config = try Self.storeConfig(api: api, db: db)
        let body = IngressTests.event(id: "evt-once")
        do {
            let first = try InMemoryServer(config: config, waker: waker)
            #expect(try first.signedWebhook(body).status == 200)
            #expect(try first.runLoop { !api.requests.isEmpty })
        }
        let second = try InMemoryServer(config: config, waker: waker)
        #expect(try second.signedWebhook(body).status == 200)
        // The restarted server may re-send its unconfirmed outbox (same command_id: Telnyx ignores it),
        // but the redelivered webhook must not start the call again (that would be a new command_id).
        // Whatever it sends has been sent once nothing is pending.
        #expect(try second.runLoop(checkEveryMs: 10) { second.app.pendingCommands == 0 })
        let answers = Set(api.requests.filter { $0.path.hasSuffix("/answer") }.compactMap { $0.json?["command_id"]?.stringValue })
        #expect(answers.count == 1, "the redelivery started the call again: \(answers)")
        let metrics = try second.get("/metrics").body
        #expect(metrics.contains(#"callflow_webhooks_total{event_type="call.initiated",outcome="duplicate"} 1"#))
    }

    @Test func aCorruptDatabaseIsAClearStartupError() throws {
        let api = try FakeHTTPServer { _, _ in .status(200, "{}") }
        defer { api.stop() }
        let db = FileManager.default.temporaryDirectory.appendingPathComponent("callflow-corrupt-\(UUID()).db").path
        defer { try? FileManager.default.removeItem(atPath: db) }
        try Data(repeating: 0x42, count: 8192).write(to: URL(fileURLWithPath: db))
        #expect {
            _ = try TestServer(config: try Self.storeConfig(api: api, db: db))
        } throws: { error in
            "\(error)".contains("store unavailable") && "\(error)".contains(db)
        }
        #expect {
            _ = try TestServer(config: try Self.storeConfig(api: api, db: "/nonexistent-dir/calls.db"))
        } throws: { error in
            "\(error)".contains("/nonexistent-dir/calls.db")
        }
    }
}

extension CrashRecoveryTests {
    /// A request that carries a sensitive gather's digits is stored masked; after a restart it
    /// is not sent again (it would carry `***`): the node takes `on_error`, and the database never
    /// held the digits.
    @Test func aRequestWithSensitiveDigitsIsNotRepeatedAfterARestart() throws {
        let backend = try FakeHTTPServer { _, _ in .after(ms: 20_000, .status(200, #"{"tier":"gold"}"#)) }
        defer { backend.stop() }
        let api = try FakeHTTPServer { _, _ in .status(200, #"{"data":{"result":"ok"}}"#) }
        defer { api.stop() }
        let db = FileManager.default.temporaryDirectory.appendingPathComponent("callflow-withheld-\(UUID()).db").path
        defer { for suffix in ["", "-wal", "-shm"] { try? FileManager.default.removeItem(atPath: db + suffix) } }
        let flow = #"""
            {"start":"a","nodes":{"a":{"type":"answer","next":"g"},
              "g":{"type":"gather","prompt":"Card?","min_digits":4,"max_digits":8,"terminator":"#","save_as":"card","sensitive":true,"next":"l","on_invalid":"bad","on_no_input":"bad"},
              "l":{"type":"http","method":"GET","url":"http://127.0.0.1:\#(backend.port)/cards/{{vars.card}}","timeout_ms":30000,"next":"ok","on_error":"bad"},
              "ok":{"type":"say","text":"Charged.","next":"end"},"bad":{"type":"say","text":"Sorry, please call again.","next":"end"},
              "end":{"type":"hangup"}}}
            """#
        var config = try TelnyxSide.config(api: api, flows: ["t": flow], defaultFlow: "t")
        config.store.kind = .sqlite
        config.store.path = db
        let first = try TestServer(config: config)
        var telnyx = TelnyxSide(server: first, api: api)
        try telnyx.initiated("v3:card-call")
        api.waitFor(1)
        try telnyx.send("call.answered", call: "v3:card-call")
        api.waitFor(2)
        try telnyx.send("call.gather.ended", call: "v3:card-call", ["digits": "98765#", "status": "valid"])
        #expect(backend.waitFor(1).first?.path == "/cards/98765")  // the live request uses the digits
        first.stop()

        let stored = (try? Data(contentsOf: URL(fileURLWithPath: db))).map { String(decoding: $0, as: UTF8.self) } ?? ""
        let wal = (try? Data(contentsOf: URL(fileURLWithPath: db + "-wal"))).map { String(decoding: $0, as: UTF8.self) } ?? ""
        #expect(!stored.contains("98765") && !wal.contains("98765"), "the database holds the digits")

        let second = try TestServer(config: config)
        defer { second.stop() }
        #expect(
            AcceptLimitTests.waitFor(10) {
                api.requests.contains { $0.path.hasSuffix("/actions/speak") && $0.json?["payload"] == "Sorry, please call again." }
            }, "the restarted server took the node's on_error")
        #expect(backend.requests.count == 1, "the request went out again: \(backend.requests.map(\.path))")
        #expect(!backend.requests.contains { $0.path.contains("***") })
    }
}
