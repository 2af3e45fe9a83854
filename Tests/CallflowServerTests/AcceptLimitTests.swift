import CallflowServer
import Foundation
import Testing

#if canImport(Glibc)
    import Glibc
#endif

/// What happens when connections use up the file-descriptor limit: the server pauses accepting
/// and says so once, instead of retrying accept() (and logging) in a tight loop, and serves again
/// as soon as descriptors free up.
@Suite(.serialized) struct AcceptLimitTests {
    static func waitFor(_ seconds: Double, _ condition: () -> Bool) -> Bool {
        let deadline = Date().addingTimeInterval(seconds)
        while Date() < deadline {
            if condition() { return true }
            usleep(50_000)
        }
        return condition()
    }

    @Test func runningOutOfFileDescriptorsPausesAcceptingAndReportsOnce() throws {
        #expect(FileManager.default.isExecutableFile(atPath: CrashRecoveryTests.binary))
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("callflow-emfile-\(UUID())")
        try FileManager.default.createDirectory(at: dir.appendingPathComponent("flows"), withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        try Data(FirstDeployTests.say.utf8).write(to: dir.appendingPathComponent("flows/main.json"))
        let port = CrashRecoveryTests.freePort()
        let config = dir.appendingPathComponent("config.json")
        // max_connections far above what 64 descriptors allow, so accept() itself runs out.
        try Data(#"{"server":{"host":"127.0.0.1","port":\#(port),"max_connections":1000},"store":{"kind":"memory"},"log":{"format":"text"}}"#.utf8)
            .write(to: config)
        let log = dir.appendingPathComponent("server.log")
        _ = FileManager.default.createFile(atPath: log.path, contents: nil)
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/bin/sh")
        p.arguments = ["-c", "ulimit -n 64 && exec \"$0\" serve --config \"$1\"", CrashRecoveryTests.binary, config.path]
        p.environment = ProcessInfo.processInfo.environment.merging([
            "TELNYX_PUBLIC_KEY": IngressTests.signer.publicKeyBase64,
            "TELNYX_API_KEY": "KEY_emfile",
        ]) { $1 }
        p.standardOutput = FileHandle.nullDevice
        p.standardError = try FileHandle(forWritingTo: log)
        try p.run()
        defer { if p.isRunning { p.terminate(); p.waitUntilExit() } }
        func logText() -> String { (try? String(contentsOf: log, encoding: .utf8)) ?? "" }
        #expect(Self.waitFor(20) { logText().contains("listening") }, "the server started: \(logText())")
        #expect(logText().contains("server.max_connections is 1000 but the file limit (ulimit -n) is 64"))

        // Idle connections (no request) until well past the limit; the rest wait in the backlog.
        var idle: [RawConnection] = []
        for _ in 0..<90 { if let c = try? RawConnection(port: port, timeoutSeconds: 1) { idle.append(c) } }
        #expect(Self.waitFor(10) { logText().contains("accept() failed: Too many open files") }, "reported: \(logText())")
        // A second of exhaustion: the old code logged libevent's warning hundreds of thousands of times.
        usleep(1_000_000)
        let reports = logText().split(separator: "\n").filter { $0.contains("accept") }
        #expect(reports.count <= 2, "one report per interval, not one per attempt: \(reports.count) lines")
        #expect(p.isRunning)

        idle.removeAll()  // closes them: descriptors free up
        var served = false
        #expect(
            Self.waitFor(15) {
                served = (try? TestHTTP.request(port: port, method: "GET", path: "/healthz").status) == 200
                return served
            }, "a request is served again once descriptors are free")
        let metrics = try TestHTTP.request(port: port, method: "GET", path: "/metrics").body
        #expect(metrics.contains("callflow_accept_failures_total "), "counted in a metric")
        #expect(!metrics.contains("callflow_accept_failures_total 0\n"))
    }

    @Test(
        arguments: [
            (nil, 1024, 768, false), (nil, 1_048_576, 4096, false), (nil, 64, 48, false),
            (Optional(2000), 1024, 2000, true), (Optional(500), 1024, 500, false), (nil, nil, 4096, false),
        ] as [(Int?, Int?, Int, Bool)])
    func theDefaultConnectionLimitLeavesRoomUnderTheFileLimit(_ configured: Int?, _ fileLimit: Int?, _ expected: Int, _ warns: Bool) {
        let budget = ConnectionBudget(configured: configured, fileLimit: fileLimit)
        #expect(budget.maxConnections == expected)
        #expect((budget.warning != nil) == warns)
    }
}
