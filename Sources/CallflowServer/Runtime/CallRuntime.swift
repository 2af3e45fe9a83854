import CallflowCore
import EventHTTP
import Foundation
import Logging

/// The imperative shell around the pure engine: feeds it webhooks, HTTP results, timers and
/// command failures, and carries out the effects it returns. Everything happens on the loop
/// thread; nothing here waits.
public final class CallRuntime {
    public private(set) var engine: CallEngine
    private let loop: EventLoop
    private let telnyx: TelnyxClient
    private let backend: BackendClient
    private let logger: Logger
    private let clock: () -> Int64
    private var timers: [String: Int] = [:]

    public init(engine: CallEngine, loop: EventLoop, telnyx: TelnyxClient, backend: BackendClient, logger: Logger,
                clock: @escaping () -> Int64) {
        self.engine = engine
        self.loop = loop
        self.telnyx = telnyx
        self.backend = backend
        self.logger = logger
        self.clock = clock
        telnyx.onFailure = { [unowned self] command, failure in
            // A command for a dialed or transferred leg belongs to the call that created it.
            let owner = StepTag(clientState: command.body["client_state"]?.stringValue)?.parent ?? command.callControlID
            self.feed(.commandFailed(commandID: command.commandID ?? "", action: command.action, detail: "\(failure)",
                                     callGone: failure.callGone), to: owner)
        }
    }

    public var liveCalls: Int { engine.calls.count }
    public var pendingCommands: Int { telnyx.pending }

    /// A verified webhook in; how it was taken out.
    public func receive(_ event: WebhookEvent) -> IngestResult {
        let output = engine.receive(event, now: clock())
        execute(output.effects)
        switch output.disposition {
        case .accepted: return .accepted
        case .duplicate: return .duplicate
        case .stale(let why), .ignored(let why): return .ignored(reason: why)
        }
    }

    /// Starts a flow on an outbound call we placed.
    public func startOutbound(leg: CallLeg, flow: String, vars: JSONObject) {
        execute(engine.startOutbound(leg: leg, flow: flow, vars: vars, now: clock()).effects)
    }

    public func reload(_ flows: FlowSet) { engine.reload(flows) }

    func feed(_ input: MachineInput, to call: String) {
        let output = engine.apply(input, to: call, now: clock())
        if case .ignored(let why) = output.disposition {
            logger.debug("input ignored", metadata: ["call.control_id": "\(call)", "reason": "\(why)"])
        }
        execute(output.effects)
    }

    func execute(_ effects: [CallEffect]) {
        for item in effects {
            let meta: Logger.Metadata = ["call.control_id": "\(item.call)", "flow": "\(item.flow)", "flow.node": "\(item.node)"]
            switch item.effect {
            case .command(let command):
                telnyx.enqueue(command)
            case .http(let request):
                backend.perform(request) { [weak self] outcome in
                    self?.feed(.httpResult(requestID: request.id, outcome), to: item.call)
                }
            case .startTimer(let id, let ms):
                do {
                    timers[id] = try loop.schedule(afterMilliseconds: ms) { [weak self] in
                        self?.timers[id] = nil
                        self?.feed(.timerFired(id: id), to: item.call)
                    }
                } catch {
                    logger.error("cannot start timer; continuing at once", metadata: meta.merging(["reason": "\(error)"]) { $1 })
                    feed(.timerFired(id: id), to: item.call)
                }
            case .cancelTimer(let id):
                if let timer = timers.removeValue(forKey: id) { loop.cancelTimer(timer) }
            case .log(let level, let message):
                switch level {
                case .info: logger.info("\(message)", metadata: meta)
                case .warning: logger.warning("\(message)", metadata: meta)
                case .error: logger.error("\(message)", metadata: meta)
                }
            case .ended(let reason):
                logger.info("call ended", metadata: meta.merging(["reason": "\(reason)"]) { $1 })
                for (id, timer) in timers where id.hasPrefix(item.call + "#") {
                    loop.cancelTimer(timer)
                    timers[id] = nil
                }
            }
        }
    }
}
