import CLibevent
import Synchronization

#if canImport(Glibc)
import Glibc
#endif

/// Servers by listener address: libevent calls a listener's error callback with evhttp's own
/// pointer, so this is how the callback finds the `HTTPServer` that owns the listener.
private let serversByListener = Mutex<[UInt: UInt]>([:])

/// Limits that keep one client from holding the server.
public struct HTTPServerOptions: Sendable, Equatable {
    public var host: String
    /// 0 picks a free port (tests); read the real one from `boundPort`.
    public var port: Int
    /// Larger bodies are refused with 413 before the handler runs.
    public var maxBodyBytes: Int
    public var maxHeaderBytes: Int
    /// Read/write timeout per connection: a client that stalls mid-request is dropped after it.
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

/// An `evhttp` server on the loop. The handler runs on the loop thread and must not block.
public final class HTTPServer {
    /// Answers a request now, or returns `nil` after taking `request.deferReply()` to answer later.
    public typealias Handler = (borrowing HTTPRequest) -> HTTPResponse?

    private let loop: EventLoop
    private let http: OpaquePointer
    private let listener: OpaquePointer?
    private let handler: Handler
    private let maxConnections: Int
    public private(set) var openConnections = 0
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
    public var onAcceptFailure: ((_ report: String?) -> Void)? = nil
    static let acceptReportIntervalMs: Int64 = 10_000
    private var tracked = Set<OpaquePointer>()
    private var deferred: [OpaquePointer: [PendingReply]] = [:]
    private let timeoutSeconds: Int
    private let maxBodyBytes: Int
    public let boundPort: Int

    public init(loop: EventLoop, options: HTTPServerOptions, handler: @escaping Handler) throws(EventLoopError) {
        loop.assertOnLoop()
        guard let http = evhttp_new(loop.base) else { throw .libevent(function: "evhttp_new", code: -1) }
        self.loop = loop
        self.http = http
        self.handler = handler
        self.maxConnections = max(1, options.maxConnections)
        self.timeoutSeconds = options.timeoutSeconds
        // Bodies up to twice the limit are read so the handler layer can refuse them with a JSON 413;
        // beyond that libevent refuses them itself (its own 413 page), which bounds memory per connection.
        self.maxBodyBytes = options.maxBodyBytes
        evhttp_set_max_body_size(http, options.maxBodyBytes * 2 + 65536)
        evhttp_set_max_headers_size(http, options.maxHeaderBytes)
        evhttp_set_timeout(http, Int32(clamping: options.timeoutSeconds))
        // Read and discard an oversize body before closing, so the client sees the 413, not a reset.
        _ = evhttp_set_flags(http, Int32(EVHTTP_SERVER_LINGERING_CLOSE))
        // Accept every method so the handler can answer 405 with Allow instead of libevent's 501.
        let all = EVHTTP_REQ_GET.rawValue | EVHTTP_REQ_POST.rawValue | EVHTTP_REQ_HEAD.rawValue
            | EVHTTP_REQ_PUT.rawValue | EVHTTP_REQ_DELETE.rawValue | EVHTTP_REQ_OPTIONS.rawValue
            | EVHTTP_REQ_TRACE.rawValue | EVHTTP_REQ_CONNECT.rawValue | EVHTTP_REQ_PATCH.rawValue
        evhttp_set_allowed_methods(http, UInt16(all))
        guard let bound = evhttp_bind_socket_with_handle(http, options.host, UInt16(clamping: options.port)) else {
            evhttp_free(http)
            throw .bindFailed(host: options.host, port: options.port)
        }
        self.listener = evhttp_bound_socket_get_listener(bound)
        self.boundPort = HTTPServer.localPort(of: evhttp_bound_socket_get_fd(bound)) ?? options.port

        let arg = Unmanaged.passUnretained(self).toOpaque()
        evhttp_set_gencb(http, { request, arg in
            guard let request, let arg else { return }
            Unmanaged<HTTPServer>.fromOpaque(arg).takeUnretainedValue().handle(request)
        }, arg)
        if let listener {
            let key = UInt(bitPattern: Int(bitPattern: UnsafeRawPointer(listener)))
            serversByListener.withLock { $0[key] = UInt(bitPattern: Int(bitPattern: arg)) }
            evconnlistener_set_error_cb(listener) { listener, _ in
                guard let listener else { return }
                let code = errno
                let key = UInt(bitPattern: Int(bitPattern: UnsafeRawPointer(listener)))
                guard let server = serversByListener.withLock({ $0[key] }),
                      let pointer = UnsafeRawPointer(bitPattern: Int(bitPattern: server)) else { return }
                Unmanaged<HTTPServer>.fromOpaque(pointer).takeUnretainedValue().acceptFailed(code)
            }
        }
    }

    deinit {
        if let listener {
            let key = UInt(bitPattern: Int(bitPattern: UnsafeRawPointer(listener)))
            _ = serversByListener.withLock { $0.removeValue(forKey: key) }
        }
        if let backoffTimer { loop.cancelTimer(backoffTimer) }
        // evhttp_free closes open connections, which would call back into this dying object.
        for connection in tracked { evhttp_connection_set_closecb(connection, nil, nil) }
        evhttp_free(http)
    }

