import CallflowCore
import Foundation
import SQLite
import Synchronization

/// The default store: one SQLite file in WAL mode. Writes are group commits. With
/// `synchronous=NORMAL` a commit reaches the OS page cache and survives a process crash without an
/// fsync (the last commits can be lost on power loss); with `FULL` every group commit is fsynced.
/// See `CommitKind` for the thread each runs on.
///
/// Outbox rows are numbered by SQLite's rowid (max + 1), not AUTOINCREMENT, which would write its
/// counter table in every transaction: a number can come back only after its row is deleted, and
/// nothing refers to a deleted row. Files created with AUTOINCREMENT keep it and read the same.
///
/// Two connections, each behind its own lock: the writer's (startup load, then commits and prunes
/// on the store's writer thread) and a reader's for the traces the control API asks for on the
/// loop; in WAL mode the reader never waits for a commit in progress.
public final class SQLiteCallStore: CallStore {
    private let writer: Mutex<Database>
    private let reader: Mutex<Database?>
    private let path: String
    private let checkpointer: Checkpointer
    /// `.disk` with `synchronous=FULL` (every commit fsynced), else `.pageCache`.
    public let commitKind: CommitKind
    /// 2: webhook ids seen go to `dedupe_log`, appended in arrival order, instead of `dedupe` (a
    /// table keyed by the ids' random 64-bit hashes, plus an index on time). Lookups happen in
    /// memory; the table is only read back at startup and pruned from its old end, so an append
    /// touches one page where a random-key insert dirtied a leaf anywhere and an index page.
    static let schemaVersion: Int64 = 2

    /// Schema 1 → 2, in the transaction that checked the version: the ids move over oldest first.
    static func migrateFromSchema1(_ db: Database) throws(SQLiteError) {
        try db.execute(
            """
            INSERT INTO dedupe_log(key, at) SELECT key, at FROM dedupe ORDER BY at;
            DROP TABLE dedupe;
            UPDATE meta SET value = 2 WHERE key = 'schema';
            """)
    }

    /// - Parameter walLimitBytes: past this size the WAL is checkpointed in full and starts over
    ///   (see `Checkpointer`).
    /// How much a commit waits for the disk.
    public enum Synchronous: String, Sendable, CaseIterable {
        /// WAL: durable across process crashes; the last group commits can be lost on power loss.
        case normal
        /// An fsync every group commit.
        case full
    }

    public init(path: String, synchronous: Synchronous, walLimitBytes: Int = 64 << 20) throws(StoreError) {
        checkpointer = Checkpointer(path: path, walLimitBytes: walLimitBytes)
        self.path = path
        commitKind = synchronous == .full ? .disk : .pageCache
        let db: Database
        do {
            db = try Database(path: path)
            // Checkpoints (which fsync the database file) run on the checkpointer's thread, not in
            // a commit on the loop thread.
            try db.execute(
                "PRAGMA journal_mode=WAL; PRAGMA synchronous=\(synchronous == .full ? "FULL" : "NORMAL"); PRAGMA wal_autocheckpoint=0; "
                    + "PRAGMA journal_size_limit=\(walLimitBytes);")
            try db.execute(
                """
                CREATE TABLE IF NOT EXISTS meta(key TEXT PRIMARY KEY, value INTEGER NOT NULL);
                CREATE TABLE IF NOT EXISTS calls(id TEXT PRIMARY KEY, state BLOB NOT NULL);
                CREATE TABLE IF NOT EXISTS outbox(seq INTEGER PRIMARY KEY, command BLOB NOT NULL);
                CREATE TABLE IF NOT EXISTS timers(id TEXT PRIMARY KEY, call TEXT NOT NULL, fire_at_ms INTEGER NOT NULL);
                CREATE TABLE IF NOT EXISTS http(id TEXT PRIMARY KEY, call TEXT NOT NULL, request BLOB NOT NULL);
                CREATE TABLE IF NOT EXISTS dedupe_log(key INTEGER NOT NULL, at INTEGER NOT NULL);
                CREATE TABLE IF NOT EXISTS dials(token TEXT PRIMARY KEY, dial BLOB NOT NULL);
                CREATE TABLE IF NOT EXISTS revisions(revision TEXT PRIMARY KEY, files BLOB NOT NULL);
                CREATE TABLE IF NOT EXISTS traces(id TEXT PRIMARY KEY, ended_at INTEGER NOT NULL, trace BLOB NOT NULL);
                CREATE INDEX IF NOT EXISTS traces_at ON traces(ended_at);
                """)
            try db.transaction { () throws(SQLiteError) in
                let version = try db.run("SELECT value FROM meta WHERE key = 'schema'").first?.first?.int
                switch version {
                case nil:
                    try db.run("INSERT INTO meta(key, value) VALUES('schema', ?)", [.int(Self.schemaVersion)])
                case 1:
                    try Self.migrateFromSchema1(db)
                case Self.schemaVersion:
                    break
                case let other?:
                    throw SQLiteError(
                        function: "schema check", code: 0, message: "\(path) has schema \(other); this build reads \(Self.schemaVersion)")
                }
            }
        } catch {
            throw .unavailable("\(path): \(error)")
        }
        writer = Mutex(db)
        reader = Mutex(nil)
        checkpointer.start()
    }

