import CLibevent
import Synchronization

#if canImport(Glibc)
    import Glibc
#endif

/// Why the event loop or the HTTP server could not be set up. C failures carry the function name.
public enum EventLoopError: Error, Sendable, Equatable, CustomStringConvertible {
    /// A libevent call returned a failure code or a null object.
    case libevent(function: String, code: Int32)
    /// The listening socket could not be bound (port in use, bad address, no permission).
    case bindFailed(host: String, port: Int)

    public var description: String {
        switch self {
        case .libevent(let function, let code): return "\(function) failed (\(code))"
        case .bindFailed(let host, let port):
            return "cannot listen on \(host):\(port) (address in use, invalid, or not permitted)"
        }
    }
}

private let threadingEnabled: Int32 = evthread_use_pthreads()

/// The one libevent loop of the process.
///
/// Loop-confined: created, used and run on one thread (checked with a precondition), because
/// libevent callbacks are plain C calls that cannot hop to an actor. The only cross-thread entry
/// is `handle.stop()`, which libevent makes safe once `evthread_use_pthreads` ran.
public final class EventLoop {
    package let base: OpaquePointer
    private let owner: pthread_t
    /// Shared with every `LoopHandle`; cleared before the base is freed.
    private let shared: LoopHandle.Shared
    private var signalEvents: [OpaquePointer] = []
    private var signalHandlers: [Int32: () -> Void] = [:]
    private var readHandlers: [Int32: () -> Void] = [:]
    /// The libevent event watching each fd of `onReadable`, freed by `stopReading`.
    private var readEvents: [Int32: OpaquePointer] = [:]
    private var timers: [Int: (event: OpaquePointer, action: () -> Void)] = [:]
    private var nextTimerID = 0

    public init() throws(EventLoopError) {
        guard threadingEnabled == 0 else { throw .libevent(function: "evthread_use_pthreads", code: threadingEnabled) }
        // Two priorities: 0 for urgent tasks (the store's commit), 1 (the default) for all I/O. After
        // every `urgentEvery` priority-1 callbacks libevent looks for pending priority-0 work, so an
        // urgent task runs within a few callbacks instead of at the end of a long iteration.
        guard let config = event_config_new() else { throw .libevent(function: "event_config_new", code: -1) }
        defer { event_config_free(config) }
        let rc = event_config_set_max_dispatch_interval(config, nil, EventLoop.urgentEvery, 1)
        guard rc == 0 else { throw .libevent(function: "event_config_set_max_dispatch_interval", code: rc) }
        guard let base = event_base_new_with_config(config) else { throw .libevent(function: "event_base_new_with_config", code: -1) }
        let prio = event_base_priority_init(base, 2)
        guard prio == 0 else {
            event_base_free(base)
            throw .libevent(function: "event_base_priority_init", code: prio)
        }
        self.base = base
        self.owner = pthread_self()
        self.shared = LoopHandle.Shared(base)
        signal(SIGPIPE, SIG_IGN)
    }

    deinit {
        shared.invalidate()
        for event in signalEvents { event_free(event) }
        for event in readEvents.values { event_free(event) }
        for timer in timers.values { event_free(timer.event) }
        event_base_free(base)
    }

    package func assertOnLoop() {
        precondition(pthread_equal(owner, pthread_self()) != 0, "EventLoop used off its thread")
    }

    /// The `event_base`, for adapters of other C libraries that run their sockets on this loop
    /// (hiredis). Use it on the loop thread only.
    public var eventBase: OpaquePointer {
        assertOnLoop()
        return base
    }

    /// A thread-safe handle that can stop the loop from anywhere.
    public var handle: LoopHandle { LoopHandle(shared: shared) }

    /// Runs until `stop()` or until nothing is left to wait for.
    public func run() throws(EventLoopError) {
        assertOnLoop()
        let rc = event_base_dispatch(base)
        guard rc >= 0 else { throw .libevent(function: "event_base_dispatch", code: rc) }
    }

    /// Calls `action` on the loop thread each time the process receives `signalNumber`.
    public func onSignal(_ signalNumber: Int32, _ action: @escaping () -> Void) throws(EventLoopError) {
        assertOnLoop()
        signalHandlers[signalNumber] = action
        let arg = Unmanaged.passUnretained(self).toOpaque()
        guard
            let event = event_new(
                base, signalNumber, Int16(EV_SIGNAL | EV_PERSIST),
                { signo, _, arg in
                    guard let arg else { return }
                    let loop = Unmanaged<EventLoop>.fromOpaque(arg).takeUnretainedValue()
                    loop.signalHandlers[signo]?()
                }, arg)
        else { throw .libevent(function: "event_new(signal)", code: -1) }
        let rc = event_add(event, nil)
        guard rc == 0 else {
            event_free(event)
            throw .libevent(function: "event_add(signal)", code: rc)
        }
        signalEvents.append(event)
    }

