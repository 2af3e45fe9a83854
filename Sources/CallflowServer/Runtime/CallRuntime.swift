import CallflowCore
import Dispatch
import EventHTTP
import Foundation
import Logging

/// The imperative shell around the pure engine: feeds it webhooks, HTTP results, timers and
/// command failures, and carries out the effects it returns. Everything happens on the loop
/// thread; nothing here waits.
public final class CallRuntime {
    public internal(set) var engine: CallEngine
    let loop: EventLoop
    let telnyx: TelnyxClient
    let backend: any BackendRequests
    let logger: Logger
    let clock: () -> Int64
    var timers = ArmedTimers()
    /// Each live call's inputs, for `callflow replay` (bounded per call; digits of sensitive
    /// gathers masked), and those of recently finished calls.
    private var recordings: [String: [[UInt8]]] = [:]
    private var finishedRecordings: [(id: String, inputs: [[UInt8]])] = []
    static let maxRecordedInputs = 300
    public let metrics: Metrics
    // Durable state (see CallRuntime+Store.swift).
    let store: any CallStore
    var batch = StoreBatch()
    var commitScheduled = false
    var commitTask: UrgentTask?
    var flushTask: UrgentTask?
    var changesWaiting = 0
    var lazyCommitScheduled = false
    /// The commit being written, if any: when it started (`storeStalled`) and how many commands
    /// wait for it (`pendingCommands`).
    var commitInFlight: (startedMs: Int64, commands: Int)?
    /// The store's writer thread; nil when commits run on the loop (see `storeWriter(for:)`).
    let writer: LoopWorker?
    var retryScheduled = false
    var afterCommit: [(Bool) -> Void] = []
    var pendingOutbox: [(command: CallCommand, receivedNs: UInt64?)] = []
    /// When the webhook being applied arrived (monotonic), for the webhook→command latency.
    var currentReceivedNs: UInt64?
    var pendingHTTP: [(call: String, request: HTTPCall)] = []
    var uncommittedEvents: Set<String> = []
    var lastDials: [String: PendingDial] = [:]
    public internal(set) var storeHealthy = true
    let clockMs: () -> Int64
    let timeZones: any TimeZoneProvider
    let traceRetentionHours: Int
    /// Set when several instances share their state in Redis: inputs go through it (load the
    /// call, apply, commit with a version check) instead of the local group commit.
    weak var shared: SharedCalls?
    /// Shared mode: timers and recorded inputs wait for the input's commit like commands do.
    var pendingTimers: [(id: String, call: String, ms: Int)] = []
    var pendingRecords: [(call: String, entry: [UInt8])] = []
    /// The webhook (or `http.result`, `timer.fired`, `command.failed`) being applied, so effect
    /// log lines name what caused them.
    private var currentEventType: String?

    public init(engine: CallEngine, loop: EventLoop, telnyx: TelnyxClient, backend: any BackendRequests, logger: Logger,
                metrics: Metrics = Metrics(), store: any CallStore = MemoryStore(), timeZones: any TimeZoneProvider = SystemTimeZones(),
                traceRetentionHours: Int = 72, clockMs: @escaping () -> Int64) {
        self.metrics = metrics
        self.store = store
        self.timeZones = timeZones
        self.traceRetentionHours = traceRetentionHours
        self.clockMs = clockMs
        self.clock = { clockMs() / 1000 }
        self.engine = engine
        self.loop = loop
        self.telnyx = telnyx
        self.backend = backend
        self.logger = logger
        self.writer = Self.storeWriter(for: store, loop: loop, logger: logger)
        telnyx.onFailure = { [unowned self] command, failure in
            self.feed(.commandFailed(commandID: command.commandID ?? "", action: command.action, detail: "\(failure)",
                                     callGone: failure.callGone), to: command.owningCall)
        }
    }

    public var liveCalls: Int { shared?.liveCalls ?? engine.calls.count }
    /// Calls whose inputs are held for replay: at most the live ones, or memory leaks.
    public var recordedCalls: Int { recordings.count }
    /// Commands queued or in flight to Telnyx, commands waiting for their commit, and (shared
    /// state) inputs not yet committed.
    public var pendingCommands: Int {
        telnyx.pending + pendingOutbox.count + (commitInFlight?.commands ?? 0) + (shared?.inputsInFlight ?? 0)
    }

