import CallflowCore
import CallflowServer
import CallflowTestSupport
import Foundation
import TelnyxAPI
import TelnyxREST
import Testing

/// `callflow telnyx ...` against a loopback server playing the Telnyx REST API; request bodies
/// and query strings are checked against shared/telnyx/openapi-spec3.yml.
@Suite(.serialized) struct AccountCommandTests {
    /// Request-body schemas from the OpenAPI spec, extracted by scripts/telnyx-account-schemas
    /// (scripts/setup runs it before `swift test`; run here only when the extract is missing).
    static let spec: JSONValue = {
        let out = FileManager.default.temporaryDirectory.appendingPathComponent("callflow-telnyx-account-schemas.json")
        if (try? Data(contentsOf: out))?.isEmpty ?? true {
            let p = Process()
            p.executableURL = URL(fileURLWithPath: "/usr/bin/env")
            p.arguments = [
                "python3", Fixtures.repoRoot.appendingPathComponent("scripts/telnyx-account-schemas").path,
                Fixtures.telnyx.appendingPathComponent("openapi-spec3.yml").path, out.path,
            ]
            try? p.run()
            p.waitUntilExit()
        }
        return (try? JSONParser.parse(Array((try? Data(contentsOf: out)) ?? Data()))) ?? .null
    }()

    static func validate(_ body: JSONValue?, schema name: String) -> [String] {
        guard let schema = spec.lookup(path: ["components", "schemas", Substring(name)]) else { return ["schema \(name) unavailable"] }
        return SchemaValidator(.object(["components": spec["components"] ?? .null, "$ref": .string("#/components/schemas/\(name)")]), strict: true)
            .errors(body ?? .null) + (schema == .null ? ["empty schema"] : [])
    }

    static func app(_ id: String, _ name: String, _ url: String = "https://old.example.com/webhooks/telnyx") -> String {
        #"{"id":"\#(id)","record_type":"call_control_application","application_name":"\#(name)","webhook_event_url":"\#(url)","webhook_api_version":"2","active":true}"#
    }

    static func commands(_ api: FakeHTTPServer) throws -> AccountCommands {
        AccountCommands(
            api: try TelnyxAPI(
                baseURL: "http://127.0.0.1:\(api.port)/v2", apiKey: "KEY_secret",
                policy: RetryPolicy(maxAttempts: 3, deadlineMs: 5000, baseDelayMs: 20)))
    }

