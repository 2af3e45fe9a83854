import CallflowCore
import CallflowRuntime
import CallflowServer
import Foundation
import SQLite
import Testing

@Suite struct SQLiteStoreTests {
    static func tempDB() -> String {
        FileManager.default.temporaryDirectory.appendingPathComponent("callflow-store-\(UUID()).db").path
    }

    static func state(_ id: String, step: Int) -> CallState {
        var s = CallState(
            callControlID: id, flowRevision: "rev1", flow: "main", node: "menu", step: step, waiting: .gatherEnded,
            vars: ["account": "1234", "crm": ["tier": "gold"]],
            facts: CallFacts(from: "+13125550101", to: "+13125550100", direction: "inbound", connectionID: "conn"))
        s.sensitiveVars = ["account"]
        s.trace = [TraceEntry(at: 10, step: step, kind: .node, detail: "main/menu", edge: "next")]
        return s
    }

    @Test func batchesCommitAtomicallyAndLoadBack() throws {
        let path = Self.tempDB()
        defer { for s in ["", "-wal", "-shm"] { try? FileManager.default.removeItem(atPath: path + s) } }
        let store = try SQLiteCallStore(path: path, synchronous: .normal)
        var batch = StoreBatch()
        batch.upserts["v3:a"] = Self.state("v3:a", step: 3)
        batch.upserts["v3:b"] = Self.state("v3:b", step: 5)
        batch.dedupe = [(42, 100), (UInt64.max, 101)]
        let speak = CallCommand(callControlID: "v3:a", action: "speak", body: ["payload": "Hi", "voice": "female", "command_id": "cf-a-3-1"])
        batch.outbox = [speak, CallCommand(callControlID: "v3:b", action: "answer", body: ["command_id": "cf-b-5-1"])]
        batch.timersAdded = [("v3:a#3", "v3:a", 5000)]
        batch.httpAdded = [
            ("v3:b", HTTPCall(id: "v3:b#5", method: "GET", url: "https://x", headers: [:], body: nil, timeoutMs: 100, idempotencyKey: "k"))
        ]
        batch.dials = ["tok": PendingDial(flow: "reminder", vars: [:], from: "+1", to: "+2", connectionID: "c", at: 5)]
        batch.revisions = ["rev1": ["main": Array("{}".utf8)]]
        let seqs = try store.commit(batch)
        #expect(seqs.count == 2 && seqs[0] < seqs[1])

        var next = StoreBatch()
        next.ended["v3:b"] = ([TraceEntry(at: 20, step: 6, kind: .note, detail: "ended: hangup")], 20)
        next.sent = [seqs[1]]
        next.httpRemoved = ["v3:b#5"]
        _ = try store.commit(next)

        let reopened = try SQLiteCallStore(path: path, synchronous: .full)
        let snapshot = try reopened.load(now: 200)
        var expected = Self.state("v3:a", step: 3)
        expected.trace = []  // live calls are stored without their trace; it is stored when they end
        for name in expected.sensitiveVars { expected.vars[name] = nil }  // sensitive digits never reach the disk
        #expect(snapshot.calls == [expected])
        #expect(snapshot.outbox.map(\.seq) == [seqs[0]])
        #expect(snapshot.outbox.first?.command == speak)
        #expect(snapshot.timers.map(\.id) == ["v3:a#3"])
        #expect(snapshot.http.isEmpty)
        #expect(Set(snapshot.dedupe.map(\.key)) == [42, UInt64.max])
        #expect(snapshot.dials["tok"]?.flow == "reminder")
        #expect(snapshot.revisions["rev1"]?["main"] == Array("{}".utf8))
        #expect(reopened.finishedTrace("v3:b")?.first?.detail == "ended: hangup")
        try reopened.prune(dedupeBefore: 101, tracesBefore: 21)
        let pruned = try reopened.load(now: 200)
        #expect(pruned.dedupe.map(\.key) == [UInt64.max])
        #expect(reopened.finishedTrace("v3:b") == nil)
    }