    /// A verified webhook in; how it was taken out.
    public func receive(_ event: WebhookEvent, dedupe: Bool = true) -> IngestResult {
        let owner = event.call.map { engine.calls[$0.callControlID] != nil ? $0.callControlID
            : StepTag(clientState: $0.clientState)?.parent ?? $0.callControlID }
        let masked = owner.map { maskIfSensitive(event, call: $0) } ?? event.payload
        currentReceivedNs = DispatchTime.now().uptimeNanoseconds
        let output = engine.receive(event, now: clock(), dedupe: dedupe)
        currentEventType = event.eventType
        defer {
            currentEventType = nil
            currentReceivedNs = nil
        }
        if output.seenKey != nil { uncommittedEvents.insert(event.id) }
        countVisits(output)  // records a call's start, which belongs before the webhook that started it
        if let owner, output.disposition != .duplicate {
            record(owner, ["webhook": .object(["event_type": .string(event.eventType), "id": .string(event.id), "payload": .object(masked)])])
        }
        countEnds(output)  // files the recording away, so after the webhook that ended the call
        noteChanges(output)
        execute(output.effects)
        switch output.disposition {
        case .accepted: return .accepted
        case .duplicate: return .duplicate
        case .stale(let why): return .stale(reason: why)
        case .ignored(let why): return .ignored(reason: why)
        case .unknownCall(let why): return .unknownCall(reason: why)
        }
    }

    /// Starts a flow on an outbound call we placed.
    public func startOutbound(leg: CallLeg, flow: String, vars: JSONObject) {
        let output = engine.startOutbound(leg: leg, flow: flow, vars: vars, now: clock())
        count(output)
        noteChanges(output)
        execute(output.effects)
    }

    /// New calls use `flows`; its files are stored so calls on it survive a restart.
    public func reload(_ flows: FlowSet) {
        engine.reload(flows)
        remember(flows)
    }

    /// Log metadata for a call: its flow and node.
    public func logContext(_ call: String) -> Logger.Metadata {
        guard let s = engine.calls[call] else { return [:] }
        return ["flow": "\(s.flow)", "flow.node": "\(s.node)"]
    }

    /// Dials an outbound call and starts `request.flow` on it when it is answered. `done` gets
    /// Telnyx's call_control_id, or the reason the dial failed.
    public func dial(_ request: OutboundCallRequest, done: @escaping (Result<String, CommandFailure>) -> Void) {
        var random = SystemRandomNumberGenerator()
        let token = String(random.next(), radix: 36) + String(random.next(), radix: 36)
        let pending = PendingDial(flow: request.flow, vars: request.vars, from: request.from, to: request.to,
                                  connectionID: request.connectionID, at: clock())
        guard let shared else {
            engine.expectDial(token: token, pending)
            noteDials()  // stored with the dial command's commit: a crash must not forget which flow it starts
            return sendDial(request, token: token, done: done)
        }
        // Any instance may receive the answered call's first webhook: the dial is shared first.
        shared.store(dial: pending, token: token) { [weak self] stored in
            guard stored else {
                return done(.failure(CommandFailure(status: 503, errors: [], reason: "the shared store is unavailable; nothing was dialed",
                                                    attempts: 0)))
            }
            self?.sendDial(request, token: token, done: done)
        }
    }

    private func sendDial(_ request: OutboundCallRequest, token: String, done: @escaping (Result<String, CommandFailure>) -> Void) {
        var body: JSONObject = ["to": .string(request.to), "from": .string(request.from), "connection_id": .string(request.connectionID),
                                "client_state": .string(StepTag(step: 0, dial: token).encoded), "command_id": .string("cf-dial-\(token)")]
        if request.machineDetection != "disabled" { body["answering_machine_detection"] = .string(request.machineDetection) }
        let cancel = { [weak self] in
            guard let self else { return }
            if let shared = self.shared { return shared.forget(dial: token) }
            self.engine.cancelDial(token: token)
            self.noteDials()
        }
        telnyx.send(CallCommand(callControlID: "dial:\(token)", action: "dial", body: body)) { [weak self] result in
            switch result {
            case .success(let data):
                guard let id = data["call_control_id"]?.stringValue else {
                    cancel()
                    return done(.failure(CommandFailure(status: 200, errors: [], reason: "Telnyx's answer had no call_control_id", attempts: 1)))
                }
                self?.logger.info("outbound call dialed", metadata: ["call.control_id": "\(id)", "flow": "\(request.flow)"])
                done(.success(id))
            case .failure(let failure):
                cancel()
                done(.failure(failure))
            }
        }
    }

    private static func inputs(_ recorded: [[UInt8]]) -> JSONValue {
        .array(recorded.map { (try? JSONParser.parse($0)) ?? .null })
    }

