import CallflowCore
import Dispatch
import EventHTTP
import Logging
import Redis

/// What one input produced, committed together in shared mode.
struct SharedWork {
    var batch: StoreBatch
    var commands: [(command: CallCommand, receivedNs: UInt64?)]
    var http: [(call: String, request: HTTPCall)]
    var timers: [(id: String, call: String, ms: Int)]
    var records: [(call: String, entry: [UInt8])]
}

/// Several instances behind a load balancer, one Redis: any instance may receive any call's
/// webhook, so Redis holds the truth and each input is applied as load → step → commit.
///
/// - Order: inputs of one call queue here (one at a time, in arrival order); across instances the
///   commit checks the versions it loaded (optimistic concurrency) and a conflict re-runs the
///   input on the newer state, so each call sees its events one at a time in commit order.
/// - Dedupe is shared (`seen:` keys set in the same commit), so a redelivery to another instance
///   is still a duplicate.
/// - The outbox is shared: the committing instance sends at once under a lease; a command whose
///   lease runs out (its sender died) is claimed and sent again by another instance, with the same
///   `command_id`. HTTP requests of `http` nodes and timers are taken over the same way.
///
/// Loop-confined, like the runtime it drives.
public final class SharedCalls {
    enum Input {
        case webhook(WebhookEvent, done: (IngestResult) -> Void)
        case machine(MachineInput, call: String)
    }
    struct Job {
        var input: Input
        var conflicts = 0
    }
    struct Loaded {
        var id: String
        var version: String
        var state: CallState?
    }

    unowned let runtime: CallRuntime
    let redis: RedisConnection
    let logger: Logger
    let prefix: String
    /// How long a claim on a command or HTTP request holds without renewal. The instance working on
    /// it renews it every sweep while it works (a command may be retried for a minute), so when an
    /// instance dies its work is taken over within this time.
    static let leaseMs = 5000
    let traceTTLSeconds: Int
    static let dedupeTTLSeconds = 3600
    static let sweepMs = 1000
    /// A timer this late is presumed orphaned (its instance died) and fired by whoever claims it.
    static let timerGraceMs = 2000
    static let maxConflicts = 50
    /// Inputs waiting per call; the first one is being applied.
    private var queues: [String: [Job]] = [:]
    private var revisions: [String: FlowSet] = [:]
    private var retryScheduled: Set<String> = []
    /// Claims this instance is working on (`o:<seq>`, `h:<id>`), renewed every sweep.
    private var held: Set<String> = []
    /// Calls with inputs being loaded, applied or committed here (shutdown waits for them).
    var inputsInFlight: Int { queues.count }
    /// Live calls across all instances (refreshed every sweep).
    public private(set) var liveCalls = 0

    init(runtime: CallRuntime, redis: RedisConnection, logger: Logger, prefix: String, traceRetentionHours: Int) {
        self.runtime = runtime
        self.redis = redis
        self.logger = logger
        self.prefix = prefix
        self.traceTTLSeconds = traceRetentionHours * 3600
        revisions[runtime.engine.flows.revision] = runtime.engine.flows
        redis.onStateChange = { [unowned self] up in
            self.runtime.storeHealthy = up
            if up { self.logger.info("Redis connected", metadata: ["redis": "\(self.redis.url)"]) } else {
                self.logger.error("Redis lost; answering 503 until it returns", metadata: ["reason": "\(self.redis.lastError)"])
            }
        }
        runtime.shared = self
        runtime.storeHealthy = redis.isConnected  // ready once the connection answers
        sweepLater()
    }

    /// Checks Redis at startup (a clear error when it is down), publishes this instance's flow
    /// revision and says what is already shared.
    static func prepare(url: RedisURL, prefix: String, flows: FlowSet) throws(StoreError) -> String {
        do {
            let redis = try RedisStartupConnection(url: url)
            _ = try redis.command(publish(flows, prefix: prefix))
            let calls = try redis.command(["SCARD", "\(prefix)calls"]).int ?? 0
            let outbox = try redis.command(["HLEN", "\(prefix)outbox"]).int ?? 0
            let timers = try redis.command(["ZCARD", "\(prefix)timers"]).int ?? 0
            return "\(calls) live calls, \(outbox) unsent commands, \(timers) timers shared in \(url)"
        } catch {
            throw .unavailable("\(error)")
        }
    }

