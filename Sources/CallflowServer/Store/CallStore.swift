import CallflowCore
import Synchronization

/// Why the store cannot be used. Loud and specific: the server answers 503 (Telnyx redelivers)
/// rather than drop an event.
public enum StoreError: Error, Sendable, Equatable, CustomStringConvertible {
    /// The store could not be opened (bad path, permissions, not a database).
    case unavailable(String)
    /// A record in the store cannot be read back.
    case corrupt(String)
    /// A write failed; nothing of the batch was applied.
    case writeFailed(String)

    public var description: String {
        switch self {
        case .unavailable(let why): return "store unavailable: \(why)"
        case .corrupt(let why): return "store corrupt: \(why)"
        case .writeFailed(let why): return "store write failed: \(why)"
        }
    }
}

/// A flow revision's source files as one JSON value (name → base64), as the stores keep them.
enum RevisionFiles {
    static func encode(_ files: [String: [UInt8]]) -> JSONValue {
        .object(JSONObject(files.sorted { $0.key < $1.key }.map { (key: $0.key, value: JSONValue.string(Base64Text.encode($0.value))) }))
    }

    static func decode(_ value: JSONValue, revision: String) throws(StoreError) -> [String: [UInt8]] {
        guard case .object(let files) = value else { throw .corrupt("revision \(revision) is not an object") }
        var decoded: [String: [UInt8]] = [:]
        for (name, v) in files.members {
            guard let b64 = v.stringValue, let bytes = Base64Text.decode(b64) else { throw .corrupt("revision \(revision): file \(name)") }
            decoded[name] = bytes
        }
        return decoded
    }
}

/// What a store holds, read back at startup.
public struct StoreSnapshot: Sendable {
    public var calls: [CallState] = []
    /// Commands committed but not yet known to be sent, in order.
    public var outbox: [(seq: Int64, command: CallCommand)] = []
    public var timers: [(id: String, call: String, fireAtMs: Int64)] = []
    public var http: [(call: String, request: HTTPCall)] = []
    public var dedupe: [(key: UInt64, at: Int64)] = []
    public var dials: [String: PendingDial] = [:]
    /// Flow revision → its source files.
    public var revisions: [String: [String: [UInt8]]] = [:]
    public init() {}
}

/// Everything one loop turn changed, written in one transaction (group commit).
public struct StoreBatch: Sendable {
    public var upserts: [String: CallState] = [:]
    /// Calls that ended, with their final trace (kept for `trace_retention_hours`).
    public var ended: [String: (trace: [TraceEntry], at: Int64)] = [:]
    public var dedupe: [(key: UInt64, at: Int64)] = []
    public var outbox: [CallCommand] = []
    public var sent: [Int64] = []
    public var timersAdded: [(id: String, call: String, fireAtMs: Int64)] = []
    public var timersRemoved: [String] = []
    public var httpAdded: [(call: String, request: HTTPCall)] = []
    public var httpRemoved: [String] = []
    /// The whole set of pending dials, when it changed.
    public var dials: [String: PendingDial]? = nil
    public var revisions: [String: [String: [UInt8]]] = [:]

    public init() {}

    public var isEmpty: Bool {
        upserts.isEmpty && ended.isEmpty && dedupe.isEmpty && outbox.isEmpty && sent.isEmpty && timersAdded.isEmpty
            && timersRemoved.isEmpty && httpAdded.isEmpty && httpRemoved.isEmpty && dials == nil && revisions.isEmpty
    }
}

/// Durable call state. Loop-confined; writes happen once per loop turn.
public protocol CallStore: AnyObject {
    /// Reads everything back (startup), dropping what expired by `now` (Unix seconds).
    func load(now: Int64) throws(StoreError) -> StoreSnapshot
    /// Applies `batch` atomically; returns the outbox sequence numbers of `batch.outbox`, in order.
    func commit(_ batch: StoreBatch) throws(StoreError) -> [Int64]
    /// The trace of a call that ended within the retention period.
    func finishedTrace(_ call: String) -> [TraceEntry]?
    /// Forgets webhook ids older than `dedupeBefore` and traces older than `tracesBefore`.
    func prune(dedupeBefore: Int64, tracesBefore: Int64) throws(StoreError)
}

/// The store for tests and `store.kind: memory`: the same contract, in this process's memory.
/// Reused across `ServerApp` instances it survives a simulated crash.
public final class MemoryStore: CallStore, @unchecked Sendable {
    private var calls: [String: CallState] = [:]
    private var outbox: [(seq: Int64, command: CallCommand)] = []
    private var nextSeq: Int64 = 1
    private var timers: [String: (call: String, fireAtMs: Int64)] = [:]
    private var http: [String: (call: String, request: HTTPCall)] = [:]
    private var dedupe: [UInt64: Int64] = [:]
    private var dials: [String: PendingDial] = [:]
    private var revisions: [String: [String: [UInt8]]] = [:]
    private var traces: [String: (trace: [TraceEntry], at: Int64)] = [:]
    private let failFlag = Mutex(false)
    /// Makes commits fail (tests of store outages); settable from any thread.
    public var failing: Bool {
        get { failFlag.withLock { $0 } }
        set { failFlag.withLock { $0 = newValue } }
    }

    public init() {}

    public func load(now: Int64) throws(StoreError) -> StoreSnapshot {
        var s = StoreSnapshot()
        s.calls = Array(calls.values)
        s.outbox = outbox
        s.timers = timers.map { ($0.key, $0.value.call, $0.value.fireAtMs) }
        s.http = Array(http.values)
        s.dedupe = dedupe.map { ($0.key, $0.value) }
        s.dials = dials
        s.revisions = revisions
        return s
    }

    public func commit(_ batch: StoreBatch) throws(StoreError) -> [Int64] {
        if failing { throw .writeFailed("the memory store was told to fail") }
        for (id, state) in batch.upserts { calls[id] = state }
        for (id, ended) in batch.ended {
            calls[id] = nil
            traces[id] = ended
        }
        for e in batch.dedupe { dedupe[e.key] = e.at }
        var seqs: [Int64] = []
        for c in batch.outbox {
            outbox.append((nextSeq, c))
            seqs.append(nextSeq)
            nextSeq += 1
        }
        let sent = Set(batch.sent)
        outbox.removeAll { sent.contains($0.seq) }
        for t in batch.timersAdded { timers[t.id] = (t.call, t.fireAtMs) }
        for id in batch.timersRemoved { timers[id] = nil }
        for h in batch.httpAdded { http[h.request.id] = h }
        for id in batch.httpRemoved { http[id] = nil }
        if let d = batch.dials { dials = d }
        for (rev, files) in batch.revisions { revisions[rev] = files }
        return seqs
    }

    public func finishedTrace(_ call: String) -> [TraceEntry]? { traces[call]?.trace }

    public func prune(dedupeBefore: Int64, tracesBefore: Int64) throws(StoreError) {
        dedupe = dedupe.filter { $0.value >= dedupeBefore }
        traces = traces.filter { $0.value.at >= tracesBefore }
    }
}
