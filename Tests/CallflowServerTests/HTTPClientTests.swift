import CallflowCore
import CallflowLoop
import CallflowRuntime
import CallflowServer
import EventHTTP
import Foundation
import Logging
import TelnyxREST
import Testing

/// The outbound client's own queue: a burst beyond the per-origin limit waits in order, and a
/// request whose deadline passes while it waits fails as a timeout without being sent.
@Suite struct HTTPClientTests {
    /// Runs the loop until `expected` completions arrived (or 10 s passed) and returns them in order.
    static func run(_ requests: [ClientRequest], limit: Int) throws -> [(index: Int, result: Result<ClientResponse, ClientError>, at: Double)] {
        let loop = try EventLoop()
        let client = try HTTPClient(loop: loop, maxConnectionsPerHost: limit, maxInFlightPerOrigin: limit)
        var done: [(index: Int, result: Result<ClientResponse, ClientError>, at: Double)] = []
        let start = Date()
        for (i, request) in requests.enumerated() {
            client.send(request) { result in
                done.append((i, result, Date().timeIntervalSince(start)))
                if done.count == requests.count { loop.handle.stop() }
            }
        }
        #expect(client.inFlight == requests.count)
        _ = try loop.schedule(afterMilliseconds: 10_000) { loop.handle.stop() }
        try loop.run()
        #expect(client.inFlight == 0)
        return done
    }

