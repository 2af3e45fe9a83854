import CallflowCore
import Dispatch
import EventHTTP
import Logging

/// Durability: changes go into one batch, committed in one transaction within a few loop callbacks
/// (group commit, see `scheduleCommit`). Webhook replies, commands and HTTP requests wait for that
/// commit: Telnyx only hears 200 for what is stored, and nothing is sent that a crash could forget.
extension CallRuntime {
    /// Records what an engine output changed: the call's state (or its end), the webhook id seen,
    /// pending dials.
    func noteChanges(_ output: EngineOutput) {
        if let seen = output.seenKey { batch.dedupe.append(seen) }
        if let call = output.call {
            if let state = engine.calls[call] {
                batch.upserts[call] = state
            } else if let done = engine.finished.last(where: { $0.id == call }) {
                batch.upserts[call] = nil
                batch.ended[call] = (done.trace, clock())
            }
        }
        noteDials()
        if !batch.isEmpty { scheduleCommit() }
    }

    /// Stores the pending dials when they changed (they change through engine outputs and through
    /// `dial` directly).
    func noteDials() {
        guard engine.pendingDials != lastDials else { return }
        lastDials = engine.pendingDials
        batch.dials = lastDials
        scheduleCommit()
    }

    /// Whether `eventID` was applied but is not stored yet: its reply (and a duplicate's) must wait.
    public func awaitsCommit(_ eventID: String) -> Bool { uncommittedEvents.contains(eventID) }

    /// Runs `done(true)` after the next successful commit, `done(false)` if it fails.
    public func afterNextCommit(_ done: @escaping (Bool) -> Void) {
        afterCommit.append(done)
        scheduleCommit()
    }