    @Test func listFollowsEveryPage() throws {
        let api = try FakeHTTPServer { r, _ in
            let page = r.path.contains("page[number]=2") ? 2 : r.path.contains("page[number]=3") ? 3 : 1
            let items = page == 3 ? [Self.app("5", "e")] : [Self.app("\(page * 2 - 1)", "a"), Self.app("\(page * 2)", "b")]
            return .status(
                200, #"{"data":[\#(items.joined(separator: ","))],"meta":{"page_number":\#(page),"page_size":2,"total_pages":3,"total_results":5}}"#)
        }
        defer { api.stop() }
        let apps = try Self.commands(api).listApps()
        #expect(apps.compactMap { $0["id"]?.stringValue } == ["1", "2", "3", "4", "5"])
        #expect(api.requests.map(\.path) == (1...3).map { "/v2/call_control_applications?page[number]=\($0)&page[size]=250" })
        #expect(api.requests.allSatisfy { $0.method == "GET" && $0.headers["authorization"] == "Bearer KEY_secret" })
        let table = TextTable.render(["ID", "NAME"], apps.map { [TextTable.cell($0["id"]), TextTable.cell($0["application_name"])] })
        #expect(table.split(separator: "\n").count == 6)
    }

    @Test func createUpdateDeleteSendValidBodies() throws {
        let api = try FakeHTTPServer { r, _ in
            switch (r.method, r.path) {
            case ("POST", "/v2/call_control_applications"):
                return .status(201, #"{"data":\#(Self.app("9", "ivr", "https://ivr.example.com/webhooks/telnyx"))}"#)
            case ("GET", "/v2/call_control_applications/9"): return .status(200, #"{"data":\#(Self.app("9", "ivr"))}"#)
            case ("PATCH", "/v2/call_control_applications/9"):
                return .status(200, #"{"data":\#(Self.app("9", "ivr", "https://new.example.com/hook"))}"#)
            case ("DELETE", "/v2/call_control_applications/9"): return .status(200, #"{"data":\#(Self.app("9", "ivr"))}"#)
            default: return .status(404, #"{"errors":[{"code":"10005","title":"Resource not found"}]}"#)
            }
        }
        defer { api.stop() }
        let c = try Self.commands(api)
        let created = try c.createApp(name: "ivr", webhookURL: "https://ivr.example.com/webhooks/telnyx")
        #expect(created["id"] == "9")
        let post = try #require(api.requests.first)
        #expect(post.json == ["application_name": "ivr", "webhook_event_url": "https://ivr.example.com/webhooks/telnyx", "webhook_api_version": "2"])
        #expect(
            Self.validate(post.json, schema: "CreateCallControlApplicationRequest").isEmpty,
            "\(Self.validate(post.json, schema: "CreateCallControlApplicationRequest"))")
        _ = try c.updateApp(
            "9", webhookURL: "https://new.example.com/hook", failoverURL: "https://backup.example.com/hook", timeoutSecs: 10, active: false)
        let patch = try #require(api.requests.first { $0.method == "PATCH" })
        #expect(patch.json?["application_name"] == "ivr", "PATCH carries the required name, read from the current app")
        #expect(patch.json?["webhook_event_url"] == "https://new.example.com/hook")
        #expect(patch.json?["webhook_event_failover_url"] == "https://backup.example.com/hook")
        #expect(patch.json?["webhook_timeout_secs"] == 10)
        #expect(patch.json?["active"] == false)
        #expect(Self.validate(patch.json, schema: "UpdateCallControlApplicationRequest").isEmpty)
        _ = try c.deleteApp("9")
        #expect(api.requests.last?.method == "DELETE")
    }

    @Test(arguments: [
        (401, #"{"errors":[{"code":"10009","title":"Authentication failed"}]}"#, "check TELNYX_API_KEY"),
        (404, #"{"errors":[{"code":"10005","title":"Resource not found","detail":"no application 42"}]}"#, "check the id"),
        (
            422, #"{"errors":[{"code":"10015","title":"Invalid parameter","detail":"must be a URL","source":{"pointer":"/webhook_event_url"}}]}"#,
            "field webhook_event_url"
        ),
    ])
    func errorsSayWhatToFix(_ status: Int, _ body: String, _ hint: String) throws {
        let api = try FakeHTTPServer { _, _ in .status(status, body) }
        defer { api.stop() }
        #expect {
            _ = try Self.commands(api).showApp("42")
        } throws: { error in
            let text = "\(error)"
            return text.contains(hint) && !text.contains("KEY_secret")
        }
        #expect(api.requests.count == 1, "4xx is not retried")
    }

    @Test func rateLimitsAreRetried() throws {
        let api = try FakeHTTPServer { _, i in
            i == 0
                ? .status(429, #"{"errors":[{"code":"10011","title":"Too many requests"}]}"#, headers: [("Retry-After", "0")])
                : .status(200, #"{"data":\#(Self.app("1", "a"))}"#)
        }
        defer { api.stop() }
        #expect(try Self.commands(api).showApp("1")["id"] == "1")
        #expect(api.requests.count == 2)
    }

    @Test(arguments: [true, false])
    func connectCreatesWhenAbsentAndUpdatesWhenPresent(_ exists: Bool) throws {
        let api = try FakeHTTPServer { r, _ in
            if r.path == "/healthz" { return .status(200, #"{"status":"ok"}"#) }
            if r.method == "GET", r.path.hasPrefix("/v2/call_control_applications?") {
                let data = exists ? "[\(Self.app("7", "callflow")),\(Self.app("8", "callflow-old"))]" : "[]"
                return .status(200, #"{"data":\#(data),"meta":{"page_number":1,"total_pages":1}}"#)
            }
            if r.method == "GET", r.path == "/v2/call_control_applications/7" { return .status(200, #"{"data":\#(Self.app("7", "callflow"))}"#) }
            return .status(200, #"{"data":\#(Self.app("7", "callflow", "x"))}"#)
        }
        defer { api.stop() }
        let result = try Self.commands(api).connect(publicURL: "http://127.0.0.1:\(api.port)", webhookPath: "/webhooks/telnyx", appID: nil, name: nil)
        #expect(result.created == !exists)
        #expect(result.webhookURL == "http://127.0.0.1:\(api.port)/webhooks/telnyx")
        #expect(result.healthProblem == nil)
        #expect(api.requests.first?.path.contains("filter[application_name][contains]=callflow") == true)
        let write = try #require(api.requests.first { $0.method == "POST" || $0.method == "PATCH" })
        #expect(write.method == (exists ? "PATCH" : "POST"))
        if exists { #expect(write.path == "/v2/call_control_applications/7") }
        #expect(write.json?["webhook_event_url"]?.stringValue == result.webhookURL)
        #expect(Self.validate(write.json, schema: exists ? "UpdateCallControlApplicationRequest" : "CreateCallControlApplicationRequest").isEmpty)
    }

    @Test func connectReportsAnUnreachableServer() throws {
        let api = try FakeHTTPServer { r, _ in
            r.path == "/healthz" ? .status(503, "{}") : .status(200, #"{"data":\#(Self.app("7", "callflow"))}"#)
        }
        defer { api.stop() }
        let result = try Self.commands(api).connect(publicURL: "http://127.0.0.1:\(api.port)/", webhookPath: "/hook", appID: "7", name: nil)
        #expect(result.healthProblem?.contains("503") == true)
        #expect(result.webhookURL.hasSuffix(":\(api.port)/hook"))
    }

    @Test func activeCallsFollowCursorsAndCallStatusAndEvents() throws {
        let api = try FakeHTTPServer { r, _ in
            if r.path.hasPrefix("/v2/connections/") {
                return r.path.contains("page[after]=c2")
                    ? .status(200, #"{"data":[{"call_control_id":"v3:c","call_duration":5}],"meta":{"cursors":{"after":null}}}"#)
                    : .status(
                        200,
                        #"{"data":[{"call_control_id":"v3:a","call_duration":50},{"call_control_id":"v3:b","call_duration":9}],"meta":{"cursors":{"after":"c2"}}}"#
                    )
            }
            if r.path.hasPrefix("/v2/calls/") { return .status(200, #"{"data":{"call_control_id":"v3:a","is_alive":true,"call_duration":50}}"#) }
            return .status(
                200,
                #"{"data":[{"name":"call.answered","type":"webhook","call_leg_id":"L1","event_timestamp":"2026-11-21T10:00:00Z"}],"meta":{"total_pages":1}}"#
            )
        }
        defer { api.stop() }
        let c = try Self.commands(api)
        #expect(try c.activeCalls(connection: "1494404757140276705").compactMap { $0["call_control_id"]?.stringValue } == ["v3:a", "v3:b", "v3:c"])
        #expect(api.requests[0].path == "/v2/connections/1494404757140276705/active_calls?page[limit]=250")
        #expect(api.requests[1].path == "/v2/connections/1494404757140276705/active_calls?page[limit]=250&page[after]=c2")
        #expect(try c.call("v3:a")["is_alive"] == true)
        #expect(api.requests[2].path == "/v2/calls/v3:a")
        let events = try c.events(legID: "L1", since: "2026-11-21T10:00:00Z")
        #expect(events.count == 1)
        #expect(
            api.requests[3].path == "/v2/call_events?filter[leg_id]=L1&filter[occurred_at][gte]=2026-11-21T10:00:00Z&page[number]=1&page[size]=250")
    }
}
