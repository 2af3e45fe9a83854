import CallflowCore
import EventHTTP
import Foundation
import Logging
import WebhookSignature

/// Why `serve` refused to start. Each message says what to set.
public enum StartupError: Error, Sendable, CustomStringConvertible {
    /// No Telnyx public key and no `--insecure-skip-verify`.
    case missingPublicKey
    /// The configured public key is unusable.
    case invalidPublicKey(PublicKeyError)
    /// The loop or the listener could not be created.
    case eventLoop(EventLoopError)

    public var description: String {
        switch self {
        case .missingPublicKey:
            return "no Telnyx public key: set TELNYX_PUBLIC_KEY (or telnyx.public_key in the config file) to the "
                + "base64 key from the Telnyx portal; --insecure-skip-verify is for local development only"
        case .invalidPublicKey(let e): return "TELNYX_PUBLIC_KEY / telnyx.public_key: \(e)"
        case .eventLoop(let e): return "\(e)"
        }
    }
}

/// The running server: one event loop, the HTTP listener, signal handling.
///
/// Loop-confined: build it, run it and drop it on one thread.
public final class ServerApp {
    public let loop: EventLoop
    public let config: CallflowConfig
    private let logger: Logger
    private var http: HTTPServer?
    private var dedupe = DedupeWindow()

    public var port: Int { http?.boundPort ?? config.server.port }
    public var openConnections: Int { http?.openConnections ?? 0 }

    public init(config: CallflowConfig, insecureSkipVerify: Bool, logger: Logger) throws(StartupError) {
        self.config = config
        self.logger = logger
        let verifier: WebhookVerifier?
        if insecureSkipVerify {
            verifier = nil
            logger.critical("INSECURE: --insecure-skip-verify is set; webhook signatures will NOT be checked")
        } else {
            guard let key = config.telnyx.publicKey else { throw .missingPublicKey }
            do {
                verifier = try WebhookVerifier(
                    publicKeyBase64: key, toleranceSeconds: Int64(config.telnyx.signatureToleranceSecs))
            } catch { throw .invalidPublicKey(error) }
        }
        do { loop = try EventLoop() } catch { throw .eventLoop(error) }

        let ingest = WebhookIngest(
            verifier: verifier, clock: { Int64(time(nil)) }, logger: logger,
            engine: { [unowned self] event in self.apply(event) })
        let routes = Routes(webhookPath: config.server.webhookPath, ingest: ingest)
        let options = HTTPServerOptions(
            host: config.server.host, port: config.server.port, maxBodyBytes: config.server.maxBodyBytes,
            maxHeaderBytes: config.server.maxHeaderBytes, timeoutSeconds: config.server.timeoutSecs,
            maxConnections: config.server.maxConnections)
        do {
            http = try HTTPServer(loop: loop, options: options) { request in routes.handle(request) }
        } catch { throw .eventLoop(error) }
    }

    private func apply(_ event: WebhookEvent) -> IngestResult {
        guard dedupe.insert(event.id, now: Int64(time(nil))) else { return .duplicate }
        return .accepted
    }

    /// Serves until SIGTERM/SIGINT (or `loop.handle.stop()`).
    public func run(handleSignals: Bool = true) throws(StartupError) {
        if handleSignals {
            do {
                for signalNumber in [SIGTERM, SIGINT] {
                    try loop.onSignal(signalNumber) { [unowned self] in self.shutdown(signal: signalNumber) }
                }
            } catch { throw .eventLoop(error) }
        }
        logger.info("listening", metadata: [
            "host": "\(config.server.host)", "port": "\(port)", "webhook_path": "\(config.server.webhookPath)",
        ])
        do { try loop.run() } catch { throw .eventLoop(error) }
        logger.info("stopped")
    }

    private func shutdown(signal: Int32) {
        logger.notice("shutting down", metadata: ["signal": "\(signal)"])
        http?.stopAccepting()
        // Replies already handed to libevent are written before the loop exits.
        do { try loop.schedule(afterMilliseconds: 200) { [loop] in loop.handle.stop() } } catch { loop.handle.stop() }
    }
}
