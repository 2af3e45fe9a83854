import CallflowCore
import CallflowRuntime
import CallflowServer
import CallflowTestSupport
import Foundation
import Testing

#if canImport(Glibc)
    import Glibc
#endif

@Suite(.serialized) struct OperationsTests {
    static let token = "ops-test-token-0123456789"

    static func get(_ port: Int, _ path: String, token: String? = OperationsTests.token) throws -> RawResponse {
        try TestHTTP.request(port: port, method: "GET", path: path, headers: token.map { [("Authorization", "Bearer \($0)")] } ?? [])
    }

    static func post(_ port: Int, _ path: String, _ body: String, token: String? = OperationsTests.token) throws -> RawResponse {
        try TestHTTP.request(
            port: port, method: "POST", path: path,
            headers: (token.map { [("Authorization", "Bearer \($0)")] } ?? []) + [("Content-Type", "application/json")],
            body: Array(body.utf8))
    }

    @Test func outboundCallThroughTheControlAPI() throws {
        var call = EndToEnd.Call()
        call.script.inputs = ["1"]
        call.apiCall = [
            "to": "+13125550199", "from": "+13125550100", "connection_id": "emulator-connection", "flow": "reminder",
            "vars": ["appointment_time": "Friday at 9 AM", "appointment_id": "A9"], "machine_detection": "detect",
        ]
        let o = try EndToEnd.run(call)
        #expect(o.finished)
        let reply = try #require(o.apiReply)
        #expect(reply.status == 201, "\(reply.body)")
        #expect(reply.body.contains("\"call_control_id\":\"v3:emu-leg-"))
        let dial = try #require(o.commands.first)
        #expect(dial.action == "dial")
        #expect(dial.body["answering_machine_detection"] == "detect")
        #expect(StepTag(clientState: dial.body["client_state"]?.stringValue)?.dial != nil)
        #expect(o.actions.dropFirst().first == "gather_using_speak")
        #expect(o.prompts.first?.contains("Friday at 9 AM") == true)
        #expect(o.actions.last == "hangup")
    }

    static let v1 = #"{"start":"a","nodes":{"a":{"type":"answer","next":"s"},"s":{"type":"say","text":"one","next":"e"},"e":{"type":"hangup"}}}"#
    static let v2 = #"{"start":"a","nodes":{"a":{"type":"answer","next":"s"},"s":{"type":"say","text":"two","next":"e"},"e":{"type":"hangup"}}}"#

