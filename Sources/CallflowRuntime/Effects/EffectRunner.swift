import CallflowCore
import CallflowLoop
import Dispatch
import EventHTTP
import Logging
import TelnyxREST

/// Carries out what a committed input asked for: commands to Telnyx, `http` requests to the
/// backends, timers on the loop, log lines. What comes back (a response, a failure, an answer, a
/// fired timer) goes into the pipeline as the next input. Nothing here decides anything.
///
/// Loop-confined.
package final class EffectRunner {
    package let loop: EventLoop
    package let telnyx: any CommandSender
    package let backend: any BackendRequests
    package let ledger: any CallLedger
    package let metrics: Metrics
    package let logger: Logger
    private let clockMs: () -> Int64
    /// Where results go: the pipeline (set by it; it owns this runner).
    package weak var inputs: CallPipeline?
    package private(set) var timers = ArmedTimers()

    package init(
        loop: EventLoop, telnyx: any CommandSender, backend: any BackendRequests, ledger: any CallLedger, metrics: Metrics, logger: Logger,
        clockMs: @escaping () -> Int64
    ) {
        self.loop = loop
        self.telnyx = telnyx
        self.backend = backend
        self.ledger = ledger
        self.metrics = metrics
        self.logger = logger
        self.clockMs = clockMs
        telnyx.onFailure = { [unowned self] command, failure in
            self.inputs?.submit(
                .commandFailed(
                    commandID: command.commandID ?? "", action: command.action, detail: "\(failure)",
                    callGone: failure.callGone), to: command.owningCall)
        }
    }

    /// Commands queued or in flight to Telnyx.
    package var pendingCommands: Int { telnyx.pending }

    /// Everything `work` asked for, after its commit; `outboxSeqs` are its commands' rows.
    package func carryOut(_ work: InputWork, outboxSeqs: [Int64], receivedNs: UInt64?, cause: String) {
        var seqs = outboxSeqs.makeIterator()
        for item in work.effects {
            // Built only when a line is written (swift-log evaluates metadata lazily).
            func meta() -> Logger.Metadata {
                ["call.control_id": "\(item.call)", "flow": "\(item.flow)", "flow.node": "\(item.node)", "event_type": "\(cause)"]
            }
            switch item.effect {
            case .command(let command):
                guard let seq = seqs.next() else { continue }
                send(command, outboxSeq: seq)
                if let receivedNs {
                    metrics.webhookToCommand(seconds: Double(DispatchTime.now().uptimeNanoseconds - receivedNs) / 1e9)
                }
            case .http(let request):
                perform(request, call: item.call)
            case .startTimer(let id, let ms):
                arm(timer: id, call: item.call, afterMs: ms)
            case .cancelTimer(let id):
                if let timer = timers.remove(id) { loop.cancelTimer(timer) }
            case .expectDial:
                break  // committed with the step by the ledger; its dial is in the outbox
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

    /// Sends one committed command; its outbox row goes when Telnyx answered for good. A command
    /// whose node waits for its response hears it as an input (failures arrive by `onFailure`).
    package func send(_ command: CallCommand, outboxSeq: Int64) {
        ledger.sending(outboxSeq: outboxSeq)
        let report = command.reportsResult ? command : nil  // only then is the command kept alive
        telnyx.send(command) { [weak self] result in
            guard let self else { return }
            self.ledger.sent(outboxSeq: outboxSeq)
            if let report, case .success(let data) = result, let id = report.commandID {
                self.inputs?.submit(.commandSucceeded(commandID: id, action: report.action, data: data), to: report.owningCall)
            }
        }
    }

    package func perform(_ request: HTTPCall, call: String) {
        if request.withheld {
            inputs?.submit(.httpResult(requestID: request.id, .failed(Self.withheldReason)), to: call)
            return
        }
        ledger.performing(request: request.id)
        backend.perform(request) { [weak self] outcome in
            self?.ledger.performed(request: request.id)
            self?.inputs?.submit(.httpResult(requestID: request.id, outcome), to: call)
        }
    }

    /// A request read back from the store with its sensitive digits masked is not sent: it would
    /// carry `***`. The node takes its error path instead.
    package static let withheldReason = "the request carried sensitive digits, which are never stored, so it was not repeated after the restart"

    package func arm(timer id: String, call: String, afterMs ms: Int) {
        do {
            let handle = try loop.schedule(afterMilliseconds: max(0, ms)) { [weak self] in
                self?.timers.remove(id)
                self?.inputs?.submit(.timerFired(id: id), to: call)
            }
            if let replaced = timers.insert(id, call: call, handle: handle) { loop.cancelTimer(replaced) }
        } catch {
            logger.error("cannot start timer; continuing at once", metadata: ["call.control_id": "\(call)", "reason": "\(error)"])
            inputs?.submit(.timerFired(id: id), to: call)
        }
    }

    // MARK: outbound calls

    /// Dials an outbound call; its first webhook starts `request.flow`. The dial is stored first
    /// (a crash, or another instance receiving that webhook, must not lose which flow it starts).
    /// `done` gets Telnyx's call_control_id, or why the dial failed.
    package func dial(_ request: DialRequest, done: @escaping (Result<String, CommandFailure>) -> Void) {
        var random = SystemRandomNumberGenerator()
        let token = String(random.next(), radix: 36) + String(random.next(), radix: 36)
        let pending = PendingDial(
            flow: request.flow, vars: request.vars, from: request.from, to: request.to,
            connectionID: request.connectionID, at: clockMs() / 1000)
        ledger.expect(dial: pending, token: token) { [weak self] stored in
            guard stored else {
                return done(
                    .failure(
                        CommandFailure(
                            status: 503, errors: [], reason: "the store is unavailable; nothing was dialed",
                            attempts: 0)))
            }
            self?.sendDial(request, token: token, done: done)
        }
    }

    private func sendDial(_ request: DialRequest, token: String, done: @escaping (Result<String, CommandFailure>) -> Void) {
        let dial = CallCommand.outboundDial(
            token: token, to: request.to, from: request.from, connectionID: request.connectionID, machineDetection: request.machineDetection)
        telnyx.send(dial) { [weak self] result in
            switch result {
            case .success(let data):
                guard let id = data["call_control_id"]?.stringValue else {
                    self?.ledger.forget(dial: token)
                    return done(.failure(CommandFailure(status: 200, errors: [], reason: "Telnyx's answer had no call_control_id", attempts: 1)))
                }
                self?.logger.info("outbound call dialed", metadata: ["call.control_id": "\(id)", "flow": "\(request.flow)"])
                done(.success(id))
            case .failure(let failure):
                self?.ledger.forget(dial: token)
                done(.failure(failure))
            }
        }
    }
}

/// An outbound call to place (`POST /v1/calls`), already validated.
public struct DialRequest: Sendable, Equatable {
    public var to: String
    public var from: String
    public var connectionID: String
    public var flow: String
    public var vars: JSONObject
    /// `disabled`, `detect`, `detect_beep`, `detect_words`, `greeting_end`, `premium`.
    public var machineDetection: String

    public init(to: String, from: String, connectionID: String, flow: String, vars: JSONObject, machineDetection: String) {
        self.to = to
        self.from = from
        self.connectionID = connectionID
        self.flow = flow
        self.vars = vars
        self.machineDetection = machineDetection
    }
}
