import CallflowCore
import CallflowLoop
import Dispatch
import EventHTTP
import TelnyxEmulator
import WebhookSignature

/// The emulator as Telnyx looks from the server: a call-control API on loopback and correctly
/// signed webhooks posted to the server's webhook URL, on the server's own event loop, in real
/// time (optionally sped up for tests). Caller input comes from a script or, in `callflow dev`,
/// from the person at the keyboard.
///
/// Loop-confined.
public final class LoopbackTelnyx {
    public struct Options {
        public var script = CallerScript()
        /// Multiplies every emulated delay (0.02 = fifty times faster than life).
        public var timeScale = 1.0
        /// Caller input comes from `key(_:)` instead of the script.
        public var interactive = false
        public var faults = Scenario.Faults()
        /// Faults by share over real HTTP (`--faults`); seeded. See `LiveFaults`.
        public var live = LiveFaults()
        public init() {}
    }

    /// What the emulator saw of the server's commands and its own faults, for the soak's invariants.
    public struct Tally: Sendable, Equatable {
        /// API requests that carried a call command (dial included).
        public var commands = 0
        /// Requests whose `command_id` had been seen before (retries after errors or timeouts, and
        /// unconfirmed commands sent again after a restart).
        public var retried = 0
        /// Invariant (must be 0): a `command_id` seen again with a different body.
        public var conflictingDuplicates = 0
        /// Invariant (must be 0): a new `command_id` on a leg after the server answered 2xx to its `call.hangup`.
        public var afterHangup = 0
        /// An earlier command sent again after its leg's `call.hangup` was answered 2xx (harmless: Telnyx answers 422).
        public var resentAfterHangup = 0
        /// Commands without a `command_id` (Telnyx could not dedupe them).
        public var withoutCommandID = 0
        public var injected5xx = 0
        public var injected429 = 0
        public var slowAnswers = 0
        /// Webhook deliveries made (redeliveries and duplicates included).
        public var deliveries = 0
        public var redeliveries = 0
        public var duplicated = 0
        public var reordered = 0
        public var late = 0
        public var lostAcks = 0
        /// Webhooks given up on after the last attempt.
        public var undelivered = 0
        /// First examples of invariant failures, for reports.
        public var examples: [String] = []
        public init() {}
    }

    /// What happened, for transcripts and test assertions.
    public enum Record: Sendable, Equatable {
        case command(action: String, leg: String, body: JSONObject, status: Int)
        case webhook(type: String, leg: String, status: Int)
        case prompt(String)
        case note(String)
    }

    private let loop: EventLoop
    private let client: HTTPClient
    private var server: HTTPServer?
    private var model: EmulatorModel
    private let signer: WebhookSigner
    private let clockMs: () -> Int64
    private var options: Options
    /// Legs of calls this emulator placed: their callers follow the script.
    private var callerLegs: Set<String> = []
    /// Delivery attempts per webhook before giving up (Telnyx retries failed deliveries).
    public var deliveryAttempts = 1
    private var failedOnce: Set<String> = []
    private var lateCopies = 0
    private var talking: Set<String> = []
    /// How long a bridged scripted caller talks before hanging up.
    public var talkMs = 30_000
    public var webhookURL: String
    /// Several instances behind a load balancer: each call's webhooks go to these in turn (and a
    /// failed delivery is retried at the next one). Empty: everything goes to `webhookURL`.
    public var webhookTargets: [String] = []
    private var deliveriesPerLeg: [String: Int] = [:]
    public private(set) var tally = Tally()
    private var commandBodies: [String: JSONObject] = [:]
    /// Legs whose `call.hangup` the server has answered 2xx: it knows the call is over.
    private var hangupAcked: Set<String> = []
    private var dialed = 0
    public private(set) var records: [Record] = []
    /// Microseconds from sending each webhook to its 2xx answer, as Telnyx would see them: the
    /// server answers after the webhook is stored, so this includes any wait for the disk, also
    /// the part a server spends before it reads the request (benchmarks print percentiles of it).
    public private(set) var deliveryMicros: [Int] = []
    /// Each acknowledged delivery's round trip in parts (libcurl's clock): waiting here before libcurl
    /// took it, waiting for a connection, and from the request written to the reply's first byte.
    public private(set) var deliverySplits: [DeliverySplit] = []
    public struct DeliverySplit: Sendable {
        public var beforeCurlUs: Int
        public var connectionUs: Int
        public var toFirstByteUs: Int
    }
    /// Called for every record as it happens (dev prints them).
    public var onRecord: (Record) -> Void = { _ in }
    /// The caller leg of the call in progress.
    public private(set) var currentLeg: String?
    public private(set) var apiPort = 0
    public var apiBaseURL: String { "http://127.0.0.1:\(apiPort)/v2" }

