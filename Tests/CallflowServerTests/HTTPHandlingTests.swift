import CallflowCore
import CallflowLoop
import CallflowRuntime
import Foundation
import Testing

@testable import CallflowServer

/// HTTP handling without sockets: routes, the webhook ingest (signatures, bodies, duplicates,
/// store outages), the control API, `/readyz` and `/metrics`, each request answered by a real
/// `ServerApp` through `InMemoryServer`. What only a socket shows (framing, limits, slow clients,
/// keep-alive) stays in the live loopback tests (`IngressTests`, `ConnectionEdgeTests`, `FramingTests`).
@Suite struct HTTPHandlingTests {
    static let token = OperationsTests.token

    static func bearer(_ token: String?) -> [(String, String)] { token.map { [("Authorization", "Bearer \($0)")] } ?? [] }

    // MARK: routes

    @Test func healthAndRouting() throws {
        let server = try InMemoryServer(config: IngressTests.config())
        let health = try server.get("/healthz")
        #expect(health.status == 200)
        #expect(health.body == #"{"status":"ok"}"#)
        #expect(health.headers["content-type"] == "application/json")
        let missing = try server.get("/nope")
        #expect(missing.status == 404)
        #expect(missing.body.hasPrefix(#"{"error":"#))
        let wrongMethod = try server.get("/webhooks/telnyx")
        #expect(wrongMethod.status == 405)
        #expect(wrongMethod.headers["allow"] == "POST")
        #expect(wrongMethod.body.contains("error"))
        let deleteHealth = try server.request("DELETE", "/healthz")
        #expect(deleteHealth.status == 405)
        #expect(deleteHealth.headers["allow"] == "GET, HEAD")
    }

    // MARK: the webhook ingest

    @Test func signedEventsAreAcceptedAndDuplicatesToo() throws {
        let server = try InMemoryServer(config: IngressTests.config())
        let body = IngressTests.event(id: "dup-1")
        #expect(try server.signedWebhook(body).status == 200)
        #expect(try server.signedWebhook(body).status == 200)
        let unknown = IngressTests.event("call.something_new")
        #expect(try server.signedWebhook(unknown).status == 200)
        #expect(server.metrics.contains(#"callflow_webhooks_total{event_type="call.initiated",outcome="accepted"} 1"#), "\(server.metrics)")
        #expect(server.metrics.contains(#"callflow_webhooks_total{event_type="call.initiated",outcome="duplicate"} 1"#))
    }

    @Test func signatureFailuresAre401WithTheReason() throws {
        let server = try InMemoryServer(config: IngressTests.config())
        let body = IngressTests.event()
        let now = Int64(Date().timeIntervalSince1970)
        var tampered = body
        tampered[tampered.count - 3] = UInt8(ascii: "X")
        let cases: [([(String, String)], [UInt8], String)] = [
            (
                IngressTests.signed(body).map {
                    $0.0.lowercased() == "telnyx-signature-ed25519" ? ($0.0, IngressTests.signed(Array("x".utf8)).first!.1) : $0
                }, body, "bad signature"
            ),
            (IngressTests.signed(body), tampered, "bad signature"),
            (IngressTests.signed(body, at: now - 301), body, "stale timestamp"),
            (IngressTests.signed(body, at: now + 400), body, "future timestamp"),
            ([], body, "missing header telnyx-signature-ed25519"),
            (IngressTests.signed(body).filter { $0.0 != "TELNYX-TIMESTAMP" }, body, "missing header telnyx-timestamp"),
            ([("telnyx-signature-ed25519", "@@@"), ("telnyx-timestamp", String(now))], body, "not base64"),
        ]
        for (headers, sent, reason) in cases {
            let response = try server.webhook(sent, headers: headers)
            #expect(response.status == 401, "\(reason)")
            #expect(response.body.contains(reason), "\(response.body) should name \(reason)")
        }
        #expect(server.app.liveCalls == 0, "no refused webhook started a call")
    }

