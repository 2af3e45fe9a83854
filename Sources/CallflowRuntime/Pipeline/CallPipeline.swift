import CallflowCore
import CallflowLoop
import DequeModule
import Dispatch
import EventHTTP
import Logging

/// The shell's spine, in one place: every input (a webhook, an `http` answer, a timer, a
/// command's response or failure, an answered dial) goes **load → step → commit → reply and
/// effects**, here and nowhere else. The only caller of the engine in the shell.
///
/// - Load: the ledger answers inline when it holds the calls in memory (one instance) or
///   asynchronously from Redis (several).
/// - Step: the pure engine turns what was loaded into an `InputWork`.
/// - Commit: the ledger stores the work. Telnyx hears 200 only for what is stored, and nothing
///   leaves that a crash could forget.
/// - Reply and effects: the webhook's answer goes out, then the effect runner sends the commands,
///   starts the `http` requests and arms the timers.
///
/// Inputs of one call keep their order: with an inline ledger each is stepped as it arrives, so
/// the next sees the state the last left; with a ledger whose commits are visible only once
/// stored, inputs wait in a per-call queue for the one before.
///
/// Loop-confined, like everything it drives.
package final class CallPipeline {
    package private(set) var engine: CallEngine
    package let ledger: any CallLedger
    package let effects: EffectRunner
    package let metrics: Metrics
    package let logger: Logger
    private let loop: EventLoop
    private let clock: () -> Int64
    /// Inputs waiting per call behind the one being applied (ledgers with `loadsAfterCommit`).
    private var queues: [String: Deque<Job>] = [:]
    /// A conflict re-runs the input on the newer state; this many in a row gives up.
    package static let maxConflicts = 50

    package struct Job {
        var input: EngineInput
        /// When the webhook arrived (monotonic), for the webhook → command latency.
        var receivedNs: UInt64?
        var reply: ((InputOutcome) -> Void)?
        /// What it loads, computed once when it queues behind `keys.owner` (ledgers with
        /// `loadsAfterCommit` only; an inline ledger computes its own, knowing which calls are live).
        var keys: InputKeys?
        var conflicts = 0
    }

    package init(
        engine: CallEngine, ledger: any CallLedger, effects: EffectRunner, loop: EventLoop, metrics: Metrics, logger: Logger,
        clock: @escaping () -> Int64
    ) {
        self.engine = engine
        self.ledger = ledger
        self.effects = effects
        self.loop = loop
        self.metrics = metrics
        self.logger = logger
        self.clock = clock
        effects.inputs = self
    }

    /// A verified webhook; `reply` hears what became of it once it is committed (or why not).
    package func submit(_ event: WebhookEvent, receivedNs: UInt64, reply: @escaping (InputOutcome) -> Void) {
        enqueue(Job(input: .webhook(event), receivedNs: receivedNs, reply: reply))
    }

    /// A result from the effect runner for `call`.
    package func submit(_ input: MachineInput, to call: String) { enqueue(Job(input: .machine(input, call: call))) }

    /// An outbound call we placed was answered before its first webhook named a flow.
    package func startOutbound(leg: CallLeg, flow: String, vars: JSONObject) {
        enqueue(Job(input: .startOutbound(leg: leg, flow: flow, vars: vars)))
    }

    private func enqueue(_ job: Job) {
        guard ledger.loadsAfterCommit else { return load(job) }
        var job = job
        let keys = InputKeys.of(job.input) { _ in false }
        job.keys = keys
        if queues[keys.owner] != nil { return queues[keys.owner]!.append(job) }
        queues[keys.owner] = [job]
        load(job)
    }

    // MARK: load → step → commit

    private func load(_ job: Job) {
        if let answer = ledger.loadInline(job.input, now: clock()) { return loaded(job, answer) }
        let keys = job.keys ?? InputKeys.of(job.input) { _ in false }
        ledger.load(job.input, keys: keys, now: clock()) { [weak self] answer in self?.loaded(job, answer) }
    }

    private func loaded(_ job: Job, _ answer: LoadAnswer) {
        switch answer {
        case .duplicate(stored: true): finish(job, .settled(.duplicate, flow: nil, node: nil))
        case .duplicate(stored: false): commit(job, InputWork(.duplicate), InputKeys(owner: ""), LoadedCalls())
        case .ignored(let why): finish(job, .settled(.ignored(why), flow: nil, node: nil))
        case .unavailable(let why): unavailable(job, why)
        case .loaded(let keys, let calls):
            for set in calls.revisions where !engine.holds(revision: set.revision) { engine.add(revision: set) }
            commit(job, engine.step(job.input, keys: keys, loaded: calls, now: clock()), keys, calls)
        }
    }

    private func commit(_ job: Job, _ work: InputWork, _ keys: InputKeys, _ calls: LoadedCalls) {
        ledger.commit(work, keys: keys, loaded: calls) { [weak self] outcome in
            guard let self else { return }
            switch outcome {
            case .committed(let seqs, let retried): self.committed(job, work, seqs, replied: retried)
            case .duplicate: self.finish(job, .settled(.duplicate, flow: nil, node: nil))
            case .unavailable(let why, retrying: true): job.reply?(.unavailable(why))  // `.committed` follows
            case .unavailable(let why, retrying: false): self.unavailable(job, why)
            case .conflict:
                self.metrics.storeConflict()
                var again = job
                again.conflicts += 1
                guard again.conflicts <= Self.maxConflicts else {
                    self.metrics.storeError()
                    return self.unavailable(again, "call state kept changing under \(Self.maxConflicts) attempts")
                }
                self.load(again)
            }
        }
    }

    // MARK: reply and effects

    private func committed(_ job: Job, _ work: InputWork, _ seqs: [Int64], replied: Bool) {
        count(work)
        if !replied { job.reply?(.settled(work.disposition, flow: work.state?.flow, node: work.state?.node)) }
        if case .ignored(let why) = work.disposition, case .machine(_, let call) = job.input {
            logger.debug("input ignored", metadata: ["call.control_id": "\(call)", "reason": "\(why)"])
        }
        effects.carryOut(work, outboxSeqs: seqs, receivedNs: job.receivedNs, cause: job.input.name)
        if work.ended != nil { engine.prune(keeping: ledger.revisionsToKeep) }
        next(after: job)
    }

    private func finish(_ job: Job, _ outcome: InputOutcome) {
        job.reply?(outcome)
        next(after: job)
    }

    /// The ledger could not be used: a webhook gets 503 (Telnyx redelivers); the shell's own
    /// inputs stay first in their call's queue and are tried again shortly.
    private func unavailable(_ job: Job, _ why: String) {
        guard job.reply == nil, case .machine(_, let call) = job.input else { return finish(job, .unavailable(why)) }
        logger.warning("store unavailable; input kept and retried", metadata: ["call.control_id": "\(call)", "reason": "\(why)"])
        do { try loop.schedule(afterMilliseconds: ledger.retryAfterMs) { [weak self] in self?.load(job) } } catch { finish(job, .unavailable(why)) }
    }

    private func next(after job: Job) {
        guard let owner = job.keys?.owner, var queue = queues.removeValue(forKey: owner) else { return }
        queue.removeFirst()
        guard let head = queue.first else { return }
        queues[owner] = queue
        load(head)
    }

    // MARK: outside the step

    /// New calls use `flows`; calls in progress keep theirs. The files are stored, so calls on
    /// them survive a restart (and, shared, run on every instance).
    package func reload(_ flows: FlowSet) {
        engine.reload(flows)
        engine.prune(keeping: ledger.revisionsToKeep)
        ledger.store(revision: flows)
    }

    /// After a restart: the stored revisions run again, unsent commands go out again (same
    /// `command_id`, so Telnyx ignores what it already executed), timers and requests resume.
    package func resume(_ restored: Restored) {
        for set in restored.revisions { engine.add(revision: set) }
        for (seq, command) in restored.outbox { effects.send(command, outboxSeq: seq) }
        for t in restored.timers { effects.arm(timer: t.id, call: t.call, afterMs: t.afterMs) }
        for h in restored.http { effects.perform(h.request, call: h.call) }
    }

    /// Where calls without a route go (reload may change it).
    package func route(defaultFlow: String?) { engine.defaultFlow = defaultFlow }

    /// Inputs not yet committed and commands not yet answered: shutdown waits for these.
    package var pending: Int { effects.pendingCommands + ledger.inFlight + queues.count }
}