    // MARK: inputs

    /// A verified webhook; `done` gets what became of it once it is committed (or why not).
    public func submit(_ event: WebhookEvent, done: @escaping (IngestResult) -> Void) {
        let owner = event.call.map { StepTag(clientState: $0.clientState)?.parent ?? $0.callControlID } ?? ""
        enqueue(Job(input: .webhook(event, done: done)), owner: owner)
    }

    /// An HTTP result, timer or failed command for `call`. Kept and retried while Redis is down.
    func submit(_ input: MachineInput, to call: String) {
        enqueue(Job(input: .machine(input, call: call)), owner: call)
    }

    private func enqueue(_ job: Job, owner: String) {
        if queues[owner] != nil {
            queues[owner]!.append(job)
        } else {
            queues[owner] = [job]
            run(owner)
        }
    }

    private func finish(_ owner: String, _ result: IngestResult) {
        guard let job = queues[owner]?.removeFirst() else { return }
        if case .webhook(_, let done) = job.input { done(result) }
        if queues[owner]?.isEmpty == true { queues[owner] = nil } else { run(owner) }
    }

    /// Redis could not be used: a webhook gets 503 (Telnyx redelivers); the shell's own inputs stay
    /// first in their call's queue and are tried again shortly.
    private func unavailable(_ owner: String, _ reason: String) {
        guard let job = queues[owner]?.first else { return }
        runtime.metrics.increment("callflow_store_errors_total", [])
        if case .webhook = job.input { return finish(owner, .unavailable(reason: "shared store: \(reason)")) }
        guard !retryScheduled.contains(owner) else { return }
        retryScheduled.insert(owner)
        logger.warning("shared store unavailable; input kept and retried", metadata: ["call.control_id": "\(owner)", "reason": "\(reason)"])
        do {
            try runtime.loop.schedule(afterMilliseconds: redis.reconnectMs) { [weak self] in
                self?.retryScheduled.remove(owner)
                self?.run(owner)
            }
        } catch {
            retryScheduled.remove(owner)
        }
    }

    // MARK: load → step → commit

    private func run(_ owner: String) {
        guard let job = queues[owner]?.first else { return }
        var ids: [String] = []
        var token = ""
        var seen = ""
        var timer = ""
        switch job.input {
        case .webhook(let event, _):
            if let leg = event.call {
                ids = leg.callControlID == owner ? [owner] : [owner, leg.callControlID]
                token = StepTag(clientState: leg.clientState)?.dial ?? ""
            }
            seen = Self.hex(DedupeWindow.storedKey(event.id))
        case .machine(let input, let call):
            ids = [call]
            if case .timerFired(let id) = input { timer = id }
        }
        let args = ["EVAL", SharedScripts.load, "0", prefix, String(ids.count)] + ids + [token, seen, timer]
        redis.send(args) { [weak self] result in
            guard let self else { return }
            switch result {
            case .failure(let e): self.unavailable(owner, "\(e)")
            case .success(let reply):
                do throws(StoreError) {
                    try self.loaded(owner, ids: ids, token: token, seen: seen, reply: reply)
                } catch {
                    self.logger.error("shared state unreadable", metadata: ["call.control_id": "\(owner)", "reason": "\(error)"])
                    self.unavailable(owner, "\(error)")
                }
            }
        }
    }