    /// A live call, or a recently finished one, as JSON (sensitive variables masked).
    public func document(_ id: String) -> JSONValue? {
        if let s = engine.calls[id] { return Self.document(live: s, inputs: recordings[id] ?? []) }
        if let done = engine.finished.last(where: { $0.id == id }) {
            return Self.document(ended: id, trace: done.trace, inputs: finishedRecordings.last(where: { $0.id == id })?.inputs ?? [])
        }
        if let stored = store.finishedTrace(id) { return Self.document(ended: id, trace: stored, inputs: []) }
        return nil
    }

    static func document(live s: CallState, inputs recorded: [[UInt8]]) -> JSONValue {
        var vars = s.vars
        for name in s.sensitiveVars where vars[name] != nil { vars[name] = "***" }
        return .object([
            "call_control_id": .string(s.callControlID), "phase": .string(s.phase.rawValue), "flow": .string(s.flow), "node": .string(s.node),
            "step": .int(s.step), "revision": .string(s.flowRevision), "waiting": .string("\(s.waiting)"),
            "from": .string(s.facts.from), "to": .string(s.facts.to), "direction": .string(s.facts.direction),
            "vars": .object(vars), "trace": .array(s.trace.map(StateCodec.encode)), "inputs": inputs(recorded),
        ])
    }

    static func document(ended id: String, trace: [TraceEntry], inputs recorded: [[UInt8]]) -> JSONValue {
        .object(["call_control_id": .string(id), "phase": "ended", "trace": .array(trace.map(StateCodec.encode)), "inputs": inputs(recorded)])
    }

    /// An input from the shell (HTTP result, timer, failed command) for a call.
    func feed(_ input: MachineInput, to call: String) {
        if let shared { shared.submit(input, to: call) } else { apply(input, to: call) }
    }

    func apply(_ input: MachineInput, to call: String) {
        switch input {
        case .httpResult(let id, let outcome):
            batch.httpRemoved.append(id)
            currentEventType = "http.result"
            switch outcome {
            case .response(let status, let body):
                record(call, ["http": ["status": .int(status), "body": (try? JSONParser.parse(body)) ?? .string(String(decoding: body, as: UTF8.self))]])
            case .failed(let why): record(call, ["http": ["error": .string(why)]])
            }
        case .timerFired(let id):
            batch.timersRemoved.append(id)
            currentEventType = "timer.fired"
            record(call, ["timer": true])
        case .commandFailed(_, let action, let detail, let gone):
            currentEventType = "command.failed"
            record(call, ["command_failed": ["action": .string(action), "detail": .string(detail), "call_gone": .bool(gone)]])
        case .commandSucceeded(_, let action, let data):
            currentEventType = "command.succeeded"
            record(call, ["command_succeeded": ["action": .string(action), "data": data]])
        case .webhook(let e):
            currentEventType = e.eventType
        }
        defer { currentEventType = nil }
        let output = engine.apply(input, to: call, now: clock())
        count(output)
        noteChanges(output)
        if case .ignored(let why) = output.disposition {
            logger.debug("input ignored", metadata: ["call.control_id": "\(call)", "reason": "\(why)"])
        }
        execute(output.effects)
    }

    /// Shared mode: everything one input produced, for its commit; the runtime keeps nothing of it.
    func takeSharedWork() -> SharedWork {
        defer {
            batch = StoreBatch()
            pendingOutbox = []
            pendingHTTP = []
            pendingTimers = []
            pendingRecords = []
            uncommittedEvents = []
            afterCommit = []
        }
        return SharedWork(batch: batch, commands: pendingOutbox, http: pendingHTTP, timers: pendingTimers, records: pendingRecords)
    }

    /// Keeps an input for replay. Only a live call (or the one this input just ended) keeps a
    /// recording: a late webhook, timer or failed command for a finished or unknown call would
    /// otherwise start one that nothing ever files away.
    private func record(_ call: String, _ input: JSONObject) {
        var entry = input
        entry["t"] = .int(Int(clock()))
        if shared != nil {
            // The call's state was put in for this input; it is gone only if this input ended it.
            guard engine.calls[call] != nil || engine.finished.last?.id == call else { return }
            pendingRecords.append((call, JSONValue.object(entry).jsonBytes))
            return
        }
        guard engine.calls[call] != nil || recordings[call] != nil else { return }
        recordings[call, default: []].append(JSONValue.object(entry).jsonBytes)  // compact: bytes, not a tree
        if recordings[call]!.count > Self.maxRecordedInputs { recordings[call]!.removeFirst() }
    }

    /// Payload fields the engine reads; a recording keeps only these (about 150 bytes an event
    /// instead of the whole payload).
    static let replayedFields: Set<String> = [
        "call_control_id", "client_state", "connection_id", "from", "to", "direction", "digits", "digit", "status", "result",
        "hangup_cause", "hangup_source", "recording_urls", "media_url", "media_name", "status_detail", "reason",
    ]

