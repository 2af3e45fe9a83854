import CallflowCore
import CallflowServer
import Foundation
import Testing
import WebhookSignature

@Suite(.serialized) struct IngressTests {
    static let signer = try! WebhookSigner(seed: Array(repeating: 9, count: 32))

    static func config(timeout: Int = 10) -> CallflowConfig {
        var config = TestServer.baseConfig()
        config.telnyx.publicKey = signer.publicKeyBase64
        config.server.timeoutSecs = timeout
        config.server.maxBodyBytes = 4096
        return config
    }

    static func event(_ type: String = "call.initiated", id: String = UUID().uuidString) -> [UInt8] {
        Array(
            #"{"data":{"record_type":"event","event_type":"\#(type)","id":"\#(id)","occurred_at":"2026-11-21T10:00:00Z","payload":{"call_control_id":"v3:abc","client_state":null,"direction":"incoming","from":"+13125550101","to":"+13125550100","state":"parked"}},"meta":{"attempt":1,"delivered_to":"http://localhost/webhooks/telnyx"}}"#
                .utf8)
    }

    static func signed(_ body: [UInt8], at time: Int64 = Int64(Date().timeIntervalSince1970)) -> [(String, String)] {
        let ts = String(time)
        return [
            ("Telnyx-Signature-Ed25519", signer.signature(timestamp: ts, body: body)), ("TELNYX-TIMESTAMP", ts),
            ("Content-Type", "application/json"),
        ]
    }

    static func post(_ port: Int, _ body: [UInt8], headers: [(String, String)]) throws -> RawResponse {
        try TestHTTP.request(port: port, method: "POST", path: "/webhooks/telnyx", headers: headers, body: body)
    }

    /// Bodies over `server.max_body_bytes` are refused by the parser before any handler runs (what
    /// the handler refuses is tested without a socket: `HTTPHandlingTests.badBodiesAre400`).
    @Test func oversizedBodiesAre413BeforeTheHandler() throws {
        let server = try TestServer(config: Self.config())
        defer { server.stop() }
        let big = Array(repeating: UInt8(ascii: "a"), count: 5000)
        let r3 = try Self.post(server.port, big, headers: Self.signed(big))
        #expect(r3.status == 413)
        #expect(r3.body.contains("limit"))
        let huge = Array(repeating: UInt8(ascii: "a"), count: 200_000)
        let r4 = try Self.post(server.port, huge, headers: Self.signed(huge))
        #expect(r4.status == 413)
        #expect(try TestHTTP.request(port: server.port, method: "GET", path: "/healthz").status == 200)
    }

    @Test func stalledClientIsDroppedWhileHealthKeepsAnswering() throws {
        let server = try TestServer(config: Self.config(timeout: 1))
        defer { server.stop() }
        let stalled = try RawConnection(port: server.port, timeoutSeconds: 4)
        stalled.send("POST /webhooks/telnyx HTTP/1.1\r\nHost: x\r\nContent-Length: 500\r\n\r\n{\"data\":")
        let started = Date()
        #expect(try TestHTTP.request(port: server.port, method: "GET", path: "/healthz").status == 200)
        let (_, closed) = stalled.readUntilClose()
        #expect(closed, "server kept a stalled connection open")
        #expect(Date().timeIntervalSince(started) < 3.5)
        #expect(try TestHTTP.request(port: server.port, method: "GET", path: "/healthz").status == 200)
    }

    @Test func survivesArbitraryBytes() throws {
        let server = try TestServer(config: Self.config(timeout: 1))
        defer { server.stop() }
        var rng = SystemRandomNumberGenerator()
        let prefixes = [
            "", "GET / HTTP/1.1\r\n", "POST /webhooks/telnyx HTTP/1.1\r\nContent-Length: 10\r\n\r\n",
            "POST /webhooks/telnyx HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n",
        ]
        for i in 0..<60 {
            let connection = try RawConnection(port: server.port, timeoutSeconds: 2)
            let noise = (0..<Int.random(in: 0..<400, using: &rng)).map { _ in UInt8.random(in: 0...255, using: &rng) }
            connection.send(Array(prefixes[i % prefixes.count].utf8) + noise + Array("\r\n\r\n".utf8))
            _ = connection.readResponse()
        }
        #expect(try TestHTTP.request(port: server.port, method: "GET", path: "/healthz").status == 200)
    }

    @Test func refusesToStartWithoutKeysOrWithBrokenFlows() throws {
        #expect {
            _ = try InMemoryServer(config: TestServer.baseConfig())
        } throws: { error in
            "\(error)".contains("TELNYX_PUBLIC_KEY")
        }
        var noAPIKey = Self.config()
        noAPIKey.telnyx.apiKey = nil
        #expect {
            _ = try InMemoryServer(config: noAPIKey)
        } throws: { error in
            "\(error)".contains("TELNYX_API_KEY")
        }
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("callflow-broken-\(UUID())")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        try Data(#"{"start":"a","nodes":{"a":{"type":"say","text":"{{cal.from}}","next":"b"}}}"#.utf8).write(to: dir.appendingPathComponent("x.json"))
        var broken = Self.config()
        broken.flows.dir = dir.path
        broken.flows.defaultFlow = nil
        #expect {
            _ = try InMemoryServer(config: broken)
        } throws: { error in
            "\(error)".contains("x.json: /nodes/a/text: template names unknown root") && "\(error)".contains("\"b\" is not a node")
        }
        var noFolder = Self.config()
        noFolder.flows.dir = dir.appendingPathComponent("flows").path  // a mount that is not there
        #expect {
            _ = try InMemoryServer(config: noFolder)
        } throws: { error in
            "\(error)".contains("flows.dir \(noFolder.flows.dir) is not a folder") && "\(error)".contains("/app/flows")
        }
        var badRoute = Self.config()
        badRoute.flows.routes = ["+13125550100": "nope"]
        #expect {
            _ = try InMemoryServer(config: badRoute)
        } throws: { error in
            "\(error)".contains("flows.routes.+13125550100: flow \"nope\" does not exist")
        }
        var bad = Self.config()
        bad.telnyx.publicKey = "c2hvcnQ="
        #expect {
            _ = try InMemoryServer(config: bad)
        } throws: { error in
            "\(error)".contains("expected 32")
        }
    }

    @Test func connectionLimitStopsAccepting() throws {
        var config = Self.config()
        config.server.maxConnections = 2
        let server = try TestServer(config: config)
        defer { server.stop() }
        // Two keep-alive connections that each completed a request hold both slots.
        let a = try RawConnection(port: server.port, timeoutSeconds: 1)
        let b = try RawConnection(port: server.port, timeoutSeconds: 1)
        for c in [a, b] {
            c.send("GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
            #expect(c.readResponse()?.status == 200)
        }
        // A third connects (kernel backlog) but is not served while both are open.
        let c = try RawConnection(port: server.port, timeoutSeconds: 1)
        c.send("GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        #expect(c.readResponse() == nil)
        // Closing one frees a slot and the waiting connection is served.
        a.send("GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        _ = a.readResponse()
        let c2 = try RawConnection(port: server.port, timeoutSeconds: 3)
        _ = c
        c2.send("GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        #expect(c2.readResponse()?.status == 200)
    }
}
