import CallflowCore
import CallflowLoop
import CallflowRuntime
import EventHTTP
import Foundation
import Logging
import Redis
import TelnyxREST
import WebhookSignature

/// Why `serve` refused to start. Each message says what to set or fix.
public enum StartupError: Error, Sendable, CustomStringConvertible {
    /// No Telnyx public key and no `--insecure-skip-verify`.
    case missingPublicKey
    /// The configured public key is unusable.
    case invalidPublicKey(PublicKeyError)
    /// No Telnyx API key: commands could not be sent.
    case missingAPIKey
    /// The flows have errors (every diagnostic is listed).
    case flows([Diagnostic])
    /// `flows.dir` is not a folder.
    case flowsDir(String)
    /// `flows.routes` or `flows.default` names a flow that is not loaded.
    case unknownRoute(key: String, flow: String)
    /// The loop, the listener or the HTTP client could not be created.
    case eventLoop(String)
    /// The durable store cannot be opened or read.
    case store(StoreError)
    /// The SQLite file's folder is missing or not writable by this process.
    case storeFolder(path: String, folder: String, reason: String)

    public var description: String {
        switch self {
        case .missingPublicKey:
            return "no Telnyx public key: set TELNYX_PUBLIC_KEY (or telnyx.public_key in the config file) to the "
                + "base64 key from the Telnyx portal; --insecure-skip-verify is for local development only"
        case .invalidPublicKey(let e): return "TELNYX_PUBLIC_KEY / telnyx.public_key: \(e)"
        case .missingAPIKey:
            return "no Telnyx API key: set TELNYX_API_KEY (or telnyx.api_key in the config file); it authorises the call commands"
        case .flows(let diagnostics):
            return (diagnostics.map(\.description) + ["flows have errors; fix them (callflow check) and start again"])
                .joined(separator: "\n")
        case .unknownRoute(let key, let flow): return "\(key): flow \"\(flow)\" does not exist in flows.dir"
        case .flowsDir(let path):
            return "flows.dir \(path) is not a folder: point flows.dir at the folder of your flow files; "
                + "a relative flows.dir resolves beside the config file, and the Docker image's config expects them mounted at /app/flows"
        case .eventLoop(let e): return e
        case .store(let e): return "\(e)"
        case .storeFolder(let path, let folder, let reason):
            return "store.path \(path): cannot create the database in \(folder) (\(reason)). Point store.path at a file in a "
                + "folder this user (uid \(getuid())) can write (a relative store.path goes to CALLFLOW_DATA_DIR when that is set); "
                + "the Docker image keeps it in its volume, /app/data (-v callflow-data:/app/data)"
        }
    }
}

/// The running server: one event loop, the webhook listener, the call pipeline, signals. Built
/// whole in `init`; nothing is wired afterwards.
///
/// Loop-confined: build it, run it and drop it on one thread.
public final class ServerApp: ControlBackend {
    public let loop: EventLoop
    public let config: CallflowConfig
    public let metrics: Metrics
    public let client: HTTPClient
    let pipeline: CallPipeline
    /// The single-instance ledger (`store.kind` sqlite or memory); nil with Redis.
    let local: LocalLedger?
    private var sweeper: SharedSweeper?
    private let logger: Logger
    private var http: HTTPServer?
    /// What answers each path; set once at the end of `init` (its readiness check reads `self`).
    private var routes: Routes?
    private let timeZones: any TimeZoneProvider
    private let clockMs: @Sendable () -> Int64
    public private(set) var shuttingDown = false

    public var port: Int { http?.boundPort ?? config.server.port }
    public var openConnections: Int { http?.openConnections ?? 0 }
    /// Calls with live state (across every instance, with Redis).
    public var liveCalls: Int { pipeline.ledger.liveCalls }
    /// Commands queued, in flight or waiting for their commit, and inputs not yet committed.
    public var pendingCommands: Int { pipeline.pending }

