import CallflowCore
import CallflowLoop
import CallflowTestSupport
import EventHTTP
import Foundation
import Logging
import Synchronization
import TelnyxEmulator
import TelnyxEmulatorServer
import WebhookSignature

@testable import CallflowServer

/// Runs one call through the real server and the loopback emulator on one event loop, with
/// signatures on, a pinned (but advancing) clock and emulated time 50× faster than life.
enum EndToEnd {
    struct Call: Sendable {
        var flowsDir: String = Fixtures.repoRoot.appendingPathComponent("flows").path
        var defaultFlow = "main"
        /// Pinned start, Unix seconds (Monday 2026-11-23 10:00 in Chicago).
        var start: Int64 = 1_795_449_600
        var script = CallerScript()
        var faults = Scenario.Faults()
        var outbound: (flow: String, vars: JSONObject)? = nil
        /// Place the call through the control API (`POST /v1/calls` with this body) instead.
        var apiCall: JSONValue? = nil
        /// Share state in this Redis (`store.kind: redis`) instead of the memory store.
        var redisURL: String? = nil
        /// `store.trace_retention_hours`, when not the default.
        var traceRetentionHours: Int? = nil
    }

    struct Outcome: Sendable {
        var records: [LoopbackTelnyx.Record]
        var finished: Bool
        var apiReply: RawResponse? = nil
        var metrics = ""
        var logs: [String] = []
        var callDocument = ""
        /// Calls still holding a recording after the call ended and a late webhook for it arrived.
        var recordedCalls = -1
        var commands: [(action: String, body: JSONObject, status: Int)] {
            records.compactMap { if case .command(let a, _, let b, let s) = $0 { return (a, b, s) } else { return nil } }
        }
        var actions: [String] { commands.map(\.action) }
        var prompts: [String] { records.compactMap { if case .prompt(let p) = $0 { return p } else { return nil } } }
        var webhookStatuses: [Int] { records.compactMap { if case .webhook(_, _, let s) = $0 { return s } else { return nil } } }
    }

    static func run(_ call: Call) throws -> Outcome {
        let box = Mutex<Result<Outcome, any Error>?>(nil)
        let done = DispatchSemaphore(value: 0)
        Thread {
            let result = Result { try runOnLoop(call) }
            box.withLock { $0 = result }
            done.signal()
        }.start()
        done.wait()
        return try box.withLock { $0! }.get()
    }