    private func loaded(_ owner: String, ids: [String], token: String, seen: String, reply: RedisValue) throws(StoreError) {
        guard let job = queues[owner]?.first else { return }
        guard let parts = reply.array, parts.count == ids.count + 3 else { throw .corrupt("unexpected reply to the load script: \(reply)") }
        var states: [Loaded] = []
        for (i, id) in ids.enumerated() {
            guard let pair = parts[i].array, pair.count == 2, let version = pair[0].bytes, let blob = pair[1].bytes else {
                throw .corrupt("call \(id): unexpected stored value")
            }
            let state = blob.isEmpty ? nil : try Self.decode("call \(id)", blob, StateCodec.decodeState)
            states.append(Loaded(id: id, version: String(decoding: version, as: UTF8.self), state: state))
        }
        let dialBytes = parts[ids.count].bytes ?? []
        let dial = dialBytes.isEmpty ? nil : try Self.decode("dial \(token)", dialBytes, StateCodec.decodeDial)
        if parts[ids.count + 1].int == 1 { return finish(owner, .duplicate) }
        if case .machine(.timerFired, _) = job.input, parts[ids.count + 2].int != 1 {
            return finish(owner, .ignored(reason: "timer already fired or cancelled"))
        }
        let missing = Set(states.compactMap(\.state?.flowRevision)).filter { !runtime.engine.holds(revision: $0) && revisions[$0] == nil }
        guard missing.isEmpty else {
            return fetch(revisions: Array(missing)) { [weak self] ok in
                guard let self else { return }
                if ok { self.step(owner, states: states, token: token, dial: dial, seen: seen) } else { self.unavailable(owner, self.redis.lastError) }
            }
        }
        step(owner, states: states, token: token, dial: dial, seen: seen)
    }

    private func step(_ owner: String, states: [Loaded], token: String, dial: PendingDial?, seen: String) {
        guard let job = queues[owner]?.first else { return }
        for s in states {
            if let rev = s.state?.flowRevision, !runtime.engine.holds(revision: rev), let set = revisions[rev] { runtime.engine.add(revision: set) }
            runtime.engine.adopt(s.id, s.state.map { withHeldSecrets($0) })
        }
        if !token.isEmpty { runtime.engine.adoptDial(token: token, dial) }
        let result: IngestResult
        switch job.input {
        case .webhook(let event, _): result = runtime.receive(event, dedupe: false)
        case .machine(let input, let call):
            runtime.apply(input, to: call)
            result = .accepted
        }
        let work = runtime.takeSharedWork()
        for (id, state) in work.batch.upserts { holdSecrets(id, state) }
        for id in work.batch.ended.keys { heldSecrets[id] = nil }
        let dialUsed = dial != nil && runtime.engine.pendingDials[token] == nil
        // The engine keeps nothing: the next input of these calls may come to another instance.
        for s in states { runtime.engine.adopt(s.id, nil) }
        for id in work.batch.upserts.keys { runtime.engine.adopt(id, nil) }
        if !token.isEmpty { runtime.engine.adoptDial(token: token, nil) }

        var checks = states.map { ($0.id, $0.version) }
        for id in work.batch.upserts.keys where !states.contains(where: { $0.id == id }) { checks.append((id, "0")) }
        let nowMs = runtime.clockMs()
        var args: [[UInt8]] = ["EVAL", SharedScripts.commit, "0", prefix, String(nowMs), seen, String(Self.dedupeTTLSeconds),
                               String(traceTTLSeconds), String(Self.leaseMs)].map { Array($0.utf8) }
        func section(_ rows: [[[UInt8]]]) {
            args.append(Array(String(rows.count).utf8))
            for row in rows { args += row }
        }
        let b = work.batch
        section(checks.map { [Array($0.0.utf8), Array($0.1.utf8)] })
        section(b.upserts.map { [Array($0.key.utf8), StateCodec.encode($0.value).jsonBytes] })
        section(b.ended.map { [Array($0.key.utf8), JSONValue.array($0.value.trace.map(StateCodec.encode)).jsonBytes] })
        section(work.commands.map { [StateCodec.encode($0.command).jsonBytes] })
        section(b.timersAdded.map { [Array($0.id.utf8), Array($0.call.utf8), Array(String($0.fireAtMs).utf8)] })
        section(b.timersRemoved.map { [Array($0.utf8)] })
        section(b.httpAdded.map { [Array($0.request.id.utf8), Self.encode(http: $0.request, call: $0.call)] })
        section(b.httpRemoved.map { [Array($0.utf8)] })
        section(dialUsed ? [[Array(token.utf8)]] : [])
        section(work.records.map { [Array($0.call.utf8), $0.entry] })
        let commitStarted = DispatchTime.now().uptimeNanoseconds
        redis.send(args) { [weak self] reply in
            guard let self else { return }
            self.runtime.metrics.observe("callflow_store_commit_seconds", [], Double(DispatchTime.now().uptimeNanoseconds - commitStarted) / 1e9)
            switch reply {
            case .failure(let e): self.unavailable(owner, "\(e)")
            case .success(let value):
                let parts = value.array ?? []
                switch parts.first?.bytes.map({ String(decoding: $0, as: UTF8.self) }) {
                case "ok":
                    self.finish(owner, result)
                    self.carryOut(work, seqs: parts.dropFirst().compactMap(\.int))
                case "duplicate":
                    self.finish(owner, .duplicate)
                case "conflict":
                    self.runtime.metrics.increment("callflow_store_conflicts_total", [])
                    self.queues[owner]?[0].conflicts += 1
                    if (self.queues[owner]?.first?.conflicts ?? 0) > Self.maxConflicts {
                        self.unavailable(owner, "call state kept changing under \(Self.maxConflicts) attempts")
                    } else {
                        self.run(owner)
                    }
                default:
                    self.unavailable(owner, "unexpected reply to the commit script: \(value)")
                }
            }
        }
    }

