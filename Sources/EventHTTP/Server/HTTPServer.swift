import CLibevent
import CallflowLoop
import Synchronization

#if canImport(Glibc)
    import Glibc
#endif

/// Limits that keep one client from holding the server.
public struct HTTPServerOptions: Sendable, Equatable {
    public var host: String
    /// 0 picks a free port (tests); read the real one from `boundPort`.
    public var port: Int
    /// Larger bodies are refused with 413 before the handler runs (and before they are read).
    public var maxBodyBytes: Int
    /// Larger request heads are refused with 431.
    public var maxHeaderBytes: Int
    /// A request must arrive whole (head and body) within this many seconds of its first byte, an
    /// idle keep-alive connection is closed after it, and so is a client that stops reading a reply.
    public var timeoutSeconds: Int
    /// Past this many open connections the server stops accepting until one closes.
    public var maxConnections: Int

    public init(
        host: String = "0.0.0.0", port: Int = 8080, maxBodyBytes: Int = 1 << 20, maxHeaderBytes: Int = 16 << 10,
        timeoutSeconds: Int = 10, maxConnections: Int = 4096
    ) {
        self.host = host
        self.port = port
        self.maxBodyBytes = maxBodyBytes
        self.maxHeaderBytes = maxHeaderBytes
        self.timeoutSeconds = timeoutSeconds
        self.maxConnections = maxConnections
    }
}

/// Servers by listener address: libevent calls a listener's error callback with the listener's
/// user pointer only, so this is how the callback finds the `HTTPServer` that owns the listener.
private let serversByListener = Mutex<[UInt: UInt]>([:])

/// An HTTP/1.1 server on the loop: libevent's listener and events, a hand-written parser
/// (`RequestParser`) and connection handling. The handler runs on the loop thread and must not block.
///
/// Why not evhttp, which earlier versions used: in libevent 2.1 (Debian's) it has no hook when a
/// connection is accepted (so `max_connections` could only count connections that had completed a
/// request), no deadline for a whole request (its timeout restarts on every byte, so a client
/// trickling a byte every few seconds held a connection forever), it took the first of two
/// `Content-Length` headers (request smuggling behind a proxy that reads the last), and it answered
/// its own errors with HTML pages. Owning the connection fixes all four; the parser is small,
/// pure and fuzzed.
public final class HTTPServer {
    /// Answers a request now, or returns `nil` after taking `request.deferReply()` to answer later.
    public typealias Handler = (borrowing HTTPRequest) -> HTTPResponse?

    let loop: EventLoop
    private var listener: OpaquePointer?
    private let handler: Handler
    let options: HTTPServerOptions
    private let maxConnections: Int
    private var connections: [Int32: Connection] = [:]
    public var openConnections: Int { connections.count }
    private var accepting = true
    private var stopped = false
    /// Accepting is paused after accept() failed (no file descriptor left), until this timer fires.
    private var backoffTimer: Int? = nil
    private var backoffMs = 0
    private var lastAcceptFailureMs: Int64 = 0
    private var lastAcceptReportMs: Int64 = -1_000_000
    private var failuresSinceReport = 0
    /// accept() failures since start (EMFILE, ENFILE, ENOBUFS, …).
    public private(set) var acceptFailures = 0
    /// Called on every failed accept(); with a report (a count since the last one) at most once per
    /// `acceptReportIntervalMs`, which the server logs. (libevent would otherwise log every failed
    /// attempt itself: millions a minute.)
    private let onAcceptFailure: ((_ report: String?) -> Void)?
    static let acceptReportIntervalMs: Int64 = 10_000
    public let boundPort: Int
    /// One read buffer for all connections: reads happen one at a time on the loop.
    var scratch = [UInt8](repeating: 0, count: 64 << 10)
    private var date = HTTPDate()

