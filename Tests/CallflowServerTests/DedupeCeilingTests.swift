import CallflowCore
import CallflowRuntime
import CallflowServer
import Foundation
import Testing

@Suite struct DedupeCeilingTests {
    @Test func theConfigKeyIsReadAndChecked() throws {
        #expect(CallflowConfig().store.dedupeMaxBytes == 64 << 20)
        let ok = try ConfigLoader.decode(try JSONParser.parse(#"{"store":{"dedupe_max_bytes":2097152}}"#), path: "c.json")
        #expect(ok.store.dedupeMaxBytes == 2 << 20)
        #expect(throws: ConfigError.self) {
            _ = try ConfigLoader.decode(try JSONParser.parse(#"{"store":{"dedupe_max_bytes":1000}}"#), path: "c.json")
        }
        do {
            _ = try ConfigLoader.decode(try JSONParser.parse(#"{"store":{"dedupe_max_bytes":"64MB"}}"#), path: "c.json")
            Issue.record("a string was accepted")
        } catch { #expect("\(error)".contains("store.dedupe_max_bytes")) }
    }

    /// A store holding more webhook ids of the last hour than the ceiling allows: the server keeps
    /// the newest, counts the rest in `callflow_dedupe_evicted_early_total`, a redelivery of a kept
    /// id is still a duplicate, and one of a forgotten id is applied again (the documented cost).
    @Test func restoreAndIngestRespectTheCeiling() throws {
        let waker = LoopWaker()
        let api = try FakeHTTPServer.waking(waker) { _, _ in .status(200, #"{"data":{"result":"ok"}}"#) }
        defer { api.stop() }
        let db = FileManager.default.temporaryDirectory.appendingPathComponent("callflow-ceiling-\(UUID()).db").path
        defer { for suffix in ["", "-wal", "-shm"] { try? FileManager.default.removeItem(atPath: db + suffix) } }
        let now = Int64(Date().timeIntervalSince1970)
        let stored = 60_000
        do {
            let store = try SQLiteCallStore(path: db, synchronous: .normal)
            var batch = StoreBatch()
            batch.dedupe = (0..<stored).map { (DedupeWindow.storedKey("evt-\($0)"), now - 600 + Int64($0 / 1000)) }
            _ = try store.commit(batch)
        }
        var config = try CrashRecoveryTests.storeConfig(api: api, db: db)
        config.store.dedupeMaxBytes = 1 << 20
        let kept = (1 << 20) / DedupeWindow.bytesPerID
        let server = try InMemoryServer(config: config, waker: waker)
        func evicted() throws -> String {
            let metrics = try server.get("/metrics").body
            return metrics.split(separator: "\n").first { $0.hasPrefix("callflow_dedupe_evicted_early_total ") }.map(String.init) ?? "(missing)"
        }
        #expect(try evicted() == "callflow_dedupe_evicted_early_total \(stored - kept)")

        let newest = IngressTests.event(id: "evt-\(stored - 1)")
        #expect(try server.signedWebhook(newest).status == 200)
        let metrics = try server.get("/metrics").body
        #expect(metrics.contains(#"callflow_webhooks_total{event_type="call.initiated",outcome="duplicate"} 1"#))

        let forgotten = IngressTests.event(id: "evt-0")
        #expect(try server.signedWebhook(forgotten).status == 200)
        #expect(try server.runLoop { !api.requests.isEmpty })
        #expect(api.requests.contains { $0.path.hasSuffix("/answer") }, "the forgotten id was applied")
        // Recording it forgot the oldest id held: one more early eviction.
        #expect(try evicted() == "callflow_dedupe_evicted_early_total \(stored - kept + 1)")
    }
}