    /// Bodies the handler refuses; bodies over `server.max_body_bytes` never reach it (413 from the
    /// parser: `IngressTests.oversizedBodiesAre413BeforeTheHandler`).
    @Test func badBodiesAre400() throws {
        let server = try InMemoryServer(config: IngressTests.config())
        let malformed = Array(#"{"data": {"event_type": "call.answered", "#.utf8)
        let r1 = try server.signedWebhook(malformed)
        #expect(r1.status == 400)
        #expect(r1.body.contains("malformed JSON"))
        let noType = Array(#"{"data":{"id":"x","payload":{}}}"#.utf8)
        let r2 = try server.signedWebhook(noType)
        #expect(r2.status == 400)
        #expect(r2.body.contains("data.event_type"))
        #expect(try server.get("/healthz").status == 200)
    }

    @Test func insecureModeAcceptsUnsigned() throws {
        let server = try InMemoryServer(config: TestServer.baseConfig(), insecure: true)
        #expect(try server.webhook(IngressTests.event(), headers: []).status == 200)
    }

    /// While the store cannot commit, webhooks are answered 503 (Telnyx redelivers) and nothing is
    /// sent; the runtime retries the commit, and once it succeeds the redelivery is answered 200.
    @Test func aStoreOutageAnswers503AndRecovers() throws {
        let waker = LoopWaker()
        let api = try FakeHTTPServer.waking(waker) { _, _ in .status(200, #"{"data":{"result":"ok"}}"#) }
        defer { api.stop() }
        let store = MemoryStore()
        let server = try InMemoryServer(config: try CrashRecoveryTests.storeConfig(api: api, kind: .memory), store: store, waker: waker)
        store.failing = true
        let body = IngressTests.event(id: "evt-outage")
        #expect(try server.signedWebhook(body).status == 503)
        #expect(try server.get("/readyz").status == 503)
        // Telnyx redelivers: still 503 while the store is down, and nothing was sent meanwhile
        // (not even after the runtime's next attempt, which fails again).
        #expect(try server.signedWebhook(body).status == 503)
        func storeErrors() -> Double {
            let line = server.app.metrics.render().split(separator: "\n").first { $0.hasPrefix("callflow_store_errors_total ") }
            return line.flatMap { Double($0.split(separator: " ").last ?? "") } ?? 0
        }
        let errors = storeErrors()
        #expect(
            try server.runLoop(checkEveryMs: 10) { storeErrors() > errors },
            "the runtime retries the failed commit")
        #expect(api.requests.isEmpty, "no command leaves before its state is stored")
        store.failing = false
        #expect(try server.runLoop(checkEveryMs: 10) { server.app.local?.healthy == true }, "the retried commit succeeds")
        #expect(try server.signedWebhook(body).status == 200)
        #expect(try server.runLoop { !api.requests.isEmpty })
        #expect(api.requests.filter { $0.path.hasSuffix("/answer") }.count == 1)
        #expect(try server.get("/readyz").status == 200)
    }

    // MARK: readiness and the control API

    @Test func readinessAndADisabledControlAPI() throws {
        let server = try InMemoryServer(config: IngressTests.config())
        let ready = try server.get("/readyz")
        #expect(ready.status == 200)
        #expect(ready.body.contains("\"flows_revision\""))
        let off = try server.get("/v1/flows", headers: Self.bearer(Self.token))
        #expect(off.status == 404)
        #expect(off.body.contains("CALLFLOW_ADMIN_TOKEN"))
    }

    @Test func controlAPIAuthAndValidation() throws {
        var config = IngressTests.config()
        config.server.adminToken = Self.token
        let server = try InMemoryServer(config: config)
        #expect(try server.get("/v1/flows").status == 401)
        #expect(try server.get("/v1/flows", headers: Self.bearer("wrong-token-0123456789xx")).status == 401)
        #expect(try server.get("/v1/flows", headers: Self.bearer(String(Self.token.dropLast()))).status == 401)
        let flows = try server.get("/v1/flows", headers: Self.bearer(Self.token))
        #expect(flows.status == 200)
        let names = try JSONParser.parse(flows.body)["flows"]?.arrayValue?.compactMap { $0["name"]?.stringValue }
        #expect(names == ["ai-receptionist", "bilingual", "main", "reminder", "support", "support-callback", "support-line", "voicemail"])
        let cases: [(String, String)] = [
            ("not json", "body is not JSON"),
            (#"{"to":"555","from":"+13125550100","connection_id":"c","flow":"reminder"}"#, "\"to\" must be E.164"),
            (#"{"to":"+13125550199","from":"sip:x@y","connection_id":"c","flow":"reminder"}"#, "\"from\" must be E.164"),
            (#"{"to":"+13125550199","from":"+13125550100","flow":"reminder"}"#, "\"connection_id\" is required"),
            (#"{"to":"+13125550199","from":"+13125550100","connection_id":"c","flow":"remnder"}"#, "did you mean \"reminder\""),
            (#"{"to":"+13125550199","from":"+13125550100","connection_id":"c","flow":"reminder","machine_detection":"maybe"}"#, "machine_detection"),
            (#"{"to":"+13125550199","from":"+13125550100","connection_id":"c","flow":"reminder","varz":{}}"#, "did you mean \"vars\""),
            (#"{"to":"+13125550199","from":"+13125550100","connection_id":"c","flow":"reminder","vars":[]}"#, "\"vars\" must be an object"),
        ]
        for (body, reason) in cases {
            let r = try server.request(
                "POST", "/v1/calls", headers: Self.bearer(Self.token) + [("Content-Type", "application/json")],
                body: Array(body.utf8))
            #expect(r.status == 400, "\(body)")
            let message = (try? JSONParser.parse(r.body))?["error"]?.stringValue ?? ""
            #expect(message.contains(reason), "\(message) should contain \(reason)")
        }
        #expect(try server.get("/v1/calls/v3:nobody", headers: Self.bearer(Self.token)).status == 404)
        #expect(try server.request("DELETE", "/v1/flows", headers: Self.bearer(Self.token)).status == 405)
    }

    /// A call in progress finishes on its revision, new calls get the new one, a broken reload is
    /// refused (422) and changes nothing. (The same on SIGHUP: `OperationsTests.reloadOnSIGHUP`.)
    @Test func reloadThroughTheAPI() throws {
        let waker = LoopWaker()
        let api = try FakeHTTPServer.waking(waker) { _, _ in .status(200, #"{"data":{"result":"ok"}}"#) }
        defer { api.stop() }
        var config = try TelnyxSide.config(api: api, flows: ["t": OperationsTests.v1], defaultFlow: "t")
        config.server.adminToken = Self.token
        let server = try InMemoryServer(config: config, waker: waker)
        var t = InMemoryTelnyx(server: server, api: api)
        let file = URL(fileURLWithPath: config.flows.dir).appendingPathComponent("t.json")
        func reload() throws -> Int {
            try server.request(
                "POST", "/admin/reload", headers: Self.bearer(Self.token) + [("Content-Type", "application/json")],
                body: Array("{}".utf8)
            ).status
        }
        func revision() throws -> String? {
            try JSONParser.parse(try server.get("/v1/flows", headers: Self.bearer(Self.token)).body)["revision"]?.stringValue
        }
        let first = try revision()
        try t.initiated("v3:old")
        #expect(try t.runUntilCommands(1))
        try Data(OperationsTests.v2.utf8).write(to: file)
        #expect(try reload() == 200)
        #expect(try revision() != first)
        try t.send("call.answered", call: "v3:old")
        try t.initiated("v3:new")
        #expect(try t.runUntilCommands(3))
        try t.send("call.answered", call: "v3:new")
        #expect(try t.runUntilCommands(4))
        #expect(t.commands(for: "v3:old").last?.body["payload"] == "one", "the call in progress keeps its revision")
        #expect(t.commands(for: "v3:new").last?.body["payload"] == "two", "new calls use the new revision")
        // A broken flow: the reload is refused and the current flows stay.
        let good = try revision()
        try Data(#"{"start":"a","nodes":{"a":{"type":"say","text":"{{oops}}","next":"a"}}}"#.utf8).write(to: file)
        #expect(try reload() == 422)
        #expect(try revision() == good)
        try t.initiated("v3:third")
        #expect(try t.runUntilCommands(5))
        try t.send("call.answered", call: "v3:third")
        #expect(try t.runUntilCommands(6))
        #expect(t.commands(for: "v3:third").last?.body["payload"] == "two")
    }

    // MARK: metrics

    @Test func metricsEndpointAndLabelEscaping() throws {
        let server = try InMemoryServer(config: IngressTests.config())
        let body = IngressTests.event("call.totally_new_type")
        _ = try server.signedWebhook(body)
        _ = try server.webhook(body, headers: [])
        let r = try server.get("/metrics")
        #expect(r.status == 200)
        #expect(r.headers["content-type"] == "text/plain; version=0.0.4")
        #expect(r.body.contains(#"callflow_webhooks_total{event_type="other",outcome="unknown_call"} 1"#), "\(r.body)")
        #expect(r.body.contains(#"callflow_webhooks_total{event_type="unknown",outcome="bad_signature"} 1"#))
    }
}