    /// After the commit: commands leave, HTTP requests start, timers are armed here (and, being
    /// stored, fired by another instance if this one dies).
    private func carryOut(_ work: SharedWork, seqs: [Int64]) {
        let sentNs = DispatchTime.now().uptimeNanoseconds
        for (pending, seq) in zip(work.commands, seqs) {
            send(pending.command, seq: seq)
            if let received = pending.receivedNs {
                runtime.metrics.observe("callflow_webhook_to_command_seconds", [], Double(sentNs - received) / 1e9)
            }
        }
        for (call, request) in work.http { perform(request, call: call) }
        for t in work.timers { runtime.arm(timer: t.id, call: t.call, afterMs: t.ms) }
    }

    /// Digits of `sensitive` gathers, which Redis never sees (`StateCodec.storedVars`): held by
    /// the instance that took them. An input of the call that another instance runs renders them
    /// empty, with a warning (docs/state.md).
    private var heldSecrets: [String: JSONObject] = [:]

    private func holdSecrets(_ id: String, _ state: CallState) {
        guard !state.sensitiveVars.isEmpty else { return }
        heldSecrets[id] = JSONObject(state.vars.members.filter { state.sensitiveVars.contains($0.key) })
    }

    private func withHeldSecrets(_ state: CallState) -> CallState {
        guard let held = heldSecrets[state.callControlID] else { return state }
        var s = state
        for (k, v) in held.members where s.sensitiveVars.contains(k) { s.vars[k] = v }
        return s
    }

    private func send(_ command: CallCommand, seq: Int64) {
        held.insert("o:\(seq)")
        let report = command.reportsResult ? command : nil
        runtime.telnyx.send(command) { [weak self] result in
            guard let self else { return }
            if let report { self.runtime.reportResult(of: report, result) }
            self.held.remove("o:\(seq)")
            // Answered for good (done or failed for good): the entry goes. If this is lost, the
            // lease runs out and the command is sent again with its command_id, which Telnyx ignores.
            self.redis.send(["EVAL", SharedScripts.sent, "0", self.prefix, String(seq)]) { _ in }
        }
    }

    private func perform(_ request: HTTPCall, call: String) {
        if request.withheld { return submit(.httpResult(requestID: request.id, .failed(CallRuntime.withheldReason)), to: call) }
        held.insert("h:\(request.id)")
        runtime.backend.perform(request) { [weak self] outcome in
            self?.held.remove("h:\(request.id)")
            self?.submit(.httpResult(requestID: request.id, outcome), to: call)
        }
    }