    private static func runOnLoop(_ call: Call) throws -> Outcome {
        let loop = try EventLoop()
        let base = call.start * 1000
        let t0 = Clocks.wallMs()
        let clock: @Sendable () -> Int64 = { base + (Clocks.wallMs() - t0) }
        let signer = try WebhookSigner.random()
        var options = LoopbackTelnyx.Options()
        options.script = call.script
        options.timeScale = 0.02
        options.faults = call.faults
        let emulator = try LoopbackTelnyx(
            loop: loop, client: try HTTPClient(loop: loop), signer: signer, webhookURL: "",
            options: options, clockMs: clock)
        var config = TestServer.baseConfig()
        config.server.host = "127.0.0.1"
        config.server.port = 0
        config.telnyx.publicKey = signer.publicKeyBase64
        config.telnyx.apiBaseURL = emulator.apiBaseURL
        config.telnyx.maxAttempts = 2
        config.flows.dir = call.flowsDir
        config.flows.defaultFlow = call.defaultFlow
        config.server.adminToken = "test-admin-token-0123456789"
        if let redisURL = call.redisURL {
            config.store.kind = .redis
            config.store.redisURL = redisURL
            config.store.redisPrefix = "e2e-\(UUID().uuidString.prefix(8)):"
        }
        if let hours = call.traceRetentionHours { config.store.traceRetentionHours = hours }
        let captured = LogCapture()
        let logger = Logger(label: "e2e") { _ in CapturingLogHandler(capture: captured) }
        let app = try ServerApp(config: config, insecureSkipVerify: false, logger: logger, clockMs: clock, loop: loop)
        emulator.webhookURL = "http://127.0.0.1:\(app.port)/webhooks/telnyx"
        var leg = ""
        var apiReply: RawResponse? = nil
        let loopClient = try HTTPClient(loop: loop)
        if let body = call.apiCall {
            loopClient.send(
                ClientRequest(
                    method: "POST", url: "http://127.0.0.1:\(app.port)/v1/calls",
                    headers: [("Authorization", "Bearer test-admin-token-0123456789"), ("Content-Type", "application/json")],
                    body: body.jsonBytes)
            ) { result in
                if case .success(let r) = result {
                    apiReply = RawResponse(status: r.status, headers: [:], body: String(decoding: r.body, as: UTF8.self))
                    if let id = (try? JSONParser.parse(r.body))?["call_control_id"]?.stringValue { leg = id }
                }
            }
        } else if let outbound = call.outbound {
            leg = emulator.answerOutboundCall(from: "+13125550100", to: "+13125550199")
            app.pipeline.startOutbound(
                leg: CallLeg(
                    callControlID: leg, connectionID: "emulator-connection", from: "+13125550100",
                    to: "+13125550199"), flow: outbound.flow, vars: outbound.vars)
        } else {
            leg = emulator.placeInboundCall(from: "+13125550101", to: "+13125550100")
        }
        var finished = false
        let deadline = Clocks.wallMs() + 15_000
        // Shared state counts live calls once a second: the end must hold across a count.
        var quietSince: Int64? = nil
        let settleMs: Int64 = call.redisURL == nil ? 0 : 1200
        func watch() {
            let ended = !leg.isEmpty && emulator.legs[leg]?.ended == true
            let quiet = ended && app.liveCalls == 0 && app.pendingCommands == 0
            if !quiet { quietSince = nil } else if quietSince == nil { quietSince = Clocks.wallMs() }
            if quiet, let since = quietSince, Clocks.wallMs() - since >= settleMs {
                finished = true
                _ = try? loop.schedule(afterMilliseconds: 100) { loop.handle.stop() }
            } else if Clocks.wallMs() > deadline {
                loop.handle.stop()
            } else {
                _ = try? loop.schedule(afterMilliseconds: 20, watch)
            }
        }
        try loop.schedule(afterMilliseconds: 20, watch)
        try app.run(handleSignals: false)
        var outcome = Outcome(records: emulator.records, finished: finished)
        outcome.apiReply = apiReply
        outcome.metrics = app.metrics.render()
        outcome.logs = captured.lines.withLock { $0 }
        app.local?.document(leg) { outcome.callDocument = $0?.jsonString ?? "" }  // answers inline
        let late: JSONValue = [
            "data": [
                "event_type": "call.recording.saved", "id": .string("late-\(leg)"), "occurred_at": "2026-11-23T16:10:00Z",
                "payload": ["call_control_id": .string(leg), "connection_id": "emulator-connection"],
            ]
        ]
        app.pipeline.submit(try WebhookEvent.decode(late), receivedNs: 0) { _ in }
        outcome.recordedCalls = app.local?.recordedCalls ?? 0
        return outcome
    }

    static func flowsDir(_ flows: [String: String]) throws -> String { try TelnyxSide.flowsDir(flows) }
}

/// Every log line, rendered with its metadata, for assertions (redaction).
final class LogCapture: Sendable {
    let lines = Mutex<[String]>([])
}

struct CapturingLogHandler: LogHandler {
    let capture: LogCapture
    var metadata: Logger.Metadata = [:]
    var logLevel: Logger.Level = .trace

    subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    func log(event: LogEvent) {
        let merged = metadata.merging(event.metadata ?? [:]) { $1 }
        let line = "\(event.level) \(event.message) " + merged.keys.sorted().map { "\($0)=\(merged[$0]!)" }.joined(separator: " ")
        capture.lines.withLock { $0.append(line) }
    }
}
