import CallflowCore
import CallflowLoop
import DequeModule
import EventHTTP
import Logging
import TelnyxREST

/// Where the effect runner sends committed commands: `TelnyxClient` in the server, a recording
/// fake in the pipeline's socket-free tests.
package protocol CommandSender: AnyObject {
    /// Sends `command`; `completion` runs on the loop with Telnyx's final answer.
    func send(_ command: CallCommand, completion: @escaping (Result<JSONValue, CommandFailure>) -> Void)
    /// Hears every command refused for good (after its retries).
    var onFailure: (CallCommand, CommandFailure) -> Void { get set }
    /// Commands waiting or in flight.
    var pending: Int { get }
}

/// Sends the machine's commands to Telnyx: one at a time per call leg, in the order issued (a
/// `speak` never overtakes its `answer`), legs in parallel. Retries network errors, timeouts,
/// 408, 429 and 5xx with backoff and jitter, honouring `Retry-After` and `x-ratelimit-reset`,
/// always with the same body and `command_id` (Telnyx ignores repeats). Other 4xx are final.
///
/// Loop-confined. The API key goes into one header and nowhere else: not logs, not errors.
public final class TelnyxClient: CommandSender {
    public typealias FailureHandler = (CallCommand, CommandFailure) -> Void

    private let http: HTTPClient
    private let loop: EventLoop
    private let baseURL: String
    /// The same four headers on every command (the key in one of them, and nowhere else).
    private let headers: [(String, String)]
    private let policy: RetryPolicy
    private let logger: Logger
    private let clockMs: () -> Int64
    private let random: () -> Double
    /// Each leg's commands, the one in flight first: a `Deque`, so finishing one is O(1).
    private var queues: [String: Deque<CallCommand>] = [:]
    private var busy: Set<String> = []
    private var completions: [String: (Result<JSONValue, CommandFailure>) -> Void] = [:]
    public var onFailure: FailureHandler = { _, _ in }
    private let metrics: Metrics?
    /// Called after each command is accepted (for metrics and tests).
    public var onSent: (CallCommand, Int) -> Void = { _, _ in }

    public init(
        http: HTTPClient, loop: EventLoop, baseURL: String, apiKey: String, policy: RetryPolicy, logger: Logger,
        clockMs: @escaping () -> Int64, random: @escaping () -> Double = { Double.random(in: 0...1) }, metrics: Metrics? = nil
    ) {
        self.metrics = metrics
        self.http = http
        self.loop = loop
        self.baseURL = baseURL.hasSuffix("/") ? String(baseURL.dropLast()) : baseURL
        self.headers = [
            ("Authorization", "Bearer \(apiKey)"), ("Content-Type", "application/json"), ("Accept", "application/json"),
            ("User-Agent", "callflow/1"),
        ]
        self.policy = policy
        self.logger = logger
        self.clockMs = clockMs
        self.random = random
    }

    /// Commands waiting or in flight.
    public var pending: Int { queues.values.reduce(0) { $0 + $1.count } }

    /// Sends a command and reports Telnyx's `data` (or the final failure), e.g. the new
    /// `call_control_id` of a dial; `.null` for a command whose answer nobody reads
    /// (`CallCommand.answerIsRead`). Queued under `command.callControlID` like any command.
    public func send(_ command: CallCommand, completion: @escaping (Result<JSONValue, CommandFailure>) -> Void) {
        if let id = command.commandID { completions[id] = completion }
        enqueue(command)
    }

    public func enqueue(_ command: CallCommand) {
        let leg = command.callControlID
        queues[leg, default: []].append(command)
        if !busy.contains(leg) { sendNext(leg) }
    }

    private func sendNext(_ leg: String) {
        guard let command = queues[leg]?.first else {
            queues[leg] = nil
            busy.remove(leg)
            return
        }
        busy.insert(leg)
        attempt(command, number: 1, startedMs: clockMs())
    }

    private func finish(_ leg: String) {
        _ = queues[leg]?.popFirst()
        sendNext(leg)
    }

    private func attempt(_ command: CallCommand, number: Int, startedMs: Int64) {
        let request = ClientRequest(
            method: command.method, url: baseURL + command.path, headers: headers,
            body: JSONValue.object(command.body).jsonBytes, timeoutMs: policy.attemptTimeoutMs, maxResponseBytes: 256 << 10)
        // Built when a line is written, not per command.
        func meta(_ extra: Logger.Metadata = [:]) -> Logger.Metadata { Self.metadata(command).merging(extra) { $1 } }
        let sender = RetryingRequest(http: http, loop: loop, policy: policy, clockMs: clockMs, random: random)
        sender.perform(
            request, what: command.action,
            onRetry: { [weak self] attempt, delay, why in
                self?.metrics?.commandRetried(action: command.action)
                self?.logger.warning(
                    "command failed, retrying",
                    metadata: meta([
                        "attempt": "\(attempt)", "retry_in_ms": "\(delay)", "reason": "\(why)",
                    ]))
            }
        ) { [weak self] result in
            guard let self else { return }
            let seconds = Double(self.clockMs() - startedMs) / 1000
            switch result {
            case .success(let (response, attempts)):
                self.logger.debug("command sent", metadata: meta())
                self.metrics?.commandFinished(action: command.action, result: .ok, seconds: seconds)
                self.onSent(command, attempts)
                if let id = command.commandID, let done = self.completions.removeValue(forKey: id) {
                    done(.success(command.answerIsRead ? (try? JSONParser.parse(response.body))?["data"] ?? .null : .null))
                }
                self.finish(command.callControlID)
            case .failure(let failure):
                let why: Logger.Metadata = ["reason": "\(failure)"]
                self.metrics?.commandFinished(action: command.action, result: failure.callGone ? .callGone : .error, seconds: seconds)
                if failure.callGone {
                    self.logger.info("command not executed: call already ended", metadata: meta(why))
                } else {
                    self.logger.error("command failed", metadata: meta(why))
                }
                self.dropAfterFailure(of: command, callGone: failure.callGone)
                if let id = command.commandID, let done = self.completions.removeValue(forKey: id) { done(.failure(failure)) }
                self.onFailure(command, failure)
                self.finish(command.callControlID)
            }
        }
    }

    /// What log lines about a command carry (never its body: it may hold what a caller typed).
    private static func metadata(_ command: CallCommand) -> Logger.Metadata {
        ["call.control_id": "\(command.callControlID)", "action": "\(command.action)", "command_id": "\(command.commandID ?? "")"]
    }

    /// After a final failure the rest of that step is moot; after 90018 the whole leg is. Each
    /// command dropped unsent still gets its completion (the runtime then clears its outbox row,
    /// which would otherwise be sent again after a restart, and its closure is not kept forever).
    private func dropAfterFailure(of command: CallCommand, callGone: Bool) {
        let leg = command.callControlID
        guard var queue = queues[leg], !queue.isEmpty else { return }
        let head = queue.removeFirst()  // non-empty: checked above
        let step = command.step
        let moot = { (queued: CallCommand) in callGone || (step != nil && queued.step == step) }
        let dropped = queue.filter(moot)
        queue.removeAll(where: moot)
        queue.prepend(head)
        queues[leg] = queue
        for other in dropped {
            metrics?.commandDropped(action: other.action)
            logger.info("command not sent: an earlier command of its step failed", metadata: Self.metadata(other))
            guard let id = other.commandID, let done = completions.removeValue(forKey: id) else { continue }
            done(
                .failure(
                    CommandFailure(
                        status: nil, errors: [], reason: "not sent: \(command.action) before it in the same step failed",
                        attempts: 0)))
        }
    }

}