    public init(
        config: CallflowConfig, insecureSkipVerify: Bool, logger: Logger, timeZones: any TimeZoneProvider = SystemTimeZones(),
        clockMs: @escaping @Sendable () -> Int64 = Clocks.wallMs, loop existing: EventLoop? = nil,
        store injected: (any CallStore)? = nil, backend injectedBackend: (any BackendRequests)? = nil
    ) throws(StartupError) {
        self.config = config
        self.logger = logger
        self.timeZones = timeZones
        self.clockMs = clockMs
        let verifier: WebhookVerifier?
        if insecureSkipVerify {
            verifier = nil
            logger.critical("INSECURE: --insecure-skip-verify is set; webhook signatures will NOT be checked")
        } else {
            guard let key = config.telnyx.publicKey else { throw .missingPublicKey }
            do {
                verifier = try WebhookVerifier(publicKeyBase64: key, toleranceSeconds: Int64(config.telnyx.signatureToleranceSecs))
            } catch { throw .invalidPublicKey(error) }
        }
        guard let apiKey = config.telnyx.apiKey else { throw .missingAPIKey }

        var isFolder: ObjCBool = false
        guard FileManager.default.fileExists(atPath: config.flows.dir, isDirectory: &isFolder), isFolder.boolValue else {
            throw .flowsDir(config.flows.dir)
        }
        let (loaded, diagnostics, _) = FlowLoader.load(paths: [config.flows.dir], timeZones: timeZones)
        for warning in diagnostics where warning.severity == .warning { logger.warning("\(warning)") }
        guard let flows = loaded else { throw .flows(diagnostics.filter { $0.severity == .error }) }
        if let (key, flow) = Self.unknownRoutes(config, flows).first { throw .unknownRoute(key: key, flow: flow) }
        let routing = CallRouting(configured: config.flows.defaultFlow, flows: flows)
        logger.info(
            "flows loaded",
            metadata: [
                "flows": "\(flows.flows.keys.sorted().joined(separator: ","))", "revision": "\(flows.revision)",
                "flows.dir": "\(config.flows.dir)",
            ])
        ServerApp.logRouting(routing, config: config, flows: flows, logger: logger)

        if let existing {
            loop = existing
        } else {
            do { loop = try EventLoop() } catch { throw .eventLoop("\(error)") }
        }
        do { client = try HTTPClient(loop: loop) } catch { throw .eventLoop("\(error)") }
        metrics = Metrics()
        let policy = RetryPolicy(
            attemptTimeoutMs: config.telnyx.commandTimeoutMs, maxAttempts: config.telnyx.maxAttempts,
            deadlineMs: config.telnyx.retryDeadlineMs)
        let telnyx = TelnyxClient(
            http: client, loop: loop, baseURL: config.telnyx.apiBaseURL, apiKey: apiKey, policy: policy,
            logger: logger, clockMs: clockMs, metrics: metrics)
        let backend = injectedBackend ?? BackendClient(http: client, maxResponseBytes: config.http.maxResponseBytes)

        // The ledger: one instance's memory over its store, or Redis for several instances.
        let ledger: any CallLedger
        var shared: (ledger: SharedLedger, summary: String)?
        if config.store.kind == .redis && injected == nil {
            let url: RedisURL
            do { url = try RedisURL(config.store.redisURL ?? "redis://127.0.0.1:6379") } catch {
                throw .store(.unavailable("store.redis_url: \(error)"))
            }
            let summary: String
            do { summary = try SharedLedger.prepare(url: url, prefix: config.store.redisPrefix, flows: flows) } catch { throw .store(error) }
            let sharedLedger = SharedLedger(
                redis: RedisConnection(loop: loop, url: url), flows: flows, logger: logger, metrics: metrics,
                prefix: config.store.redisPrefix, traceRetentionHours: config.store.traceRetentionHours,
                timeZones: timeZones, clockMs: clockMs)
            shared = (sharedLedger, summary)
            ledger = sharedLedger
            local = nil
        } else {
            let store: any CallStore
            if let injected { store = injected } else { store = try Self.openStore(config, logger: logger) }
            let localLedger = LocalLedger(
                store: store, loop: loop, logger: logger, metrics: metrics, dedupeMaxBytes: config.store.dedupeMaxBytes,
                traceRetentionHours: config.store.traceRetentionHours, clockMs: clockMs)
            ledger = localLedger
            local = localLedger
        }
        let effects = EffectRunner(
            loop: loop, telnyx: telnyx, backend: backend, ledger: ledger, metrics: metrics, logger: logger,
            clockMs: clockMs)
        let engine = CallEngine(flows: flows, routes: config.flows.routes, defaultFlow: routing.flow)
        pipeline = CallPipeline(
            engine: engine, ledger: ledger, effects: effects, loop: loop, metrics: metrics, logger: logger,
            clock: { clockMs() / 1000 })
        if let shared {
            sweeper = SharedSweeper(ledger: shared.ledger, effects: effects, pipeline: pipeline, loop: loop, logger: logger, clockMs: clockMs)
            logger.info("state restored", metadata: ["store": "redis", "restored": "\(shared.summary)"])
        } else if let local {
            do {
                let restored = try local.restore(current: flows, timeZones: timeZones)
                pipeline.resume(restored)
                logger.info("state restored", metadata: ["store": "\(config.store.kind)", "restored": "\(restored.summary)"])
            } catch { throw .store(error) }
        }

        let ingest = WebhookIngest(verifier: verifier, clock: { clockMs() / 1000 }, logger: logger, metrics: metrics, pipeline: pipeline)
        registerGauges()
        _ = try? loop.schedule(afterMilliseconds: 600_000) { [weak self] in self?.pruneRegularly() }
        _ = try? loop.schedule(afterMilliseconds: Self.dedupeReportMs) { [weak self] in self?.reportDedupeCeiling(since: 0) }
        let routes = Routes(
            webhookPath: config.server.webhookPath, ingest: ingest, control: ControlAPI(token: config.server.adminToken, backend: self),
            readiness: { [unowned self] in self.readiness() },
            metrics: { [metrics] in
                HTTPResponse(status: 200, headers: [("Content-Type", "text/plain; version=0.0.4")], body: Array(metrics.render().utf8))
            })
        let budget = ConnectionBudget(configured: config.server.maxConnections, fileLimit: FileLimit.raiseSoftLimit())
        if let warning = budget.warning { logger.warning("\(warning)") }
        let options = HTTPServerOptions(
            host: config.server.host, port: config.server.port, maxBodyBytes: config.server.maxBodyBytes,
            maxHeaderBytes: config.server.maxHeaderBytes, timeoutSeconds: config.server.timeoutSecs,
            maxConnections: budget.maxConnections)
        self.routes = routes
        let acceptFailed = { [logger, metrics] (report: String?) in
            metrics.acceptFailed()
            if let report { logger.error("\(report)") }
        }
        do {
            http = try HTTPServer(loop: loop, options: options, onAcceptFailure: acceptFailed) { request in routes.handle(request) }
        } catch { throw .eventLoop("\(error)") }
    }