    // MARK: revisions, dials

    /// Publishes a flow revision (startup, reload) so every instance can run calls on it.
    func store(revision flows: FlowSet) {
        revisions[flows.revision] = flows
        redis.send(Self.publish(flows, prefix: prefix)) { [weak self] result in
            if case .failure(let e) = result {
                self?.logger.error("flow revision not shared; other instances cannot continue its calls until it is",
                                   metadata: ["revision": "\(flows.revision)", "reason": "\(e)"])
            }
        }
    }

    /// The command that stores a revision's files under its id.
    static func publish(_ flows: FlowSet, prefix: String) -> [[UInt8]] {
        [Array("HSET".utf8), Array("\(prefix)revisions".utf8), Array(flows.revision.utf8), RevisionFiles.encode(flows.sources).jsonBytes]
    }

    private func fetch(revisions wanted: [String], then: @escaping (Bool) -> Void) {
        redis.send(["HMGET", "\(prefix)revisions"] + wanted) { [weak self] result in
            guard let self else { return }
            guard case .success(let value) = result, let blobs = value.array, blobs.count == wanted.count else { return then(false) }
            for (rev, blob) in zip(wanted, blobs) {
                do throws(StoreError) {
                    guard let bytes = blob.bytes, let json = try? JSONParser.parse(bytes) else { throw .corrupt("revision \(rev) is not stored") }
                    let files = try RevisionFiles.decode(json, revision: rev)
                    let (set, problems) = FlowSet.load(files: files.map { (name: $0.key, file: "\($0.key).json", bytes: $0.value) },
                                                       timeZones: self.runtime.timeZones)
                    guard let set, set.revision == rev else {
                        throw .corrupt("revision \(rev) no longer loads: \(problems.map(\.description).joined(separator: "; "))")
                    }
                    self.revisions[rev] = set
                } catch {
                    // The engine then reports the revision gone for that call's inputs.
                    self.logger.error("flow revision unavailable; its calls cannot continue", metadata: ["revision": "\(rev)", "reason": "\(error)"])
                }
            }
            then(true)
        }
    }

    /// Shares an outbound call about to be dialed; `done(false)` when Redis did not store it.
    func store(dial: PendingDial, token: String, done: @escaping (Bool) -> Void) {
        redis.send([Array("SET".utf8), Array("\(prefix)dial:\(token)".utf8), StateCodec.encode(dial).jsonBytes, Array("EX".utf8),
                    Array("3600".utf8)]) { result in
            if case .success = result { done(true) } else { done(false) }
        }
    }

    func forget(dial token: String) {
        redis.send(["DEL", "\(prefix)dial:\(token)"]) { _ in }
    }

    /// A live or recently finished call from the shared state; `nil` when Redis has neither.
    func document(_ id: String, reply: @escaping (JSONValue?) -> Void) {
        redis.send(["EVAL", SharedScripts.document, "0", prefix, id]) { [weak self] result in
            guard let self else { return reply(nil) }
            guard case .success(let value) = result, let parts = value.array, parts.count == 3 else {
                self.logger.warning("call document unavailable", metadata: ["call.control_id": "\(id)", "reason": "\(result)"])
                return reply(nil)
            }
            let inputs = parts[2].array?.compactMap(\.bytes) ?? []
            do throws(StoreError) {
                if let state = parts[0].bytes, !state.isEmpty {
                    return reply(CallRuntime.document(live: try Self.decode("call \(id)", state, StateCodec.decodeState), inputs: inputs))
                }
                if let trace = parts[1].bytes, !trace.isEmpty {
                    let entries = try Self.decode("trace \(id)", trace) { (v) throws(StateCodec.DecodeError) -> [TraceEntry] in
                        try (v.arrayValue ?? []).map { (e) throws(StateCodec.DecodeError) in try StateCodec.decodeTrace(e) }
                    }
                    return reply(CallRuntime.document(ended: id, trace: entries, inputs: inputs))
                }
            } catch {
                self.logger.error("shared call unreadable", metadata: ["call.control_id": "\(id)", "reason": "\(error)"])
            }
            reply(nil)
        }
    }

