import CallflowCore
import CallflowServer
import Foundation
import Redis
import Synchronization
import Testing

#if canImport(Glibc)
    import Glibc
#endif

/// A throwaway `redis-server` on a free loopback port (no persistence), started and stopped by
/// the test that needs it. `scripts/setup` installs redis-server.
final class RedisProcess {
    let port: Int
    private var process: Process?

    static var binary: String? {
        for dir in (ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin").split(separator: ":") + ["/usr/bin", "/usr/local/bin"] {
            let path = "\(dir)/redis-server"
            if FileManager.default.isExecutableFile(atPath: path) { return path }
        }
        return nil
    }

    let password: String?

    init(port: Int = CrashRecoveryTests.freePort(), password: String? = nil) throws {
        self.port = port
        self.password = password
        try start()
    }

    var url: String { "redis://\(password.map { ":\($0)@" } ?? "")127.0.0.1:\(port)" }

    func start() throws {
        let binary = try #require(Self.binary, "redis-server is not installed (scripts/setup installs it)")
        let p = Process()
        p.executableURL = URL(fileURLWithPath: binary)
        p.arguments =
            ["--port", String(port), "--bind", "127.0.0.1", "-::1", "--save", "", "--appendonly", "no", "--daemonize", "no"]
            + (password.map { ["--requirepass", $0] } ?? [])
        p.standardOutput = FileHandle.nullDevice
        p.standardError = FileHandle.nullDevice
        try p.run()
        process = p
        let deadline = Date().addingTimeInterval(10)
        while Date() < deadline {
            if (try? RedisStartupConnection(url: RedisURL(url), timeoutMs: 200)) != nil { return }
            usleep(50_000)
        }
        throw RedisError.unavailable("redis-server did not start on port \(port)")
    }

    /// SIGSTOP / SIGCONT: a Redis that hangs without closing its connections.
    func pause() { if let p = process { kill(p.processIdentifier, SIGSTOP) } }
    func resume() { if let p = process { kill(p.processIdentifier, SIGCONT) } }

    func stop() {
        guard let p = process else { return }
        kill(p.processIdentifier, SIGCONT)
        kill(p.processIdentifier, SIGKILL)
        Self.reap(p)
        process = nil
    }

    /// Waits for a child to end (bounded). Foundation's `waitUntilExit` was seen to hang on a
    /// killed child here, so this polls `waitpid` itself.
    /// Returns the exit status (nil: killed by a signal, or still running at the deadline).
    @discardableResult
    static func reap(_ p: Process, timeoutSeconds: Double = 20) -> Int32? {
        let deadline = Date().addingTimeInterval(timeoutSeconds)
        while Date() < deadline {
            var status: Int32 = 0
            let r = waitpid(p.processIdentifier, &status, WNOHANG)
            if r == p.processIdentifier { return status & 0x7f == 0 ? (status >> 8) & 0xff : nil }
            if r < 0 || !p.isRunning {  // Foundation reaped it first
                while p.isRunning && Date() < deadline { usleep(10_000) }
                return p.terminationReason == .exit ? p.terminationStatus : nil
            }
            usleep(20_000)
        }
        return nil
    }

    deinit { stop() }
}

@Suite(.serialized) struct RedisStoreTests {
    @Test func redisURLsParseAndNameWhatIsWrong() throws {
        let url = try RedisURL("redis://:s3cret@cache.internal:6380/2")
        #expect(url.host == "cache.internal" && url.port == 6380 && url.database == 2 && url.password == "s3cret")
        #expect(!url.description.contains("s3cret"), "the password never reaches a log line")
        #expect(try RedisURL("redis://10.0.0.5").port == 6379)
        #expect(throws: RedisError.self) { try RedisURL("http://x") }
        #expect { try RedisURL("redis://h:99999") } throws: { "\($0)".contains("port") }
        #expect { try RedisURL("rediss://h") } throws: { "\($0)".contains("TLS") }
    }

