import CRedis
import CallflowLoop
import DequeModule
import Dispatch

#if canImport(Glibc)
    import Glibc
#endif

/// One asynchronous connection to Redis, driven by the libevent loop through hiredis' libevent
/// adapter: commands are written without waiting, replies arrive as loop callbacks, in order.
///
/// Loop-confined. A broken connection fails its outstanding commands and is re-established every
/// `reconnectMs` until Redis answers again; commands issued meanwhile fail at once
/// (`.unavailable`), so callers can answer 503 instead of waiting. A Redis that stops answering
/// without closing the connection (hung, paused, a network partition) is treated the same once the
/// oldest outstanding command has waited `replyTimeoutMs`.
public final class RedisConnection {
    public let url: RedisURL
    private let loop: EventLoop
    private var context: UnsafeMutablePointer<redisAsyncContext>?
    private var connected = false
    private var reconnectScheduled = false
    private var closed = false
    public private(set) var lastError: String = "not connected yet"
    public let reconnectMs: Int
    public let replyTimeoutMs: Int
    /// When each outstanding command was sent, oldest first (replies come back in order): a
    /// `Deque`, so a reply pops its time in O(1) without a hand-kept read index.
    private var sentAt = Deque<UInt64>()
    private var watchdogArmed = false
    private var resolving = false
    /// Addresses of the last lookup not tried yet.
    private var addresses: [String] = []
    /// Told `true` when the connection is up, `false` when it broke.
    public var onStateChange: ((Bool) -> Void)?

    public init(loop: EventLoop, url: RedisURL, reconnectMs: Int = 500, replyTimeoutMs: Int = 3000) {
        self.loop = loop
        self.url = url
        self.reconnectMs = reconnectMs
        self.replyTimeoutMs = replyTimeoutMs
        connect()
    }

    deinit {
        closed = true
        if let context {
            context.pointee.data = nil
            redisAsyncFree(context)  // fails outstanding commands (their callbacks get no reply)
        }
    }

    /// Whether the connection is established (commands can succeed).
    public var isConnected: Bool { connected }

    /// Sends one command; `reply` runs on the loop with its value or why there is none.
    public func send(_ args: [[UInt8]], reply: @escaping (Result<RedisValue, RedisError>) -> Void) {
        guard let context else { return reply(.failure(.unavailable(lastError))) }
        let box = Unmanaged.passRetained(
            ReplyBox { [weak self] result in
                self?.replied()
                reply(result)
            }
        ).toOpaque()
        let rc = Self.withArgv(args) { argc, argv, lengths in
            redisAsyncCommandArgv(
                context,
                { _, reply, privdata in
                    guard let privdata else { return }
                    let box = Unmanaged<ReplyBox>.fromOpaque(privdata).takeRetainedValue()
                    guard let reply else { return box.done(.failure(.unavailable("connection closed before the reply"))) }
                    let value = reply.assumingMemoryBound(to: redisReply.self)
                    box.done(RedisConnection.convert(value))
                }, box, argc, argv, lengths)
        }
        if rc != REDIS_OK {
            Unmanaged<ReplyBox>.fromOpaque(box).release()
            reply(.failure(.unavailable("redisAsyncCommandArgv returned \(rc)")))
            return
        }
        sentAt.append(DispatchTime.now().uptimeNanoseconds)
        armWatchdog()
    }

    private func replied() {
        _ = sentAt.popFirst()
    }

    private func armWatchdog() {
        guard !watchdogArmed else { return }
        watchdogArmed = true
        do {
            try loop.schedule(afterMilliseconds: max(100, replyTimeoutMs / 4)) { [weak self] in self?.checkReplies() }
        } catch {
            watchdogArmed = false
        }
    }

    /// Drops a connection whose oldest command has gone unanswered for `replyTimeoutMs`: its
    /// commands fail (callers answer 503 or retry) and it is re-established.
    private func checkReplies() {
        watchdogArmed = false
        guard let oldest = sentAt.first else { return }
        let waitedMs = Int((DispatchTime.now().uptimeNanoseconds - oldest) / 1_000_000)
        if waitedMs >= replyTimeoutMs, let context {
            let why = "no reply from \(url) for \(waitedMs) ms"
            self.context = nil
            context.pointee.data = nil
            sentAt.removeAll()
            redisAsyncFree(context)  // outstanding commands fail now
            broken(why)
            return
        }
        armWatchdog()
    }

    /// `send` with text arguments.
    public func send(_ args: [String], reply: @escaping (Result<RedisValue, RedisError>) -> Void) {
        send(args.map { Array($0.utf8) }, reply: reply)
    }

