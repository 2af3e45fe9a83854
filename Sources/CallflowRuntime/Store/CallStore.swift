import CallflowCore
import CallflowLoop
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

/// Where a store's commit spends its time, which decides where it runs (`CallRuntime.commit`).
public enum CommitKind: Sendable, Equatable {
    /// In this process's memory: quick, on the loop.
    case memory
    /// Written to the OS page cache (SQLite, `synchronous=normal`): CPU work, on a thread of its own
    /// only when another CPU can run it; on one CPU the two wake-ups cost more than they free.
    case pageCache
    /// Fsynced (`synchronous=full`): waits for the disk, always on a thread of its own.
    case disk
}

/// Durable call state. `load` runs on the loop at startup. `commit` and `prune` run one at a time,
/// in order, on the loop or on the store's writer thread (`LoopWorker`) as `commitKind` decides;
/// `finishedTrace` runs on the loop, possibly while a commit is running on the writer thread.
public protocol CallStore: AnyObject, Sendable {
    /// Where this store's commits spend their time: decides the thread they run on.
    var commitKind: CommitKind { get }
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
/// Reused across server instances it survives a simulated crash. Its contents sit behind one
/// lock, so it is `Sendable` with no exception: tests hand one store to servers on other threads.
public final class MemoryStore: CallStore {
    public var commitKind: CommitKind { .memory }
    private struct Contents {
        var calls: [String: CallState] = [:]
        var outbox: [(seq: Int64, command: CallCommand)] = []
        var nextSeq: Int64 = 1
        var timers: [String: (call: String, fireAtMs: Int64)] = [:]
        var http: [String: (call: String, request: HTTPCall)] = [:]
        var dedupe: [UInt64: Int64] = [:]
        var dials: [String: PendingDial] = [:]
        var revisions: [String: [String: [UInt8]]] = [:]
        var traces: [String: (trace: [TraceEntry], at: Int64)] = [:]
    }
    private let contents = Mutex(Contents())
    private let failFlag = Mutex(false)
    /// Makes commits fail (tests of store outages); settable from any thread.
    public var failing: Bool {
        get { failFlag.withLock { $0 } }
        set { failFlag.withLock { $0 = newValue } }
    }

    public init() {}

    public func load(now: Int64) throws(StoreError) -> StoreSnapshot {
        contents.withLock { c in
            var s = StoreSnapshot()
            s.calls = Array(c.calls.values)
            s.outbox = c.outbox
            s.timers = c.timers.map { ($0.key, $0.value.call, $0.value.fireAtMs) }
            s.http = Array(c.http.values)
            s.dedupe = c.dedupe.map { ($0.key, $0.value) }
            s.dials = c.dials
            s.revisions = c.revisions
            return s
        }
    }

    public func commit(_ batch: StoreBatch) throws(StoreError) -> [Int64] {
        if failing { throw .writeFailed("the memory store was told to fail") }
        return contents.withLock { c in
            for (id, state) in batch.upserts { c.calls[id] = state }
            for (id, ended) in batch.ended {
                c.calls[id] = nil
                c.traces[id] = ended
            }
            for e in batch.dedupe { c.dedupe[e.key] = e.at }
            var seqs: [Int64] = []
            for command in batch.outbox {
                c.outbox.append((c.nextSeq, command))
                seqs.append(c.nextSeq)
                c.nextSeq += 1
            }
            let sent = Set(batch.sent)
            c.outbox.removeAll { sent.contains($0.seq) }
            for t in batch.timersAdded { c.timers[t.id] = (t.call, t.fireAtMs) }
            for id in batch.timersRemoved { c.timers[id] = nil }
            for h in batch.httpAdded { c.http[h.request.id] = h }
            for id in batch.httpRemoved { c.http[id] = nil }
            if let d = batch.dials { c.dials = d }
            for (rev, files) in batch.revisions { c.revisions[rev] = files }
            return seqs
        }
    }

    public func finishedTrace(_ call: String) -> [TraceEntry]? { contents.withLock { $0.traces[call]?.trace } }

    public func prune(dedupeBefore: Int64, tracesBefore: Int64) throws(StoreError) {
        contents.withLock { c in
            c.dedupe = c.dedupe.filter { $0.value >= dedupeBefore }
            c.traces = c.traces.filter { $0.value.at >= tracesBefore }
        }
    }
}
