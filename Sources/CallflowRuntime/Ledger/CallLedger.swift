import CallflowCore

/// Where the calls live between inputs: the seam between the pipeline and durability. The
/// pipeline loads what an input needs, steps the engine, and commits the work that comes out;
/// a ledger says how. `LocalLedger` is one instance's memory with a group commit to its
/// `CallStore` (SQLite or memory); `SharedLedger` is Redis, for several instances. A third
/// durability mode is a third ledger, not another set of forks in the shell.
///
/// Loop-confined: every call and callback happens on the loop thread.
package protocol CallLedger: AnyObject {
    /// What `input` needs, when the ledger can answer at once (no hop, no allocation); `nil` when
    /// it must be loaded with `load(_:now:then:)`.
    func loadInline(_ input: EngineInput, now: Int64) -> LoadAnswer?

    /// Loads what `input` needs; `then` runs on the loop.
    /// `keys` are `InputKeys.of(input) { _ in false }`: the pipeline computes them once, to queue
    /// the input behind its owner, and the ledger loads by them.
    func load(_ input: EngineInput, keys: InputKeys, now: Int64, then: @escaping (LoadAnswer) -> Void)

    /// Stores `work`, produced from `loaded`. The next load of its calls sees it once `then` has
    /// been called, or at once for a ledger that loads inline.
    func commit(_ work: InputWork, keys: InputKeys, loaded: LoadedCalls, then: @escaping (CommitOutcome) -> Void)

    /// Whether inputs of one call must wait for the previous one's commit before they load
    /// (a ledger whose commits are visible only once they are stored).
    var loadsAfterCommit: Bool { get }

    // MARK: the outbox and requests, while the effect runner works on them

    /// A committed command is being sent (the shared ledger keeps its claim alive meanwhile).
    func sending(outboxSeq: Int64)
    /// Telnyx answered a command for good: its outbox row goes.
    func sent(outboxSeq: Int64)
    /// An `http` request is in flight / answered (the shared ledger's claim on it).
    func performing(request id: String)
    func performed(request id: String)

    // MARK: outside the step

    /// Shares an outbound call about to be dialed; `done(false)` when it could not be stored
    /// (then nothing is dialed).
    func expect(dial: PendingDial, token: String, done: @escaping (Bool) -> Void)
    /// The dial failed: forget it.
    func forget(dial token: String)
    /// Stores a flow revision's files, so calls on it continue after a restart or elsewhere.
    func store(revision flows: FlowSet)
    /// A live or recently finished call as JSON, or `nil`.
    func document(_ id: String, reply: @escaping (JSONValue?) -> Void)
    /// The retired flow revisions the engine must keep between inputs (it drops the others when a
    /// call ends and on reload): those the live calls run, for a ledger that holds them all; none
    /// for the shared one, whose every load brings the revisions its calls run (`LoadedCalls.revisions`).
    var revisionsToKeep: Set<String> { get }

    // MARK: health, for /readyz, the metrics and shutdown

    var liveCalls: Int { get }
    /// Inputs loaded or applied but not yet committed, and commands waiting for their commit.
    var inFlight: Int { get }
    var healthy: Bool { get }
    /// The commit in flight has waited for the disk too long (`LocalLedger.stallLimitMs`).
    var stalled: Bool { get }
    /// How long to wait before an input that found the ledger unavailable is tried again.
    var retryAfterMs: Int { get }
}

/// What a ledger found for an input.
package enum LoadAnswer {
    case loaded(InputKeys, LoadedCalls)
    /// The webhook id was seen. `stored: false` when the first copy is not yet committed: its
    /// answer must wait for that commit (commit an empty work to wait for it).
    case duplicate(stored: Bool)
    /// Nothing to do (a timer that already fired or was cancelled elsewhere).
    case ignored(String)
    case unavailable(String)
}

/// What became of a commit.
package enum CommitOutcome {
    /// Stored; the outbox sequence number of each command of the work, in order. `retried`: stored
    /// by a later attempt, after `.unavailable(retrying: true)` was reported (the reply went then).
    case committed(outboxSeqs: [Int64], retried: Bool)
    /// Another instance changed a call first: load again and step again.
    case conflict
    /// Another instance committed the same webhook first.
    case duplicate
    /// Not stored now. `retrying`: the ledger keeps the work and reports `.committed` once it is
    /// stored (the local group commit); otherwise the work is gone and the input must run again.
    case unavailable(String, retrying: Bool)
}

/// Where an input ended up, for its reply and log lines.
public enum InputOutcome: Sendable, Equatable {
    /// Committed (or nothing to commit): what the engine made of it, and where the call is now.
    case settled(InputDisposition, flow: String?, node: String?)
    /// Could not be applied now (store down): Telnyx is asked to redeliver.
    case unavailable(String)
}
