import CLibevent
import DequeModule
import Dispatch
import Glibc
import Synchronization

/// One long-lived thread that runs blocking jobs (disk writes) in the order they were submitted,
/// handing each result back to the loop, in the same order, on the loop's thread.
///
/// Why not `EventLoop.offload`: that starts a thread per job, which suits a rare DNS lookup but
/// not a store commit every few webhooks, and it promises no order. Here the loop keeps serving
/// sockets while a job waits for the disk, and the caller decides what may overlap (the store
/// keeps one commit in flight). Results cross threads as `Sendable` values; the closures that
/// consume them never leave the loop.
public final class LoopWorker {
    private let loop: EventLoop
    private let shared: Shared
    /// The loop's side of each submitted job, oldest first: runs with that job's result.
    private var waiting = Deque<(any Sendable) -> Void>()
    private var wake: OpaquePointer?
    /// True until the thread runs, so a failed `init` (whose `deinit` still runs) waits for nothing.
    private var stopped = true

    /// The jobs not yet run and the results not yet taken, under one lock.
    final class Shared: Sendable {
        let state = Mutex(State())
        let jobsReady = DispatchSemaphore(value: 0)
        let finished = DispatchSemaphore(value: 0)
    }

    struct State: ~Copyable {
        var jobs = Deque<@Sendable () -> any Sendable>()
        var results: [any Sendable] = []
    }

    /// Starts the thread. Results arrive through a priority-0 event (as urgent tasks do), so a
    /// finished commit's replies go out before more input is read.
    public init(loop: EventLoop) throws(EventLoopError) {
        loop.assertOnLoop()
        self.loop = loop
        let shared = Shared()
        self.shared = shared
        let me = Unmanaged.passUnretained(self).toOpaque()
        guard
            let wake = event_new(
                loop.base, -1, 0,
                { _, _, arg in
                    guard let arg else { return }
                    Unmanaged<LoopWorker>.fromOpaque(arg).takeUnretainedValue().deliver()
                }, me)
        else { throw .libevent(function: "event_new(worker)", code: -1) }
        let rc = event_priority_set(wake, 0)
        guard rc == 0 else {
            event_free(wake)
            throw .libevent(function: "event_priority_set", code: rc)
        }
        self.wake = wake
        let wakeEvent = EventPointer(raw: wake)
        let started = detachedThread {
            defer { shared.finished.signal() }
            while true {
                shared.jobsReady.wait()
                let job: (@Sendable () -> any Sendable)? = shared.state.withLock { state in
                    state.jobs.popFirst()
                }
                guard let job else { return }  // woken with nothing to do: stop
                let result = job()
                shared.state.withLock { $0.results.append(result) }
                event_active(wakeEvent.raw, Int32(EV_TIMEOUT), 0)
            }
        }
        guard started else {
            self.wake = nil
            event_free(wake)
            throw .libevent(function: "pthread_create(worker)", code: -1)
        }
        stopped = false
    }

    /// Finishes the job that is running and those queued, without delivering their results (the
    /// loop is going away), then ends the thread.
    deinit {
        stop()
        if let wake { event_free(wake) }
    }

    /// Jobs submitted and not yet delivered back to the loop.
    public var pending: Int { waiting.count }

    /// Runs `work` on the worker's thread after every job submitted before it, then `then` with
    /// its result on the loop.
    public func submit<T: Sendable>(_ work: @escaping @Sendable () -> T, then: @escaping (T) -> Void) {
        loop.assertOnLoop()
        precondition(!stopped, "LoopWorker used after stop()")
        waiting.append { result in
            // Results come back in submission order, so this one has the type this job made.
            if let value = result as? T { then(value) }
        }
        shared.state.withLock { $0.jobs.append { work() } }
        shared.jobsReady.signal()
    }

    /// Waits for the jobs already submitted to finish, then ends the thread. Their results are not
    /// delivered. Idempotent.
    public func stop() {
        guard !stopped else { return }
        stopped = true
        shared.jobsReady.signal()  // an empty queue at the end of the line tells the thread to stop
        shared.finished.wait()
    }

    private func deliver() {
        let results = shared.state.withLock { state -> [any Sendable] in
            let taken = state.results
            state.results = []
            return taken
        }
        for result in results {
            guard let then = waiting.popFirst() else { return }
            then(result)
        }
    }
}
