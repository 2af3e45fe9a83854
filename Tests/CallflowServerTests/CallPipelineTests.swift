import CallflowCore
import CallflowLoop
import EventHTTP
import Logging
import TelnyxREST
import Testing

@testable import CallflowRuntime

/// The pipeline on its own, with a ledger and a Telnyx that the test answers by hand: no socket,
/// no store, no thread. What it pins is the order of operations: load → step → commit → reply and
/// effects, one input of a call at a time when the ledger's commits are visible only once stored.
@Suite struct CallPipelineTests {
    static let flow = #"{"start":"a","nodes":{"a":{"type":"answer","next":"s"},"s":{"type":"say","text":"Hello","next":"e"},"e":{"type":"hangup"}}}"#

    /// A ledger like the shared one (loads and commits answer later), holding states in a
    /// dictionary, whose every answer the test gives.
    final class HeldLedger: CallLedger {
        var calls: [String: CallState] = [:]
        var seen: Set<String> = []
        var log: [String] = []
        var loads: [(InputKeys, (LoadAnswer) -> Void)] = []
        var commits: [(InputWork, (CommitOutcome) -> Void)] = []
        var nextLoad: LoadAnswer?
        var sent: [Int64] = []
        private var seq: Int64 = 0

        var loadsAfterCommit: Bool { true }
        func loadInline(_ input: EngineInput, now: Int64) -> LoadAnswer? { nil }
        func load(_ input: EngineInput, keys: InputKeys, now: Int64, then: @escaping (LoadAnswer) -> Void) {
            log.append("load \(input.name)")
            loads.append((keys, then))
        }
        /// Answers the oldest load from `calls` (or with `nextLoad`, once).
        func answerLoad() {
            let (keys, then) = loads.removeFirst()
            if let answer = nextLoad {
                nextLoad = nil
                return then(answer)
            }
            if let id = keys.eventID, seen.contains(id) { return then(.duplicate(stored: true)) }
            then(.loaded(keys, LoadedCalls(owner: calls[keys.owner])))
        }
        func commit(_ work: InputWork, keys: InputKeys, loaded: LoadedCalls, then: @escaping (CommitOutcome) -> Void) {
            log.append("commit")
            commits.append(
                (
                    work,
                    { outcome in
                        if case .committed = outcome, let id = work.call {
                            self.calls[id] = work.state
                            if let event = keys.eventID { self.seen.insert(event) }
                        }
                        then(outcome)
                    }
                ))
        }
        /// Answers the oldest commit: stored (with fresh outbox numbers), or `outcome`.
        func answerCommit(_ outcome: CommitOutcome? = nil) {
            let (work, then) = commits.removeFirst()
            let seqs = work.commands.map { _ in
                seq += 1; return seq
            }
            then(outcome ?? .committed(outboxSeqs: seqs, retried: false))
        }
        func sending(outboxSeq: Int64) {}
        func sent(outboxSeq: Int64) { sent.append(outboxSeq) }
        func performing(request id: String) {}
        func performed(request id: String) {}
        func expect(dial: PendingDial, token: String, done: @escaping (Bool) -> Void) { done(true) }
        func forget(dial token: String) {}
        func store(revision flows: FlowSet) {}
        func document(_ id: String, reply: @escaping (JSONValue?) -> Void) { reply(nil) }
        var revisionsToKeep: Set<String> { [] }
        var liveCalls: Int { calls.count }
        var inFlight: Int { 0 }
        var healthy: Bool { true }
        var stalled: Bool { false }
        var retryAfterMs: Int { 10 }
    }

    /// Telnyx, answered by the test: every command is kept with its completion.
    final class HeldTelnyx: CommandSender {
        var commands: [(CallCommand, (Result<JSONValue, CommandFailure>) -> Void)] = []
        var onFailure: (CallCommand, CommandFailure) -> Void = { _, _ in }
        var pending: Int { commands.count }
        func send(_ command: CallCommand, completion: @escaping (Result<JSONValue, CommandFailure>) -> Void) {
            commands.append((command, completion))
        }
    }

    final class NoBackend: BackendRequests {
        func perform(_ call: HTTPCall, completion: @escaping (HTTPOutcome) -> Void) { completion(.failed("no backend in this test")) }
    }

    struct Rig {
        let loop: EventLoop
        let ledger = HeldLedger()
        let telnyx = HeldTelnyx()
        let metrics = Metrics()
        let pipeline: CallPipeline

        init() throws {
            loop = try EventLoop()
            let (set, problems) = FlowSet.load(files: [("t", "t.json", Array(CallPipelineTests.flow.utf8))], timeZones: UTCOnly())
            let flows = try #require(set, "\(problems)")
            let quiet = Logger(label: "test") { _ in SwiftLogNoOpLogHandler() }
            let effects = EffectRunner(
                loop: loop, telnyx: telnyx, backend: NoBackend(), ledger: ledger, metrics: metrics, logger: quiet,
                clockMs: { 1_795_000_000_000 })
            pipeline = CallPipeline(
                engine: CallEngine(flows: flows, defaultFlow: "t"), ledger: ledger, effects: effects, loop: loop,
                metrics: metrics, logger: quiet, clock: { 1_795_000_000 })
        }

        /// Submits a webhook of `v3:call-A`; its reply lands in `replies`.
        func webhook(_ type: String, id: String, into replies: Replies) throws {
            let body =
                #"{"data":{"event_type":"\#(type)","id":"\#(id)","occurred_at":"2026-11-21T10:00:00Z","payload":{"call_control_id":"v3:call-A","direction":"incoming","from":"+13125550101","to":"+13125550100"}}}"#
            pipeline.submit(try WebhookEvent.decode(Array(body.utf8)), receivedNs: 0) { replies.list.append($0) }
        }
    }