    /// Group commit. The commit waits until libevent has run the callbacks it already had ready in
    /// this pass of the loop, so webhooks that arrived together share one transaction (at
    /// saturation one per ready connection, not one per webhook); once `maxBatch` more changes
    /// have joined, it runs at high priority right after the current callback, so no reply waits
    /// behind more than a few inputs' worth of work.
    func scheduleCommit() {
        guard shared == nil else { return }
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
    static let maxBatch = 8

    private func commitIfScheduled() {
        if commitScheduled { commit() }
    }

    /// One transaction for everything since the last commit, written on the store's thread; then,
    /// back on the loop, the replies and the sends. One commit is in flight at a time: what arrives
    /// meanwhile gathers in `batch` and is written next, as one transaction (group commit that
    /// grows with the disk's latency instead of stalling the loop).
    func commit() {
        commitScheduled = false
        guard commitInFlight == nil else { return }
        guard !batch.isEmpty || !afterCommit.isEmpty else { return }
        let written = batch
        let replies = afterCommit
        let commands = pendingOutbox
        let requests = pendingHTTP
        let events = uncommittedEvents
        batch = StoreBatch()
        afterCommit = []
        pendingOutbox = []
        pendingHTTP = []
        commitInFlight = (loop.monotonicMs, commands.count)
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
                self.metrics.observe("callflow_store_commit_seconds", [], outcome.seconds)
                self.committed(seqs: seqs, replies: replies, commands: commands, requests: requests, events: events)
            case .failure(let error):
                self.commitFailed(error, written: written, replies: replies, commands: commands, requests: requests)
            }
        }
    }

    private func committed(seqs: [Int64], replies: [(Bool) -> Void], commands: [(command: CallCommand, receivedNs: UInt64?)],
                           requests: [(call: String, request: HTTPCall)], events: Set<String>) {
        if !storeHealthy { logger.notice("store recovered") }
        storeHealthy = true
        uncommittedEvents.subtract(events)
        for reply in replies { reply(true) }
        let sentNs = DispatchTime.now().uptimeNanoseconds
        for (pending, seq) in zip(commands, seqs) {
            send(pending.command, outboxSeq: seq)
            if let received = pending.receivedNs {
                metrics.observe("callflow_webhook_to_command_seconds", [], Double(sentNs - received) / 1e9)
            }
        }
        for (call, request) in requests { perform(request, call: call) }
        // What gathered while this commit was written goes next, without waiting for a pass.
        if !batch.isEmpty || !afterCommit.isEmpty { commit() }
    }

    private func commitFailed(_ error: StoreError, written: StoreBatch, replies: [(Bool) -> Void],
                              commands: [(command: CallCommand, receivedNs: UInt64?)], requests: [(call: String, request: HTTPCall)]) {
        // Keep everything for the next attempt, older changes first; Telnyx gets 503 and
        // redelivers meanwhile.
        batch = Self.merge(written, then: batch)
        pendingOutbox = commands + pendingOutbox
        pendingHTTP = requests + pendingHTTP
        if storeHealthy { logger.error("store commit failed; answering 503 until it recovers", metadata: ["reason": "\(error)"]) }
        storeHealthy = false
        metrics.increment("callflow_store_errors_total", [])
        for reply in replies { reply(false) }
        scheduleRetry()
    }

    /// The writer thread for `store`'s commits, or nil to commit on the loop. Fsynced commits always
    /// get one; page-cache commits when the process can use more than one CPU (measured: +25–37%
    /// ingest on two CPUs, 0.93 on one); memory commits never. If no thread can be started, commits
    /// run on the loop: slower, never lost.
    static func storeWriter(for store: any CallStore, loop: EventLoop, logger: Logger) -> LoopWorker? {
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

    /// Whether the commit in flight has waited for the disk longer than `stallLimitMs`: the server
    /// still takes webhooks but answers none of them, so `/readyz` says so and a load balancer can
    /// send Telnyx's retries elsewhere (with the synchronous store, the whole server froze).
    public var storeStalled: Bool { commitInFlight.map { loop.monotonicMs - $0.startedMs > Self.stallLimitMs } ?? false }
    public static let stallLimitMs: Int64 = 5_000

    /// A commit is being written (on the writer thread): shutdown waits for its replies and sends.
    public var committing: Bool { commitInFlight != nil }

    /// Runs `work` on the store's writer thread and `then` on the loop, or both at once on the loop
    /// when there is no writer.
    func onStoreThread<T: Sendable>(_ work: @escaping @Sendable () -> T, then: @escaping (T) -> Void) {
        if let writer { writer.submit(work, then: then) } else { then(work()) }
    }

    private func scheduleRetry() {
        guard !retryScheduled else { return }
        retryScheduled = true
        do {
            try loop.schedule(afterMilliseconds: 500) { [weak self] in
                self?.retryScheduled = false
                self?.commit()
            }
        } catch {
            retryScheduled = false
        }
    }

    static func merge(_ older: StoreBatch, then newer: StoreBatch) -> StoreBatch {
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

    /// Sends one committed command; its outbox row goes when Telnyx answered for good. Nothing
    /// waits on that, so the removal rides on the next commit (or a lazy one 20 ms later).
    func send(_ command: CallCommand, outboxSeq: Int64) {
        // Only a command whose node waits for its response is kept by the completion.
        let report = command.reportsResult ? command : nil
        telnyx.send(command) { [weak self] result in
            self?.batch.sent.append(outboxSeq)
            self?.scheduleLazyCommit()
            if let report { self?.reportResult(of: report, result) }
        }
    }

    /// A node that keeps a command's response (`save_as` with nothing else to wait for) hears it
    /// as an input; failures already arrive through `onFailure`.
    func reportResult(of command: CallCommand, _ result: Result<JSONValue, CommandFailure>) {
        guard command.reportsResult, case .success(let data) = result, let id = command.commandID else { return }
        feed(.commandSucceeded(commandID: id, action: command.action, data: data), to: command.owningCall)
    }

    func scheduleLazyCommit() {
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

    func perform(_ request: HTTPCall, call: String) {
        if request.withheld { return feed(.httpResult(requestID: request.id, .failed(Self.withheldReason)), to: call) }
        backend.perform(request) { [weak self] outcome in
            self?.feed(.httpResult(requestID: request.id, outcome), to: call)
        }
    }

    /// A request read back from the store with its sensitive digits masked is not sent: it would
    /// carry `***`. The node takes its error path instead.
    static let withheldReason = "the request carried sensitive digits, which are never stored, so it was not repeated after the restart"

    func arm(timer id: String, call: String, afterMs ms: Int) {
        do {
            let handle = try loop.schedule(afterMilliseconds: max(0, ms)) { [weak self] in
                self?.timers.remove(id)
                self?.feed(.timerFired(id: id), to: call)
            }
            if let replaced = timers.insert(id, call: call, handle: handle) { loop.cancelTimer(replaced) }
        } catch {
            logger.error("cannot start timer; continuing at once", metadata: ["call.control_id": "\(call)", "reason": "\(error)"])
            feed(.timerFired(id: id), to: call)
        }
    }

    /// Stores the current flow set's files (so calls on it survive a restart after the files change).
    public func remember(_ flows: FlowSet) {
        if let shared { return shared.store(revision: flows) }
        batch.revisions[flows.revision] = flows.sources
        scheduleCommit()
    }

    /// What the store held: live calls continue where they were, unsent commands are sent again
    /// (same `command_id`, so Telnyx ignores what it already executed), timers and HTTP requests
    /// resume. Returns a one-line summary for the log.
    public func restore() throws(StoreError) -> String {
        let now = clock()
        let snapshot = try store.load(now: now)
        var revisions: [FlowSet] = []
        for rev in Set(snapshot.calls.map(\.flowRevision)) where rev != engine.flows.revision {
            guard let files = snapshot.revisions[rev] else {
                logger.error("stored flow revision missing; its calls cannot continue", metadata: ["revision": "\(rev)"])
                continue
            }
            let (set, diagnostics) = FlowSet.load(files: files.map { (name: $0.key, file: "\($0.key).json", bytes: $0.value) }, timeZones: timeZones)
            guard let set, set.revision == rev else {
                logger.error("stored flow revision no longer loads; its calls cannot continue",
                             metadata: ["revision": "\(rev)", "problems": "\(diagnostics.map(\.description).joined(separator: "; "))"])
                continue
            }
            revisions.append(set)
        }
        let known = Set(revisions.map(\.revision) + [engine.flows.revision])
        let calls = snapshot.calls.filter { known.contains($0.flowRevision) }
        for lost in snapshot.calls where !known.contains(lost.flowRevision) {
            batch.ended[lost.callControlID] = (lost.trace + [TraceEntry(at: now, step: lost.step, kind: .note, detail: "dropped at restart: flow revision unavailable")], now)
        }
        let resumed = calls.map { call -> CallState in
            var c = call
            c.trace.append(TraceEntry(at: now, step: c.step, kind: .note, detail: "resumed after a restart"))
            return c
        }
        engine.restore(calls: resumed, revisions: revisions, dedupe: snapshot.dedupe, dials: snapshot.dials, now: now)
        lastDials = snapshot.dials
        for (seq, command) in snapshot.outbox { send(command, outboxSeq: seq) }
        let nowMs = clockMs()
        for t in snapshot.timers where engine.calls[t.call] != nil { arm(timer: t.id, call: t.call, afterMs: Int(t.fireAtMs - nowMs)) }
        for h in snapshot.http where engine.calls[h.call] != nil { perform(h.request, call: h.call) }
        remember(engine.flows)
        return "\(calls.count) live calls, \(snapshot.outbox.count) unsent commands, \(snapshot.timers.count) timers, "
            + "\(snapshot.http.count) HTTP requests, \(snapshot.dedupe.count) remembered webhook ids"
    }

    /// Forgets expired webhook ids and old traces.
    func prune() {
        let now = clock()
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