    public init(
        loop: EventLoop, options: HTTPServerOptions, onAcceptFailure: ((_ report: String?) -> Void)? = nil, handler: @escaping Handler
    ) throws(EventLoopError) {
        loop.assertOnLoop()
        self.loop = loop
        self.onAcceptFailure = onAcceptFailure
        self.handler = handler
        self.options = options
        self.maxConnections = max(1, options.maxConnections)
        guard let address = SocketAddress(host: options.host, port: options.port) else {
            throw .bindFailed(host: options.host, port: options.port)
        }
        let flags = LEV_OPT_CLOSE_ON_FREE | LEV_OPT_REUSEABLE | LEV_OPT_CLOSE_ON_EXEC | LEV_OPT_DISABLED
        let created = address.withSockaddr { sa, length in
            evconnlistener_new_bind(loop.base, nil, nil, flags, 1024, sa, length)
        }
        guard let created else { throw .bindFailed(host: options.host, port: options.port) }
        listener = created
        boundPort = SocketAddress.localPort(of: evconnlistener_get_fd(created)) ?? options.port
        let arg = Unmanaged.passUnretained(self).toOpaque()
        evconnlistener_set_cb(
            created,
            { _, fd, _, _, arg in
                guard let arg else {
                    close(fd)
                    return
                }
                Unmanaged<HTTPServer>.fromOpaque(arg).takeUnretainedValue().accepted(fd)
            }, arg)
        let key = UInt(bitPattern: Int(bitPattern: UnsafeRawPointer(created)))
        serversByListener.withLock { $0[key] = UInt(bitPattern: Int(bitPattern: arg)) }
        evconnlistener_set_error_cb(created) { listener, _ in
            guard let listener else { return }
            let code = errno
            let key = UInt(bitPattern: Int(bitPattern: UnsafeRawPointer(listener)))
            guard let server = serversByListener.withLock({ $0[key] }),
                let pointer = UnsafeRawPointer(bitPattern: Int(bitPattern: server))
            else { return }
            Unmanaged<HTTPServer>.fromOpaque(pointer).takeUnretainedValue().acceptFailed(code)
        }
        evconnlistener_enable(created)
    }

    deinit {
        // Closed without calling back: this object is going away.
        for connection in connections.values { connection.close(notifyServer: false) }
        if let listener {
            let key = UInt(bitPattern: Int(bitPattern: UnsafeRawPointer(listener)))
            _ = serversByListener.withLock { $0.removeValue(forKey: key) }
            evconnlistener_free(listener)
        }
        if let backoffTimer { loop.cancelTimer(backoffTimer) }
    }

    // MARK: accepting

    private func accepted(_ fd: Int32) {
        guard connections.count < maxConnections, !stopped else {
            close(fd)  // the listener is paused at the limit; only a burst within one accept pass lands here
            return
        }
        var one: Int32 = 1
        setsockopt(fd, Int32(IPPROTO_TCP), TCP_NODELAY, &one, socklen_t(MemoryLayout<Int32>.size))
        guard let connection = Connection(fd: fd, server: self) else {
            close(fd)
            return
        }
        connections[fd] = connection
        updateListener()
    }

    func closed(_ connection: Connection) {
        connections.removeValue(forKey: connection.fd)
        updateListener()
    }

    /// The listener accepts exactly when the server is not stopping, has room for a connection,
    /// and is not backing off after accept() failed.
    private func updateListener() {
        guard let listener else { return }
        let wanted = !stopped && connections.count < maxConnections && backoffTimer == nil
        guard wanted != accepting else { return }
        if wanted { evconnlistener_enable(listener) } else { evconnlistener_disable(listener) }
        accepting = wanted
    }

    /// accept() failed, almost always for want of a file descriptor (EMFILE/ENFILE). The waiting
    /// connection stays in the kernel's backlog, so the listener would be readable again at once
    /// and libevent would retry (and log) in a tight loop: pause accepting instead, 50 ms at first,
    /// doubling to 1 s while failures go on, and report at most once per interval with a count.
    func acceptFailed(_ code: Int32) {
        acceptFailures += 1
        failuresSinceReport += 1
        let now = HTTPServer.monotonicMs()
        backoffMs = now - lastAcceptFailureMs > 2_000 ? 50 : min(1_000, max(50, backoffMs * 2))
        lastAcceptFailureMs = now
        var report: String? = nil
        if now - lastAcceptReportMs >= HTTPServer.acceptReportIntervalMs {
            let reason = String(cString: strerror(code))
            report =
                "accept() failed: \(reason) (\(failuresSinceReport) time\(failuresSinceReport == 1 ? "" : "s") since the last report); "
                + "new connections wait in the backlog, retried every \(backoffMs) ms up to 1 s; open connections: \(connections.count)"
            failuresSinceReport = 0
            lastAcceptReportMs = now
        }
        onAcceptFailure?(report)
        if let backoffTimer { loop.cancelTimer(backoffTimer) }
        backoffTimer = nil
        do {
            backoffTimer = try loop.schedule(afterMilliseconds: backoffMs) { [weak self] in
                self?.backoffTimer = nil
                self?.updateListener()
            }
        } catch {
            // No timer: keep accepting rather than stop for good.
        }
        updateListener()
    }