    deinit { checkpointer.stop() }

    /// RESTART checkpoints so far (tests read it).
    public var walRestarts: Int { checkpointer.restarts.withLock { $0 } }

    static func bytes(_ v: JSONValue) -> Database.Value { .blob(v.jsonBytes) }

    static func json(_ v: Database.Value?, _ what: String) throws(StoreError) -> JSONValue {
        guard let b = v?.blob, let j = try? JSONParser.parse(b) else { throw .corrupt("unreadable \(what)") }
        return j
    }

    public func load(now: Int64) throws(StoreError) -> StoreSnapshot {
        try writer.withLock { (db) throws(StoreError) -> StoreSnapshot in try Self.load(db) }
    }

    private static func load(_ db: Database) throws(StoreError) -> StoreSnapshot {
        var s = StoreSnapshot()
        do {
            for row in try db.run("SELECT state FROM calls") {
                do { s.calls.append(try StateCodec.decodeState(try Self.json(row.first, "call"))) } catch let e as StateCodec.DecodeError {
                    throw StoreError.corrupt("\(e)")
                }
            }
            for row in try db.run("SELECT seq, command FROM outbox ORDER BY seq") {
                guard let seq = row[0].int else { throw StoreError.corrupt("outbox row without seq") }
                do { s.outbox.append((seq, try StateCodec.decodeCommand(try Self.json(row[1], "command")))) } catch let e as StateCodec.DecodeError {
                    throw StoreError.corrupt("\(e)")
                }
            }
            for row in try db.run("SELECT id, call, fire_at_ms FROM timers") {
                guard let id = row[0].text, let call = row[1].text, let at = row[2].int else { throw StoreError.corrupt("timer row") }
                s.timers.append((id, call, at))
            }
            for row in try db.run("SELECT call, request FROM http") {
                guard let call = row[0].text else { throw StoreError.corrupt("http row") }
                do { s.http.append((call, try StateCodec.decodeHTTP(try Self.json(row[1], "http request")))) } catch let e as StateCodec.DecodeError {
                    throw StoreError.corrupt("\(e)")
                }
            }
            for row in try db.run("SELECT key, at FROM dedupe_log") {
                guard let key = row[0].int, let at = row[1].int else { throw StoreError.corrupt("dedupe row") }
                s.dedupe.append((UInt64(bitPattern: key), at))
            }
            for row in try db.run("SELECT token, dial FROM dials") {
                guard let token = row[0].text else { throw StoreError.corrupt("dial row") }
                do { s.dials[token] = try StateCodec.decodeDial(try Self.json(row[1], "dial")) } catch let e as StateCodec.DecodeError {
                    throw StoreError.corrupt("\(e)")
                }
            }
            for row in try db.run("SELECT revision, files FROM revisions") {
                guard let rev = row[0].text else { throw StoreError.corrupt("revision row") }
                s.revisions[rev] = try RevisionFiles.decode(try Self.json(row[1], "revision"), revision: rev)
            }
        } catch let e as StoreError {
            throw e
        } catch {
            throw .corrupt("\(db.path): \(error)")
        }
        return s
    }

    public func commit(_ batch: StoreBatch) throws(StoreError) -> [Int64] {
        try writer.withLock { (db) throws(StoreError) -> [Int64] in try Self.commit(batch, to: db) }
    }

