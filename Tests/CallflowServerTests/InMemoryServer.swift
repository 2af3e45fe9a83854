import CallflowCore
import CallflowLoop
import CallflowRuntime
import EventHTTP
import Foundation
import Logging
import Synchronization
import Testing

@testable import CallflowServer

/// The socket-free level for HTTP handling (as Hummingbird tests its router): a real `ServerApp`
/// on a fresh `EventLoop` owned by the test's thread. Each request is built in memory
/// (`InMemoryHTTP`) and answered by `app.handle`, exactly as the listener would answer it (routes,
/// ingest, pipeline, control API, `/readyz`, `/metrics`), and the loop runs only until the reply
/// arrives: webhook replies wait for the group commit, which runs as loop tasks.
///
/// Nothing connects to the app's listener (`ServerApp` binds one, on 127.0.0.1 port 0). Outbound
/// commands still go to `telnyx.api_base_url`; a test that must see them points it at a
/// `FakeHTTPServer` whose responder wakes the loop (`FakeHTTPServer.waking`).
///
/// Loop-confined like `ServerApp`: build it, use it and drop it in one (synchronous) test.
final class InMemoryServer {
    let loop: EventLoop
    let app: ServerApp

    /// `waker`, when given, is attached to this loop (for a fake API created before the server).
    init(
        config: CallflowConfig, insecure: Bool = false, store: (any CallStore)? = nil,
        logger: Logger = TestServer.quietLogger, waker: LoopWaker? = nil
    ) throws {
        var config = config
        config.server.host = "127.0.0.1"
        config.server.port = 0
        loop = try EventLoop()
        app = try ServerApp(config: config, insecureSkipVerify: insecure, logger: logger, loop: loop, store: store)
        waker?.attach(loop)
    }

    /// Sends one request through `app.handle` and runs the loop until its reply arrives (at most
    /// `timeoutMs`, a loop timer: the test then fails here rather than hanging).
    func request(
        _ method: String, _ target: String, headers: [(String, String)] = [], body: [UInt8] = [],
        timeoutMs: Int = 10_000, sourceLocation: SourceLocation = #_sourceLocation
    ) throws -> RawResponse {
        var answer: HTTPResponse?
        var running = false
        let loop = self.loop
        InMemoryHTTP.dispatch(method: method, target: target, headers: headers, body: body, to: { [app] in app.handle($0) }) { response in
            answer = response
            if running { loop.handle.stop() }
        }
        running = true
        defer { running = false }
        try runLoop(timeoutMs: timeoutMs) { answer != nil }
        let response = try #require(answer, "no reply to \(method) \(target) within \(timeoutMs) ms", sourceLocation: sourceLocation)
        var headers: [String: String] = [:]
        for (name, value) in response.headers where headers[name.lowercased()] == nil { headers[name.lowercased()] = value }
        return RawResponse(status: response.status, headers: headers, body: String(decoding: response.body, as: UTF8.self))
    }

    func get(_ target: String, headers: [(String, String)] = [], sourceLocation: SourceLocation = #_sourceLocation) throws -> RawResponse {
        try request("GET", target, headers: headers, sourceLocation: sourceLocation)
    }

    /// A webhook POST to the configured webhook path.
    func webhook(_ body: [UInt8], headers: [(String, String)], sourceLocation: SourceLocation = #_sourceLocation) throws -> RawResponse {
        try request("POST", app.config.server.webhookPath, headers: headers, body: body, sourceLocation: sourceLocation)
    }

    /// A signed webhook, as Telnyx sends it.
    func signedWebhook(_ body: [UInt8], sourceLocation: SourceLocation = #_sourceLocation) throws -> RawResponse {
        try webhook(body, headers: IngressTests.signed(body), sourceLocation: sourceLocation)
    }

    /// `/metrics` as text, read directly (no request).
    var metrics: String { app.metrics.render() }

    /// Runs the loop until `done()` holds, or `timeoutMs` passes (returns false). `done` is checked
    /// each time the loop stops: when a reply's `then` or a `LoopWaker` stops it, or, with
    /// `checkEveryMs`, on a loop timer, for state that nothing announces (a store recovered).
    @discardableResult
    func runLoop(timeoutMs: Int = 10_000, checkEveryMs: Int? = nil, until done: () -> Bool) throws -> Bool {
        if done() { return true }
        return try withoutActuallyEscaping(done) { done in
            var expired = false
            var timers = [
                try loop.schedule(afterMilliseconds: timeoutMs) { [loop] in
                    expired = true
                    loop.handle.stop()
                }
            ]
            if let checkEveryMs {
                func check() {
                    if done() { return loop.handle.stop() }
                    if let id = try? loop.schedule(afterMilliseconds: checkEveryMs, check) { timers.append(id) }
                }
                timers.append(try loop.schedule(afterMilliseconds: checkEveryMs, check))
            }
            defer { for id in timers { loop.cancelTimer(id) } }
            while !done() && !expired { try loop.run() }
            return done()
        }
    }
}

/// `TelnyxSide` without sockets for the webhooks: signed events for a call go through
/// `InMemoryServer`, echoing the client_state of the last command the fake API received for that
/// leg; the commands themselves go to the fake API (outbound is not the HTTP handling under test).
struct InMemoryTelnyx {
    let server: InMemoryServer
    let api: FakeHTTPServer
    var counter = 0

    func commands(for call: String) -> [(action: String, body: JSONValue)] { TelnyxSide.commands(api, for: call) }

    @discardableResult
    mutating func send(
        _ type: String, call: String, _ payload: JSONObject = [:], clientState: String? = nil,
        sourceLocation: SourceLocation = #_sourceLocation
    ) throws -> RawResponse {
        counter += 1
        let echoed = commands(for: call).last?.body["client_state"]?.stringValue
        let bytes = TelnyxSide.event(type, call: call, payload, clientState: clientState ?? echoed, counter: counter)
        return try server.signedWebhook(bytes, sourceLocation: sourceLocation)
    }

    mutating func initiated(_ call: String, sourceLocation: SourceLocation = #_sourceLocation) throws {
        try send("call.initiated", call: call, ["direction": "incoming", "state": "parked"], clientState: nil, sourceLocation: sourceLocation)
    }

    /// Runs the server's loop until the fake API has received `count` requests (its responder
    /// must wake the loop: `FakeHTTPServer.waking`); false if the deadline passed first.
    func runUntilCommands(_ count: Int) throws -> Bool {
        try server.runLoop { api.requests.count >= count }
    }
}

/// Stops a test's loop from any thread (a fake API's connection thread), so `runLoop(until:)`
/// checks its condition again. Created before the server when the fake needs the server's config.
final class LoopWaker: Sendable {
    private let handle = Mutex<LoopHandle?>(nil)

    func attach(_ loop: EventLoop) { handle.withLock { $0 = loop.handle } }
    func wake() { handle.withLock { $0 }?.stop() }
}

extension FakeHTTPServer {
    /// A fake whose every request wakes `waker`'s loop (after it is logged in `requests`).
    static func waking(_ waker: LoopWaker, _ responder: @escaping @Sendable (Received, Int) -> Reply) throws -> FakeHTTPServer {
        try FakeHTTPServer { request, index in
            defer { waker.wake() }
            return responder(request, index)
        }
    }
}