    /// Counts a connection the first time it carries a request; its close callback uncounts it.
    /// (libevent 2.1 has no hook at accept time. A connection that never completes a request is
    /// not counted, but the read timeout closes it after `timeoutSeconds`.)
    private func track(_ request: OpaquePointer) {
        guard let connection = evhttp_request_get_connection(request), tracked.insert(connection).inserted else { return }
        openConnections += 1
        evhttp_connection_set_closecb(connection, { connection, arg in
            guard let connection, let arg else { return }
            Unmanaged<HTTPServer>.fromOpaque(arg).takeUnretainedValue().connectionClosed(connection)
        }, Unmanaged.passUnretained(self).toOpaque())
        updateListener()
    }

    private func connectionClosed(_ connection: OpaquePointer) {
        for pending in deferred.removeValue(forKey: connection) ?? [] { pending.isDone = true }
        guard tracked.remove(connection) != nil else { return }
        openConnections -= 1
        updateListener()
    }

    /// The listener accepts exactly when the server is not stopping, has room for a connection,
    /// and is not backing off after accept() failed.
    private func updateListener() {
        guard let listener else { return }
        let wanted = !stopped && openConnections < maxConnections && backoffTimer == nil
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
            report = ("accept() failed: \(reason) (\(failuresSinceReport) time\(failuresSinceReport == 1 ? "" : "s") since the last report); "
                + "new connections wait in the backlog, retried every \(backoffMs) ms up to 1 s; open connections: \(openConnections)")
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

    private func handle(_ request: OpaquePointer) {
        track(request)
        if let problem = HTTPServer.framingProblem(request) {
            // libevent framed the body by the first Content-Length; a proxy in front may have used
            // another, so whatever follows on this connection cannot be trusted: answer and close.
            return HTTPServer.reply(request, .json(400, Array(#"{"error":"\#(problem)"}"#.utf8), headers: [("Connection", "close")]))
        }
        let body = evbuffer_get_length(evhttp_request_get_input_buffer(request))
        let pending = PendingReply(request: request)
        let response = body > maxBodyBytes
            ? HTTPResponse.json(413, Array(#"{"error":"request body is \#(body) bytes; the limit is \#(maxBodyBytes)"}"#.utf8))
            : handler(HTTPRequest(request: request, pending: pending))
        guard let response else {
            guard pending.taken else {
                pending.isDone = true
                return HTTPServer.reply(request, .json(500, Array(#"{"error":"handler gave no response"}"#.utf8)))
            }
            // Deferred: remember it so a closing connection cancels it instead of leaving it dangling.
            if let connection = evhttp_request_get_connection(request) { deferred[connection, default: []].append(pending) }
            return
        }
        pending.isDone = true
        HTTPServer.reply(request, response)
    }

    /// Why a request's framing is ambiguous (RFC 9112 §6.3), or nil: a repeated `Content-Length`,
    /// or `Content-Length` together with `Transfer-Encoding`. Two parsers that frame one byte stream
    /// differently are how requests are smuggled past a proxy.
    static func framingProblem(_ request: OpaquePointer) -> String? {
        guard let headers = evhttp_request_get_input_headers(request) else { return nil }
        var lengths = 0
        var transferEncoding = false
        var entry = headers.pointee.tqh_first
        while let header = entry {
            if let key = header.pointee.key {
                if strcasecmp(key, "Content-Length") == 0 { lengths += 1 }
                else if strcasecmp(key, "Transfer-Encoding") == 0 { transferEncoding = true }
            }
            entry = header.pointee.next.tqe_next
        }
        if lengths > 1 { return "the request has \(lengths) Content-Length headers; send exactly one" }
        if lengths == 1 && transferEncoding { return "the request has both Content-Length and Transfer-Encoding; send one of them" }
        return nil
    }

    static func reply(_ request: OpaquePointer, _ response: HTTPResponse) {
        if let headers = evhttp_request_get_output_headers(request) {
            for (name, value) in response.headers { evhttp_add_header(headers, name, value) }
        }
        if !response.body.isEmpty, let buffer = evhttp_request_get_output_buffer(request) {
            _ = response.body.withUnsafeBytes { evbuffer_add(buffer, $0.baseAddress, $0.count) }
        }
        evhttp_send_reply(request, Int32(response.status), reasonPhrase(response.status), nil)
    }

    private static func localPort(of fd: Int32) -> Int? {
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


/// A reply promised by a handler that returned `nil`. Sending twice, or after the client has
/// gone, does nothing.
public final class PendingReply {
    let request: OpaquePointer
    fileprivate(set) var isDone = false
    var taken = false

    init(request: OpaquePointer) { self.request = request }

    /// Whether the reply can still be sent (not sent yet, client still connected).
    public var isOpen: Bool { !isDone }

    public func send(_ response: HTTPResponse) {
        guard !isDone else { return }
        isDone = true
        HTTPServer.reply(request, response)
    }
}