    /// Calls `action` on the loop whenever `fd` is readable (stdin for `callflow dev`).
    public func onReadable(_ fd: Int32, _ action: @escaping () -> Void) throws(EventLoopError) {
        assertOnLoop()
        stopReading(fd)
        readHandlers[fd] = action
        let arg = Unmanaged.passUnretained(self).toOpaque()
        guard
            let event = event_new(
                base, fd, Int16(EV_READ | EV_PERSIST),
                { fd, _, arg in
                    guard let arg else { return }
                    Unmanaged<EventLoop>.fromOpaque(arg).takeUnretainedValue().readHandlers[fd]?()
                }, arg)
        else { throw .libevent(function: "event_new(read)", code: -1) }
        let rc = event_add(event, nil)
        guard rc == 0 else {
            event_free(event)
            throw .libevent(function: "event_add(read)", code: rc)
        }
        readEvents[fd] = event
    }

    /// Events libevent has added (pending) on this loop: what tests read to see that one is gone.
    package var eventsAdded: Int { Int(event_base_get_num_events(base, EVENT_BASE_COUNT_ADDED)) }

    /// Stops watching `fd`. The event goes too: a persistent read event left on a descriptor at
    /// its end (piped input that closed) would fire on every pass of the loop, a busy loop.
    public func stopReading(_ fd: Int32) {
        readHandlers[fd] = nil
        guard let event = readEvents.removeValue(forKey: fd) else { return }
        event_del(event)
        event_free(event)
    }

    /// Runs `action` once on the loop after `milliseconds`. Returns an id for `cancelTimer`.
    @discardableResult
    public func schedule(afterMilliseconds milliseconds: Int, _ action: @escaping () -> Void) throws(EventLoopError) -> Int {
        assertOnLoop()
        nextTimerID += 1
        let id = nextTimerID
        let box = TimerContext(loop: self, id: id)
        let arg = Unmanaged.passRetained(box).toOpaque()
        guard
            let event = event_new(
                base, -1, 0,
                { _, _, arg in
                    guard let arg else { return }
                    let box = Unmanaged<TimerContext>.fromOpaque(arg).takeRetainedValue()
                    guard let loop = box.loop, let timer = loop.timers.removeValue(forKey: box.id) else { return }
                    event_free(timer.event)
                    timer.action()
                }, arg)
        else {
            Unmanaged<TimerContext>.fromOpaque(arg).release()
            throw .libevent(function: "event_new(timer)", code: -1)
        }
        var tv = timeval(tv_sec: milliseconds / 1000, tv_usec: Int((milliseconds % 1000) * 1000))
        let rc = event_add(event, &tv)
        guard rc == 0 else {
            event_free(event)
            Unmanaged<TimerContext>.fromOpaque(arg).release()
            throw .libevent(function: "event_add(timer)", code: rc)
        }
        timers[id] = (event, action)
        return id
    }

    /// A task run at high priority whenever `trigger()` is called (once per trigger burst): after
    /// the callback that triggered it, before other I/O.
    public func urgentTask(_ action: @escaping () -> Void) throws(EventLoopError) -> LoopTask {
        try task(priority: 0, action)
    }

    /// A task run at normal priority whenever `trigger()` is called (once per trigger burst): after
    /// the callbacks libevent already has ready in this pass of the loop, before it polls again.
    /// Work that many of those callbacks add to (a group commit) then runs once for all of them.
    public func endOfPassTask(_ action: @escaping () -> Void) throws(EventLoopError) -> LoopTask {
        try task(priority: 1, action)
    }

    private func task(priority: Int32, _ action: @escaping () -> Void) throws(EventLoopError) -> LoopTask {
        assertOnLoop()
        let task = LoopTask(action: action)
        let arg = Unmanaged.passUnretained(task).toOpaque()
        guard
            let event = event_new(
                base, -1, 0,
                { _, _, arg in
                    guard let arg else { return }
                    Unmanaged<LoopTask>.fromOpaque(arg).takeUnretainedValue().run()
                }, arg)
        else { throw .libevent(function: "event_new(urgent)", code: -1) }
        let rc = event_priority_set(event, priority)
        guard rc == 0 else {
            event_free(event)
            throw .libevent(function: "event_priority_set", code: rc)
        }
        task.event = event
        return task
    }

    /// Runs blocking `work` (a DNS lookup) on a thread of its own and `then` with its result on this
    /// loop, so the loop never waits for it. libevent's `event_active` is thread-safe once
    /// `evthread_use_pthreads` ran, and wakes the loop.
    public func offload<T: Sendable>(_ work: @escaping @Sendable () -> T, then: @escaping (T) -> Void) throws(EventLoopError) {
        assertOnLoop()
        let box = OffloadResult<T>()
        let job = OffloadJob(result: box, then: then)
        let arg = Unmanaged.passRetained(job as AnyOffloadJob).toOpaque()
        guard
            let event = event_new(
                base, -1, 0,
                { _, _, arg in
                    guard let arg else { return }
                    let job = Unmanaged<AnyOffloadJob>.fromOpaque(arg).takeRetainedValue()
                    job.finish()
                }, arg)
        else {
            Unmanaged<AnyOffloadJob>.fromOpaque(arg).release()
            throw .libevent(function: "event_new(offload)", code: -1)
        }
        job.event = EventPointer(raw: event)
        let wake = EventPointer(raw: event)
        let started = detachedThread {
            let value = work()
            box.value.withLock { $0 = value }
            event_active(wake.raw, Int32(EV_TIMEOUT), 0)
        }
        if !started {
            // No thread: do the work here rather than never.
            box.value.withLock { $0 = work() }
            event_active(event, Int32(EV_TIMEOUT), 0)
        }
    }