    @Test func unreadableFilesAreClearErrors() throws {
        let path = Self.tempDB()
        defer { try? FileManager.default.removeItem(atPath: path) }
        try Data("this is not a database, not even close; it is just some text padded out to be long".utf8).write(to: URL(fileURLWithPath: path))
        #expect {
            _ = try SQLiteCallStore(path: path, synchronous: .normal)
        } throws: { error in
            "\(error)".hasPrefix("store unavailable: \(path)")
        }
    }

    /// A file written by a build with schema 1 (webhook ids in `dedupe`, keyed by their hash) opens
    /// as schema 2 with every id kept, oldest first, and the old table gone.
    @Test func schema1FilesMigrateKeepingEveryWebhookID() throws {
        let path = Self.tempDB()
        defer { for s in ["", "-wal", "-shm"] { try? FileManager.default.removeItem(atPath: path + s) } }
        do {
            let old = try Database(path: path)
            try old.execute(
                """
                PRAGMA journal_mode=WAL;
                CREATE TABLE meta(key TEXT PRIMARY KEY, value INTEGER NOT NULL);
                CREATE TABLE calls(id TEXT PRIMARY KEY, state BLOB NOT NULL);
                CREATE TABLE outbox(seq INTEGER PRIMARY KEY AUTOINCREMENT, command BLOB NOT NULL);
                CREATE TABLE dedupe(key INTEGER PRIMARY KEY, at INTEGER NOT NULL);
                CREATE INDEX dedupe_at ON dedupe(at);
                INSERT INTO meta(key, value) VALUES('schema', 1);
                INSERT INTO dedupe(key, at) VALUES(7, 300), (-1, 100), (42, 200);
                """)
        }
        let store = try SQLiteCallStore(path: path, synchronous: .normal)
        #expect(try store.load(now: 400).dedupe.map(\.key) == [UInt64.max, 42, 7])
        let check = try Database(path: path)
        #expect(try check.run("SELECT value FROM meta WHERE key = 'schema'").first?.first?.int == 2)
        #expect(try check.run("SELECT count(*) FROM sqlite_master WHERE name IN ('dedupe', 'dedupe_at')").first?.first?.int == 0)

        var batch = StoreBatch()
        batch.dedupe = [(99, 400)]
        _ = try store.commit(batch)
        #expect(try SQLiteCallStore(path: path, synchronous: .normal).load(now: 400).dedupe.map(\.key) == [UInt64.max, 42, 7, 99])
    }

    /// Pruning deletes the ids older than the cutoff from the log's old end: none, some, or all.
    @Test(arguments: [(50, [1, 2, 3, 4]), (250, [3, 4]), (1000, [])] as [(Int64, [UInt64])])
    func pruneDropsTheExpiredEndOfTheLog(cutoff: Int64, kept: [UInt64]) throws {
        let path = Self.tempDB()
        defer { for s in ["", "-wal", "-shm"] { try? FileManager.default.removeItem(atPath: path + s) } }
        let store = try SQLiteCallStore(path: path, synchronous: .normal)
        var batch = StoreBatch()
        batch.dedupe = [(1, 100), (2, 200), (3, 300), (4, 400)]
        _ = try store.commit(batch)
        try store.prune(dedupeBefore: cutoff, tracesBefore: 0)
        #expect(try store.load(now: 400).dedupe.map(\.key) == kept)
        // Ids seen after a prune that emptied the log are kept and read back in order.
        var later = StoreBatch()
        later.dedupe = [(5, 500), (6, 501)]
        _ = try store.commit(later)
        #expect(try store.load(now: 500).dedupe.map(\.key) == kept + [5, 6])
    }

    @Test func aNewerSchemaIsAClearError() throws {
        let path = Self.tempDB()
        defer { for s in ["", "-wal", "-shm"] { try? FileManager.default.removeItem(atPath: path + s) } }
        do {
            let newer = try Database(path: path)
            try newer.execute("CREATE TABLE meta(key TEXT PRIMARY KEY, value INTEGER NOT NULL); INSERT INTO meta VALUES('schema', 3);")
        }
        #expect {
            _ = try SQLiteCallStore(path: path, synchronous: .normal)
        } throws: { error in
            "\(error)".contains("has schema 3; this build reads 2")
        }
    }
}

/// The WAL stays bounded under commits that never pause (PASSIVE checkpoints alone never let the
/// log start over, so it grew by every commit while the server ran).
@Suite struct WALBoundTests {
    @Test func theLogStartsOverOncePastItsLimitWhileCommitsContinue() throws {
        let path = SQLiteStoreTests.tempDB()
        defer { for s in ["", "-wal", "-shm"] { try? FileManager.default.removeItem(atPath: path + s) } }
        let limit = 256 << 10
        let store = try SQLiteCallStore(path: path, synchronous: .normal, walLimitBytes: limit)
        func walSize() -> Int { ((try? FileManager.default.attributesOfItem(atPath: path + "-wal"))?[.size] as? Int) ?? 0 }
        var commits = 0
        var written = 0
        let deadline = Date().addingTimeInterval(30)
        // Commit without pause until the checkpointer has started the log over twice.
        while store.walRestarts < 2 && Date() < deadline {
            var batch = StoreBatch()
            for i in 0..<8 { batch.upserts["v3:c\(commits)-\(i)"] = SQLiteStoreTests.state("v3:c\(commits)-\(i)", step: commits) }
            batch.dedupe = [(UInt64(commits), Int64(commits))]
            _ = try store.commit(batch)
            commits += 1
            written += 8 * 4096
        }
        #expect(store.walRestarts >= 2, "the log was started over while commits went on (\(commits) commits)")
        let high = walSize()
        for _ in 0..<50 {
            var batch = StoreBatch()
            batch.dedupe = [(UInt64(commits), Int64(commits))]
            commits += 1
            _ = try store.commit(batch)
        }
        #expect(walSize() <= max(high, limit * 2), "commits after a restart reuse the log's blocks")
        #expect(walSize() < written, "the WAL is not every page ever written: \(walSize()) of \(written) bytes")
    }
}
