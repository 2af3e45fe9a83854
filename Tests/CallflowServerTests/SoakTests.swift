import CallflowTestSupport
import Foundation
import TelnyxEmulator
import Testing

#if canImport(Glibc)
    import Glibc
#endif

/// The short soak (bench/soak.sh in little): `callflow-bench bench-soak` places calls through a real
/// `callflow serve` (SQLite) with Telnyx's faults injected over HTTP while the server is killed with
/// SIGKILL twice and restarted on the same database. The emulator checks the invariants.
@Suite(.serialized) struct SoakTests {
    static let faults =
        "commands_5xx=0.08,commands_429=0.04,retry_after=1,duplicate=0.15,reorder=0.1,reorder_ms=300,"
        + "late=0.03,late_ms=1500,slow_api=0.05,slow_api_ms=1500,lost_ack=0.05,seed=11"

    @Test func faultTextParsesAndNamesMistakes() throws {
        let f = try LiveFaults.parse(
            " commands_5xx=0.1, commands_429=0.05,duplicate=0.1,reorder=0.1,late=0.2,late_ms=2000,slow_api=1,slow_api_ms=300,seed=7")
        #expect(f.commands5xx == 0.1 && f.commands429 == 0.05 && f.duplicate == 0.1 && f.reorder == 0.1 && f.reorderMs == 300)
        #expect(f.late == 0.2 && f.lateMs == 2000 && f.slowAPI == 1 && f.slowAPIMs == 300 && f.seed == 7 && f.any)
        #expect(try LiveFaults.parse(f.description) == f, "the banner text parses back")
        #expect(try LiveFaults.parse("") == LiveFaults() && !LiveFaults().any)
        #expect(try LiveFaults.parse("none") == LiveFaults())
        #expect([100, 200, 400, 800, 1600, 2000, 2000] == (1...7).map { LiveFaults().redeliveryDelayMs(afterAttempt: $0) })
        for (text, message) in [
            ("comands_5xx=0.1", "did you mean \"commands_5xx\"?"), ("duplicate=2", "share from 0 to 1"),
            ("late_ms=100", "give late=SHARE too"), ("seed", "is not key=value"), ("seed=1,seed=2", "given twice"),
            ("commands_5xx=0.6,commands_429=0.6", "exceed 1"), ("attempts=0", "whole number from 1"),
        ] {
            #expect { try LiveFaults.parse(text) } throws: { "\($0)".contains(message) }
        }
    }

    @Test func faultDrawsAreSeeded() {
        func seeded(_ seed: UInt64) -> LiveFaults {
            var f = LiveFaults()
            f.seed = seed
            return f
        }
        let a = seeded(7), b = seeded(7), c = seeded(8)
        let keys = (0..<2000).map { "v3:emu-call-\($0)/cf-\($0)-1" }
        #expect(keys.map { a.draw("api", $0, 0) } == keys.map { b.draw("api", $0, 0) }, "same seed, same faults")
        #expect(keys.map { a.draw("api", $0, 0) } != keys.map { c.draw("api", $0, 0) })
        #expect(keys.map { a.draw("api", $0, 0) } != keys.map { a.draw("api", $0, 1) }, "a retry draws afresh")
        let hits = keys.filter { a.draw("duplicate", $0, 0) < 0.1 }.count
        #expect((140...260).contains(hits), "a share of 0.1 of 2000: \(hits)")
    }

    @Test func devInjectsFaults() throws {
        let run = try CLITests.callflow([
            "dev", "--port", "0", "--speed", "50", "--now", "2026-11-23T10:00:00-06:00", "--digits", "2,1234#",
            "--faults", "commands_5xx=0.3,duplicate=0.5,seed=3", "--log-file",
            FileManager.default.temporaryDirectory.appendingPathComponent("callflow-dev-\(UUID()).log").path,
        ])
        #expect(run.status == 0, "\(run.stderr)")
        #expect(run.stdout.contains("faults: commands_5xx=0.3,duplicate=0.5"), "\(run.stdout)")
        #expect(run.stdout.contains("(API answered 50"), "some command was refused and retried: \(run.stdout)")
        #expect(run.stdout.contains("→ transfer +13125550001"), "the call still reaches its end: \(run.stdout)")
        #expect(run.stdout.hasSuffix("☎ call ended\n"))
        let bad = try CLITests.callflow(["dev", "--faults", "dupliate=0.1"])
        #expect(bad.status != 0 && bad.stderr.contains("did you mean \"duplicate\"?"), "\(bad.stderr)")
    }

