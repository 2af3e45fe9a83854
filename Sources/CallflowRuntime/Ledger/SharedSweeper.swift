import CallflowCore
import CallflowLoop
import EventHTTP
import Logging
import Redis

/// Takes over what another instance left: every `sweepMs` it renews this instance's claims, and
/// claims commands, HTTP requests and timers whose claims ran out (their instance died), then
/// sends, repeats or fires them here. Also refreshes the count of live calls across instances.
///
/// Loop-confined.
package final class SharedSweeper {
    private let ledger: SharedLedger
    private let effects: EffectRunner
    private unowned let pipeline: CallPipeline
    private let loop: EventLoop
    private let logger: Logger
    private let clockMs: () -> Int64
    package static let sweepMs = 1000
    /// A timer this late is presumed orphaned (its instance died) and fired by whoever claims it.
    package static let timerGraceMs = 2000

    package init(
        ledger: SharedLedger, effects: EffectRunner, pipeline: CallPipeline, loop: EventLoop, logger: Logger,
        clockMs: @escaping () -> Int64
    ) {
        self.ledger = ledger
        self.effects = effects
        self.pipeline = pipeline
        self.loop = loop
        self.logger = logger
        self.clockMs = clockMs
        sweepLater()
    }

    private var redis: RedisConnection { ledger.redis }
    private var prefix: String { ledger.prefix }

    private func sweepLater() {
        do { try loop.schedule(afterMilliseconds: Self.sweepMs) { [weak self] in self?.sweep() } } catch {}
    }

    private func sweep() {
        defer { sweepLater() }
        guard redis.isConnected else { return }
        let now = clockMs()
        if !ledger.held.isEmpty {
            // Still working on these: keep them ours (XX: entries finished meanwhile stay gone).
            let deadline = String(now + Int64(SharedLedger.leaseMs))
            redis.send(["ZADD", "\(prefix)claims", "XX"] + ledger.held.sorted().flatMap { [deadline, $0] }) { _ in }
        }
        ledger.scripts.eval(.claim, ["0", prefix, String(now), String(SharedLedger.leaseMs), String(Self.timerGraceMs)]) {
            [weak self] result in
            guard let self, case .success(let value) = result, let flat = value.array else { return }
            var i = 0
            while i + 2 < flat.count {
                let kind = flat[i].bytes.map { String(decoding: $0, as: UTF8.self) } ?? ""
                let id = flat[i + 1].bytes.map { String(decoding: $0, as: UTF8.self) } ?? ""
                let payload = flat[i + 2].bytes ?? []
                i += 3
                self.takeOver(kind: kind, id: id, payload: payload)
            }
        }
        redis.send(["SCARD", "\(prefix)calls"]) { [weak self] result in
            if case .success(.integer(let n)) = result { self?.ledger.liveCalls = Int(n) }
        }
    }

    private func takeOver(kind: String, id: String, payload: [UInt8]) {
        do throws(StoreError) {
            switch kind {
            case "o":
                guard let seq = Int64(id) else { throw .corrupt("outbox entry \(id) is not a sequence number") }
                let command = try SharedLedger.decode("outbox \(id)", payload, StateCodec.decodeCommand)
                logger.notice(
                    "sending a command its instance left unsent",
                    metadata: [
                        "call.control_id": "\(command.callControlID)",
                        "action": "\(command.action)",
                    ])
                effects.send(command, outboxSeq: seq)
            case "h":
                guard let json = try? JSONParser.parse(payload), let call = json["call"]?.stringValue, let request = json["request"] else {
                    throw .corrupt("http request \(id)")
                }
                let decoded = try SharedLedger.decode("http request \(id)", request, StateCodec.decodeHTTP)
                logger.notice("repeating an HTTP request its instance left unfinished", metadata: ["call.control_id": "\(call)"])
                effects.perform(decoded, call: call)
            case "t":
                let call = String(decoding: payload, as: UTF8.self)
                guard !effects.timers.contains(id) else { return }  // armed here: it fires by itself
                pipeline.submit(.timerFired(id: id), to: call)
            default:
                throw .corrupt("claimed entry of unknown kind \(kind)")
            }
        } catch {
            logger.error("shared entry unreadable", metadata: ["entry": "\(kind):\(id)", "reason": "\(error)"])
        }
    }
}
