import CallflowCore
import CallflowTestSupport
import Foundation
import Testing

#if canImport(Glibc)
    import Glibc
#endif

/// The `callflow` executable as a new user runs it: flow names and paths, usage errors, `dev`
/// answered from the shipped mocks, and `telnyx apps delete` asking first.
@Suite(.serialized) struct CLITests {
    struct Run {
        var status: Int32
        var stdout: String
        var stderr: String
    }

    enum Input {
        case none
        case text(String)
        /// A terminal (a pseudo-terminal) on which this is typed.
        case terminal(String)
    }

    /// Runs `callflow args` in `directory` and waits for it to exit (a hang is killed and fails the test).
    static func callflow(
        _ args: [String], in directory: URL = Fixtures.repoRoot, input: Input = .none,
        environment: [String: String] = [:], binary: String = CrashRecoveryTests.binary
    ) throws -> Run {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: binary)
        p.arguments = args
        p.currentDirectoryURL = directory
        var env = ProcessInfo.processInfo.environment
        env["CALLFLOW_CONFIG"] = nil
        p.environment = env.merging(environment) { $1 }
        let out = FileManager.default.temporaryDirectory.appendingPathComponent("callflow-cli-\(UUID())")
        let err = out.appendingPathExtension("err")
        _ = FileManager.default.createFile(atPath: out.path, contents: nil)
        _ = FileManager.default.createFile(atPath: err.path, contents: nil)
        defer { try? FileManager.default.removeItem(at: out); try? FileManager.default.removeItem(at: err) }
        p.standardOutput = try FileHandle(forWritingTo: out)
        p.standardError = try FileHandle(forWritingTo: err)
        var master: Int32 = -1
        switch input {
        case .none: p.standardInput = FileHandle.nullDevice
        case .text(let text):
            let pipe = Pipe()
            p.standardInput = pipe
            pipe.fileHandleForWriting.write(Data(text.utf8))
            try pipe.fileHandleForWriting.close()
        case .terminal(let text):
            // A pseudo-terminal pair: unlock the new one (TIOCSPTLCK) and open its other end (TIOCGPTN).
            master = open("/dev/ptmx", O_RDWR | O_NOCTTY)
            var unlock: Int32 = 0
            var number: UInt32 = 0
            #expect(master >= 0 && ioctl(master, 0x4004_5431, &unlock) == 0 && ioctl(master, 0x8004_5430, &number) == 0)
            let slave = open("/dev/pts/\(number)", O_RDWR | O_NOCTTY)
            #expect(slave >= 0)
            p.standardInput = FileHandle(fileDescriptor: slave, closeOnDealloc: true)
            _ = text.withCString { write(master, $0, strlen($0)) }
        }
        defer { if master >= 0 { close(master) } }
        let done = DispatchSemaphore(value: 0)
        p.terminationHandler = { _ in done.signal() }
        try p.run()
        if done.wait(timeout: .now() + 120) == .timedOut {
            p.terminate()
            Issue.record("callflow \(args.joined(separator: " ")) did not exit")
            done.wait()
        }
        return Run(
            status: p.terminationStatus, stdout: String(decoding: try Data(contentsOf: out), as: UTF8.self),
            stderr: String(decoding: try Data(contentsOf: err), as: UTF8.self))
    }

    @Test(arguments: ["main", "flows/main.json", "./flows/main.json"])
    func simulateTakesANameOrAPath(_ flow: String) throws {
        let run = try Self.callflow(["simulate", flow, "--digits", "2,1234#", "--http-mock", "mocks.json"])
        #expect(run.status == 0, "\(run.stderr)")
        #expect(run.stdout.contains("→ GET https://crm.example.com/accounts/***"))  // the account number is a sensitive gather
        #expect(!run.stdout.contains("1234"))
        #expect(run.stdout.contains("▸ main/sales (transfer) via gold"))
        #expect(!run.stdout.contains("no mock"), "mocks.json answers every request: \(run.stdout)")
        #expect(run.stdout.hasSuffix("ending: transferred\n"))
    }

    @Test func errorsPrintTheSubcommandsUsage() throws {
        let run = try Self.callflow(["simulate", "nosuch"])
        #expect(run.status == 64)
        #expect(
            run.stderr.hasPrefix(
                "Error: no flow \"nosuch\" in flows/ (flows: ai-receptionist, bilingual, main, reminder, support, support-callback, support-line, voicemail)\nUsage: callflow simulate "
            ))
        #expect(run.stderr.contains("See 'callflow simulate --help'"))
        let graph = try Self.callflow(["graph", "main", "--format", "png"])
        #expect(graph.stderr.hasPrefix("Error: --format is mermaid or dot, got \"png\"\nUsage: callflow graph "))
    }

    @Test func withoutAFlowsDirectoryTheErrorSaysSo() throws {
        let empty = FileManager.default.temporaryDirectory.appendingPathComponent("callflow-empty-\(UUID())")
        try FileManager.default.createDirectory(at: empty, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: empty) }
        for args in [["simulate", "main"], ["graph", "main"], ["check"], ["dev", "--digits", "1"]] {
            let run = try Self.callflow(args, in: empty)
            #expect(run.status == 64, "\(args)")
            #expect(
                run.stderr.hasPrefix(
                    "Error: no flows directory here (flows/); use --flows DIR or give a path to a flow file\nUsage: callflow \(args[0])"),
                "\(args): \(run.stderr)")
        }
        // A path works from anywhere: its folder is the flows directory.
        let run = try Self.callflow(["graph", Fixtures.repoRoot.appendingPathComponent("flows/main.json").path], in: empty)
        #expect(run.status == 0 && run.stdout.hasPrefix("flowchart TD"), "\(run.stderr)")
    }

    @Test func aBrokenDraftDoesNotStopAnotherFlow() throws {
        let dir = try FlowSelectionTests.folder(["good": FlowSelectionTests.good, "draft": FlowSelectionTests.broken])
        defer { try? FileManager.default.removeItem(at: dir) }
        let good = try Self.callflow(["simulate", "good"], in: dir)
        #expect(good.status == 0)
        #expect(
            good.stderr
                == "callflow: warning: flows/draft.json has errors and is skipped (good does not reach it; callflow check flows/draft.json shows why)\n"
        )
        #expect(good.stdout.hasSuffix("ending: flow_hung_up\n"))
        let draft = try Self.callflow(["simulate", "flows/draft.json"], in: dir)
        #expect(draft.status == 1)
        #expect(draft.stderr.contains("flows/draft.json: /nodes/a/type: unknown node type \"answr\""))
        #expect(draft.stderr.contains("callflow: flow \"draft\" cannot run: flows/draft.json has errors"))
        // check stays strict over the directory; a name checks that flow and notes the broken neighbour.
        #expect(try Self.callflow(["check"], in: dir).status == 1)
        let named = try Self.callflow(["check", "good"], in: dir)
        #expect(named.status == 0 && named.stdout.contains("flows/draft.json: /: warning: has errors (good does not reach it"), "\(named.stdout)")
        #expect(try Self.callflow(["check", "good", "--strict"], in: dir).status == 1)
    }

    @Test func scenarioFilesAreChecked() throws {
        // A copy of the shipped flows beside a scenarios folder (copies, never links to the repository's files).
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("callflow-scenarios-\(UUID())")
        try FileManager.default.createDirectory(at: dir.appendingPathComponent("scenarios"), withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        try FileManager.default.copyItem(at: Fixtures.repoRoot.appendingPathComponent("flows"), to: dir.appendingPathComponent("flows"))
        try Data(#"{"flow":"main","expect":{"path":["main/menuu"]}}"#.utf8).write(to: dir.appendingPathComponent("scenarios/typo.json"))
        // A path in "flow" is relative to the scenario file.
        try Data(
            #"{"flow":"../flows/main.json","caller":{"digits":["1"]},"http":{"POST https://crm.example.com/calls":{"status":204}},"expect":{"path":["main/sales"],"ending":"transferred"}}"#
                .utf8
        )
        .write(to: dir.appendingPathComponent("scenarios/path.json"))
        let run = try Self.callflow(["test", "scenarios"], in: dir)
        #expect(run.status == 1)
        #expect(run.stdout.contains("PASS path\n"), "\(run.stdout)")
        #expect(
            run.stdout.contains(
                "FAIL typo: scenarios/typo.json:1:34: /expect/path/0: flow \"main\" has no node \"menuu\"; did you mean \"main/menu\"?\n"),
            "\(run.stdout)")
        #expect(run.stdout.hasSuffix("1 passed, 1 failed\n"))
    }

    /// The benchmark drivers live in `callflow-bench`; the shipping binary has none of them.
    @Test func benchmarksAreOnlyInTheBenchBinary() throws {
        let help = try Self.callflow(["--help"])
        #expect(help.stdout.contains("simulate"))
        #expect(!help.stdout.contains("bench-"))
        let gone = try Self.callflow(["bench-soak"])
        #expect(gone.status != 0 && gone.stderr.contains("Unexpected argument 'bench-soak'"), "callflow bench-soak still runs: \(gone.stderr)")
        let bench = try Self.callflow(["--help"], binary: CrashRecoveryTests.benchBinary)
        #expect(bench.status == 0, "\(bench.stderr)")
        for name in ["bench-calls", "bench-commands", "bench-memory", "bench-soak", "bench-webhooks"] {
            #expect(bench.stdout.contains(name), "callflow-bench --help lists \(name): \(bench.stdout)")
        }
    }

    @Test func devAnswersHTTPNodesFromTheShippedMocks() throws {
        let run = try Self.callflow([
            "dev", "--port", "0", "--speed", "50", "--now", "2026-11-23T10:00:00-06:00", "--digits", "2,1234#", "--log-file",
            FileManager.default.temporaryDirectory.appendingPathComponent("callflow-dev-\(UUID()).log").path,
        ])
        #expect(run.status == 0, "\(run.stderr)")
        #expect(run.stdout.contains("http nodes: answered from mocks.json"))
        #expect(run.stdout.contains("☎ call started"))
        #expect(run.stdout.contains("→ transfer +13125550001"), "the gold account from mocks.json goes to sales: \(run.stdout)")
        #expect(run.stdout.hasSuffix("☎ call ended\n"))
        #expect(!run.stdout.contains("no mock for"))
    }

    @Test func devNamesTheMissingMock() throws {
        let log = FileManager.default.temporaryDirectory.appendingPathComponent("callflow-dev-\(UUID()).log")
        defer { try? FileManager.default.removeItem(at: log) }
        let run = try Self.callflow(
            ["dev", "--port", "0", "--speed", "50", "--now", "2026-11-23T10:00:00-06:00", "--log-file", log.path], input: .text("c2\n7777#\n"))
        #expect(run.status == 0, "\(run.stderr)")
        #expect(
            run.stdout.contains(
                "   ! warning: http node \"lookup\": no mock for \"GET https://crm.example.com/accounts/7777\" (add it to mocks.json) (details in \(log.path))"
            ),
            "\(run.stdout)")
        #expect(run.stdout.contains("caller presses 7777#"), "typed-ahead keys wait for the gather")
        #expect(try String(contentsOf: log, encoding: .utf8).contains("WARNING http node \"lookup\": no mock for"), "the details are in the log file")
    }

    @Test func devStartsTheClockAtNow() throws {
        // Saturday 14:00 in Chicago: main's hours node is closed, the call goes to voicemail.
        let run = try Self.callflow([
            "dev", "--port", "0", "--speed", "50", "--digits", "", "--now", "2026-11-21T14:00:00-06:00",
            "--log-file", FileManager.default.temporaryDirectory.appendingPathComponent("callflow-dev-\(UUID()).log").path,
        ])
        #expect(run.status == 0, "\(run.stderr)")
        #expect(run.stdout.contains("→ record_start"), "\(run.stdout)")
        let bad = try Self.callflow(["dev", "--now", "saturday"])
        #expect(bad.stderr.hasPrefix("Error: --now must look like 2026-11-23T10:00:00-06:00"))
    }

    static func deleteAPI() throws -> FakeHTTPServer {
        try FakeHTTPServer { r, _ in
            let app = #"{"data":{"id":"9","record_type":"call_control_application","application_name":"ivr"}}"#
            switch (r.method, r.path) {
            case ("GET", "/v2/call_control_applications/9"), ("DELETE", "/v2/call_control_applications/9"): return .status(200, app)
            default: return .status(404, #"{"errors":[{"code":"10005","title":"Resource not found"}]}"#)
            }
        }
    }

    @Test func deleteAsksFirst() throws {
        let api = try Self.deleteAPI()
        defer { api.stop() }
        let env = ["TELNYX_API_KEY": "KEY_test", "TELNYX_API_BASE_URL": "http://127.0.0.1:\(api.port)/v2"]
        let piped = try Self.callflow(["telnyx", "apps", "delete", "9"], input: .text("y\n"), environment: env)
        #expect(piped.status == 1)
        #expect(
            piped.stderr
                == "callflow: refusing to delete Call Control Application 9 without confirmation: standard input is not a terminal; pass --yes to do it anyway\n"
        )
        #expect(api.requests.isEmpty, "nothing is sent before the answer")

        let no = try Self.callflow(["telnyx", "apps", "delete", "9"], input: .terminal("n\n"), environment: env)
        #expect(no.status == 1)
        #expect(no.stderr.contains("delete Call Control Application 9 (ivr); numbers assigned to it stop reaching this server? [y/N]"))
        #expect(!api.requests.contains { $0.method == "DELETE" })

        let yes = try Self.callflow(["telnyx", "apps", "delete", "9"], input: .terminal("y\n"), environment: env)
        #expect(yes.status == 0, "\(yes.stderr)")
        #expect(yes.stdout == "deleted 9\n")
        #expect(api.requests.filter { $0.method == "DELETE" }.count == 1)

        let skip = try Self.callflow(["telnyx", "apps", "delete", "9", "--yes"], environment: env)
        #expect(skip.status == 0 && skip.stdout == "deleted 9\n")
        #expect(api.requests.filter { $0.method == "DELETE" }.count == 2)
    }
}
