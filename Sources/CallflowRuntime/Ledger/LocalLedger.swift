import CallflowCore
import CallflowLoop
import Dispatch
import EventHTTP
import Logging

/// One instance's ledger: the calls in memory (`LiveCalls`), and every change written ahead to
/// its `CallStore` (SQLite or memory) by a group commit: the changes of the inputs that arrive
/// together go into one transaction within a few loop callbacks (`scheduleCommit`). Loads answer
/// inline from memory, and a commit is visible to the next load at once; the reply and the
/// effects wait for the transaction, so Telnyx only hears 200 for what is stored, and nothing is
/// sent that a crash could forget. docs/state.md explains why the store sits under this ledger.
///
/// Loop-confined.
package final class LocalLedger: CallLedger {
    package private(set) var live: LiveCalls
    package let store: any CallStore
    private let loop: EventLoop
    private let logger: Logger
    private let metrics: Metrics
    private let clockMs: () -> Int64
    private let traceRetentionHours: Int
    /// The store's writer thread; nil when commits run on the loop (see `storeWriter(for:)`).
    private let writer: LoopWorker?

    /// Changes since the last commit, and who waits for them.
    private var batch = StoreBatch()
    private var waiting: [Waiter] = []
    /// Webhook ids applied but not yet stored: a duplicate's answer waits for their commit.
    private var uncommittedEvents: Set<String> = []
    private var commitScheduled = false
    private var commitTask: LoopTask?
    private var flushTask: LoopTask?
    private var changesWaiting = 0
    private var lazyCommitScheduled = false
    private var retryScheduled = false
    /// The commit being written, if any: when it started (`stalled`) and how many commands wait for it.
    private var commitInFlight: (startedMs: Int64, commands: Int)?
    package private(set) var healthy = true

    /// Each live call's inputs, for `callflow replay` (bounded per call), and those of recently
    /// finished calls. Kept in memory only: a restart starts them afresh.
    private var recordings: [String: [[UInt8]]] = [:]
    private var finishedRecordings: [(id: String, inputs: [[UInt8]])] = []

    package struct Waiter {
        var commands: Int
        var then: (CommitOutcome) -> Void
        /// Its first commit failed and was reported; the retry's success is reported as `retried`.
        var retried = false
    }

    package init(
        store: any CallStore, loop: EventLoop, logger: Logger, metrics: Metrics, dedupeMaxBytes: Int, traceRetentionHours: Int,
        clockMs: @escaping () -> Int64
    ) {
        self.store = store
        self.loop = loop
        self.logger = logger
        self.metrics = metrics
        self.clockMs = clockMs
        self.traceRetentionHours = traceRetentionHours
        self.live = LiveCalls(dedupeMaxBytes: dedupeMaxBytes)
        self.writer = Self.storeWriter(for: store, loop: loop, logger: logger)
    }

    // MARK: CallLedger

    package var loadsAfterCommit: Bool { false }

    package func loadInline(_ input: EngineInput, now: Int64) -> LoadAnswer? {
        guard let (keys, loaded) = live.load(input, now: now) else {
            if case .webhook(let event) = input { return .duplicate(stored: !uncommittedEvents.contains(event.id)) }
            return .duplicate(stored: true)
        }
        return .loaded(keys, loaded)
    }

    package func load(_ input: EngineInput, keys: InputKeys, now: Int64, then: @escaping (LoadAnswer) -> Void) {
        then(loadInline(input, now: now) ?? .unavailable("not loaded"))
    }

    package func commit(_ work: InputWork, keys: InputKeys, loaded: LoadedCalls, then: @escaping (CommitOutcome) -> Void) {
        live.keep(work)
        if let seen = work.seen {
            batch.dedupe.append(seen)
            if let id = keys.eventID { uncommittedEvents.insert(id) }
        }
        if let id = work.call {
            if let state = work.state {
                batch.upserts[id] = state
            } else if let ended = work.ended {
                batch.upserts[id] = nil
                batch.ended[id] = (ended.trace, ended.at)
            }
        }
        if work.dialUsed != nil { batch.dials = live.pendingDials }
        if let timer = work.firedTimer { batch.timersRemoved.append(timer) }
        if let request = work.answeredRequest { batch.httpRemoved.append(request) }
        var commands = 0
        for item in work.effects {
            switch item.effect {
            case .command(let command):
                batch.outbox.append(command)
                commands += 1
            case .http(let request): batch.httpAdded.append((item.call, request))
            case .startTimer(let id, let ms): batch.timersAdded.append((id, item.call, clockMs() + Int64(ms)))
            case .cancelTimer(let id): batch.timersRemoved.append(id)
            case .expectDial: batch.dials = live.pendingDials  // `live.keep` took it
            case .log, .ended: break
            }
        }
        record(work)
        waiting.append(Waiter(commands: commands, then: then))
        scheduleCommit()
    }

    package func sending(outboxSeq: Int64) {}

    /// Nothing waits on the row's removal, so it rides on the next commit (or a lazy one 20 ms later).
    package func sent(outboxSeq: Int64) {
        batch.sent.append(outboxSeq)
        scheduleLazyCommit()
    }

    package func performing(request id: String) {}
    package func performed(request id: String) {}

    /// The dial is dialed only once it is stored: a crash right after must not forget which flow
    /// its first webhook starts. A store that cannot commit refuses the dial (`done(false)`); the
    /// stored entry of a later successful retry then expires unused.
    package func expect(dial: PendingDial, token: String, done: @escaping (Bool) -> Void) {
        live.expectDial(token: token, dial)
        batch.dials = live.pendingDials
        waiting.append(
            Waiter(commands: 0) { outcome in
                switch outcome {
                case .committed(_, retried: false): done(true)
                case .committed(_, retried: true): break  // refused already, when the first attempt failed
                case .unavailable, .conflict, .duplicate: done(false)
                }
            })
        scheduleCommit()
    }

    package func forget(dial token: String) {
        live.cancelDial(token: token)
        batch.dials = live.pendingDials
        scheduleCommit()
    }

    package func store(revision flows: FlowSet) {
        batch.revisions[flows.revision] = flows.sources
        scheduleCommit()
    }

    package var revisionsToKeep: Set<String> { live.revisionsInUse }
    package var liveCalls: Int { live.calls.count }
    package var inFlight: Int { waiting.reduce(0) { $0 + $1.commands } + (commitInFlight?.commands ?? 0) }
    package var retryAfterMs: Int { 500 }

    /// Whether the commit in flight has waited for the disk longer than `stallLimitMs`: the server
    /// still takes webhooks but answers none of them, so `/readyz` says so and a load balancer can
    /// send Telnyx's retries elsewhere (with the synchronous store, the whole server froze).
    package var stalled: Bool { commitInFlight.map { loop.monotonicMs - $0.startedMs > Self.stallLimitMs } ?? false }
    package static let stallLimitMs: Int64 = 5_000

    /// A commit is being written (on the writer thread): shutdown waits for its replies and sends.
    package var committing: Bool { commitInFlight != nil }

    // MARK: recordings and documents

    /// Only a call the input was applied to keeps a recording: a late webhook, timer or failed
    /// command for a finished or unknown call would otherwise start one nothing files away.
    private func record(_ work: InputWork) {
        guard let call = work.call else { return }
        if !work.records.isEmpty {
            recordings[call, default: []].append(contentsOf: work.records)
            if let n = recordings[call]?.count, n > Recording.maxInputs { recordings[call]?.removeFirst(n - Recording.maxInputs) }
        }
        if work.ended != nil {
            finishedRecordings.append((call, recordings.removeValue(forKey: call) ?? []))
            if finishedRecordings.count > LiveCalls.finishedKept { finishedRecordings.removeFirst() }
        }
    }

    /// Calls whose inputs are held for replay: at most the live ones, or memory leaks.
    package var recordedCalls: Int { recordings.count }

    package func document(_ id: String, reply: @escaping (JSONValue?) -> Void) {
        if let s = live.calls[id] { return reply(CallDocument.live(s, inputs: recordings[id] ?? [])) }
        if let done = live.finished.last(where: { $0.id == id }) {
            return reply(CallDocument.ended(id, trace: done.trace, inputs: finishedRecordings.last(where: { $0.id == id })?.inputs ?? []))
        }
        reply(store.finishedTrace(id).map { CallDocument.ended(id, trace: $0, inputs: []) })
    }

    // MARK: group commit

    /// The commit waits until libevent has run the callbacks it already had ready in this pass of
    /// the loop, so webhooks that arrived together share one transaction (at saturation one per
    /// ready connection, not one per webhook); once `maxBatch` more changes have joined, it runs
    /// at high priority right after the current callback, so no reply waits behind more than a
    /// few inputs' worth of work.
    private func scheduleCommit() {
        if commitScheduled {
            changesWaiting += 1
            if changesWaiting >= Self.maxBatch { commitTask?.trigger() }
            return
        }
        commitScheduled = true
        changesWaiting = 0
        if commitTask == nil { commitTask = try? loop.urgentTask { [weak self] in self?.commitIfScheduled() } }
        if flushTask == nil { flushTask = try? loop.endOfPassTask { [weak self] in self?.commitIfScheduled() } }
        if let flushTask {
            flushTask.trigger()
        } else {
            do { try loop.schedule(afterMilliseconds: 0) { [weak self] in self?.commitIfScheduled() } } catch { commit() }
        }
    }

    /// Changes joining a scheduled commit before it is forced to run.
    package static let maxBatch = 8

    private func commitIfScheduled() {
        if commitScheduled { commit() }
    }

    /// One transaction for everything since the last commit, written on the store's thread; then,
    /// back on the loop, the waiters hear it. One commit is in flight at a time: what arrives
    /// meanwhile gathers in `batch` and is written next, as one transaction (group commit that
    /// grows with the disk's latency instead of stalling the loop).
    private func commit() {
        commitScheduled = false
        guard commitInFlight == nil, !batch.isEmpty || !waiting.isEmpty else { return }
        let written = batch
        let waiters = waiting
        let events = uncommittedEvents
        batch = StoreBatch()
        waiting = []
        commitInFlight = (loop.monotonicMs, waiters.reduce(0) { $0 + $1.commands })
        let store = self.store
        onStoreThread({ () -> (result: Result<[Int64], StoreError>, seconds: Double) in
            let started = DispatchTime.now().uptimeNanoseconds
            let result = Result { () throws(StoreError) -> [Int64] in try store.commit(written) }
            return (result, Double(DispatchTime.now().uptimeNanoseconds - started) / 1e9)
        }) { [weak self] outcome in
            guard let self else { return }
            self.commitInFlight = nil
            switch outcome.result {
            case .success(let seqs):
                self.metrics.storeCommit(seconds: outcome.seconds)
                self.committed(seqs: seqs, waiters: waiters, events: events)
            case .failure(let error):
                self.commitFailed(error, written: written, waiters: waiters)
            }
        }
    }

    private func committed(seqs: [Int64], waiters: [Waiter], events: Set<String>) {
        if !healthy { logger.notice("store recovered") }
        healthy = true
        uncommittedEvents.subtract(events)
        var next = seqs[...]
        for waiter in waiters {
            let mine = Array(next.prefix(waiter.commands))
            next = next.dropFirst(waiter.commands)
            waiter.then(.committed(outboxSeqs: mine, retried: waiter.retried))
        }
        // What gathered while this commit was written goes next, without waiting for a pass.
        if !batch.isEmpty || !waiting.isEmpty { commit() }
    }

    private func commitFailed(_ error: StoreError, written: StoreBatch, waiters: [Waiter]) {
        // Keep everything for the next attempt, older changes first; Telnyx gets 503 and
        // redelivers meanwhile.
        batch = Self.merge(written, then: batch)
        if healthy { logger.error("store commit failed; answering 503 until it recovers", metadata: ["reason": "\(error)"]) }
        healthy = false
        metrics.storeError()
        var kept = waiters
        for i in kept.indices where !kept[i].retried {
            kept[i].then(.unavailable("the call state could not be stored", retrying: true))
            kept[i].retried = true
        }
        waiting = kept + waiting
        scheduleRetry()
    }

    private func scheduleRetry() {
        guard !retryScheduled else { return }
        retryScheduled = true
        do {
            try loop.schedule(afterMilliseconds: retryAfterMs) { [weak self] in
                self?.retryScheduled = false
                self?.commit()
            }
        } catch {
            retryScheduled = false
        }
    }

    private func scheduleLazyCommit() {
        guard !commitScheduled, !lazyCommitScheduled else { return }
        lazyCommitScheduled = true
        do {
            try loop.schedule(afterMilliseconds: 20) { [weak self] in
                guard let self else { return }
                self.lazyCommitScheduled = false
                if !self.commitScheduled { self.commit() }
            }
        } catch {
            lazyCommitScheduled = false
            scheduleCommit()
        }
    }

    package static func merge(_ older: StoreBatch, then newer: StoreBatch) -> StoreBatch {
        var m = older
        for (id, s) in newer.upserts { m.upserts[id] = s }
        for (id, e) in newer.ended {
            m.ended[id] = e
            m.upserts[id] = nil
        }
        m.dedupe += newer.dedupe
        m.outbox += newer.outbox
        m.sent += newer.sent
        m.timersAdded += newer.timersAdded
        m.timersRemoved += newer.timersRemoved
        m.httpAdded += newer.httpAdded
        m.httpRemoved += newer.httpRemoved
        if let d = newer.dials { m.dials = d }
        for (rev, files) in newer.revisions { m.revisions[rev] = files }
        return m
    }

    /// The writer thread for `store`'s commits, or nil to commit on the loop. Fsynced commits always
    /// get one; page-cache commits when the process can use more than one CPU (measured: +25–37%
    /// ingest on two CPUs, 0.93 on one); memory commits never. If no thread can be started, commits
    /// run on the loop: slower, never lost.
    package static func storeWriter(for store: any CallStore, loop: EventLoop, logger: Logger) -> LoopWorker? {
        let onThread: Bool
        switch store.commitKind {
        case .memory: onThread = false
        case .pageCache: onThread = AvailableCPUs.count() > 1
        case .disk: onThread = true
        }
        logger.debug("store commits", metadata: ["on": "\(onThread ? "writer thread" : "loop thread")", "kind": "\(store.commitKind)"])
        guard onThread else { return nil }
        do { return try LoopWorker(loop: loop) } catch {
            logger.error("no thread for the store; writing on the loop", metadata: ["reason": "\(error)"])
            return nil
        }
    }

    /// Runs `work` on the store's writer thread and `then` on the loop, or both at once on the loop
    /// when there is no writer.
    private func onStoreThread<T: Sendable>(_ work: @escaping @Sendable () -> T, then: @escaping (T) -> Void) {
        if let writer { writer.submit(work, then: then) } else { then(work()) }
    }

    // MARK: restart and housekeeping

    /// What the store held: live calls continue where they were; the pipeline sends unsent
    /// commands again (same `command_id`, so Telnyx ignores what it already executed) and resumes
    /// timers and HTTP requests. `flows` is the revision new calls get.
    package func restore(current flows: FlowSet, timeZones: any TimeZoneProvider) throws(StoreError) -> Restored {
        let nowMs = clockMs()
        let now = nowMs / 1000
        let snapshot = try store.load(now: now)
        var revisions: [FlowSet] = []
        for rev in Set(snapshot.calls.map(\.flowRevision)) where rev != flows.revision {
            guard let files = snapshot.revisions[rev] else {
                logger.error("stored flow revision missing; its calls cannot continue", metadata: ["revision": "\(rev)"])
                continue
            }
            let (set, diagnostics) = FlowSet.load(files: files.map { (name: $0.key, file: "\($0.key).json", bytes: $0.value) }, timeZones: timeZones)
            guard let set, set.revision == rev else {
                logger.error(
                    "stored flow revision no longer loads; its calls cannot continue",
                    metadata: ["revision": "\(rev)", "problems": "\(diagnostics.map(\.description).joined(separator: "; "))"])
                continue
            }
            revisions.append(set)
        }
        let known = Set(revisions.map(\.revision) + [flows.revision])
        let calls = snapshot.calls.filter { known.contains($0.flowRevision) }
        for lost in snapshot.calls where !known.contains(lost.flowRevision) {
            batch.ended[lost.callControlID] = (
                lost.trace + [
                    TraceEntry(
                        at: now, step: lost.step, kind: .note,
                        detail: "dropped at restart: flow revision unavailable")
                ], now
            )
        }
        let resumed = calls.map { call -> CallState in
            var c = call
            c.trace.append(TraceEntry(at: now, step: c.step, kind: .note, detail: "resumed after a restart"))
            return c
        }
        live.restore(calls: resumed, dedupe: snapshot.dedupe, dials: snapshot.dials, now: now)
        store(revision: flows)
        let summary =
            "\(calls.count) live calls, \(snapshot.outbox.count) unsent commands, \(snapshot.timers.count) timers, "
            + "\(snapshot.http.count) HTTP requests, \(snapshot.dedupe.count) remembered webhook ids"
        return Restored(
            revisions: revisions, outbox: snapshot.outbox,
            timers: snapshot.timers.filter { live.calls[$0.call] != nil }.map { ($0.id, $0.call, Int($0.fireAtMs - nowMs)) },
            http: snapshot.http.filter { live.calls[$0.call] != nil }, summary: summary)
    }

    /// Forgets expired webhook ids and old traces.
    package func prune() {
        let now = clockMs() / 1000
        let store = self.store
        let retention = Int64(traceRetentionHours) * 3600
        onStoreThread({ () -> StoreError? in
            do throws(StoreError) { try store.prune(dedupeBefore: now - 3600, tracesBefore: now - retention) } catch { return error }
            return nil
        }) { [logger] error in
            if let error { logger.warning("store prune failed", metadata: ["reason": "\(error)"]) }
        }
    }
}

/// What a restart hands back to the pipeline to carry on with.
package struct Restored {
    package var revisions: [FlowSet]
    package var outbox: [(seq: Int64, command: CallCommand)]
    package var timers: [(id: String, call: String, afterMs: Int)]
    package var http: [(call: String, request: HTTPCall)]
    /// One line for the log.
    package var summary: String
}