    private static func commit(_ batch: StoreBatch, to db: Database) throws(StoreError) -> [Int64] {
        var seqs: [Int64] = []
        do {
            try db.transaction { () throws(SQLiteError) in
                for (id, state) in batch.upserts {
                    // An update in place, not REPLACE's delete and insert.
                    try db.run(
                        "INSERT INTO calls(id, state) VALUES(?, ?) ON CONFLICT(id) DO UPDATE SET state = excluded.state",
                        [.text(id), Self.bytes(StateCodec.encode(state, withTrace: false))])
                }
                for (id, ended) in batch.ended {
                    try db.run("DELETE FROM calls WHERE id = ?", [.text(id)])
                    try db.run(
                        "INSERT OR REPLACE INTO traces(id, ended_at, trace) VALUES(?, ?, ?)",
                        [.text(id), .int(ended.at), Self.bytes(.array(ended.trace.map(StateCodec.encode)))])
                }
                for e in batch.dedupe {
                    try db.run("INSERT INTO dedupe_log(key, at) VALUES(?, ?)", [.int(Int64(bitPattern: e.key)), .int(e.at)])
                }
                for c in batch.outbox {
                    let row = try db.run("INSERT INTO outbox(command) VALUES(?) RETURNING seq", [Self.bytes(StateCodec.encode(c))])
                    guard let seq = row.first?.first?.int else {
                        throw SQLiteError(function: "INSERT outbox", code: 0, message: "no sequence number returned")
                    }
                    seqs.append(seq)
                }
                for seq in batch.sent { try db.run("DELETE FROM outbox WHERE seq = ?", [.int(seq)]) }
                for t in batch.timersAdded {
                    try db.run("INSERT OR REPLACE INTO timers(id, call, fire_at_ms) VALUES(?, ?, ?)", [.text(t.id), .text(t.call), .int(t.fireAtMs)])
                }
                for id in batch.timersRemoved { try db.run("DELETE FROM timers WHERE id = ?", [.text(id)]) }
                for h in batch.httpAdded {
                    try db.run(
                        "INSERT OR REPLACE INTO http(id, call, request) VALUES(?, ?, ?)",
                        [.text(h.request.id), .text(h.call), Self.bytes(StateCodec.encode(h.request))])
                }
                for id in batch.httpRemoved { try db.run("DELETE FROM http WHERE id = ?", [.text(id)]) }
                if let dials = batch.dials {
                    try db.run("DELETE FROM dials")
                    for (token, dial) in dials {
                        try db.run("INSERT INTO dials(token, dial) VALUES(?, ?)", [.text(token), Self.bytes(StateCodec.encode(dial))])
                    }
                }
                for (rev, files) in batch.revisions {
                    try db.run(
                        "INSERT OR IGNORE INTO revisions(revision, files) VALUES(?, ?)", [.text(rev), Self.bytes(RevisionFiles.encode(files))])
                }
            }
        } catch {
            throw .writeFailed("\(db.path): \(error)")
        }
        return seqs
    }

    public func finishedTrace(_ call: String) -> [TraceEntry]? {
        let row = reader.withLock { db -> Database.Value? in
            if db == nil { db = try? Database(path: path) }
            return (try? db?.run("SELECT trace FROM traces WHERE id = ?", [.text(call)]))??.first?.first
        }
        guard let row,
            let list = (try? Self.json(row, "trace"))?.arrayValue
        else { return nil }
        return try? list.map { (e) throws(StateCodec.DecodeError) in try StateCodec.decodeTrace(e) }
    }

    public func prune(dedupeBefore: Int64, tracesBefore: Int64) throws(StoreError) {
        try writer.withLock { (db) throws(StoreError) in
            do {
                // Rows are in arrival order: delete up to the first one still fresh (all, if none
                // is), reading only what goes.
                try db.run(
                    """
                    DELETE FROM dedupe_log WHERE rowid < COALESCE(
                      (SELECT rowid FROM dedupe_log WHERE at >= ?1 ORDER BY rowid LIMIT 1),
                      (SELECT COALESCE(max(rowid), 0) + 1 FROM dedupe_log))
                    """, [.int(dedupeBefore)])
                try db.run("DELETE FROM traces WHERE ended_at < ?", [.int(tracesBefore)])
            } catch {
                throw .writeFailed("\(db.path): \(error)")
            }
        }
    }
}

/// Copies the WAL back into the database file every half second from its own thread and
/// connection. PASSIVE checkpoints never block the writer, so the fsync they need stays off the
/// loop thread.
///
/// PASSIVE alone does not bound the WAL: SQLite starts writing the log from its beginning again
/// only when a writer finds every frame copied back, and under steady load a commit always lands
/// while a checkpoint runs, so the file grew by every commit (490 MB in 40 s at 1,800 webhooks a
/// second). Once it passes `walLimitBytes`, a RESTART checkpoint follows the PASSIVE one: with
/// nearly every frame already copied it holds the writer back only for the last few frames and
/// one fsync, and the next commit writes the log from its start again, over the same blocks (no
/// file to regrow, as after TRUNCATE); `journal_size_limit` trims the file back to the limit then.
final class Checkpointer: Sendable {
    let path: String
    let walLimitBytes: Int
    private let stopped = Mutex(false)
    private let finished = DispatchSemaphore(value: 0)
    private let started = Mutex(false)
    /// RESTART checkpoints that completed (the log starts over at the next commit).
    let restarts = Mutex(0)

    init(path: String, walLimitBytes: Int = 64 << 20) {
        self.path = path
        self.walLimitBytes = walLimitBytes
    }

    func start() {
        started.withLock { $0 = true }
        let path = self.path
        Thread { [self] in
            defer { finished.signal() }
            guard let db = try? Database(path: path) else { return }
            while !stopped.withLock({ $0 }) {
                usleep(500_000)
                _ = try? db.run("PRAGMA wal_checkpoint(PASSIVE)")
                var info = stat()
                if stat(path + "-wal", &info) == 0, Int(info.st_size) > walLimitBytes,
                    let row = (try? db.run("PRAGMA wal_checkpoint(RESTART)"))?.first, row.first?.int == 0
                {
                    restarts.withLock { $0 += 1 }
                }
            }
        }.start()
    }

    func stop() {
        guard started.withLock({ $0 }) else { return }
        stopped.withLock { $0 = true }
        finished.wait()
    }
}
