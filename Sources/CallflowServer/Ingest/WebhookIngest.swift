import CallflowCore
import Dispatch
import EventHTTP
import Logging
import WebhookSignature

/// What the engine made of an accepted webhook; decides the HTTP answer.
public enum IngestResult: Sendable, Equatable {
    /// Applied to a call (or started one).
    case accepted
    /// Same `data.id` seen before: nothing done, 200 so Telnyx stops.
    case duplicate
    /// Valid but nothing to do (unknown type, an event nobody waits for): 200, logged.
    case ignored(reason: String)
    /// From a step the call has already left: 200, ignored.
    case stale(reason: String)
    /// For a call this server does not know: 200, ignored.
    case unknownCall(reason: String)
    /// Could not be applied now (store down): 503 so Telnyx redelivers.
    case unavailable(reason: String)
}

/// The webhook endpoint: verify → decode → hand to the engine → answer.
///
/// Nothing here waits on I/O: verification and decoding are CPU work on the loop thread, the engine
/// returns synchronously, and commands it issues leave through the outbound client later.
public final class WebhookIngest {
    public typealias Engine = (WebhookEvent) -> IngestResult

    private let verifier: WebhookVerifier?
    private let clock: () -> Int64
    private let logger: Logger
    private let engine: Engine
    private let metrics: Metrics?
    /// When set and it returns true for an event, the reply waits for the store: `reply(true)`
    /// after the commit that holds the event, `reply(false)` (→ 503, Telnyx redelivers) if it fails.
    public var commitGate: ((String, @escaping (Bool) -> Void) -> Bool)?

    /// When set, events are applied asynchronously (shared state: the call is loaded from Redis
    /// first) and the reply waits for what became of the event.
    public var applyAsync: ((WebhookEvent, @escaping (IngestResult) -> Void) -> Void)?

    /// Where a call is (`flow`, `flow.node`), for log lines about it.
    public var callContext: (String) -> Logger.Metadata = { _ in [:] }

    /// - Parameter verifier: `nil` only with `--insecure-skip-verify` (local development).
    public init(verifier: WebhookVerifier?, clock: @escaping () -> Int64, logger: Logger, metrics: Metrics? = nil,
                engine: @escaping Engine) {
        self.metrics = metrics
        self.verifier = verifier
        self.clock = clock
        self.logger = logger
        self.engine = engine
    }

    public func handle(_ request: borrowing HTTPRequest) -> HTTPResponse? {
        let started = DispatchTime.now().uptimeNanoseconds
        defer {
            metrics?.observe("callflow_webhook_handling_seconds", [], Double(DispatchTime.now().uptimeNanoseconds - started) / 1e9)
        }
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
                metrics?.increment("callflow_webhooks_total", ["unknown", "bad_signature"])
                logger.warning("webhook rejected", metadata: ["reason": "\(error)"])
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
            metrics?.increment("callflow_webhooks_total", ["unknown", "bad_request"])
            logger.warning("webhook refused", metadata: ["reason": "\(error)"])
            return .error(400, "\(error)")
        }

        // Built only when a line is written: metadata dictionaries per request showed in the profile.
        func metadata(_ extra: Logger.Metadata = [:]) -> Logger.Metadata {
            var m: Logger.Metadata = ["event_type": "\(event.eventType)", "event.id": "\(event.id)"]
            if let call = event.call {
                m["call.control_id"] = "\(call.callControlID)"
                m.merge(callContext(call.callControlID)) { $1 }
            }
            return m.merging(extra) { $1 }
        }
        if case .unknown = event.kind {
            logger.notice("unknown event type accepted", metadata: metadata())
        }
        if let applyAsync {
            let pending = request.deferReply()
            applyAsync(event) { [weak self] result in
                guard let self else { return }
                self.count(result, event)
                pending.send(self.respond(to: result, metadata: metadata))
            }
            return nil
        }
        let result = engine(event)
        count(result, event)
        if let commitGate {
            let pending = request.deferReply()
            let waiting = commitGate(event.id) { [weak self] stored in
                guard let self else { return }
                if stored {
                    pending.send(self.respond(to: result, metadata: metadata))
                } else {
                    self.logger.error("webhook not stored; asking Telnyx to redeliver", metadata: metadata())
                    pending.send(.error(503, "temporarily unavailable: the call state could not be stored"))
                }
            }
            if waiting { return nil }
            pending.send(respond(to: result, metadata: metadata))
            return nil
        }
        return respond(to: result, metadata: metadata)
    }

    private func count(_ result: IngestResult, _ event: WebhookEvent) {
        let outcome: String
        switch result {
        case .accepted: outcome = "accepted"
        case .duplicate: outcome = "duplicate"
        case .ignored: outcome = "ignored"
        case .stale: outcome = "stale"
        case .unknownCall: outcome = "unknown_call"
        case .unavailable: outcome = "unavailable"
        }
        metrics?.increment("callflow_webhooks_total", [Metrics.eventLabel(event.eventType), outcome])
    }

    private func respond(to result: IngestResult, metadata: (Logger.Metadata) -> Logger.Metadata) -> HTTPResponse {
        switch result {
        case .accepted:
            logger.debug("webhook accepted", metadata: metadata([:]))
            return .ok
        case .duplicate:
            logger.info("duplicate webhook ignored", metadata: metadata([:]))
            return .ok
        case .ignored(let reason), .stale(let reason), .unknownCall(let reason):
            logger.info("webhook ignored", metadata: metadata(["reason": "\(reason)"]))
            return .ok
        case .unavailable(let reason):
            logger.error("webhook not applied; asking Telnyx to redeliver", metadata: metadata(["reason": "\(reason)"]))
            return .error(503, "temporarily unavailable: \(reason)")
        }
    }
}
