import CallflowCore
import Dispatch
import EventHTTP
import Logging
import Redis

/// Several instances behind a load balancer, one Redis: any instance may receive any call's
/// webhook, so Redis holds the truth and nothing stays in memory between inputs.
///
/// - Load runs one script that reads the calls, the dial and whether the webhook id or the timer
///   was seen, at one consistent moment.
/// - Commit runs one script that checks the versions it loaded (optimistic concurrency: a
///   conflict re-runs the input on the newer state), marks the webhook id seen, and writes the
///   states, the outbox, timers, requests and recorded inputs, all or nothing.
/// - The outbox is shared: the committing instance sends at once and keeps a claim on each
///   command while it works on it (`sending`); a claim that runs out is taken over by
///   `SharedSweeper` on another instance, and the command sent again with its `command_id`.
///
/// Loop-confined.
package final class SharedLedger: CallLedger {
    package let redis: RedisConnection
    /// The scripts, called by digest (see `ScriptCache`); the sweeper's claim script too.
    package let scripts: ScriptCache
    package let prefix: String
    private let logger: Logger
    private let metrics: Metrics
    private let clockMs: () -> Int64
    private let timeZones: any TimeZoneProvider
    package let traceTTLSeconds: Int
    package static let dedupeTTLSeconds = 3600
    /// How long a claim on a command or HTTP request holds without renewal (see `SharedSweeper`).
    package static let leaseMs = 5000
    /// Flow revisions read from Redis (or published here), by id.
    private var revisions: [String: FlowSet] = [:]
    /// Claims this instance is working on (`o:<seq>`, `h:<id>`), renewed by the sweeper.
    package private(set) var held: Set<String> = []
    /// Digits of `sensitive` gathers, which Redis never sees (`StateCodec.storedVars`): held by
    /// the instance that took them. An input of the call that another instance runs renders them
    /// empty, with a warning (docs/state.md).
    private var heldSecrets: [String: JSONObject] = [:]
    package private(set) var healthy: Bool
    /// Live calls across all instances (refreshed by the sweeper).
    package var liveCalls = 0

    package init(
        redis: RedisConnection, flows: FlowSet, logger: Logger, metrics: Metrics, prefix: String, traceRetentionHours: Int,
        timeZones: any TimeZoneProvider, clockMs: @escaping () -> Int64
    ) {
        self.redis = redis
        self.scripts = ScriptCache(redis: redis)
        self.prefix = prefix
        self.logger = logger
        self.metrics = metrics
        self.clockMs = clockMs
        self.timeZones = timeZones
        self.traceTTLSeconds = traceRetentionHours * 3600
        self.healthy = redis.isConnected  // ready once the connection answers
        revisions[flows.revision] = flows
        redis.onStateChange = { [unowned self] up in
            self.healthy = up
            if up {
                self.logger.info("Redis connected", metadata: ["redis": "\(self.redis.url)"])
            } else {
                self.logger.error("Redis lost; answering 503 until it returns", metadata: ["reason": "\(self.redis.lastError)"])
            }
        }
    }

    /// Checks Redis at startup (a clear error when it is down), publishes this instance's flow
    /// revision and says what is already shared.
    package static func prepare(url: RedisURL, prefix: String, flows: FlowSet) throws(StoreError) -> String {
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

    package var loadsAfterCommit: Bool { true }
    package var revisionsToKeep: Set<String> { [] }
    package var inFlight: Int { 0 }
    package var stalled: Bool { false }
    package var retryAfterMs: Int { redis.reconnectMs }

    // MARK: load

    package func loadInline(_ input: EngineInput, now: Int64) -> LoadAnswer? { nil }

    package func load(_ input: EngineInput, keys: InputKeys, now: Int64, then: @escaping (LoadAnswer) -> Void) {
        let ids = keys.owner.isEmpty ? [] : [keys.owner] + (keys.leg.map { [$0] } ?? [])
        let seen = keys.eventID.map { Self.hex(DedupeWindow.storedKey($0)) } ?? ""
        let args = ["0", prefix, String(ids.count)] + ids + [keys.dialToken ?? "", seen, keys.timerID ?? ""]
        scripts.eval(.load, args) { [weak self] result in
            guard let self else { return }
            switch result {
            case .failure(let e): self.unavailable("\(e)", then)
            case .success(let reply):
                do throws(StoreError) { try self.loaded(keys, ids: ids, reply: reply, then) } catch {
                    self.logger.error("shared state unreadable", metadata: ["call.control_id": "\(keys.owner)", "reason": "\(error)"])
                    self.unavailable("\(error)", then)
                }
            }
        }
    }

    private func loaded(_ keys: InputKeys, ids: [String], reply: RedisValue, _ then: @escaping (LoadAnswer) -> Void) throws(StoreError) {
        guard let parts = reply.array, parts.count == ids.count + 5 else { throw .corrupt("unexpected reply to the load script: \(reply)") }
        var states: [CallState?] = []
        var loaded = LoadedCalls()
        for (i, id) in ids.enumerated() {
            guard let pair = parts[i].array, pair.count == 2, let version = pair[0].bytes, let blob = pair[1].bytes else {
                throw .corrupt("call \(id): unexpected stored value")
            }
            states.append(blob.isEmpty ? nil : withHeldSecrets(try Self.decode("call \(id)", blob, StateCodec.decodeState)))
            loaded.versions.append((id, String(decoding: version, as: UTF8.self)))
        }
        let dialBytes = parts[ids.count].bytes ?? []
        if let token = keys.dialToken, !dialBytes.isEmpty { loaded.dial = try Self.decode("dial \(token)", dialBytes, StateCodec.decodeDial) }
        if parts[ids.count + 1].int == 1 { return then(.duplicate(stored: true)) }
        if keys.timerID != nil, parts[ids.count + 2].int != 1 { return then(.ignored("timer already fired or cancelled")) }
        loaded.owner = states.first ?? nil
        loaded.leg = states.count > 1 ? states[1] : nil
        let held = parts[ids.count + 3].array ?? []
        for pair in stride(from: 0, to: held.count - 1, by: 2) {
            guard let agent = held[pair].bytes, let call = held[pair + 1].bytes else { continue }
            loaded.agentHolders[String(decoding: agent, as: UTF8.self)] = String(decoding: call, as: UTF8.self)
        }
        let named = parts[ids.count + 4].array ?? []
        for pair in stride(from: 0, to: named.count - 1, by: 2) {
            guard let name = named[pair].bytes, let value = named[pair + 1].bytes else { continue }
            let text = String(decoding: value, as: UTF8.self)
            guard let bar = text.firstIndex(of: "|") else { continue }
            loaded.conferences[String(decoding: name, as: UTF8.self)] = ConferenceEntry(
                creator: String(text[..<bar]), id: String(text[text.index(after: bar)...]))
        }
        let used = Set(states.compactMap { $0?.flowRevision })
        let missing = used.filter { revisions[$0] == nil }
        func answer() {
            loaded.revisions = used.compactMap { revisions[$0] }
            then(.loaded(keys, loaded))
        }
        guard missing.isEmpty else {
            return fetch(revisions: Array(missing)) { [weak self] ok in
                guard let self else { return }
                if ok { answer() } else { self.unavailable(self.redis.lastError, then) }
            }
        }
        answer()
    }

    private func unavailable(_ why: String, _ then: (LoadAnswer) -> Void) {
        metrics.storeError()
        then(.unavailable("shared store: \(why)"))
    }

    // MARK: commit

    package func commit(_ work: InputWork, keys: InputKeys, loaded: LoadedCalls, then: @escaping (CommitOutcome) -> Void) {
        let nowMs = clockMs()
        var checks = loaded.versions
        if let id = work.call, !checks.contains(where: { $0.id == id }) { checks.append((id, "0")) }
        let seen = keys.eventID.map { Self.hex(DedupeWindow.storedKey($0)) } ?? ""
        var args: [[UInt8]] = [
            "0", prefix, String(nowMs), seen, String(Self.dedupeTTLSeconds),
            String(traceTTLSeconds), String(Self.leaseMs),
        ].map { Array($0.utf8) }
        func section(_ rows: [[[UInt8]]]) {
            args.append(Array(String(rows.count).utf8))
            for row in rows { args += row }
        }
        var timersAdded: [[[UInt8]]] = []
        var timersRemoved: [[[UInt8]]] = work.firedTimer.map { [[Array($0.utf8)]] } ?? []
        var httpAdded: [[[UInt8]]] = []
        for item in work.effects {
            switch item.effect {
            case .startTimer(let id, let ms): timersAdded.append([Array(id.utf8), Array(item.call.utf8), Array(String(nowMs + Int64(ms)).utf8)])
            case .cancelTimer(let id): timersRemoved.append([Array(id.utf8)])
            case .http(let request): httpAdded.append([Array(request.id.utf8), Self.encode(http: request, call: item.call)])
            default: break
            }
        }
        let call = work.call.map { Array($0.utf8) }
        section(checks.map { [Array($0.id.utf8), Array($0.version.utf8)] })
        section(work.agents.take.map { [Array($0.utf8), call ?? []] })
        section(work.conferences.compactMap { c in c.id.map { [Array(c.name.utf8), call ?? [], Array($0.utf8)] } })
        section(work.state.map { [[call ?? [], StateCodec.encode($0).jsonBytes]] } ?? [])
        section(work.ended.map { [[call ?? [], JSONValue.array($0.trace.map(StateCodec.encode)).jsonBytes]] } ?? [])
        section(work.commands.map { [StateCodec.encode($0).jsonBytes] })
        section(timersAdded)
        section(timersRemoved)
        section(httpAdded)
        section(work.answeredRequest.map { [[Array($0.utf8)]] } ?? [])
        section(work.dialUsed.map { [[Array($0.utf8)]] } ?? [])
        section(call.map { id in work.records.map { [id, $0] } } ?? [])
        section(work.agents.release.map { [Array($0.utf8), call ?? []] })
        section(
            work.effects.compactMap {
                guard case .expectDial(let token, let dial) = $0.effect else { return nil }
                return [Array(token.utf8), StateCodec.encode(dial).jsonBytes]
            })
        section(work.conferences.filter { $0.id == nil }.map { [Array($0.name.utf8), call ?? []] })
        let started = DispatchTime.now().uptimeNanoseconds
        scripts.eval(.commit, args) { [weak self] reply in
            guard let self else { return }
            self.metrics.storeCommit(seconds: Double(DispatchTime.now().uptimeNanoseconds - started) / 1e9)
            switch reply {
            case .failure(let e):
                self.metrics.storeError()
                then(.unavailable("shared store: \(e)", retrying: false))
            case .success(let value):
                let parts = value.array ?? []
                switch parts.first?.bytes.map({ String(decoding: $0, as: UTF8.self) }) {
                case "ok":
                    if let request = work.answeredRequest { self.held.remove("h:\(request)") }
                    if let id = work.call {
                        if let state = work.state { self.holdSecrets(id, state) } else { self.heldSecrets[id] = nil }
                    }
                    then(.committed(outboxSeqs: parts.dropFirst().compactMap(\.int), retried: false))
                case "duplicate": then(.duplicate)
                case "conflict": then(.conflict)
                default:
                    self.metrics.storeError()
                    then(.unavailable("unexpected reply to the commit script: \(value)", retrying: false))
                }
            }
        }
    }

    private func holdSecrets(_ id: String, _ state: CallState) {
        guard !state.sensitiveVars.isEmpty else { heldSecrets[id] = nil; return }
        heldSecrets[id] = JSONObject(state.vars.members.filter { state.sensitiveVars.contains($0.key) })
    }

    private func withHeldSecrets(_ state: CallState) -> CallState {
        guard let held = heldSecrets[state.callControlID] else { return state }
        var s = state
        for (k, v) in held.members where s.sensitiveVars.contains(k) { s.vars[k] = v }
        return s
    }

    // MARK: the outbox and requests

    package func sending(outboxSeq: Int64) { held.insert("o:\(outboxSeq)") }

    /// Answered for good (done or failed for good): the entry goes. If this is lost, the lease
    /// runs out and the command is sent again with its command_id, which Telnyx ignores.
    package func sent(outboxSeq: Int64) {
        held.remove("o:\(outboxSeq)")
        scripts.eval(.sent, ["0", prefix, String(outboxSeq)]) { _ in }
    }

    package func performing(request id: String) { held.insert("h:\(id)") }
    /// The claim stays until the answer's input is committed (`commit`): released here, a result
    /// waiting for a slow Redis past the lease would let a sweeper repeat the request.
    package func performed(request id: String) {}

    // MARK: revisions, dials, documents

    /// Publishes a flow revision (startup, reload) so every instance can run calls on it.
    package func store(revision flows: FlowSet) {
        revisions[flows.revision] = flows
        redis.send(Self.publish(flows, prefix: prefix)) { [weak self] result in
            if case .failure(let e) = result {
                self?.logger.error(
                    "flow revision not shared; other instances cannot continue its calls until it is",
                    metadata: ["revision": "\(flows.revision)", "reason": "\(e)"])
            }
        }
    }

    /// The command that stores a revision's files under its id.
    package static func publish(_ flows: FlowSet, prefix: String) -> [[UInt8]] {
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
                    let (set, problems) = FlowSet.load(
                        files: files.map { (name: $0.key, file: "\($0.key).json", bytes: $0.value) },
                        timeZones: self.timeZones)
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

    /// Any instance may receive the answered call's first webhook: the dial is shared first.
    package func expect(dial: PendingDial, token: String, done: @escaping (Bool) -> Void) {
        redis.send([
            Array("SET".utf8), Array("\(prefix)dial:\(token)".utf8), StateCodec.encode(dial).jsonBytes, Array("EX".utf8),
            Array("3600".utf8),
        ]) { result in
            if case .success = result { done(true) } else { done(false) }
        }
    }

    package func forget(dial token: String) {
        redis.send(["DEL", "\(prefix)dial:\(token)"]) { _ in }
    }

    package func document(_ id: String, reply: @escaping (JSONValue?) -> Void) {
        scripts.eval(.document, ["0", prefix, id]) { [weak self] result in
            guard let self else { return reply(nil) }
            guard case .success(let value) = result, let parts = value.array, parts.count == 3 else {
                self.logger.warning("call document unavailable", metadata: ["call.control_id": "\(id)", "reason": "\(result)"])
                return reply(nil)
            }
            let inputs = parts[2].array?.compactMap(\.bytes) ?? []
            do throws(StoreError) {
                if let state = parts[0].bytes, !state.isEmpty {
                    return reply(CallDocument.live(try Self.decode("call \(id)", state, StateCodec.decodeState), inputs: inputs))
                }
                if let trace = parts[1].bytes, !trace.isEmpty {
                    let entries = try Self.decode("trace \(id)", trace) { (v) throws(StateCodec.DecodeError) -> [TraceEntry] in
                        try (v.arrayValue ?? []).map { (e) throws(StateCodec.DecodeError) in try StateCodec.decodeTrace(e) }
                    }
                    return reply(CallDocument.ended(id, trace: entries, inputs: inputs))
                }
            } catch {
                self.logger.error("shared call unreadable", metadata: ["call.control_id": "\(id)", "reason": "\(error)"])
            }
            reply(nil)
        }
    }

    // MARK: encoding

    package static func hex(_ key: UInt64) -> String { String(key, radix: 16) }

    package static func encode(http request: HTTPCall, call: String) -> [UInt8] {
        JSONValue.object(["call": .string(call), "request": StateCodec.encode(request)]).jsonBytes
    }

    package static func decode<T>(
        _ what: String, _ bytes: [UInt8], _ decoder: (JSONValue) throws(StateCodec.DecodeError) -> T
    ) throws(StoreError) -> T {
        guard let json = try? JSONParser.parse(bytes) else { throw .corrupt("\(what) is not JSON") }
        return try decode(what, json, decoder)
    }

    package static func decode<T>(
        _ what: String, _ json: JSONValue, _ decoder: (JSONValue) throws(StateCodec.DecodeError) -> T
    ) throws(StoreError) -> T {
        do { return try decoder(json) } catch { throw .corrupt("\(what): \(error)") }
    }
}