    @Test func aBurstBeyondTheLimitWaitsAndRunsInOrder() throws {
        let api = try FakeHTTPServer { _, _ in .after(ms: 100, .status(200, "{}")) }
        defer { api.stop() }
        let requests = (0..<6).map { ClientRequest(method: "POST", url: "http://127.0.0.1:\(api.port)/v2/x/\($0)", body: Array("{}".utf8)) }
        let done = try Self.run(requests, limit: 2)
        #expect(done.count == 6)
        #expect(done.allSatisfy { if case .success(let r) = $0.result { r.status == 200 } else { false } })
        let arrived = api.requests.map(\.path)
        // Admitted in the order given, two at a time (a pair's two may arrive either way round).
        #expect(
            stride(from: 0, to: 6, by: 2).map { Set(arrived[$0...($0 + 1)]) } == [
                ["/v2/x/0", "/v2/x/1"], ["/v2/x/2", "/v2/x/3"], ["/v2/x/4", "/v2/x/5"],
            ])
        // Two at a time: the last pair cannot start before two replies of 100 ms each.
        let times = api.requests.map(\.at)
        #expect(times[4] - times[0] >= 0.19)
        #expect(times[1] - times[0] < 0.09)
    }

    @Test func aRequestWhoseDeadlinePassesWhileWaitingTimesOutUnsent() throws {
        let api = try FakeHTTPServer { _, _ in .after(ms: 300, .status(200, "{}")) }
        defer { api.stop() }
        let url = "http://127.0.0.1:\(api.port)/v2/x"
        let done = try Self.run(
            [
                ClientRequest(method: "GET", url: url + "/a", timeoutMs: 2000),
                ClientRequest(method: "GET", url: url + "/b", timeoutMs: 150),
                ClientRequest(method: "GET", url: url + "/c", timeoutMs: 2000),
            ], limit: 1)
        let byIndex = Dictionary(uniqueKeysWithValues: done.map { ($0.index, $0) })
        #expect(byIndex[1]?.result.failure == .timeout(ms: 150), "reported with the caller's deadline")
        if case .success(let r)? = byIndex[0]?.result { #expect(r.status == 200) } else { Issue.record("a failed") }
        if case .success(let r)? = byIndex[2]?.result { #expect(r.status == 200) } else { Issue.record("c failed") }
        #expect(api.requests.map(\.path) == ["/v2/x/a", "/v2/x/c"], "the expired request never reached the server")
    }

    @Test func originsQueueIndependently() throws {
        let slow = try FakeHTTPServer { _, _ in .after(ms: 400, .status(200, "{}")) }
        let fast = try FakeHTTPServer { _, _ in .status(200, "{}") }
        defer { slow.stop(); fast.stop() }
        let requests = [
            ClientRequest(method: "GET", url: "http://127.0.0.1:\(slow.port)/1"),
            ClientRequest(method: "GET", url: "http://127.0.0.1:\(slow.port)/2"),
            ClientRequest(method: "GET", url: "http://127.0.0.1:\(fast.port)/3"),
        ]
        let done = try Self.run(requests, limit: 1)
        #expect(done.first?.index == 2, "a busy origin does not hold up another")
        #expect(done.count == 3)
    }

    /// One connection and one request at a time, so every request after the first runs on the
    /// handle the one before it used: nothing of an earlier method, body or header set may carry over,
    /// and a handle whose transfer failed is not used again.
    @Test func aReusedHandleCarriesNothingOverFromTheRequestBefore() throws {
        let api = try FakeHTTPServer { r, _ in r.path == "/reset" ? .reset : .status(200, #"{"path":"\#(r.path)"}"#) }
        defer { api.stop() }
        let url = "http://127.0.0.1:\(api.port)"
        let requests = [
            ClientRequest(method: "POST", url: url + "/post", headers: [("X-A", "1")], body: Array(#"{"a":1}"#.utf8)),
            ClientRequest(method: "GET", url: url + "/get"),
            ClientRequest(method: "HEAD", url: url + "/head"),
            ClientRequest(method: "GET", url: url + "/get-after-head", headers: [("X-B", "2")]),
            ClientRequest(method: "HEAD", url: url + "/head"),
            ClientRequest(method: "PUT", url: url + "/put", body: Array("put".utf8)),
            ClientRequest(method: "DELETE", url: url + "/delete"),
            ClientRequest(method: "POST", url: url + "/reset", body: Array("x".utf8)),
            ClientRequest(method: "post", url: url + "/post-again", body: []),
            ClientRequest(method: "GET", url: url + "/last"),
        ]
        let done = try Self.run(requests, limit: 1).sorted { $0.index < $1.index }
        try #require(done.count == requests.count)
        // libcurl sends a request once more, on a new connection, when a kept-alive one closes
        // before any reply: the reset request arrives twice.
        let seen = api.requests
        #expect(
            seen.map(\.path) == ["/post", "/get", "/head", "/get-after-head", "/head", "/put", "/delete", "/reset", "/reset", "/post-again", "/last"])
        try #require(seen.count == 11)
        #expect(seen.map(\.method) == ["POST", "GET", "HEAD", "GET", "HEAD", "PUT", "DELETE", "POST", "POST", "POST", "GET"])
        #expect(seen.map { String(decoding: $0.body, as: UTF8.self) } == [#"{"a":1}"#, "", "", "", "", "put", "", "x", "x", "", ""])
        #expect(seen.map { $0.headers["content-length"] } == ["7", nil, nil, nil, nil, "3", nil, "1", "1", "0", nil])
        #expect(seen.map { $0.headers["x-a"] } == ["1"] + Array(repeating: nil, count: 10))
        #expect(seen.map { $0.headers["x-b"] } == [nil, nil, nil, "2"] + Array(repeating: nil, count: 7))
        #expect(seen.map(\.connection) == [1, 1, 1, 1, 1, 1, 1, 1, 2, 3, 3], "kept alive until the reset, then a new connection")
        #expect(seen.allSatisfy { $0.headers["expect"] == nil })
        for (i, entry) in done.enumerated() {
            if requests[i].url.hasSuffix("/reset") {
                #expect(entry.result.failure?.isTransient == true)
                continue
            }
            guard case .success(let response) = entry.result else { Issue.record("request \(i) failed: \(entry.result)"); continue }
            #expect(response.status == 200)
            let path = String(requests[i].url.dropFirst(url.count))
            #expect(String(decoding: response.body, as: UTF8.self) == (requests[i].method == "HEAD" ? "" : #"{"path":"\#(path)"}"#))
        }
    }

    @Test(arguments: [
        ("https://API.telnyx.com/v2/calls/x/actions/answer", "https://api.telnyx.com"),
        ("http://127.0.0.1:8080?q=1", "http://127.0.0.1:8080"),
        ("http://[::1]:9/a#f", "http://[::1]:9"),
        ("no-scheme/path", "no-scheme"),
    ])
    func origins(url: String, origin: String) {
        #expect(HTTPClient.origin(of: url) == origin)
    }
}

extension Result {
    var failure: Failure? { if case .failure(let f) = self { f } else { nil } }
}

/// Commands dropped after an earlier command of their step failed still complete, so the runtime
/// clears their outbox rows (otherwise sent again after a restart) and nothing is kept forever.
@Suite struct DroppedCommandTests {
    @Test func theRestOfAFailedStepCompletesUnsentAndTheNextStepGoes() throws {
        let api = try FakeHTTPServer { r, _ in
            r.path.hasSuffix("/answer") ? .status(422, #"{"errors":[{"code":"10015","title":"Invalid parameter"}]}"#) : .status(200, #"{"data":{}}"#)
        }
        defer { api.stop() }
        let loop = try EventLoop()
        let quiet = Logger(label: "test") { _ in SwiftLogNoOpLogHandler() }
        let telnyx = TelnyxClient(
            http: try HTTPClient(loop: loop), loop: loop, baseURL: "http://127.0.0.1:\(api.port)/v2", apiKey: "k",
            policy: RetryPolicy(maxAttempts: 1), logger: quiet, clockMs: Clocks.wallMs)
        var results: [String: Result<JSONValue, CommandFailure>] = [:]
        let ids = ["cf-abc-3-1", "cf-abc-3-2", "cf-abc-3-3", "cf-abc-4-1"]
        for (id, action) in zip(ids, ["answer", "speak", "gather", "hangup"]) {
            telnyx.send(CallCommand(callControlID: "v3:c1", action: action, body: ["command_id": .string(id)])) { result in
                results[id] = result
                if results.count == ids.count { loop.handle.stop() }
            }
        }
        _ = try loop.schedule(afterMilliseconds: 5000) { loop.handle.stop() }
        try loop.run()
        #expect(results.count == 4, "every command completed")
        #expect(results["cf-abc-3-1"]?.failure?.status == 422)
        #expect(results["cf-abc-3-2"]?.failure?.reason.hasPrefix("not sent") == true)
        #expect(results["cf-abc-3-3"]?.failure?.reason.hasPrefix("not sent") == true)
        if case .success? = results["cf-abc-4-1"] {} else { Issue.record("the next step's command was not sent") }
        #expect(api.requests.map(\.path) == ["/v2/calls/v3:c1/actions/answer", "/v2/calls/v3:c1/actions/hangup"])
        #expect(telnyx.pending == 0)
    }
}