    /// A call in progress finishes on its revision, new calls get the new one, a broken reload
    /// changes nothing, with SIGHUP (a signal needs the live server; the same through
    /// `POST /admin/reload` is `HTTPHandlingTests.reloadThroughTheAPI`).
    @Test func reloadOnSIGHUP() throws {
        let api = try FakeHTTPServer { _, _ in .status(200, #"{"data":{"result":"ok"}}"#) }
        var config = try TelnyxSide.config(api: api, flows: ["t": Self.v1], defaultFlow: "t")
        config.server.adminToken = Self.token
        let server = try TestServer(config: config, handleSignals: true)
        defer { server.stop() }
        var t = TelnyxSide(server: server, api: api)
        let file = URL(fileURLWithPath: config.flows.dir).appendingPathComponent("t.json")
        func reload() {
            kill(getpid(), SIGHUP)
            usleep(200_000)
        }
        func revision() throws -> String? { try JSONParser.parse(try Self.get(server.port, "/v1/flows").body)["revision"]?.stringValue }
        let first = try revision()
        try t.initiated("v3:old")
        api.waitFor(1)
        try Data(Self.v2.utf8).write(to: file)
        reload()
        #expect(try revision() != first)
        try t.send("call.answered", call: "v3:old")
        try t.initiated("v3:new")
        api.waitFor(3)
        try t.send("call.answered", call: "v3:new")
        api.waitFor(4)
        #expect(t.commands(for: "v3:old").last?.body["payload"] == "one", "the call in progress keeps its revision")
        #expect(t.commands(for: "v3:new").last?.body["payload"] == "two", "new calls use the new revision")
        // A broken flow: the reload is refused and the current flows stay.
        let good = try revision()
        try Data(#"{"start":"a","nodes":{"a":{"type":"say","text":"{{oops}}","next":"a"}}}"#.utf8).write(to: file)
        reload()
        #expect(try revision() == good)
        try t.initiated("v3:third")
        api.waitFor(5)
        try t.send("call.answered", call: "v3:third")
        api.waitFor(6)
        #expect(t.commands(for: "v3:third").last?.body["payload"] == "two")
    }

    @Test func sigtermDrainsQueuedCommandsThenStops() throws {
        let api = try FakeHTTPServer { _, _ in .after(ms: 400, .status(200, #"{"data":{"result":"ok"}}"#)) }
        let config = try TelnyxSide.config(api: api, flows: ["t": Self.v1], defaultFlow: "t")
        let server = try TestServer(config: config, handleSignals: true)
        var t = TelnyxSide(server: server, api: api)
        try t.initiated("v3:c1")
        try t.initiated("v3:c2")
        api.waitFor(1)
        kill(getpid(), SIGTERM)
        #expect(server.waitUntilStopped(seconds: 5), "the server did not stop after SIGTERM")
        #expect(api.requests.count == 2, "queued commands were sent before exit")
    }
}

@Suite(.serialized) struct ObservabilityTests {
    @Test func metricsAfterAnEmulatedCall() throws {
        var call = EndToEnd.Call()
        call.script.inputs = ["1"]
        let o = try EndToEnd.run(call)
        #expect(o.finished)
        let m = o.metrics
        #expect(m.contains(#"callflow_webhooks_total{event_type="call.initiated",outcome="accepted"} 1"#), "\(m)")
        #expect(m.contains(#"callflow_webhooks_total{event_type="call.gather.ended",outcome="accepted"} 1"#))
        #expect(m.contains(#"callflow_commands_total{action="answer",result="ok"} 1"#))
        #expect(m.contains(#"callflow_commands_total{action="transfer",result="ok"} 1"#))
        #expect(m.contains(#"callflow_node_entries_total{flow="main",node="menu"} 1"#))
        #expect(m.contains(#"callflow_node_exits_total{flow="main",node="menu",outcome="1"} 1"#))
        #expect(m.contains(#"callflow_node_exits_total{flow="main",node="sales",outcome="hangup"} 1"#))
        #expect(m.contains(#"callflow_calls_total{event="started"} 1"#))
        #expect(m.contains(#"callflow_calls_total{event="ended"} 1"#))
        #expect(m.contains(#"callflow_command_duration_seconds_count{action="speak""#) == false)
        #expect(m.contains(#"callflow_command_duration_seconds_count{action="gather_using_speak",result="ok"} 1"#))
        #expect(m.contains("callflow_active_calls 0"))
        #expect(m.contains("callflow_outbox_depth 0"))
        #expect(m.contains("# TYPE callflow_webhook_handling_seconds histogram"))
    }

    @Test func sensitiveDigitsAppearNowhere() throws {
        var call = EndToEnd.Call()
        call.script.inputs = ["2", "97531#"]
        let o = try EndToEnd.run(call)
        #expect(o.finished)
        #expect(o.logs.count > 3)
        for line in o.logs { #expect(!line.contains("97531"), "log line leaks the account: \(line)") }
        #expect(!o.metrics.contains("97531"))
        #expect(!o.callDocument.isEmpty)
        #expect(!o.callDocument.contains("97531"), "trace leaks the account: \(o.callDocument)")
        #expect(o.callDocument.contains("***"))
        // Lines about the call say where it is and which event moved it.
        let warning = try #require(o.logs.first { $0.contains("http node \"lookup\"") })
        for key in ["call.control_id=", "flow=main", "flow.node=", "event_type="] { #expect(warning.contains(key), "\(warning)") }
        let ingest = try #require(o.logs.first { $0.contains("duplicate") || $0.contains("webhook accepted") || $0.contains("webhook ignored") })
        #expect(ingest.contains("event_type=") && ingest.contains("call.control_id="), "\(ingest)")
    }
}

@Suite(.serialized) struct ReplayTests {
    @Test func replayAgreesWithTheRecordingAndFindsWhereANewRevisionDiffers() throws {
        var call = EndToEnd.Call()
        call.script.inputs = ["9", "", "1"]
        let o = try EndToEnd.run(call)
        #expect(o.finished)
        let document = try JSONParser.parse(o.callDocument)
        let inputs = try #require(document["inputs"]?.arrayValue)
        #expect(inputs.count > 5)
        #expect(inputs.first?["start"] != nil, "a recording begins with the call's start")
        #expect(inputs.contains { $0["webhook"]?["event_type"]?.stringValue == "call.hangup" }, "the hangup webhook is kept")
        #expect(o.recordedCalls == 0, "a late webhook for an ended call starts no recording")
        let flowsDir = Fixtures.repoRoot.appendingPathComponent("flows").path
        let (flows, _, _) = FlowLoader.load(paths: [flowsDir])
        let same = Replay.run(document: document, flows: try #require(flows))
        #expect(same.firstDifference == nil, "\(same.text)")
        #expect(same.notes.isEmpty, "\(same.notes)")
        #expect(same.original.count >= 10)
        // A new revision where 1 goes to goodbye instead of sales.
        let main = try String(contentsOfFile: flowsDir + "/main.json", encoding: .utf8)
            .replacingOccurrences(of: #""choices": { "1": "sales", "2": "account" }"#, with: #""choices": { "1": "bye", "2": "account" }"#)
        let changed = try TelnyxSide.flowsDir([
            "main": main, "voicemail": try String(contentsOfFile: flowsDir + "/voicemail.json", encoding: .utf8),
            "reminder": try String(contentsOfFile: flowsDir + "/reminder.json", encoding: .utf8),
        ])
        let (newFlows, diagnostics, _) = FlowLoader.load(paths: [changed])
        #expect(diagnostics.filter { $0.severity == .error }.isEmpty, "\(diagnostics)")
        let report = Replay.run(document: document, flows: try #require(newFlows))
        let index = try #require(report.firstDifference, "\(report.text)")
        #expect(report.original[index].text == "main/sales")
        #expect(report.replayed[index].text == "main/bye")
        #expect(report.text.contains("decisions differ from"))

        // The CLI says it in its exit status, as `diff` does: 0 same, 1 different, 2 unreadable.
        let file = FileManager.default.temporaryDirectory.appendingPathComponent("replay-\(UUID().uuidString).json")
        try Data(o.callDocument.utf8).write(to: file)
        defer { try? FileManager.default.removeItem(at: file) }
        #expect(try CLITests.callflow(["replay", file.path]).status == 0)
        let differs = try CLITests.callflow(["replay", file.path, "--flow", changed + "/main.json"])
        #expect(differs.status == 1, "\(differs.stdout)\(differs.stderr)")
        #expect(differs.stdout.contains("decisions differ from"))
        let broken = FileManager.default.temporaryDirectory.appendingPathComponent("replay-broken-\(UUID().uuidString).json")
        try Data("{".utf8).write(to: broken)
        defer { try? FileManager.default.removeItem(at: broken) }
        #expect(try CLITests.callflow(["replay", broken.path]).status == 2)
    }

    @Test func sensitiveDigitsAreNotRecordedAndTheReplaySaysSo() throws {
        var call = EndToEnd.Call()
        call.script.inputs = ["2", "4444#"]
        let o = try EndToEnd.run(call)
        #expect(!o.callDocument.contains("4444"), "recorded digits of the sensitive gather are masked")
        let (flows, _, _) = FlowLoader.load(paths: [Fixtures.repoRoot.appendingPathComponent("flows").path])
        let report = Replay.run(document: try JSONParser.parse(o.callDocument), flows: try #require(flows))
        #expect(report.notes.contains { $0.contains("sensitive gather were not recorded") })
    }
}
