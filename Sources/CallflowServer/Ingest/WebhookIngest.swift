import CallflowCore
import CallflowRuntime
import Dispatch
import EventHTTP
import Logging
import WebhookSignature

/// The webhook endpoint: verify → decode → `pipeline.submit(event) { outcome in reply }`.
///
/// Nothing here waits on I/O: verification and decoding are CPU work on the loop thread, and the
/// reply is sent when the pipeline has committed what the event changed (or says why not).
final class WebhookIngest {
    private let verifier: WebhookVerifier?
    private let clock: () -> Int64
    private let logger: Logger
    private let pipeline: CallPipeline
    private let metrics: Metrics

    /// - Parameter verifier: `nil` only with `--insecure-skip-verify` (local development).
    init(verifier: WebhookVerifier?, clock: @escaping () -> Int64, logger: Logger, metrics: Metrics, pipeline: CallPipeline) {
        self.metrics = metrics
        self.verifier = verifier
        self.clock = clock
        self.logger = logger
        self.pipeline = pipeline
    }

    func handle(_ request: borrowing HTTPRequest) -> HTTPResponse? {
        let started = DispatchTime.now().uptimeNanoseconds
        // Arrival to reply, the part of Telnyx's round trip spent here (bench/calls.sh sets it beside
        // the round trip the sender saw). A refused request replies at once.
        func handled() { metrics.webhookHandled(seconds: Double(DispatchTime.now().uptimeNanoseconds - started) / 1e9) }
        let decoded: Result<WebhookEvent, WebhookDecodeError>
        if let verifier {
            let signature = request.header("telnyx-signature-ed25519")
            let timestamp = request.header("telnyx-timestamp")
            let now = clock()
            do {
                // Header and clock checks first: a stale or malformed request costs no Ed25519 work.
                _ = try verifier.precheck(signature: signature, timestamp: timestamp, now: now)
                let prefix = Array((timestamp ?? "").utf8) + [UInt8(ascii: "|")]
                decoded = try request.withBody(prefixedBy: prefix) { (signed, body) throws(SignatureFailure) in
                    try verifier.verify(signature: signature, timestamp: timestamp, signedMessage: signed, now: now)
                    return Result { () throws(WebhookDecodeError) in try WebhookEvent.decode(body) }
                }
            } catch {
                metrics.webhook(event: nil, outcome: .badSignature)
                logger.warning("webhook rejected", metadata: ["reason": "\(error)"])
                handled()
                return .error(401, "signature check failed: \(error)")
            }
        } else {
            logger.critical(
                "INSECURE: webhook signature NOT verified (--insecure-skip-verify); never run this way in production")
            decoded = request.withBody { _, body in
                Result { () throws(WebhookDecodeError) in try WebhookEvent.decode(body) }
            }
        }

        let event: WebhookEvent
        switch decoded {
        case .success(let e): event = e
        case .failure(let error):
            metrics.webhook(event: nil, outcome: .badRequest)
            logger.warning("webhook refused", metadata: ["reason": "\(error)"])
            handled()
            return .error(400, "\(error)")
        }
        if case .unknown = event.kind {
            logger.notice("unknown event type accepted", metadata: Self.metadata(event, .settled(.accepted, flow: nil, node: nil)))
        }
        let pending = request.deferReply()
        pipeline.submit(event, receivedNs: started) { [weak self] outcome in
            guard let self else { return }
            self.metrics.webhook(event: event.eventType, outcome: Self.label(outcome))
            pending.send(self.respond(to: outcome, event))
            handled()
        }
        return nil
    }

    private static func label(_ outcome: InputOutcome) -> Metrics.WebhookOutcome {
        switch outcome {
        case .settled(.accepted, _, _): return .accepted
        case .settled(.duplicate, _, _): return .duplicate
        case .settled(.ignored, _, _): return .ignored
        case .settled(.stale, _, _): return .stale
        case .settled(.unknownCall, _, _): return .unknownCall
        case .unavailable: return .unavailable
        }
    }

    /// Built only when a line is written: metadata dictionaries per request showed in the profile.
    private static func metadata(_ event: WebhookEvent, _ outcome: InputOutcome, _ extra: Logger.Metadata = [:]) -> Logger.Metadata {
        var m: Logger.Metadata = ["event_type": "\(event.eventType)", "event.id": "\(event.id)"]
        if let call = event.call { m["call.control_id"] = "\(call.callControlID)" }
        if case .settled(_, let flow?, let node) = outcome {
            m["flow"] = "\(flow)"
            if let node { m["flow.node"] = "\(node)" }
        }
        return m.merging(extra) { $1 }
    }

    private func respond(to outcome: InputOutcome, _ event: WebhookEvent) -> HTTPResponse {
        switch outcome {
        case .settled(.accepted, _, _):
            logger.debug("webhook accepted", metadata: Self.metadata(event, outcome))
            return .ok
        case .settled(.duplicate, _, _):
            logger.info("duplicate webhook ignored", metadata: Self.metadata(event, outcome))
            return .ok
        case .settled(.ignored(let reason), _, _), .settled(.stale(let reason), _, _), .settled(.unknownCall(let reason), _, _):
            logger.info("webhook ignored", metadata: Self.metadata(event, outcome, ["reason": "\(reason)"]))
            return .ok
        case .unavailable(let reason):
            logger.error("webhook not stored; asking Telnyx to redeliver", metadata: Self.metadata(event, outcome, ["reason": "\(reason)"]))
            return .error(503, "temporarily unavailable: \(reason)")
        }
    }
}