    @Test func soakWithFaultsAndTwoKillsKeepsTheInvariants() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("callflow-soak-\(UUID())")
        try FileManager.default.createDirectory(at: dir.appendingPathComponent("flows"), withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        try Data(CrashRecoveryTests.flow.utf8).write(to: dir.appendingPathComponent("flows/t.json"))
        let port = CrashRecoveryTests.freePort()
        let ready = dir.appendingPathComponent("ready")
        let output = dir.appendingPathComponent("driver.txt")
        _ = FileManager.default.createFile(atPath: output.path, contents: nil)
        let driver = Process()
        driver.executableURL = URL(fileURLWithPath: CrashRecoveryTests.benchBinary)
        driver.arguments = [
            "bench-soak", "--targets", String(port), "--rate", "8", "--duration", "25", "--faults", Self.faults,
            "--ready-file", ready.path,
        ]
        driver.standardOutput = try FileHandle(forWritingTo: output)
        driver.standardError = driver.standardOutput
        try driver.run()
        defer { if driver.isRunning { kill(driver.processIdentifier, SIGKILL); RedisProcess.reap(driver) } }
        let readyBy = Date().addingTimeInterval(20)
        var lines: [String] = []
        while Date() < readyBy {
            lines = ((try? String(contentsOf: ready, encoding: .utf8)) ?? "").split(separator: "\n").map(String.init)
            if lines.count == 2 { break }
            usleep(20_000)
        }
        #expect(lines.count == 2, "bench-soak never wrote its ready file")
        guard lines.count == 2 else { return }
        let config = dir.appendingPathComponent("config.json")
        try Data(
            """
            {"server":{"host":"127.0.0.1","port":\(port)},"flows":{"dir":"\(dir.path)/flows","default":"t"},
             "telnyx":{"command_timeout_ms":1000,"max_attempts":10},
             "store":{"kind":"sqlite","path":"\(dir.path)/calls.db"},"log":{"level":"info","format":"text"}}
            """.utf8
        ).write(to: config)
        let env = [
            "TELNYX_PUBLIC_KEY": lines[0], "TELNYX_API_KEY": "KEY_soak",
            "TELNYX_API_BASE_URL": "http://127.0.0.1:\(lines[1])/v2", "PORT": String(port),
        ]
        let log = dir.appendingPathComponent("server.log")
        var rng = SplitMix(seed: 20261201)
        var server = try CrashRecoveryTests.startServer(config: config.path, env: env, log: log)
        for started in 1...2 {
            #expect(CrashRecoveryTests.waitForLines("listening", count: started, in: log), "start \(started) never came up")
            usleep(useconds_t(2_000_000 + rng.next() % 6_000_000))  // a random point mid-run, counted from "listening"
            #expect(server.isRunning, "the server died on its own")
            kill(server.processIdentifier, SIGKILL)
            RedisProcess.reap(server)
            server = try CrashRecoveryTests.startServer(config: config.path, env: env, log: log)
        }
        #expect(CrashRecoveryTests.waitForLines("listening", count: 3, in: log), "the last start never came up")
        let status = RedisProcess.reap(driver, timeoutSeconds: 240)
        kill(server.processIdentifier, SIGTERM)
        #expect(RedisProcess.reap(server) == 0, "SIGTERM drains and exits 0")
        let text = (try? String(contentsOf: output, encoding: .utf8)) ?? ""
        var figures: [String: Int] = [:]
        for line in text.split(separator: "\n") {
            let parts = line.split(separator: ":", maxSplits: 1).map { $0.trimmingCharacters(in: .whitespaces) }
            if parts.count == 2, let v = Int(parts[1]) { figures[parts[0]] = v }
        }
        let serverLog = (try? String(contentsOf: log, encoding: .utf8)) ?? ""
        let incomplete = text.split(separator: "\n").filter { $0.hasPrefix("incomplete: ") }.compactMap { $0.split(separator: " ").dropFirst().first }
        let about = serverLog.split(separator: "\n").filter { line in incomplete.contains { line.contains($0) } }.suffix(40).joined(separator: "\n")
        #expect(status == 0, "bench-soak reported a failed invariant or did not finish:\n\(text)\nserver log on incomplete calls:\n\(about)")
        #expect(figures["calls_placed"] == 200, "\(text)")
        #expect(figures["calls_completed"] == figures["calls_placed"], "every call completes:\n\(text)")
        #expect(figures["conflicting_duplicates"] == 0, "no command_id twice with different bodies:\n\(text)")
        #expect(figures["commands_after_hangup"] == 0, "no new command after an acknowledged hang-up:\n\(text)")
        // The faults and the kills really happened.
        for key in [
            "commands_retried", "injected_5xx", "injected_429", "slow_answers", "webhooks_duplicated", "webhooks_reordered",
            "webhooks_late", "webhook_acks_lost", "webhook_redeliveries",
        ] {
            #expect((figures[key] ?? 0) > 0, "\(key) is 0:\n\(text)")
        }
        let restores = serverLog.split(separator: "\n").filter { $0.contains("state restored") }
        #expect(restores.count == 3, "one start and two restarts: \(restores.count)")
        #expect(restores.contains { !$0.contains("restored=0 live calls, 0 unsent commands") }, "no restart had work to resume: \(restores)")
    }
}