    /// Cancels a pending timer; a no-op if it already fired.
    public func cancelTimer(_ id: Int) {
        assertOnLoop()
        guard let timer = timers.removeValue(forKey: id) else { return }
        // The C callback owned one retain of its context; reclaim it before freeing the event.
        if let arg = event_get_callback_arg(timer.event) {
            Unmanaged<TimerContext>.fromOpaque(arg).release()
        }
        event_free(timer.event)
    }

    public var pendingTimerCount: Int { timers.count }

    /// Milliseconds on the monotonic clock (deadlines; unaffected by wall-clock steps).
    public var monotonicMs: Int64 { Clocks.monotonicMs() }

    /// I/O callbacks between checks for urgent tasks (latency bound vs. batching).
    public static let urgentEvery: Int32 = 16
}

private final class TimerContext {
    weak var loop: EventLoop?
    let id: Int
    init(loop: EventLoop, id: Int) {
        self.loop = loop
        self.id = id
    }
}

/// Stops a loop from any thread, and is harmless after the loop is gone.
///
/// `event_base_loopexit` is thread-safe once `evthread_use_pthreads` ran; the mutex makes the
/// call and the loop's teardown exclusive, so a late `stop()` never touches a freed base.
public struct LoopHandle: Sendable {
    final class Shared: Sendable {
        private let base: Mutex<BasePointer?>

        init(_ base: OpaquePointer) { self.base = Mutex(BasePointer(raw: base)) }

        func invalidate() { base.withLock { $0 = nil } }

        func stop() {
            base.withLock { pointer in
                if let pointer { event_base_loopexit(pointer.raw, nil) }
            }
        }
    }

    /// The base pointer, only ever used under `Shared`'s lock.
    struct BasePointer: @unchecked Sendable {
        let raw: OpaquePointer
    }

    let shared: Shared

    public func stop() { shared.stop() }
}

private final class ThreadBody: Sendable {
    let run: @Sendable () -> Void
    init(_ run: @escaping @Sendable () -> Void) { self.run = run }
}

/// Starts `body` on a detached POSIX thread; false if none could be created.
func detachedThread(_ body: @escaping @Sendable () -> Void) -> Bool {
    let arg = Unmanaged.passRetained(ThreadBody(body)).toOpaque()
    var thread = pthread_t()
    var attributes = pthread_attr_t()
    pthread_attr_init(&attributes)
    defer { pthread_attr_destroy(&attributes) }
    pthread_attr_setdetachstate(&attributes, Int32(PTHREAD_CREATE_DETACHED))
    let rc = pthread_create(
        &thread, &attributes,
        { arg in
            guard let arg else { return nil }
            Unmanaged<ThreadBody>.fromOpaque(arg).takeRetainedValue().run()
            return nil
        }, arg)
    if rc != 0 { Unmanaged<ThreadBody>.fromOpaque(arg).release() }
    return rc == 0
}

/// An event pointer handed to the thread of an `offload` (only for the thread-safe `event_active`).
struct EventPointer: @unchecked Sendable {
    let raw: OpaquePointer
}

/// The loop side of an `offload`: runs `then` once, on the loop, then frees its event.
class AnyOffloadJob {
    var event: EventPointer?
    func finish() {}
}

final class OffloadJob<T: Sendable>: AnyOffloadJob {
    let result: OffloadResult<T>
    private let then: (T) -> Void

    init(result: OffloadResult<T>, then: @escaping (T) -> Void) {
        self.result = result
        self.then = then
    }

    override func finish() {
        if let event { event_free(event.raw) }
        event = nil
        if let value = result.value.withLock({ $0.take() }) { then(value) }
    }
}

/// What the offload thread may touch besides the event: the result, under a lock.
final class OffloadResult<T: Sendable>: Sendable {
    let value = Mutex<T?>(nil)
}

/// See `EventLoop.urgentTask` and `endOfPassTask`. Owned by the caller; freeing it cancels a pending run.
public final class LoopTask {
    fileprivate var event: OpaquePointer?
    private let action: () -> Void
    private var pending = false

    fileprivate init(action: @escaping () -> Void) { self.action = action }

    deinit { if let event { event_free(event) } }

    public func trigger() {
        guard !pending, let event else { return }
        pending = true
        event_active(event, Int32(EV_TIMEOUT), 0)
    }

    fileprivate func run() {
        pending = false
        action()
    }
}