    /// Closes the connection for good (outstanding commands fail).
    public func close() {
        closed = true
        sentAt.removeAll()
        guard let context else { return }
        self.context = nil
        connected = false
        context.pointee.data = nil
        redisAsyncFree(context)
    }

    /// Connects; a host name is resolved on another thread first (hiredis would call getaddrinfo
    /// on the loop thread, which waits seconds when DNS is unreachable).
    private func connect() {
        guard !closed, context == nil, !resolving else { return }
        if Self.isAddress(url.host) { return connect(address: url.host) }
        // Each attempt takes the next address of the last lookup (a host with IPv6 and IPv4
        // addresses, one of them unreachable); a new lookup once they are all tried.
        if let address = addresses.first {
            addresses.removeFirst()
            return connect(address: address)
        }
        resolving = true
        let host = url.host
        do {
            try loop.offload({ Self.resolve(host) }) { [weak self] result in
                guard let self else { return }
                self.resolving = false
                guard !self.closed, self.context == nil else { return }
                switch result {
                case .success(let found):
                    self.addresses = Array(found.dropFirst())
                    self.connect(address: found[0])
                case .failure(let why): self.broken("cannot resolve \(host): \(why.text)")
                }
            }
        } catch {
            resolving = false
            broken("cannot resolve \(host): \(error)")
        }
    }

    struct ResolveError: Error, Sendable { var text: String }

    static func isAddress(_ host: String) -> Bool {
        var v4 = in_addr()
        var v6 = in6_addr()
        return inet_pton(AF_INET, host, &v4) == 1 || inet_pton(AF_INET6, host, &v6) == 1
    }