    public init(
        loop: EventLoop, client: HTTPClient, signer: WebhookSigner, webhookURL: String, options: Options,
        clockMs: @escaping () -> Int64
    ) throws(EventLoopError) {
        self.loop = loop
        self.client = client
        self.signer = signer
        self.webhookURL = webhookURL
        self.options = options
        self.clockMs = clockMs
        model = EmulatorModel(script: options.script, deliveredTo: webhookURL)
        server = try HTTPServer(loop: loop, options: HTTPServerOptions(host: "127.0.0.1", port: 0, maxBodyBytes: 1 << 20)) { [unowned self] request in
            self.api(request)
        }
        apiPort = server?.boundPort ?? 0
    }

    func record(_ r: Record) {
        records.append(r)
        onRecord(r)
    }

    public var legs: [String: EmulatorModel.Leg] { model.legs }

    // MARK: calls

    /// A caller dials in.
    @discardableResult
    public func placeInboundCall(from: String, to: String) -> String {
        model.nowMs = clockMs()
        let (leg, emissions) = model.inboundCall(from: from, to: to)
        currentLeg = leg
        callerLegs.insert(leg)
        emit(emissions)
        return leg
    }

    /// An outbound call was dialed and is answered (AMD per the script).
    @discardableResult
    public func answerOutboundCall(from: String, to: String) -> String {
        model.nowMs = clockMs()
        let (leg, emissions) = model.outboundCall(from: from, to: to, clientState: nil)
        currentLeg = leg
        emit(emissions)
        return leg
    }

    /// The person at the keyboard pressed a key.
    public func key(_ digit: Character) {
        if let leg = currentLeg { key(digit, on: leg) }
    }

    /// The caller hangs up (the current call, or `leg`).
    public func hangup(_ leg: String? = nil) {
        guard let leg = leg ?? currentLeg else { return }
        model.nowMs = clockMs()
        emit(model.callerHangsUp(leg))
    }

    // MARK: the API