    /// Answers one request as the listener would (tests drive it through `InMemoryHTTP`); `nil`
    /// when the reply was deferred, as from `Routes`.
    func handle(_ request: borrowing HTTPRequest) -> HTTPResponse? {
        guard let routes else { return .error(503, "starting") }
        return routes.handle(request)
    }

    /// The single-instance store `config` names (a SQLite file, or memory).
    private static func openStore(_ config: CallflowConfig, logger: Logger) throws(StartupError) -> any CallStore {
        guard config.store.kind != .memory else { return MemoryStore() }
        try checkStoreFolder(config.store.path)
        do {
            let store = try SQLiteCallStore(path: config.store.path, synchronous: config.store.synchronous)
            logger.info("store opened", metadata: ["store": "sqlite", "store.path": "\(config.store.path)"])
            return store
        } catch { throw .store(error) }
    }

    private func registerGauges() {
        if let local {
            metrics.counter(
                "callflow_dedupe_evicted_early_total",
                "Webhook ids forgotten before their hour because store.dedupe_max_bytes was reached (a redelivery of one is applied again)."
            ) {
                [unowned local] in Double(local.live.dedupe.evictedEarly)
            }
        }
        metrics.gauge("callflow_active_calls", "Calls with live state.") { [unowned self] in Double(self.liveCalls) }
        metrics.gauge("callflow_outbox_depth", "Commands queued or in flight to Telnyx.") { [unowned self] in Double(self.pendingCommands) }
        metrics.gauge("callflow_flow_revisions_in_use", "Flow revisions kept for calls in progress.") { [unowned self] in
            Double(self.pipeline.engine.retainedRevisions.count)
        }
        metrics.gauge("callflow_open_connections", "Inbound connections open (counted from accept).") { [weak self] in
            Double(self?.openConnections ?? 0)
        }
    }

    /// `/readyz`: 503 while shutting down, when no call could be taken, or the store is down or stalled.
    private func readiness() -> HTTPResponse {
        if shuttingDown { return .error(503, "shutting down") }
        if let problem = rejectsEverything { return .error(503, problem) }
        if !pipeline.ledger.healthy { return .error(503, "store unavailable") }
        if pipeline.ledger.stalled {
            return .error(503, "store stalled: a commit has waited for the disk over \(LocalLedger.stallLimitMs / 1000) s")
        }
        return .json(
            200,
            JSONValue.object([
                "status": "ready", "flows_revision": .string(flowSet.revision),
                "live_calls": .int(liveCalls),
            ]).jsonBytes)
    }