    /// Two `callflow serve` processes share one Redis; the emulator sends each call's webhooks to
    /// both in turn, and one instance is killed mid-run: every call still completes exactly as with
    /// one instance, and a command sent twice carries the same id and body.
    @Test func twoInstancesShareCallsAndSurviveOneDying() throws {
        let redis = try RedisProcess()
        defer { redis.stop() }
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("callflow-redis-\(UUID())")
        try FileManager.default.createDirectory(at: dir.appendingPathComponent("flows"), withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        try Data(CrashRecoveryTests.flow.utf8).write(to: dir.appendingPathComponent("flows/t.json"))
        let ports = [CrashRecoveryTests.freePort(), CrashRecoveryTests.freePort()]
        let calls = 200
        let emulator = try CrashRecoveryTests.EmulatorThread(calls: calls, serverPorts: ports, signerSeed: Array(repeating: 5, count: 32))
        var servers: [Process] = []
        for port in ports {
            let log = dir.appendingPathComponent("server-\(port).log")
            let config = dir.appendingPathComponent("config-\(port).json")
            try Data(
                """
                {"server":{"host":"127.0.0.1","port":\(port)},"flows":{"dir":"\(dir.path)/flows","default":"t"},
                 "telnyx":{"command_timeout_ms":1000,"retry_deadline_ms":1000},
                 "store":{"kind":"redis","redis_url":"\(redis.url)"},"log":{"level":"info","format":"text"}}
                """.utf8
            ).write(to: config)
            let env = [
                "TELNYX_PUBLIC_KEY": emulator.publicKey, "TELNYX_API_KEY": "KEY_shared",
                "TELNYX_API_BASE_URL": "http://127.0.0.1:\(emulator.apiPort)/v2",
            ]
            servers.append(try CrashRecoveryTests.startServer(config: config.path, env: env, log: log))
        }
        usleep(1_200_000)  // mid-run: calls are being placed and are in every state
        let metrics = try TestHTTP.request(port: ports[1], method: "GET", path: "/metrics").body
        let acceptedByKilled = metrics.split(separator: "\n").filter {
            $0.hasPrefix("callflow_webhooks_total{") && $0.contains(#"outcome="accepted""#)
        }
        .compactMap { $0.split(separator: " ").last.flatMap { Double($0) } }.reduce(0, +)
        kill(servers[1].processIdentifier, SIGKILL)
        RedisProcess.reap(servers[1])
        let finished = emulator.wait(seconds: 120)
        // Commands the killed instance sent but could not mark sent stay claimed until their lease
        // (5 s, no longer renewed) runs out; then the survivor sends them again (same command_id).
        let check = try RedisStartupConnection(url: RedisURL(redis.url))
        let drained = Date().addingTimeInterval(20)
        while Date() < drained, try check.command(["HLEN", "callflow:outbox"]) != .integer(0) { usleep(100_000) }
        kill(servers[0].processIdentifier, SIGTERM)
        #expect(RedisProcess.reap(servers[0]) == 0, "SIGTERM drains and exits 0")
        #expect(finished, "the emulator did not finish; \(emulator.endedCount) of \(calls) calls ended")
        let records = try #require(emulator.records)
        CrashRecoveryTests.expectEveryCallCompleted(records, calls: calls)
        // Both instances started on the shared state, and the one killed had applied webhooks.
        for port in ports {
            let lines = ((try? String(contentsOf: dir.appendingPathComponent("server-\(port).log"), encoding: .utf8)) ?? "").split(separator: "\n")
            #expect(lines.contains { $0.contains("state restored") && $0.contains("shared in redis://") })
        }
        #expect(acceptedByKilled > 20, "the killed instance applied \(acceptedByKilled) webhooks before it died")
        // Nothing is left behind in Redis: no live call, no unsent command, no claim.
        #expect(try check.command(["SCARD", "callflow:calls"]) == .integer(0))
        #expect(try check.command(["HLEN", "callflow:outbox"]) == .integer(0))
        #expect(try check.command(["ZCARD", "callflow:claims"]) == .integer(0))
    }

    static func config(api: FakeHTTPServer, redis: RedisProcess) throws -> CallflowConfig {
        var config = try TelnyxSide.config(api: api, flows: ["t": CommandClientTests.sayFlow], defaultFlow: "t")
        config.store.kind = .redis
        config.store.redisURL = redis.url
        config.store.redisPrefix = "t\(UUID().uuidString.prefix(8)):"
        return config
    }

    @Test func aWebhookRedeliveredToAnotherInstanceIsADuplicate() throws {
        let redis = try RedisProcess()
        defer { redis.stop() }
        let api = try FakeHTTPServer { _, _ in .status(200, #"{"data":{"result":"ok"}}"#) }
        defer { api.stop() }
        var config = try Self.config(api: api, redis: redis)
        config.server.adminToken = "shared-admin-token-0123"
        let a = try TestServer(config: config)
        defer { a.stop() }
        // The second instance names Redis by host name: resolved off the loop thread.
        config.store.redisURL = "redis://localhost:\(redis.port)"
        let b = try TestServer(config: config)
        defer { b.stop() }
        let deadline = Date().addingTimeInterval(5)
        while Date() < deadline, try TestHTTP.request(port: b.port, method: "GET", path: "/readyz").status != 200 { usleep(50_000) }
        let body = IngressTests.event(id: "evt-shared")
        #expect(try IngressTests.post(a.port, body, headers: IngressTests.signed(body)).status == 200)
        #expect(try IngressTests.post(b.port, body, headers: IngressTests.signed(body)).status == 200)
        api.waitFor(1)
        usleep(300_000)
        #expect(api.requests.filter { $0.path.hasSuffix("/answer") }.count == 1, "one answer for one call")
        let metrics = try TestHTTP.request(port: b.port, method: "GET", path: "/metrics").body
        #expect(metrics.contains(#"callflow_webhooks_total{event_type="call.initiated",outcome="duplicate"} 1"#))
        #expect(metrics.contains("# TYPE callflow_store_conflicts_total counter"))
        // b found the duplicate when loading (no commit); a committed the call.
        let first = try TestHTTP.request(port: a.port, method: "GET", path: "/metrics").body
        let commits = first.split(separator: "\n").first { $0.hasPrefix("callflow_store_commit_seconds_count ") }
        #expect(commits.flatMap { Int($0.split(separator: " ")[1]) } ?? 0 >= 1, "shared commits are timed: \(commits ?? "none")")
        // Either instance shows the call, with the input that started it (for replay).
        for port in [a.port, b.port] {
            let response = try TestHTTP.request(
                port: port, method: "GET", path: "/v1/calls/v3:abc",
                headers: [("Authorization", "Bearer shared-admin-token-0123")])
            #expect(response.status == 200)
            let document = try JSONParser.parse(Array(response.body.utf8))
            #expect(document["node"]?.stringValue == "a")
            #expect(document["inputs"]?.arrayValue?.count == 2, "start + webhook: \(response.body)")
        }
        #expect(
            try TestHTTP.request(
                port: b.port, method: "GET", path: "/v1/calls/v3:nope",
                headers: [("Authorization", "Bearer shared-admin-token-0123")]
            ).status == 404)
    }

    /// What a dead instance left behind: a command it committed but never sent (its claim ran out)
    /// and a timer armed only in its memory. Another instance sends the one (same command_id) and
    /// fires the other.
    @Test func anInstanceTakesOverWhatADeadOneLeftUnfinished() throws {
        let redis = try RedisProcess()
        defer { redis.stop() }
        let api = try FakeHTTPServer { _, _ in .status(200, #"{"data":{"result":"ok"}}"#) }
        defer { api.stop() }
        let pauseFlow =
            #"{"start":"a","nodes":{"a":{"type":"answer","next":"p"},"p":{"type":"pause","seconds":1,"next":"s"},"s":{"type":"say","text":"Hi","next":"e"},"e":{"type":"hangup"}}}"#
        var config = try TelnyxSide.config(api: api, flows: ["t": pauseFlow], defaultFlow: "t")
        config.store.kind = .redis
        config.store.redisURL = redis.url
        let prefix = config.store.redisPrefix
        var side = TelnyxSide(server: try TestServer(config: config), api: api)
        try side.initiated("v3:orphan")
        #expect(api.waitFor(1).last?.path.hasSuffix("/answer") == true)
        try side.send("call.answered", call: "v3:orphan")
        usleep(100_000)
        side.server.stop()  // the instance goes away with the pause timer armed only in its memory
        let store = try RedisStartupConnection(url: RedisURL(redis.url))
        #expect(try store.command(["ZCARD", "\(prefix)timers"]) == .integer(1))
        let orphan = #"{"leg":"v3:other","action":"speak","body":{"payload":"left behind","voice":"female","command_id":"cf-orphan-1"}}"#
        _ = try store.command(["HSET", "\(prefix)outbox", "999", orphan])
        _ = try store.command(["ZADD", "\(prefix)claims", "1", "o:999"])  // a claim that ran out long ago
        let other = try TestServer(config: config)
        defer { other.stop() }
        let requests = api.waitFor(3, timeout: 10)
        let paths = requests.map(\.path)
        #expect(paths.contains("/v2/calls/v3:other/actions/speak"), "the orphaned command was sent: \(paths)")
        #expect(requests.first { $0.path.hasSuffix("v3:other/actions/speak") }?.json?["command_id"]?.stringValue == "cf-orphan-1")
        #expect(paths.contains("/v2/calls/v3:orphan/actions/speak"), "the orphaned timer fired and the flow went on: \(paths)")
        usleep(300_000)
        #expect(try store.command(["HLEN", "\(prefix)outbox"]) == .integer(0))
        #expect(try store.command(["ZCARD", "\(prefix)timers"]) == .integer(0))
    }

    /// The shipped flows and the harder paths (transfer to a child leg, http node, recording with an
    /// on_hangup request, outbound dial through the control API, duplicated and late webhooks, a
    /// pause timer) end exactly as with the memory store when the state lives in Redis.
    @Test(arguments: ["transfer", "invalid", "lookup", "sensitive", "voicemail", "outbound", "duplicates", "late", "pause"])
    func sharedStateEndsCallsExactlyAsOneInstance(_ scenario: String) throws {
        let redis = try RedisProcess()
        defer { redis.stop() }
        let storedDuringLookup = Mutex<String?>(nil)
        let (redisPort, redisPassword) = (redis.port, redis.password)
        let backend = try FakeHTTPServer { r, _ in
            // While the lookup is in flight the call's state sits in Redis: read all of it.
            if r.path == "/accounts/98765" { storedDuringLookup.withLock { $0 = Self.everything(port: redisPort, password: redisPassword) } }
            return r.path == "/accounts/98765" ? .status(200, #"{"tier":"gold"}"#) : .status(201, "{}")
        }
        defer { backend.stop() }
        var call = EndToEnd.Call()
        switch scenario {
        case "transfer": call.script.inputs = ["1"]
        case "invalid": call.script.inputs = ["9", "9", "9"]
        case "lookup", "sensitive":
            let sensitive = scenario == "sensitive" ? #","sensitive":true"# : ""
            call.flowsDir = try EndToEnd.flowsDir([
                "t": #"""
                {"start":"a","nodes":{"a":{"type":"answer","next":"g"},
                  "g":{"type":"gather","prompt":"Account?","min_digits":4,"max_digits":8,"terminator":"#","save_as":"acct","next":"l","on_invalid":"bye","on_no_input":"bye"\#(sensitive)},
                  "l":{"type":"http","method":"GET","url":"http://127.0.0.1:\#(backend.port)/accounts/{{vars.acct}}","save_as":"crm","next":"s","on_error":"bye"},
                  "s":{"type":"switch","value":"{{vars.crm.tier}}","cases":{"gold":"vip"},"default":"bye"},
                  "vip":{"type":"say","text":"Welcome back, gold member.","next":"end"},
                  "bye":{"type":"say","text":"Goodbye.","next":"end"},"end":{"type":"hangup"}}}
                """#
            ])
            call.defaultFlow = "t"
            call.script.inputs = ["98765#"]
        case "voicemail": call.start = 1_795_291_200  // Saturday: closed, straight to voicemail
        case "outbound":
            call.script.inputs = ["1"]
            call.apiCall = [
                "to": "+13125550199", "from": "+13125550100", "connection_id": "emulator-connection", "flow": "reminder",
                "vars": ["appointment_time": "Friday at 9 AM", "appointment_id": "A9"], "machine_detection": "detect",
            ]
        case "duplicates":
            call.script.inputs = ["1"]
            call.faults.duplicate = ["call.initiated", "call.answered", "call.gather.ended"]
        case "late":
            call.start = 1_795_291_200
            call.faults.lateCopyMs = ["call.speak.ended": 1500]
        default:
            call.flowsDir = try EndToEnd.flowsDir([
                "t":
                    #"{"start":"a","nodes":{"a":{"type":"answer","next":"p"},"p":{"type":"pause","seconds":0.5,"next":"s"},"s":{"type":"say","text":"Hi","next":"e"},"e":{"type":"hangup"}}}"#
            ])
            call.defaultFlow = "t"
        }
        let alone = try EndToEnd.run(call)
        call.redisURL = redis.url
        let shared = try EndToEnd.run(call)
        #expect(alone.finished && shared.finished, "finished alone: \(alone.finished), shared: \(shared.finished); \(shared.records)")
        #expect(shared.actions == alone.actions)
        #expect(shared.prompts == alone.prompts)
        #expect(shared.webhookStatuses.allSatisfy { $0 == 200 }, "\(shared.webhookStatuses)")
        if scenario == "outbound" { #expect(shared.apiReply?.status == 201) }
        if scenario == "sensitive" {
            // The lookup used the digits (held by the instance), yet Redis never had them.
            #expect(shared.prompts.last == "Welcome back, gold member.")
            let stored = try #require(storedDuringLookup.withLock { $0 })
            #expect(stored.contains("\"acct\""), "the state names the sensitive variable: \(stored)")
            #expect(!stored.contains("98765"), "\(stored)")
        }
    }

    /// With `trace_retention_hours: 0` a finished call leaves nothing behind: no trace and no
    /// recorded inputs (the commit that ended it used to push its last inputs onto a fresh
    /// `rec:` key with no expiry).
    @Test func withNoTraceRetentionAFinishedCallLeavesNothing() throws {
        let redis = try RedisProcess()
        defer { redis.stop() }
        var call = EndToEnd.Call()
        call.script.inputs = ["1"]
        call.redisURL = redis.url
        call.traceRetentionHours = 0
        let o = try EndToEnd.run(call)
        #expect(o.finished)
        let left = Self.everything(port: redis.port, password: redis.password)
        #expect(!left.contains(":rec:") && !left.contains(":trace:"), "\(left)")
        #expect(!left.contains(":call:"), "\(left)")
    }

    /// Every value in the Redis of `redis`, as text (keys and the members of each).
    static func everything(port: Int, password: String?) -> String {
        func cli(_ args: [String]) -> String {
            let p = Process()
            p.executableURL = URL(fileURLWithPath: "/usr/bin/env")
            p.arguments = ["redis-cli", "-p", String(port)] + (password.map { ["-a", $0, "--no-auth-warning"] } ?? []) + args
            let out = Pipe()
            p.standardOutput = out
            p.standardError = FileHandle.nullDevice
            guard (try? p.run()) != nil else { return "" }
            let data = out.fileHandleForReading.readDataToEndOfFile()
            p.waitUntilExit()
            return String(decoding: data, as: UTF8.self)
        }
        var text = ""
        for key in cli(["--scan"]).split(separator: "\n").map(String.init) {
            switch cli(["TYPE", key]).trimmingCharacters(in: .whitespacesAndNewlines) {
            case "string": text += key + " " + cli(["GET", key])
            case "hash": text += key + " " + cli(["HGETALL", key])
            case "set": text += key + " " + cli(["SMEMBERS", key])
            case "zset": text += key + " " + cli(["ZRANGE", key, "0", "-1"])
            case "list": text += key + " " + cli(["LRANGE", key, "0", "-1"])
            default: text += key + "\n"
            }
        }
        return text
    }

    /// A command Telnyx takes long to answer stays with the instance sending it: its lease is
    /// renewed while it waits, so a second instance does not send it again.
    @Test func aSlowCommandIsNotTakenOverWhileItsSenderLives() throws {
        let redis = try RedisProcess()
        defer { redis.stop() }
        let api = try FakeHTTPServer { _, _ in .after(ms: 7000, .status(200, #"{"data":{"result":"ok"}}"#)) }
        defer { api.stop() }
        var config = try Self.config(api: api, redis: redis)
        config.telnyx.commandTimeoutMs = 10_000
        let a = try TestServer(config: config)
        defer { a.stop() }
        let b = try TestServer(config: config)
        defer { b.stop() }
        let body = IngressTests.event(id: "evt-slow")
        #expect(try IngressTests.post(a.port, body, headers: IngressTests.signed(body)).status == 200)
        usleep(8_500_000)  // longer than the 5 s lease: it must have been renewed
        #expect(api.requests.filter { $0.path.hasSuffix("/answer") }.count == 1, "the answer was sent twice: \(api.requests.map(\.path))")
    }

    @Test func aPasswordProtectedRedisWorksAndAWrongPasswordIsAClearStartupError() throws {
        let redis = try RedisProcess(password: "s3cret-pass")
        defer { redis.stop() }
        let api = try FakeHTTPServer { _, _ in .status(200, #"{"data":{"result":"ok"}}"#) }
        defer { api.stop() }
        var config = try Self.config(api: api, redis: redis)
        let server = try TestServer(config: config)
        let body = IngressTests.event(id: "evt-auth")
        #expect(try IngressTests.post(server.port, body, headers: IngressTests.signed(body)).status == 200)
        #expect(api.waitFor(1).filter { $0.path.hasSuffix("/answer") }.count == 1)
        server.stop()
        config.store.redisURL = "redis://:wrong-pass@127.0.0.1:\(redis.port)"
        #expect {
            _ = try TestServer(config: config)
        } throws: { error in
            "\(error)".contains("Redis") && !"\(error)".contains("wrong-pass")
        }
    }

    @Test func redisDownAtStartupIsAClearError() throws {
        let api = try FakeHTTPServer { _, _ in .status(200, "{}") }
        defer { api.stop() }
        var config = try TelnyxSide.config(api: api, flows: ["t": CommandClientTests.sayFlow], defaultFlow: "t")
        config.store.kind = .redis
        config.store.redisURL = "redis://127.0.0.1:\(CrashRecoveryTests.freePort())"
        #expect {
            _ = try TestServer(config: config)
        } throws: { error in
            "\(error)".contains("Redis unavailable") && "\(error)".contains("cannot connect to redis://127.0.0.1")
        }
    }

    /// Redis killed, or hung with its connections open (SIGSTOP: noticed by the 3 s reply
    /// timeout), mid-run: 503 to Telnyx and /readyz 503 while it is out; recovery when it answers.
    @Test(arguments: ["killed", "paused"])
    func aRedisOutageAnswers503AndRecovers(_ outage: String) throws {
        let redis = try RedisProcess()
        defer { redis.stop() }
        let api = try FakeHTTPServer { _, _ in .status(200, #"{"data":{"result":"ok"}}"#) }
        defer { api.stop() }
        let server = try TestServer(config: try Self.config(api: api, redis: redis))
        defer { server.stop() }
        func ready() throws -> Bool { try TestHTTP.request(port: server.port, method: "GET", path: "/readyz").status == 200 }
        var deadline = Date().addingTimeInterval(5)
        while Date() < deadline, try !ready() { usleep(50_000) }
        #expect(try ready(), "ready once Redis answers")
        if outage == "killed" { redis.stop() } else { redis.pause() }
        usleep(200_000)
        let body = IngressTests.event(id: "evt-outage-\(outage)")
        let started = Date()
        #expect(try IngressTests.post(server.port, body, headers: IngressTests.signed(body)).status == 503)
        #expect(Date().timeIntervalSince(started) < 6, "a hung Redis is given up on after the reply timeout (3 s)")
        #expect(try !ready())
        if outage == "killed" { try redis.start() } else { redis.resume() }
        deadline = Date().addingTimeInterval(10)
        while Date() < deadline, try !ready() { usleep(100_000) }  // reconnects every 500 ms
        #expect(try ready())
        // Telnyx redelivers the refused webhook: now it is applied.
        #expect(try IngressTests.post(server.port, body, headers: IngressTests.signed(body)).status == 200)
        #expect(api.waitFor(1).filter { $0.path.hasSuffix("/answer") }.count == 1)
    }
}
