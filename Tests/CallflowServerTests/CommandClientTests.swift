import CallflowCore
import CallflowServer
import Foundation
import Testing

@Suite(.serialized) struct CommandClientTests {
    static let sayFlow =
        #"{"start":"a","nodes":{"a":{"type":"answer","next":"s"},"s":{"type":"say","text":"Hello","next":"e"},"e":{"type":"hangup"}}}"#
    static let ok = FakeHTTPServer.Reply.status(200, #"{"data":{"result":"ok"}}"#)

    static func start(
        _ responder: @escaping @Sendable (FakeHTTPServer.Received, Int) -> FakeHTTPServer.Reply,
        flows: [String: String] = ["t": sayFlow], attempts: Int = 4, commandTimeoutMs: Int = 2000,
        configure: (inout CallflowConfig) -> Void = { _ in }
    ) throws -> TelnyxSide {
        let api = try FakeHTTPServer(responder: responder)
        var config = try TelnyxSide.config(api: api, flows: flows, defaultFlow: "t", attempts: attempts, commandTimeoutMs: commandTimeoutMs)
        configure(&config)
        return TelnyxSide(server: try TestServer(config: config), api: api)
    }

    @Test func commandsGoOutInOrderWithTheRightRequest() throws {
        var t = try Self.start { _, _ in Self.ok }
        defer { t.server.stop() }
        try t.initiated("v3:c1")
        let first = try #require(t.api.waitFor(1).first)
        #expect(first.method == "POST")
        #expect(first.path == "/v2/calls/v3:c1/actions/answer")
        #expect(first.headers["authorization"] == "Bearer KEY_test_secret")
        #expect(first.headers["content-type"] == "application/json")
        #expect(first.json?["command_id"]?.stringValue?.hasPrefix("cf-") == true)
        #expect(StepTag(clientState: first.json?["client_state"]?.stringValue) != nil)
        try t.send("call.answered", call: "v3:c1")
        let second = t.api.waitFor(2)
        #expect(second.count == 2)
        #expect(second[1].path == "/v2/calls/v3:c1/actions/speak")
        #expect(second[1].json?["payload"] == "Hello")
        #expect(second[1].json?["voice"] == "female")
        // One kept-alive connection for both commands.
        #expect(t.api.connectionCount == 1)
    }

    @Test func serverErrorsAreRetriedWithTheSameCommandID() throws {
        var t = try Self.start { _, i in i < 2 ? .status(500, #"{"errors":[{"code":"90000","title":"oops"}]}"#) : Self.ok }
        defer { t.server.stop() }
        try t.initiated("v3:c1")
        let r = t.api.waitFor(3)
        #expect(r.count == 3)
        #expect(Set(r.map(\.body)).count == 1, "every attempt has the same body and command_id")
        #expect(r[1].at - r[0].at >= 0.09, "backoff observed")
        #expect(r[2].at - r[1].at >= 0.19, "backoff grows")
        usleep(300_000)
        #expect(t.api.requests.count == 3)
    }

    @Test func retryAfterIsHonoured() throws {
        var t = try Self.start { _, i in
            i == 0 ? .status(429, #"{"errors":[{"code":"10011","title":"Too Many Requests"}]}"#, headers: [("Retry-After", "1")]) : Self.ok
        }
        defer { t.server.stop() }
        try t.initiated("v3:c1")
        let r = t.api.waitFor(2)
        #expect(r.count == 2)
        #expect(r[1].at - r[0].at >= 0.99)
    }

    @Test func resetsAndSilenceAreRetried() throws {
        var t = try Self.start({ _, i in [FakeHTTPServer.Reply.reset, .silence, Self.ok][min(i, 2)] }, commandTimeoutMs: 300)
        defer { t.server.stop() }
        try t.initiated("v3:c1")
        let r = t.api.waitFor(3)
        #expect(r.count == 3)
        #expect(Set(r.map(\.body)).count == 1)
        #expect(r[2].at - r[1].at >= 0.29, "the silent attempt timed out before the retry")
    }

    @Test func otherClientErrorsAreFinalAndReachTheMachine() throws {
        var t = try Self.start { r, _ in
            r.path.hasSuffix("/answer")
                ? .status(422, #"{"errors":[{"code":"10015","title":"Invalid parameter","detail":"The call is in the wrong state"}]}"#)
                : Self.ok
        }
        defer { t.server.stop() }
        try t.initiated("v3:c1")
        let r = t.api.waitFor(2)
        #expect(r.map { $0.path.components(separatedBy: "/").last! } == ["answer", "hangup"], "not retried; the flow hangs up")
    }

    @Test func callAlreadyEndedStopsQuietly() throws {
        var t = try Self.start { _, _ in .status(422, #"{"errors":[{"code":"90018","title":"Call has already ended"}]}"#) }
        defer { t.server.stop() }
        try t.initiated("v3:c1")
        t.api.waitFor(1)
        usleep(400_000)
        #expect(t.api.requests.count == 1)
        try t.send("call.hangup", call: "v3:c1", ["hangup_cause": "normal_clearing"])
        usleep(100_000)
        #expect(t.api.requests.count == 1)
    }

    @Test func callsInterleaveWhileEachKeepsItsOrder() throws {
        let flow =
            #"{"start":"a","nodes":{"a":{"type":"command","action":"send_dtmf","params":{"digits":"1"},"next":"b"},"b":{"type":"say","text":"hi","next":"c"},"c":{"type":"hangup"}}}"#
        var t = try Self.start({ r, _ in r.path.contains("v3:slow/actions/send_dtmf") ? .after(ms: 400, Self.ok) : Self.ok }, flows: ["t": flow])
        defer { t.server.stop() }
        try t.initiated("v3:slow")
        try t.initiated("v3:fast")
        let r = t.api.waitFor(4)
        func at(_ call: String, _ action: String) -> Double? { r.first { $0.path == "/v2/calls/\(call)/actions/\(action)" }?.at }
        let slowDTMF = try #require(at("v3:slow", "send_dtmf")), slowSpeak = try #require(at("v3:slow", "speak"))
        let fastDTMF = try #require(at("v3:fast", "send_dtmf")), fastSpeak = try #require(at("v3:fast", "speak"))
        #expect(slowSpeak - slowDTMF >= 0.39, "a call's speak waits for its earlier command")
        #expect(fastSpeak < slowSpeak, "another call is not held up")
        #expect(fastDTMF < slowDTMF + 0.3)
    }

    @Test func aStalledAPIDoesNotBlockWebhooks() throws {
        var t = try Self.start { _, _ in .after(ms: 3000, Self.ok) }
        defer { t.server.stop() }
        try t.initiated("v3:c1")
        t.api.waitFor(1)
        let start = Date()
        #expect(try TestHTTP.request(port: t.server.port, method: "GET", path: "/healthz").status == 200)
        try t.initiated("v3:c2")
        #expect(Date().timeIntervalSince(start) < 0.5)
        #expect(t.api.waitFor(2).count == 2)
    }

    static func httpFlow(_ port: Int) -> String {
        #"""
        {"start":"a","nodes":{
          "a":{"type":"http","method":"POST","url":"http://127.0.0.1:\#(port)/backend/{{call.from}}","headers":{"X-Token":"t0k"},
               "body":{"caller":"{{call.from}}"},"timeout_ms":500,"save_as":"r","next":"ok","on_error":"bad"},
          "ok":{"type":"say","text":"ok {{vars.r.v}}","next":"e"},
          "bad":{"type":"say","text":"bad","next":"e"},
          "e":{"type":"hangup"}}}
        """#
    }

    @Test(arguments: [
        ("success", "ok 1"), ("500", "bad"), ("timeout", "bad"), ("invalid JSON", "bad"), ("oversize", "bad"), ("reset", "bad"),
    ])
    func httpNodeOutcomes(_ name: String, _ spoken: String) throws {
        let api = try FakeHTTPServer { r, _ in
            guard r.path.hasPrefix("/backend/") else { return Self.ok }
            switch name {
            case "success": return .status(200, #"{"v":1}"#)
            case "500": return .status(500, #"{"v":1}"#)
            case "timeout": return .silence
            case "invalid JSON": return .status(200, "<html>")
            case "oversize": return .status(200, #"{"v":""# + String(repeating: "x", count: 5000) + #""}"#)
            default: return .reset
            }
        }
        var config = try TelnyxSide.config(api: api, flows: ["t": Self.httpFlow(api.port)], defaultFlow: "t")
        config.http.maxResponseBytes = 1024
        var t = TelnyxSide(server: try TestServer(config: config), api: api)
        defer { t.server.stop() }
        try t.initiated("v3:c1")
        let requests = api.waitFor(2)
        let backend = try #require(requests.first { $0.path.hasPrefix("/backend/") })
        #expect(backend.path == "/backend/+13125550101")
        #expect(backend.method == "POST")
        #expect(backend.json == ["caller": "+13125550101"])
        #expect(backend.headers["x-token"] == "t0k")
        #expect(backend.headers["content-type"] == "application/json")
        #expect(backend.headers["idempotency-key"]?.hasPrefix("cf-") == true)
        let speak = try #require(requests.first { $0.path.hasSuffix("/speak") })
        #expect(speak.json?["payload"]?.stringValue == spoken)
    }
}