    /// `flows.routes` and `flows.default` entries that name a flow `flows` lacks: (config key, flow).
    static func unknownRoutes(_ config: CallflowConfig, _ flows: FlowSet) -> [(key: String, flow: String)] {
        var unknown = config.flows.routes.sorted(by: { $0.key < $1.key }).filter { flows[$0.value] == nil }
            .map { (key: "flows.routes.\($0.key)", flow: $0.value) }
        if let flow = config.flows.defaultFlow, flows[flow] == nil { unknown.append((key: "flows.default", flow: flow)) }
        return unknown
    }

    /// Why no call can be taken (no route, no default), or nil. `/readyz` answers 503 with it, so
    /// a deploy that would reject every call never looks healthy.
    public var rejectsEverything: String? {
        CallRouting.rejectsEverything(
            routes: config.flows.routes, default: CallRouting(configured: config.flows.defaultFlow, flows: flowSet),
            flowNames: Array(flowSet.flows.keys))
    }

    /// Says at startup (and on reload) where calls go, so a config that rejects calls is seen
    /// before the first caller hears nothing.
    static func logRouting(_ routing: CallRouting, config: CallflowConfig, flows: FlowSet, logger: Logger) {
        if let problem = CallRouting.rejectsEverything(routes: config.flows.routes, default: routing, flowNames: Array(flows.flows.keys)) {
            logger.error("every call will be rejected: \(problem)")
        } else if routing == .none {
            logger.warning(
                "calls to numbers without a route are rejected: flows.default is unset",
                metadata: ["routes": "\(config.flows.routes.count)"])
        } else {
            logger.info("calls without a route go to \(routing)", metadata: ["routes": "\(config.flows.routes.count)"])
        }
    }