    static func monotonicMs() -> Int64 {
        var ts = timespec()
        clock_gettime(CLOCK_MONOTONIC, &ts)
        return Int64(ts.tv_sec) * 1000 + Int64(ts.tv_nsec) / 1_000_000
    }

    /// Stops accepting new connections (graceful shutdown); open ones finish.
    public func stopAccepting() {
        loop.assertOnLoop()
        stopped = true
        updateListener()
    }

    // MARK: requests

    /// Runs the handler for one parsed request; the connection writes what it answers.
    func dispatch(_ request: ParsedRequest, on connection: Connection) -> HTTPResponse? {
        let pending = PendingReply(connection: connection, sequence: connection.sequence)
        pending.dispatching = true
        let response = handler(HTTPRequest(parsed: request, pending: pending))
        pending.dispatching = false
        if let response {
            pending.isDone = true
            return response
        }
        // Deferred, but sent before the handler returned (a reply that needed no wait).
        if let early = pending.early { return early }
        guard pending.taken else {
            pending.isDone = true
            return .json(500, Array(#"{"error":"handler gave no response"}"#.utf8))
        }
        connection.awaiting = pending
        return nil
    }

    /// The serialized status line and headers of `response` (the body follows separately).
    func head(of response: HTTPResponse, bodyCount: Int, close: Bool, keepAliveHeader: Bool) -> [UInt8] {
        var out = Array("HTTP/1.1 \(response.status) \(reasonPhrase(response.status))\r\n".utf8)
        out.reserveCapacity(160 + response.headers.count * 48)
        var hasLength = false
        for (name, value) in response.headers {
            let lower = name.lowercased()
            if lower == "content-length" { hasLength = true }
            if lower == "connection" { continue }
            out += name.utf8
            out += [58, 32]
            out += value.utf8
            out += [13, 10]
        }
        if !hasLength { out += "Content-Length: \(bodyCount)\r\n".utf8 }
        out += date.header(nowSeconds: Int(time(nil)))
        if close { out += "Connection: close\r\n".utf8 } else if keepAliveHeader { out += "Connection: keep-alive\r\n".utf8 }
        out += [13, 10]
        return out
    }
}

/// One accepted connection: reads, parses, hands requests to the server one at a time, writes
/// replies in order, and keeps the deadlines.
final class Connection {
    let fd: Int32
    unowned let server: HTTPServer
    private var readEvent: OpaquePointer?
    private var writeEvent: OpaquePointer?
    /// The connection's one deadline: idle keep-alive, the whole request from its first byte, or
    /// a reply the client is slow to read (a timer of its own: a persistent read event's timeout
    /// restarts whenever the socket is readable, and is not cleared by re-adding without one).
    private var timer: OpaquePointer?
    private var inbound: [UInt8] = []
    private var outbound: [UInt8] = []
    private var parser: RequestParser
    /// When the first byte of the request being read arrived (its deadline runs from then).
    private var requestStartedMs: Int64? = nil
    /// The reply the handler deferred; reading pauses until it is sent.
    var awaiting: PendingReply? = nil
    /// Counts requests, so a late `PendingReply` for an earlier one is recognised.
    private(set) var sequence = 0
    private var closeAfterWrite = false
    /// After an error reply: the write side is shut, the rest of the request is read and dropped
    /// for a moment, so the client sees the reply and not a reset.
    private var lingering = false
    private(set) var isClosed = false

    init?(fd: Int32, server: HTTPServer) {
        self.fd = fd
        self.server = server
        parser = RequestParser(maxHeaderBytes: server.options.maxHeaderBytes, maxBodyBytes: server.options.maxBodyBytes)
        let arg = Unmanaged.passUnretained(self).toOpaque()
        guard
            let read = event_new(
                server.loop.base, fd, Int16(EV_READ | EV_PERSIST),
                { _, _, arg in
                    guard let arg else { return }
                    Unmanaged<Connection>.fromOpaque(arg).takeUnretainedValue().readable()
                }, arg),
            let write = event_new(
                server.loop.base, fd, Int16(EV_WRITE | EV_PERSIST),
                { _, _, arg in
                    guard let arg else { return }
                    Unmanaged<Connection>.fromOpaque(arg).takeUnretainedValue().writable()
                }, arg),
            let timer = event_new(
                server.loop.base, -1, 0,
                { _, _, arg in
                    guard let arg else { return }
                    Unmanaged<Connection>.fromOpaque(arg).takeUnretainedValue().deadlinePassed()
                }, arg)
        else { return nil }
        readEvent = read
        writeEvent = write
        self.timer = timer
        event_add(read, nil)
        arm(timeoutMs)  // the first request: from accept
    }

    private var timeoutMs: Int { server.options.timeoutSeconds * 1000 }

    /// Sets the deadline `ms` from now, or clears it.
    private func arm(_ ms: Int?) {
        guard let timer else { return }
        if let ms {
            var tv = timeval(tv_sec: ms / 1000, tv_usec: (ms % 1000) * 1000)
            event_add(timer, &tv)
        } else {
            event_del(timer)
        }
    }

    private func readable() {
        let n = server.scratch.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
        if n == 0 { return close() }
        if n < 0 {
            if errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR { return }
            return close()
        }
        if lingering { return }  // dropped: the reply is out, the connection ends at EOF or the deadline
        inbound.append(contentsOf: server.scratch[0..<n])
        if requestStartedMs == nil && awaiting == nil && outbound.isEmpty {
            requestStartedMs = HTTPServer.monotonicMs()
            arm(timeoutMs)  // the whole request's deadline, not moved by later bytes
        }
        if awaiting != nil || !outbound.isEmpty {
            // Pipelined bytes wait until the reply before them is out; beyond one request's worth,
            // reading stops, so a client that sends without reading cannot make the server buffer
            // without bound.
            if inbound.count > server.options.maxHeaderBytes + server.options.maxBodyBytes, let readEvent { event_del(readEvent) }
            return
        }
        process()
    }

    /// Parses and answers what the buffer holds, one request after another.
    private func process() {
        while !isClosed && awaiting == nil && !closeAfterWrite && outbound.isEmpty {
            let step: RequestParser.Step
            do { step = try parser.parse(inbound) } catch {
                return fail(error)
            }
            switch step {
            case .incomplete:
                if inbound.isEmpty {
                    requestStartedMs = nil
                    if outbound.isEmpty { arm(timeoutMs) }  // idle keep-alive (a reply being written has its own)
                } else if requestStartedMs == nil {
                    // Pipelined bytes of the next request, waiting since the last reply: its deadline starts now.
                    requestStartedMs = HTTPServer.monotonicMs()
                    arm(timeoutMs)
                }
                return
            case .sendContinue:
                send(Array("HTTP/1.1 100 Continue\r\n\r\n".utf8))
            case .request(let request, let consumed):
                if consumed == inbound.count { inbound.removeAll(keepingCapacity: true) } else { inbound.removeFirst(consumed) }
                requestStartedMs = nil
                sequence += 1
                let framing = ReplyFraming(request)
                if let response = server.dispatch(request, on: self) {
                    reply(response, framing)
                } else {
                    awaitingFraming = framing
                    arm(nil)  // the handler has it (a commit may take a while): no deadline meanwhile
                    return
                }
            }
        }
    }

    /// How the deferred reply is to be framed (its request is gone by the time it comes).
    private var awaitingFraming = ReplyFraming()

    /// A deferred reply arrives.
    func sendDeferred(_ response: HTTPResponse) {
        guard !isClosed else { return }
        awaiting = nil
        reply(response, awaitingFraming)
        if !isClosed && !closeAfterWrite {
            if let readEvent { event_add(readEvent, nil) }  // reading may have paused on a full buffer
            process()
        }
    }

    private func reply(_ response: HTTPResponse, _ framing: ReplyFraming) {
        let close = !framing.keepAlive || response.headers.contains { $0.0.lowercased() == "connection" && $0.1.lowercased() == "close" }
        var bytes = server.head(of: response, bodyCount: response.body.count, close: close, keepAliveHeader: framing.http10KeepAlive)
        if !framing.isHead { bytes += response.body }
        if close { closeAfterWrite = true }
        send(bytes)
    }

    /// A request the parser refused: a JSON error, then the connection ends.
    private func fail(_ error: RequestError) {
        closeAfterWrite = true
        lingering = true
        inbound.removeAll()
        let body = JSONText.errorBody(error.message)
        arm(2000)  // how long the rest of a refused request is read and dropped
        send(server.head(of: .json(error.status, body), bodyCount: body.count, close: true, keepAliveHeader: false) + body)
    }

    /// The deadline passed: a request that did not arrive whole gets 408; an idle connection, a
    /// client that stopped reading its reply, or one lingering after an error is closed.
    private func deadlinePassed() {
        if awaiting != nil { return }  // the handler's turn; nothing is owed by the client
        if lingering || !outbound.isEmpty || inbound.isEmpty { return close() }
        fail(RequestError(status: 408, message: "the request did not arrive whole within \(server.options.timeoutSeconds) s"))
    }

    private func send(_ bytes: [UInt8]) {
        guard !isClosed else { return }
        if outbound.isEmpty {
            let n = bytes.withUnsafeBytes { Glibc.send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
            if n == bytes.count { return written(resume: false) }  // the caller's loop goes on with what is buffered
            if n < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR { return close() }
            outbound = Array(bytes[max(0, n)...])
        } else {
            outbound += bytes
        }
        if let writeEvent { event_add(writeEvent, nil) }
        if !lingering { arm(timeoutMs) }  // a client that stops reading its reply is dropped after the timeout
    }

    private func writable() {
        let n = outbound.withUnsafeBytes { Glibc.send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
        if n < 0 {
            if errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR { return }
            return close()
        }
        outbound.removeFirst(n)
        if outbound.isEmpty {
            if let writeEvent { event_del(writeEvent) }
            written(resume: true)
        } else if !lingering {
            arm(timeoutMs)  // progress: the slow reader gets another timeout
        }
    }

    /// Everything queued is on the wire. `resume`: it drained later, from the write event, so
    /// requests pipelined behind the reply are picked up here (from `send` the parse loop goes on).
    private func written(resume: Bool) {
        guard closeAfterWrite else {
            // Back to waiting for the client: idle, or the deadline of a request already begun.
            if awaiting == nil && requestStartedMs == nil { arm(timeoutMs) }
            if resume, awaiting == nil, !inbound.isEmpty, let readEvent {
                event_add(readEvent, nil)  // reading may have paused while the reply waited to be written
                process()  // pipelined requests that waited for this reply
            }
            return
        }
        if lingering {
            shutdown(fd, Int32(SHUT_WR))  // the reply is out; read what the client still sends, then close
        } else {
            close()
        }
    }

    func close(notifyServer: Bool = true) {
        guard !isClosed else { return }
        isClosed = true
        awaiting?.isDone = true
        awaiting = nil
        if let readEvent { event_free(readEvent) }
        if let writeEvent { event_free(writeEvent) }
        if let timer { event_free(timer) }
        readEvent = nil
        writeEvent = nil
        timer = nil
        Glibc.close(fd)
        if notifyServer { server.closed(self) }
    }
}

/// What a reply needs from its request: whether it carries a body (not for HEAD), whether the
/// connection stays open after it, and whether that must be said (HTTP/1.0 keep-alive).
struct ReplyFraming {
    var isHead = false
    var keepAlive = true
    var http10KeepAlive = false

    init() {}

    init(_ request: ParsedRequest) {
        isHead = request.method == "HEAD"
        keepAlive = request.keepAlive
        http10KeepAlive = request.minorVersion == 0 && request.keepAlive
    }
}

/// A reply promised by a handler that returned `nil`. Sending twice, or after the client has
/// gone, does nothing.
public final class PendingReply {
    private weak var connection: Connection?
    private let sequence: Int
    /// For a request built in memory (`InMemoryHTTP`): where the reply goes instead of a socket.
    private let deliver: ((HTTPResponse) -> Void)?
    fileprivate(set) var isDone = false
    var taken = false
    /// True while the handler that may defer it runs; a `send` then is kept in `early`.
    fileprivate var dispatching = false
    fileprivate var early: HTTPResponse? = nil

    init(connection: Connection, sequence: Int) {
        self.connection = connection
        self.sequence = sequence
        self.deliver = nil
    }

    fileprivate init(delivering: @escaping (HTTPResponse) -> Void) {
        self.sequence = 0
        self.deliver = delivering
    }

    /// Whether the reply can still be sent (not sent yet, client still connected).
    public var isOpen: Bool { !isDone && (deliver != nil || connection.map { !$0.isClosed } == true) }

    public func send(_ response: HTTPResponse) {
        guard !isDone else { return }
        isDone = true
        if dispatching {
            early = response
            return
        }
        if let deliver { return deliver(response) }
        guard let connection, !connection.isClosed, connection.sequence == sequence else { return }
        connection.sendDeferred(response)
    }
}

/// Runs a handler on a request built in memory: no socket, no parser, the same `HTTPRequest` and
/// `PendingReply` a connection gives it. The level at which routes, ingest and the control API
/// are tested (as Hummingbird tests its router without a server); a few live loopback tests sit
/// on top for what only a socket shows.
public enum InMemoryHTTP {
    /// `then` gets the handler's answer: at once, or when its deferred reply is sent (the loop must
    /// run for that). A handler that returns `nil` without deferring answers 500, as on a socket.
    public static func dispatch(
        method: String, target: String, headers: [(String, String)] = [], body: [UInt8] = [],
        to handler: (borrowing HTTPRequest) -> HTTPResponse?, then: @escaping (HTTPResponse) -> Void
    ) {
        let parsed = ParsedRequest(
            method: method, target: target, minorVersion: 1,
            headers: headers.map { (name: $0.0.lowercased(), value: $0.1) }, body: body, keepAlive: true)
        let pending = PendingReply(delivering: then)
        pending.dispatching = true
        let response = handler(HTTPRequest(parsed: parsed, pending: pending))
        pending.dispatching = false
        if let response {
            pending.isDone = true
            return then(response)
        }
        if let early = pending.early { return then(early) }
        if !pending.taken {
            pending.isDone = true
            then(.json(500, Array(#"{"error":"handler gave no response"}"#.utf8)))
        }
    }
}

/// `{"error": message}` with the message escaped, for replies made below the handler.
enum JSONText {
    static func errorBody(_ message: String) -> [UInt8] {
        var out = Array(#"{"error":""#.utf8)
        for scalar in message.unicodeScalars {
            switch scalar {
            case "\"": out += [92, 34]
            case "\\": out += [92, 92]
            case "\n": out += [92, 110]
            case "\r": out += [92, 114]
            case "\t": out += [92, 116]
            default:
                if scalar.value < 0x20 {
                    let hex = String(scalar.value, radix: 16)
                    out += Array("\\u\(String(repeating: "0", count: 4 - hex.count))\(hex)".utf8)
                } else {
                    out += Array(String(scalar).utf8)
                }
            }
        }
        out += [34, 125]
        return out
    }
}

/// The `Date` header, formatted once per second.
struct HTTPDate {
    private var second = -1
    private var cached: [UInt8] = []

    mutating func header(nowSeconds: Int) -> [UInt8] {
        if nowSeconds != second {
            second = nowSeconds
            var t = time_t(nowSeconds)
            var parts = tm()
            gmtime_r(&t, &parts)
            var buffer = [CChar](repeating: 0, count: 64)
            let n = strftime(&buffer, buffer.count, "Date: %a, %d %b %Y %H:%M:%S GMT\r\n", &parts)
            cached = buffer[0..<n].map { UInt8(bitPattern: $0) }
        }
        return cached
    }
}

/// A listen address resolved with getaddrinfo (numeric or a name; IPv4 or IPv6).
struct SocketAddress {
    private var storage = sockaddr_storage()
    private var length: socklen_t = 0

    init?(host: String, port: Int) {
        var hints = addrinfo()
        hints.ai_family = AF_UNSPEC
        hints.ai_socktype = Int32(SOCK_STREAM.rawValue)
        hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV
        var result: UnsafeMutablePointer<addrinfo>? = nil
        guard (0...65535).contains(port), getaddrinfo(host.isEmpty ? nil : host, String(port), &hints, &result) == 0, let first = result
        else { return nil }
        defer { freeaddrinfo(result) }
        length = first.pointee.ai_addrlen
        withUnsafeMutableBytes(of: &storage) { target in
            target.copyMemory(from: UnsafeRawBufferPointer(start: first.pointee.ai_addr, count: Int(first.pointee.ai_addrlen)))
        }
    }

    func withSockaddr<R>(_ body: (UnsafePointer<sockaddr>, Int32) -> R) -> R {
        var copy = storage
        return withUnsafePointer(to: &copy) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { body($0, Int32(length)) } }
    }

    static func localPort(of fd: Int32) -> Int? {
        var storage = sockaddr_storage()
        var length = socklen_t(MemoryLayout<sockaddr_storage>.size)
        let rc = withUnsafeMutablePointer(to: &storage) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &length) }
        }
        guard rc == 0 else { return nil }
        switch Int32(storage.ss_family) {
        case AF_INET:
            return withUnsafePointer(to: &storage) {
                $0.withMemoryRebound(to: sockaddr_in.self, capacity: 1) { Int(UInt16(bigEndian: $0.pointee.sin_port)) }
            }
        case AF_INET6:
            return withUnsafePointer(to: &storage) {
                $0.withMemoryRebound(to: sockaddr_in6.self, capacity: 1) { Int(UInt16(bigEndian: $0.pointee.sin6_port)) }
            }
        default: return nil
        }
    }
}