    /// The replayable part of a payload; digits typed at a sensitive gather are masked.
    private func maskIfSensitive(_ event: WebhookEvent, call: String) -> JSONObject {
        var payload = JSONObject(event.payload.members.filter { Self.replayedFields.contains($0.key) && !$0.value.isNull })
        guard let state = engine.calls[call], case .gather(let g)? = engine.node(of: state)?.kind, g.sensitive else {
            return payload
        }
        if payload["digits"] != nil { payload["digits"] = "***" }
        if payload["digit"] != nil { payload["digit"] = "***" }
        return payload
    }

    /// Metrics and recordings for an output whose input is recorded before it (or not at all).
    private func count(_ output: EngineOutput) {
        countVisits(output)
        countEnds(output)
    }

    /// The funnel: node entries, and exits by the outcome that left them; a call's start is recorded.
    private func countVisits(_ output: EngineOutput) {
        for visit in output.visits {
            metrics.increment("callflow_node_entries_total", [visit.flow, visit.node])
            if let from = visit.from {
                metrics.increment("callflow_node_exits_total", [from.flow, from.node, visit.edge == "on_hangup" ? "hangup" : visit.edge ?? "goto"])
            }
            if visit.from == nil {
                metrics.increment("callflow_calls_total", ["started"])
                if let call = output.call, let s = engine.calls[call] {
                    // One line per call at the default level, so a first deploy shows calls arriving
                    // (the caller's number is left out; the called number is the deployment's own).
                    logger.info("call started", metadata: ["call.control_id": "\(call)", "flow": "\(visit.flow)",
                                                           "call.direction": "\(s.facts.direction)", "call.to": "\(s.facts.to)"])
                    record(call, ["start": .object(["flow": .string(visit.flow), "direction": .string(s.facts.direction),
                                                    "from": .string(s.facts.from), "to": .string(s.facts.to),
                                                    "connection_id": s.facts.connectionID.map(JSONValue.string) ?? .null,
                                                    "vars": .object(JSONObject(s.vars.members.filter { !s.sensitiveVars.contains($0.key) }))])])
                }
            }
        }
    }

    /// Ended calls: counted, and their recording moves to the finished ones.
    private func countEnds(_ output: EngineOutput) {
        for effect in output.effects {
            guard case .ended(let reason) = effect.effect else { continue }
            metrics.increment("callflow_calls_total", ["ended"])
            finishedRecordings.append((effect.call, recordings.removeValue(forKey: effect.call) ?? []))
            if finishedRecordings.count > CallEngine.finishedKept { finishedRecordings.removeFirst() }
            // Without on_hangup, the node the caller hung up in is only known here.
            if reason == "hangup" { metrics.increment("callflow_node_exits_total", [effect.flow, effect.node, "hangup"]) }
        }
    }

    func execute(_ effects: [CallEffect]) {
        for item in effects {
            // Built only when a line is written (swift-log evaluates metadata lazily).
            func meta() -> Logger.Metadata {
                var m: Logger.Metadata = ["call.control_id": "\(item.call)", "flow": "\(item.flow)", "flow.node": "\(item.node)"]
                if let type = currentEventType { m["event_type"] = "\(type)" }
                return m
            }
            switch item.effect {
            case .command(let command):
                // Sent only after the batch that holds it is committed (the outbox).
                batch.outbox.append(command)
                pendingOutbox.append((command, currentReceivedNs))
                scheduleCommit()
            case .http(let request):
                batch.httpAdded.append((item.call, request))
                pendingHTTP.append((item.call, request))
                scheduleCommit()
            case .startTimer(let id, let ms):
                batch.timersAdded.append((id, item.call, clockMs() + Int64(ms)))
                scheduleCommit()
                if shared != nil { pendingTimers.append((id, item.call, ms)) } else { arm(timer: id, call: item.call, afterMs: ms) }
            case .cancelTimer(let id):
                batch.timersRemoved.append(id)
                scheduleCommit()
                if let timer = timers.remove(id) { loop.cancelTimer(timer) }
            case .log(let level, let message, let node):
                func about() -> Logger.Metadata {
                    var m = meta()
                    if let node, node != item.node { m["flow.node"] = "\(node)"; m["flow.node_after"] = "\(item.node)" }
                    return m
                }
                switch level {
                case .info: logger.info("\(message)", metadata: about())
                case .warning: logger.warning("\(message)", metadata: about())
                case .error: logger.error("\(message)", metadata: about())
                }
            case .ended(let reason):
                logger.info("call ended", metadata: meta().merging(["reason": "\(reason)"]) { $1 })
                for timer in timers.removeAll(of: item.call) { loop.cancelTimer(timer) }
            }
        }
    }
}
