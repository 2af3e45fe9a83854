import CallflowCore
import CallflowLoop
import CallflowRuntime
import EventHTTP
import Foundation
import Synchronization
import Testing

@testable import CallflowServer

#if canImport(Glibc)
    import Glibc
#endif

/// The store is written on a thread of its own: the loop keeps serving while the disk is slow, and
/// still nothing is answered or sent before it is stored.
@Suite(.serialized) struct StoreWriterTests {
    /// A memory store whose commits wait while `held` (a disk that stalls), counting them.
    final class StallingStore: CallStore {
        var commitKind: CommitKind { .disk }
        let inner = MemoryStore()
        let held = Mutex(false)
        let commits = Mutex(0)
        let entered = Mutex(0)

        func load(now: Int64) throws(StoreError) -> StoreSnapshot { try inner.load(now: now) }
        func commit(_ batch: StoreBatch) throws(StoreError) -> [Int64] {
            entered.withLock { $0 += 1 }
            while held.withLock({ $0 }) { usleep(5_000) }
            commits.withLock { $0 += 1 }
            return try inner.commit(batch)
        }
        func finishedTrace(_ call: String) -> [TraceEntry]? { inner.finishedTrace(call) }
        func prune(dedupeBefore: Int64, tracesBefore: Int64) throws(StoreError) {
            try inner.prune(dedupeBefore: dedupeBefore, tracesBefore: tracesBefore)
        }
    }

    /// POSTs on a thread of its own; `wait` returns the status (nil on timeout).
    final class PendingPost: Sendable {
        let status = Mutex<Int?>(nil)
        let done = DispatchSemaphore(value: 0)
        init(port: Int, body: [UInt8]) {
            Thread { [self] in
                let response = try? IngressTests.post(port, body, headers: IngressTests.signed(body))
                status.withLock { $0 = response?.status ?? -1 }
                done.signal()
            }.start()
        }
        func wait(seconds: Double) -> Int? {
            guard done.wait(timeout: .now() + seconds) == .success else { return nil }
            return status.withLock { $0 }
        }
    }

    @Test func aStalledCommitLeavesTheLoopServingAndHoldsRepliesAndCommands() throws {
        let api = try FakeHTTPServer { _, _ in .status(200, #"{"data":{"result":"ok"}}"#) }
        defer { api.stop() }
        let store = StallingStore()
        let server = try TestServer(config: try CrashRecoveryTests.storeConfig(api: api, kind: .memory), store: store)
        defer { server.stop() }
        // The flow revision's own commit at start-up is done before the disk stalls.
        try #require(waitUntil { store.commits.withLock { $0 } >= 1 })
        let before = store.commits.withLock { $0 }
        store.held.withLock { $0 = true }

        let first = PendingPost(port: server.port, body: IngressTests.event(id: "evt-stall-1"))
        try #require(waitUntil { store.entered.withLock { $0 } > before })
        // The loop is not stuck in that commit: it answers at once...
        let health = try TestHTTP.request(port: server.port, method: "GET", path: "/healthz")
        #expect(health.status == 200)
        // ...and takes more input, which waits for the next commit, as the first does for its own.
        let second = PendingPost(port: server.port, body: IngressTests.event("call.answered", id: "evt-stall-2"))
        usleep(200_000)
        #expect(first.status.withLock { $0 } == nil, "no 200 before the webhook is stored")
        #expect(second.status.withLock { $0 } == nil)
        #expect(api.requests.isEmpty, "no command before its state is stored")

        #expect(try TestHTTP.request(port: server.port, method: "GET", path: "/readyz").status == 200, "a short wait is not a stall")

        store.held.withLock { $0 = false }
        #expect(first.wait(seconds: 10) == 200)
        #expect(second.wait(seconds: 10) == 200)
        #expect(api.waitFor(1).contains { $0.path.hasSuffix("/answer") })
        // The stalled commit, then the one that gathered what came during it.
        #expect(store.commits.withLock { $0 } - before >= 2)
        #expect(try TestHTTP.request(port: server.port, method: "GET", path: "/readyz").status == 200)

        // A commit that waits for the disk too long makes the server unready, so a load balancer
        // can send Telnyx's retries to another instance; ready again once the disk answers.
        store.held.withLock { $0 = true }
        let third = PendingPost(port: server.port, body: IngressTests.event("call.hangup", id: "evt-stall-3"))
        usleep(useconds_t(LocalLedger.stallLimitMs * 1000) + 300_000)
        let stalled = try TestHTTP.request(port: server.port, method: "GET", path: "/readyz")
        #expect(stalled.status == 503)
        #expect(stalled.body.contains("stalled"))
        store.held.withLock { $0 = false }
        _ = third.wait(seconds: 10)  // the test client gave up after 5 s; Telnyx would retry
        #expect(waitUntil { (try? TestHTTP.request(port: server.port, method: "GET", path: "/readyz").status) == 200 })
    }

    @Test func jobsRunInOrderOffTheLoopAndResultsComeBackInOrderOnIt() throws {
        let loop = try EventLoop()
        let worker = try LoopWorker(loop: loop)
        let loopThread = pthread_self()
        let ran = Mutex<[Int]>([])
        var delivered: [Int] = []
        var deliveredOnLoop = true
        for i in 0..<50 {
            worker.submit({ () -> Int in
                if i % 10 == 0 { usleep(2_000) }  // a slow job does not let a later one overtake it
                ran.withLock { $0.append(i) }
                return pthread_equal(pthread_self(), loopThread) == 0 ? i : -1
            }) { value in
                delivered.append(value)
                deliveredOnLoop = deliveredOnLoop && pthread_equal(pthread_self(), loopThread) != 0
                if delivered.count == 50 { loop.handle.stop() }
            }
        }
        #expect(worker.pending == 50)
        try loop.schedule(afterMilliseconds: 10_000) { loop.handle.stop() }
        try loop.run()
        #expect(ran.withLock { $0 } == Array(0..<50))
        #expect(delivered == Array(0..<50), "results in submission order, none computed on the loop thread")
        #expect(deliveredOnLoop)
        #expect(worker.pending == 0)
    }

    @Test func stopFinishesTheJobsAlreadySubmitted() throws {
        let loop = try EventLoop()
        let worker = try LoopWorker(loop: loop)
        let ran = Mutex(0)
        for _ in 0..<5 {
            worker.submit({
                usleep(10_000); ran.withLock { $0 += 1 }
            }) { _ in }
        }
        worker.stop()
        #expect(ran.withLock { $0 } == 5, "a commit handed to the writer is written even when the server stops")
    }

    private func waitUntil(seconds: Double = 10, _ condition: () -> Bool) -> Bool {
        let deadline = Date().addingTimeInterval(seconds)
        while Date() < deadline {
            if condition() { return true }
            usleep(10_000)
        }
        return condition()
    }
}