    /// The addresses of `host`, in the resolver's order, without repeats (blocking; run off the loop).
    static func resolve(_ host: String) -> Result<[String], ResolveError> {
        var hints = addrinfo()
        hints.ai_family = AF_UNSPEC
        hints.ai_socktype = Int32(SOCK_STREAM.rawValue)
        var list: UnsafeMutablePointer<addrinfo>?
        let rc = getaddrinfo(host, nil, &hints, &list)
        guard rc == 0, list != nil else { return .failure(ResolveError(text: String(cString: gai_strerror(rc)))) }
        defer { freeaddrinfo(list) }
        var found: [String] = []
        var entry = list
        while let e = entry {
            var text = [CChar](repeating: 0, count: Int(INET6_ADDRSTRLEN))
            var ok = false
            if e.pointee.ai_family == AF_INET6 {
                ok = e.pointee.ai_addr.withMemoryRebound(to: sockaddr_in6.self, capacity: 1) { sa in
                    var addr = sa.pointee.sin6_addr
                    return inet_ntop(AF_INET6, &addr, &text, socklen_t(text.count)) != nil
                }
            } else if e.pointee.ai_family == AF_INET {
                ok = e.pointee.ai_addr.withMemoryRebound(to: sockaddr_in.self, capacity: 1) { sa in
                    var addr = sa.pointee.sin_addr
                    return inet_ntop(AF_INET, &addr, &text, socklen_t(text.count)) != nil
                }
            }
            if ok {
                let address = String(decoding: text.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
                if !found.contains(address) { found.append(address) }
            }
            entry = e.pointee.ai_next
        }
        return found.isEmpty ? .failure(ResolveError(text: "no IPv4 or IPv6 address")) : .success(found)
    }

    private func connect(address: String) {
        guard !closed, context == nil else { return }
        guard let ac = redisAsyncConnect(address, Int32(url.port)) else {
            return broken("redisAsyncConnect returned nothing")
        }
        if ac.pointee.err != 0 {
            let why = Self.errorText(ac)
            redisAsyncFree(ac)
            return broken("cannot connect to \(url): \(why)")
        }
        ac.pointee.data = Unmanaged.passUnretained(self).toOpaque()
        let attached = callflow_redis_attach(ac, loop.eventBase)
        guard attached == REDIS_OK else {
            redisAsyncFree(ac)
            return broken("redisLibeventAttach returned \(attached)")
        }
        redisAsyncSetConnectCallback(ac) { ac, status in
            guard let ac, let data = ac.pointee.data else { return }
            let connection = Unmanaged<RedisConnection>.fromOpaque(data).takeUnretainedValue()
            if status == REDIS_OK {
                // Up once Redis answers (a paused Redis still accepts connections).
                connection.send(["PING"]) { [weak connection] result in
                    guard let connection, case .success = result, !connection.connected else { return }
                    connection.connected = true
                    connection.onStateChange?(true)
                }
            } else {
                // hiredis frees the context after this callback.
                connection.context = nil
                connection.broken("cannot connect to \(connection.url): \(RedisConnection.errorText(ac))")
            }
        }
        redisAsyncSetDisconnectCallback(ac) { ac, _ in
            guard let ac, let data = ac.pointee.data else { return }
            let connection = Unmanaged<RedisConnection>.fromOpaque(data).takeUnretainedValue()
            connection.context = nil
            connection.sentAt.removeAll()
            connection.broken("connection to \(connection.url) lost: \(RedisConnection.errorText(ac))")
        }
        context = ac
        // Queued before anything else on this connection, so every later command runs after them.
        for command in url.handshake {
            send(command) { [weak self] result in
                if case .failure(let e) = result, let self {
                    self.lastError = "\(command[0]) failed: \(e)"
                    self.close()
                    self.closed = false
                    self.broken(self.lastError)
                }
            }
        }
    }

    private func broken(_ why: String) {
        let wasConnected = connected
        connected = false
        lastError = why
        if wasConnected { onStateChange?(false) }
        guard !closed, !reconnectScheduled else { return }
        reconnectScheduled = true
        do {
            try loop.schedule(afterMilliseconds: reconnectMs) { [weak self] in
                self?.reconnectScheduled = false
                self?.connect()
            }
        } catch {
            reconnectScheduled = false
        }
    }

    /// hiredis' `errstr[128]`, a NUL-terminated C array, as text.
    static func text<Buffer>(of errstr: Buffer) -> String {
        withUnsafeBytes(of: errstr) { String(decoding: $0.prefix { $0 != 0 }, as: UTF8.self) }
    }

    static func errorText(_ ac: UnsafePointer<redisAsyncContext>) -> String {
        let text = text(of: ac.pointee.c.errstr)
        if !text.isEmpty { return text }
        return ac.pointee.errstr.map { String(cString: $0) } ?? "error \(ac.pointee.err)"
    }

    static func errorText(_ ac: UnsafeMutablePointer<redisAsyncContext>) -> String { errorText(UnsafePointer(ac)) }

    static func convert(_ reply: UnsafeMutablePointer<redisReply>) -> Result<RedisValue, RedisError> {
        let r = reply.pointee
        switch r.type {
        case REDIS_REPLY_ERROR:
            return .failure(.server(r.str.map { String(decoding: UnsafeRawBufferPointer(start: $0, count: r.len), as: UTF8.self) } ?? "error"))
        default:
            return .success(value(reply))
        }
    }

    private static func value(_ reply: UnsafeMutablePointer<redisReply>) -> RedisValue {
        let r = reply.pointee
        switch r.type {
        case REDIS_REPLY_STRING:
            guard let s = r.str else { return .bulk([]) }
            return .bulk(Array(UnsafeRawBufferPointer(start: s, count: r.len)))
        case REDIS_REPLY_STATUS, REDIS_REPLY_ERROR:
            return .status(r.str.map { String(decoding: UnsafeRawBufferPointer(start: $0, count: r.len), as: UTF8.self) } ?? "")
        case REDIS_REPLY_INTEGER:
            return .integer(Int64(r.integer))
        case REDIS_REPLY_ARRAY:
            guard let elements = r.element else { return .array([]) }
            return .array((0..<r.elements).map { i in elements[i].map(value) ?? .null })
        default:
            return .null
        }
    }

    /// Calls `body` with C argument vectors for `args` (hiredis copies them before returning).
    static func withArgv<R>(_ args: [[UInt8]], _ body: (Int32, UnsafeMutablePointer<UnsafePointer<CChar>?>, UnsafePointer<Int>) -> R) -> R {
        let total = args.reduce(0) { $0 + $1.count }
        let storage = UnsafeMutablePointer<CChar>.allocate(capacity: max(1, total))
        defer { storage.deallocate() }
        let argv = UnsafeMutablePointer<UnsafePointer<CChar>?>.allocate(capacity: max(1, args.count))
        defer { argv.deallocate() }
        var lengths = [Int](repeating: 0, count: args.count)
        var offset = 0
        for (i, arg) in args.enumerated() {
            arg.withUnsafeBytes { raw in
                if let base = raw.baseAddress { (storage + offset).update(from: base.assumingMemoryBound(to: CChar.self), count: arg.count) }
            }
            argv[i] = UnsafePointer(storage + offset)
            lengths[i] = arg.count
            offset += arg.count
        }
        return lengths.withUnsafeBufferPointer { body(Int32(args.count), argv, $0.baseAddress!) }
    }
}

private final class ReplyBox {
    let done: (Result<RedisValue, RedisError>) -> Void
    init(_ done: @escaping (Result<RedisValue, RedisError>) -> Void) { self.done = done }
}