    final class Replies { var list: [InputOutcome] = [] }

    struct UTCOnly: TimeZoneProvider {
        func rules(for identifier: String) -> TimeZoneRules? { nil }
    }

    @Test func aCallsSecondWebhookLoadsOnlyAfterTheFirstIsCommittedAndCommandsLeaveAfterTheCommit() throws {
        let rig = try Rig()
        let replies = Replies()
        try rig.webhook("call.initiated", id: "e1", into: replies)
        try rig.webhook("call.answered", id: "e2", into: replies)
        #expect(rig.ledger.log == ["load call.initiated"], "the second input waits for the first")
        rig.ledger.answerLoad()
        #expect(rig.ledger.log == ["load call.initiated", "commit"])
        #expect(rig.telnyx.commands.isEmpty, "nothing leaves before its commit")
        #expect(replies.list.isEmpty, "no 200 before the commit")
        rig.ledger.answerCommit()
        #expect(replies.list == [.settled(.accepted, flow: "t", node: "a")])
        #expect(rig.telnyx.commands.map(\.0.action) == ["answer"])
        #expect(rig.ledger.log == ["load call.initiated", "commit", "load call.answered"], "then the next input loads the new state")
        rig.ledger.answerLoad()
        rig.ledger.answerCommit()
        #expect(replies.list.count == 2)
        #expect(rig.telnyx.commands.map(\.0.action) == ["answer", "speak"])
        rig.telnyx.commands[0].1(.success(["result": "ok"]))
        #expect(rig.ledger.sent == [1], "an answered command's outbox row goes")
    }

    @Test func aConflictStepsTheInputAgainOnTheNewerStateAndRepliesOnce() throws {
        let rig = try Rig()
        let replies = Replies()
        try rig.webhook("call.initiated", id: "e1", into: replies)
        rig.ledger.answerLoad()
        rig.ledger.answerCommit(.conflict)
        #expect(replies.list.isEmpty)
        #expect(rig.ledger.log == ["load call.initiated", "commit", "load call.initiated"])
        rig.ledger.answerLoad()
        rig.ledger.answerCommit()
        #expect(replies.list == [.settled(.accepted, flow: "t", node: "a")])
        #expect(rig.telnyx.commands.count == 1, "the losing attempt sent nothing")
        #expect(rig.metrics.render().contains("callflow_store_conflicts_total 1"))
    }

    @Test func anUnavailableLedgerAnswersAWebhookAtOnceAndTheNextInputRuns() throws {
        let rig = try Rig()
        let replies = Replies()
        try rig.webhook("call.initiated", id: "e1", into: replies)
        try rig.webhook("call.initiated", id: "e2", into: replies)
        rig.ledger.nextLoad = .unavailable("shared store: down")
        rig.ledger.answerLoad()
        #expect(replies.list == [.unavailable("shared store: down")], "503: Telnyx redelivers")
        #expect(rig.ledger.log.count == 2, "the call's next input is loaded")
        rig.ledger.answerLoad()
        rig.ledger.answerCommit()
        #expect(replies.list.count == 2)
    }

    @Test func aDuplicateCommittedElsewhereIsAnsweredAndChangesNothing() throws {
        let rig = try Rig()
        let replies = Replies()
        try rig.webhook("call.initiated", id: "e1", into: replies)
        rig.ledger.answerLoad()
        rig.ledger.answerCommit(.duplicate)
        #expect(replies.list == [.settled(.duplicate, flow: nil, node: nil)])
        #expect(rig.telnyx.commands.isEmpty)
        #expect(rig.ledger.calls.isEmpty)
    }

    @Test func aShellInputThatFindsTheLedgerDownIsKeptAndTriedAgain() throws {
        let rig = try Rig()
        let replies = Replies()
        try rig.webhook("call.initiated", id: "e1", into: replies)
        rig.ledger.answerLoad()
        rig.ledger.answerCommit()
        rig.pipeline.submit(.commandFailed(commandID: "cf-x", action: "speak", detail: "422", callGone: false), to: "v3:call-A")
        rig.ledger.nextLoad = .unavailable("shared store: down")
        rig.ledger.answerLoad()
        #expect(rig.ledger.loads.isEmpty, "not loaded again at once")
        // The retry is a loop timer (`retryAfterMs`): run the loop until it loads again.
        try rig.loop.schedule(afterMilliseconds: 2_000) { rig.loop.handle.stop() }  // safety deadline
        func watch() {
            if rig.ledger.loads.isEmpty { _ = try? rig.loop.schedule(afterMilliseconds: 5, watch) } else { rig.loop.handle.stop() }
        }
        try rig.loop.schedule(afterMilliseconds: 5, watch)
        try rig.loop.run()
        #expect(rig.ledger.loads.count == 1, "the input was kept and tried again")
    }

    /// With a ledger whose loads bring the revisions their calls run (Redis), the engine keeps
    /// only the current one between inputs: reloads do not pile revisions up.
    @Test func aSharedLedgerKeepsNoRetiredRevisionAcrossReloads() throws {
        let rig = try Rig()
        for text in ["Hi", "Hello again", "Welcome back"] {
            let flow = CallPipelineTests.flow.replacingOccurrences(of: "Hello", with: text)
            let (set, _) = FlowSet.load(files: [("t", "t.json", Array(flow.utf8))], timeZones: UTCOnly())
            rig.pipeline.reload(try #require(set))
        }
        #expect(rig.pipeline.engine.retainedRevisions.count == 1, "\(rig.pipeline.engine.retainedRevisions)")
    }
}