    private func api(_ request: borrowing HTTPRequest) -> HTTPResponse? {
        guard request.method == "POST" || request.method == "PUT" else { return Self.methodNotAllowed }
        guard request.header("authorization")?.hasPrefix("Bearer ") == true else {
            return .json(401, Array(#"{"errors":[{"code":"10009","title":"Authentication failed","detail":"missing Bearer API key"}]}"#.utf8))
        }
        let path = request.path
        let body: JSONObject
        let parsed = request.withBody { _, raw in try? JSONParser.parse(raw) }
        guard case .object(let object)? = parsed else {
            return .json(400, Array(#"{"errors":[{"code":"10002","title":"Invalid JSON body"}]}"#.utf8))
        }
        body = object
        let action: String
        var leg: String? = nil
        var conference: String? = nil
        if path == "/v2/conferences" {
            action = CallCommand.conferenceCreate
        } else if path.hasPrefix("/v2/conferences/"), let range = path.firstRange(of: "/actions/") {
            conference = Self.percentDecode(String(path[path.index(path.startIndex, offsetBy: 16)..<range.lowerBound]))
            action = CallCommand.conferencePrefix + String(path[range.upperBound...])
        } else if path == "/v2/calls" {
            action = "dial"
        } else if path.hasPrefix("/v2/calls/"), let range = path.firstRange(of: "/actions/") {
            leg = Self.percentDecode(String(path[path.index(path.startIndex, offsetBy: 10)..<range.lowerBound]))
            action = String(path[range.upperBound...])
        } else {
            return .json(404, Array(#"{"errors":[{"code":"404","title":"Not found"}]}"#.utf8))
        }
        // Every action is a POST but client_state_update, a PUT (Telnyx's OpenAPI spec).
        guard request.method == (action == "client_state_update" ? "PUT" : "POST") else { return Self.methodNotAllowed }
        model.nowMs = clockMs()
        let (commandKey, seenBefore) = count(action: action, leg: leg, body: body)
        let live = options.live
        let reply: EmulatorModel.Reply
        var emissions: [EmulatorModel.Emission] = []
        var headers: [(String, String)] = []
        let draw = live.commands5xx + live.commands429 > 0 ? dice("api", commandKey, seenBefore) : 1
        if let fault = options.faults.apiErrors[action], failedOnce.insert(action).inserted {
            reply = .error(status: fault.status, code: fault.code, title: "Injected failure", detail: "the emulator was told to refuse \(action)")
        } else if draw < live.commands5xx {
            tally.injected5xx += 1
            let status = dice("5xx", commandKey, seenBefore) < 0.5 ? 500 : 503
            reply = .error(
                status: status, code: String(status), title: status == 500 ? "Internal server error" : "Service unavailable",
                detail: "injected by --faults commands_5xx")
        } else if draw < live.commands5xx + live.commands429 {
            tally.injected429 += 1
            headers = [("Retry-After", String(live.retryAfterSecs))]
            reply = .error(status: 429, code: "10011", title: "Too many requests", detail: "injected by --faults commands_429")
        } else {
            (reply, emissions) =
                action.hasPrefix(CallCommand.conferencePrefix)
                ? model.conferenceCommand(action, conference: conference, body: body)
                : model.command(action, leg: leg, body: body)
        }
        if action == "dial", currentLeg == nil, case .ok(let data) = reply, let id = data["call_control_id"]?.stringValue {
            currentLeg = id  // an outbound call placed by the server: the emulated phone is its callee
            model.followScript(id)
        }
        record(.command(action: action, leg: leg ?? "", body: body, status: reply.status))
        if action == "speak" || action == "gather_using_speak", let text = body["payload"]?.stringValue { record(.prompt(text)) }
        emit(emissions)
        let response = HTTPResponse.json(reply.status, reply.body.jsonBytes, headers: headers)
        if live.slowAPI > 0, dice("slow", commandKey, seenBefore) < live.slowAPI {
            tally.slowAnswers += 1
            let pending = request.deferReply()
            do { try loop.schedule(afterMilliseconds: live.slowAPIMs) { pending.send(response) } } catch { pending.send(response) }
            return nil
        }
        return response
    }

    private static let methodNotAllowed = HTTPResponse.json(405, Array(#"{"errors":[{"code":"405","title":"Method not allowed"}]}"#.utf8))

    /// Counts one command for the invariants; returns its key for the fault dice and how many
    /// times it was seen before.
    private func count(action: String, leg: String?, body: JSONObject) -> (key: String, seenBefore: Int) {
        tally.commands += 1
        guard let id = body["command_id"]?.stringValue else {
            tally.withoutCommandID += 1
            dialed += 1
            return ("\(action)#\(dialed)", 0)
        }
        let key = (leg ?? "") + "/" + id
        let over = leg.map { hangupAcked.contains($0) } ?? false
        if let earlier = commandBodies[key] {
            tally.retried += 1
            repeats[key, default: 0] += 1
            if earlier != body {
                tally.conflictingDuplicates += 1
                example(
                    "command_id \(id) on \(leg ?? "dial") sent again with a different body: \(String(decoding: JSONValue.object(earlier).jsonBytes, as: UTF8.self)) then \(String(decoding: JSONValue.object(body).jsonBytes, as: UTF8.self))"
                )
            }
            if over { tally.resentAfterHangup += 1 }
            return (key, repeats[key] ?? 1)
        }
        commandBodies[key] = body
        if over {
            tally.afterHangup += 1
            example("\(action) (command_id \(id)) on \(leg ?? "") after the server answered its call.hangup")
        }
        return (key, 0)
    }
    private var repeats: [String: Int] = [:]

    private func example(_ text: String) {
        if tally.examples.count < 10 { tally.examples.append(text) }
        record(.note("INVARIANT: " + text))
    }

    private func dice(_ kind: String, _ key: String, _ n: Int) -> Double { options.live.draw(kind, key, n) }

    static func percentDecode(_ s: String) -> String {
        var bytes: [UInt8] = []
        var it = Array(s.utf8)[...]
        while let b = it.popFirst() {
            if b == UInt8(ascii: "%"), it.count >= 2, let v = UInt8(String(decoding: it.prefix(2), as: UTF8.self), radix: 16) {
                bytes.append(v)
                it = it.dropFirst(2)
            } else {
                bytes.append(b)
            }
        }
        return String(decoding: bytes, as: UTF8.self)
    }

    // MARK: scheduling

    /// After `ms` of emulated time (scaled) and `realMs` more of real time (faults).
    private func later(_ ms: Int, realMs: Int = 0, _ work: @escaping () -> Void) {
        let scaled = Int((Double(ms) * options.timeScale).rounded()) + realMs
        do { try loop.schedule(afterMilliseconds: max(0, scaled), work) } catch { work() }
    }

    private func emit(_ emissions: [EmulatorModel.Emission]) {
        for e in emissions {
            switch e {
            case .webhook(let delay, let body):
                for (d, b) in options.faults.deliveries(of: body, after: delay, copy: &lateCopies) {
                    let live = options.live
                    guard live.duplicate + live.reorder + live.late > 0 else {
                        later(d) { [weak self] in self?.deliver(b) }
                        continue
                    }
                    let id = b["data"]?["id"]?.stringValue ?? ""
                    var extra = 0
                    if live.late > 0, dice("late", id, 0) < live.late {
                        extra = live.lateMs
                        tally.late += 1
                    } else if live.reorder > 0, dice("reorder", id, 0) < live.reorder {
                        extra = live.reorderMs
                        tally.reordered += 1
                    }
                    later(d, realMs: extra) { [weak self] in self?.deliver(b) }
                    if live.duplicate > 0, dice("duplicate", id, 0) < live.duplicate {
                        tally.duplicated += 1
                        later(d, realMs: extra + 1 + Int(dice("gap", id, 0) * 50)) { [weak self] in self?.deliver(b) }
                    }
                }
            case .needInput(let delay, let leg, let token, _):
                later(delay) { [weak self] in self?.needInput(leg, token: token) }
            case .note(let delay, _, _, let text):
                if delay == 0 { record(.note(text)) } else { later(delay) { [weak self] in self?.record(.note(text)) } }
            case .gatherTimeout(let delay, let leg, let token), .timer(let delay, let leg, let token):
                later(delay) { [weak self] in
                    guard let self else { return }
                    self.model.nowMs = self.clockMs()
                    self.emit(self.model.timeout(leg, token: token))
                }
            }
        }
    }

    /// The caller may answer (a gather's prompt has played, or a looping prompt started): the
    /// model's scripted caller answers, or in interactive mode the person does. Only the legs of
    /// the emulated phone follow the script (not transfer targets).
    private func needInput(_ leg: String, token: Int) {
        guard let state = model.legs[leg] else { return }
        // An agent's phone at a screening prompt answers by itself (its script, else it accepts).
        if !state.scripted, state.parent != nil {
            model.nowMs = clockMs()
            return emit(model.scriptedInput(leg, token: token))
        }
        guard state.scripted else { return }
        if options.interactive {
            onNeedInput(leg)
            return
        }
        model.nowMs = clockMs()
        emit(model.scriptedInput(leg, token: token))
    }

    /// In interactive mode, called when a gather's prompt has been played (or a looping prompt
    /// started) and the caller is expected to answer (`dev` feeds keys typed ahead into a pipe
    /// from here).
    public var onNeedInput: (_ leg: String) -> Void = { _ in }

    /// The caller presses `digits` on `leg` at a person's pace (after thinking, then one key per
    /// interval), as a scripted caller does; an empty string is silence.
    public func press(_ digits: String, on leg: String) {
        record(.note(digits.isEmpty ? "caller says nothing" : "caller presses \(digits)"))
        for (i, d) in digits.enumerated() {
            later(model.timing.thinkMs + i * model.timing.keyIntervalMs) { [weak self] in self?.key(d, on: leg) }
        }
    }

    /// A key press on a given leg (many calls at once).
    public func key(_ digit: Character, on leg: String) {
        model.nowMs = clockMs()
        emit(model.key(leg, digit))
    }

    /// Signs and posts one webhook to the server, as Telnyx does, retrying failed deliveries.
    private func deliver(_ body: JSONValue, attempt: Int = 1, turn given: Int? = nil) {
        let bytes = body.jsonBytes
        let timestamp = String(clockMs() / 1000)
        let type = body["data"]?["event_type"]?.stringValue ?? ""
        let leg = body["data"]?["payload"]?["call_control_id"]?.stringValue ?? ""
        let turn = given ?? deliveriesPerLeg[leg, default: 0]
        if given == nil, !webhookTargets.isEmpty { deliveriesPerLeg[leg] = turn + 1 }
        let url = webhookTargets.isEmpty ? webhookURL : webhookTargets[(turn + attempt - 1) % webhookTargets.count]
        let request = ClientRequest(
            method: "POST", url: url,
            headers: [
                ("Content-Type", "application/json"), ("telnyx-timestamp", timestamp),
                ("telnyx-signature-ed25519", signer.signature(timestamp: timestamp, body: bytes)),
            ], body: bytes, timeoutMs: 5000)
        if type == "call.bridged", attempt == 1, callerLegs.contains(leg) || leg == currentLeg, !options.interactive, !talking.contains(leg) {
            // The caller talks to whoever answered, then hangs up.
            talking.insert(leg)
            later(talkMs) { [weak self] in self?.hangup(leg) }
        }
        let sentNs = DispatchTime.now().uptimeNanoseconds
        tally.deliveries += 1
        if attempt > 1 { tally.redeliveries += 1 }
        client.send(request) { [weak self] result in
            guard let self else { return }
            let delivered: Bool
            switch result {
            case .success(let response):
                let acked = (200..<300).contains(response.status)
                if acked && type == "call.hangup" { self.hangupAcked.insert(leg) }
                var lost = false
                if acked, attempt < self.deliveryAttempts, self.options.live.lostAck > 0,
                    self.dice("lost_ack", body["data"]?["id"]?.stringValue ?? "", attempt) < self.options.live.lostAck
                {
                    lost = true  // Telnyx did not see the 2xx (a timeout on its side): it delivers again
                    self.tally.lostAcks += 1
                }
                delivered = acked && !lost
                if acked {
                    let roundTrip = Int((DispatchTime.now().uptimeNanoseconds - sentNs) / 1000)
                    self.deliveryMicros.append(roundTrip)
                    let t = response.timing
                    self.deliverySplits.append(
                        DeliverySplit(
                            beforeCurlUs: max(0, roundTrip - Int(t.totalUs)), connectionUs: Int(t.pretransferUs),
                            toFirstByteUs: Int(t.firstByteUs - t.pretransferUs)))
                }
                if delivered || attempt >= self.deliveryAttempts { self.record(.webhook(type: type, leg: leg, status: response.status)) }
            case .failure(let error):
                delivered = false
                if attempt >= self.deliveryAttempts { self.record(.note("webhook \(type) not delivered: \(error)")) }
            }
            if !delivered && attempt >= self.deliveryAttempts, case .failure = result { self.tally.undelivered += 1 }
            if case .success(let r) = result, !(200..<300).contains(r.status), attempt >= self.deliveryAttempts { self.tally.undelivered += 1 }
            if !delivered && attempt < self.deliveryAttempts {
                // Telnyx redelivers (same body, same id) until the server answers 2xx, backing off.
                let wait = self.options.live.redeliveryDelayMs(afterAttempt: attempt)
                do { try self.loop.schedule(afterMilliseconds: wait) { [weak self] in self?.deliver(body, attempt: attempt + 1, turn: turn) } } catch
                {}
            }
        }
    }
}