    // MARK: takeover

    private func sweepLater() {
        do { try runtime.loop.schedule(afterMilliseconds: Self.sweepMs) { [weak self] in self?.sweep() } } catch {}
    }

    /// Claims commands, HTTP requests and timers whose instance stopped looking after them.
    private func sweep() {
        defer { sweepLater() }
        guard redis.isConnected else { return }
        let now = runtime.clockMs()
        if !held.isEmpty {
            // Still working on these: keep them ours (XX: entries finished meanwhile stay gone).
            let deadline = String(now + Int64(Self.leaseMs))
            redis.send(["ZADD", "\(prefix)claims", "XX"] + held.sorted().flatMap { [deadline, $0] }) { _ in }
        }
        redis.send(["EVAL", SharedScripts.claim, "0", prefix, String(now), String(Self.leaseMs), String(Self.timerGraceMs)]) {
            [weak self] result in
            guard let self, case .success(let value) = result, let flat = value.array else { return }
            var i = 0
            while i + 2 < flat.count {
                let kind = flat[i].bytes.map { String(decoding: $0, as: UTF8.self) } ?? ""
                let id = flat[i + 1].bytes.map { String(decoding: $0, as: UTF8.self) } ?? ""
                let payload = flat[i + 2].bytes ?? []
                i += 3
                self.takeOver(kind: kind, id: id, payload: payload)
            }
        }
        redis.send(["SCARD", "\(prefix)calls"]) { [weak self] result in
            if case .success(.integer(let n)) = result { self?.liveCalls = Int(n) }
        }
    }

    private func takeOver(kind: String, id: String, payload: [UInt8]) {
        do throws(StoreError) {
            switch kind {
            case "o":
                guard let seq = Int64(id) else { throw .corrupt("outbox entry \(id) is not a sequence number") }
                let command = try Self.decode("outbox \(id)", payload, StateCodec.decodeCommand)
                logger.notice("sending a command its instance left unsent", metadata: ["call.control_id": "\(command.callControlID)",
                                                                                        "action": "\(command.action)"])
                send(command, seq: seq)
            case "h":
                guard let json = try? JSONParser.parse(payload), let call = json["call"]?.stringValue, let request = json["request"] else {
                    throw .corrupt("http request \(id)")
                }
                let decoded = try Self.decode("http request \(id)", request, StateCodec.decodeHTTP)
                logger.notice("repeating an HTTP request its instance left unfinished", metadata: ["call.control_id": "\(call)"])
                perform(decoded, call: call)
            case "t":
                let call = String(decoding: payload, as: UTF8.self)
                guard !runtime.timers.contains(id) else { return }  // armed here: it fires by itself
                submit(.timerFired(id: id), to: call)
            default:
                throw .corrupt("claimed entry of unknown kind \(kind)")
            }
        } catch {
            logger.error("shared entry unreadable", metadata: ["entry": "\(kind):\(id)", "reason": "\(error)"])
        }
    }

    // MARK: encoding

    static func hex(_ key: UInt64) -> String { String(key, radix: 16) }

    static func encode(http request: HTTPCall, call: String) -> [UInt8] {
        JSONValue.object(["call": .string(call), "request": StateCodec.encode(request)]).jsonBytes
    }

    static func decode<T>(_ what: String, _ bytes: [UInt8], _ decoder: (JSONValue) throws(StateCodec.DecodeError) -> T) throws(StoreError) -> T {
        guard let json = try? JSONParser.parse(bytes) else { throw .corrupt("\(what) is not JSON") }
        return try decode(what, json, decoder)
    }

    static func decode<T>(_ what: String, _ json: JSONValue, _ decoder: (JSONValue) throws(StateCodec.DecodeError) -> T) throws(StoreError) -> T {
        do { return try decoder(json) } catch { throw .corrupt("\(what): \(error)") }
    }
}