    /// A SQLite file needs a folder this process can write (the file, its -wal and -shm). Checked
    /// before opening so the error names the folder and the fix, not SQLite's "unable to open".
    static func checkStoreFolder(_ path: String) throws(StartupError) {
        let folder = (path as NSString).deletingLastPathComponent.isEmpty ? "." : (path as NSString).deletingLastPathComponent
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: folder, isDirectory: &isDirectory), isDirectory.boolValue else {
            throw .storeFolder(path: path, folder: folder, reason: "the folder does not exist")
        }
        if access(folder, W_OK | X_OK) != 0 {
            throw .storeFolder(path: path, folder: folder, reason: String(cString: strerror(errno)).lowercased())
        }
    }

    private var signalsInstalled = false

    /// SIGTERM/SIGINT drain and stop, SIGHUP reloads. Installed before serving, so a signal that
    /// arrives as soon as the server is up is already handled.
    public func installSignalHandlers() throws(StartupError) {
        guard !signalsInstalled else { return }
        do {
            for signalNumber in [SIGTERM, SIGINT] {
                try loop.onSignal(signalNumber) { [unowned self] in self.shutdown(signal: signalNumber) }
            }
            try loop.onSignal(SIGHUP) { [unowned self] in _ = self.reloadFlows() }
        } catch { throw .eventLoop("\(error)") }
        signalsInstalled = true
    }

    /// Serves until SIGTERM/SIGINT (or `loop.handle.stop()`).
    public func run(handleSignals: Bool = true) throws(StartupError) {
        if handleSignals { try installSignalHandlers() }
        logger.info(
            "listening",
            metadata: [
                "host": "\(config.server.host)", "port": "\(port)", "webhook_path": "\(config.server.webhookPath)",
            ])
        do { try loop.run() } catch { throw .eventLoop("\(error)") }
        logger.info("stopped")
    }

    /// Graceful stop: no new connections, webhooks in flight are answered (handlers never wait),
    /// queued commands get up to `server.shutdown_grace_secs` to reach Telnyx, then the loop ends.
    public func shutdown(signal: Int32) {
        guard !shuttingDown else { return }
        shuttingDown = true
        logger.notice(
            "shutting down",
            metadata: [
                "signal": "\(signal)", "pending_commands": "\(pendingCommands)",
                "live_calls": "\(liveCalls)",
            ])
        http?.stopAccepting()
        // A duration, so the loop's monotonic clock: a wall clock stepped by NTP would stretch or cut it.
        let deadline = loop.monotonicMs + Int64(config.server.shutdownGraceSecs) * 1000
        func drain() {
            let pending = pendingCommands
            if (pending == 0 && local?.committing != true) || loop.monotonicMs >= deadline {
                if pending > 0 { logger.warning("grace period over; commands not sent", metadata: ["pending_commands": "\(pending)"]) }
                // Replies already handed to libevent are written before the loop exits.
                do { try loop.schedule(afterMilliseconds: 100) { [loop] in loop.handle.stop() } } catch { loop.handle.stop() }
                return
            }
            do { try loop.schedule(afterMilliseconds: 50, drain) } catch { loop.handle.stop() }
        }
        drain()
    }

    static let dedupeReportMs = 60_000

    /// Once a minute at most: says that the webhook-id memory is at its ceiling, so ids are kept for
    /// less than the hour (a redelivery older than the window actually kept would be applied again).
    private func reportDedupeCeiling(since previous: Int) {
        // Only numbers leave this function: a copy of the window kept alive would make the engine's
        // next insert copy its arrays (copy-on-write).
        guard let local else { return }  // with Redis, ids expire there
        let (evicted, oldest, window, maxBytes, maxCount) = {
            let ids = local.live.dedupe
            return (ids.evictedEarly, ids.oldestAt, ids.windowSeconds, ids.maxBytes, ids.maxCount)
        }()
        if evicted > previous {
            let kept = oldest.map { "\(max(0, clockMs() / 1000 - $0)) s" } ?? "none"
            let message =
                "webhook id memory at its ceiling: \(evicted - previous) ids forgotten before their hour in the last "
                + "\(Self.dedupeReportMs / 1000) s; ids are now kept for \(kept), not \(window) s (store.dedupe_max_bytes \(maxBytes), "
                + "\(maxCount) ids); a redelivery older than that would be applied again"
            logger.warning("\(message)")
        }
        _ = try? loop.schedule(afterMilliseconds: Self.dedupeReportMs) { [weak self] in self?.reportDedupeCeiling(since: evicted) }
    }

    private func pruneRegularly() {
        local?.prune()
        _ = try? loop.schedule(afterMilliseconds: 600_000) { [weak self] in self?.pruneRegularly() }
    }

    // MARK: ControlBackend

    public var flowSet: FlowSet { pipeline.engine.flows }
    public var retainedRevisions: [String] { pipeline.engine.retainedRevisions }

    public func reloadFlows() -> Result<String, ReloadError> {
        let (flows, diagnostics, _) = FlowLoader.load(paths: [config.flows.dir], timeZones: timeZones)
        var problems = diagnostics.filter { $0.severity == .error }.map(\.description)
        if let flows { problems += Self.unknownRoutes(config, flows).map { "\($0.key): flow \"\($0.flow)\" does not exist" } }
        guard let flows, problems.isEmpty else {
            logger.error("reload refused; the previous flows stay active", metadata: ["problems": "\(problems.joined(separator: "; "))"])
            return .failure(ReloadError(problems: problems))
        }
        let previous = pipeline.engine.flows.revision
        pipeline.reload(flows)
        let routing = CallRouting(configured: config.flows.defaultFlow, flows: flows)
        pipeline.route(defaultFlow: routing.flow)
        ServerApp.logRouting(routing, config: config, flows: flows, logger: logger)
        logger.notice(
            "flows reloaded",
            metadata: [
                "revision": "\(flows.revision)", "previous": "\(previous)",
                "flows": "\(flows.flows.keys.sorted().joined(separator: ","))",
            ])
        return .success(flows.revision)
    }

    public func callDocument(_ id: String, reply: @escaping (JSONValue?) -> Void) {
        pipeline.ledger.document(id, reply: reply)
    }

    public func placeCall(_ request: DialRequest, reply: @escaping (HTTPResponse) -> Void) {
        pipeline.effects.dial(request) { result in
            switch result {
            case .success(let id):
                reply(.json(201, JSONValue.object(["call_control_id": .string(id), "flow": .string(request.flow), "status": "dialing"]).jsonBytes))
            case .failure(let failure):
                reply(
                    .json(
                        502,
                        JSONValue.object([
                            "error": .string("Telnyx did not place the call: \(failure.reason)"),
                            "telnyx_errors": .array(
                                failure.errors.map {
                                    .object([
                                        "code": $0.code.map(JSONValue.string) ?? .null,
                                        "title": $0.title.map(JSONValue.string) ?? .null,
                                        "detail": $0.detail.map(JSONValue.string) ?? .null,
                                    ])
                                }),
                        ]).jsonBytes))
            }
        }
    }
}
