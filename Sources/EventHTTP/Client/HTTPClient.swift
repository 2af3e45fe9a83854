import CCurl
import CLibevent
import CallflowLoop
import DequeModule

#if canImport(Glibc)
    import Glibc
#endif

private let curlInitResult: CURLcode = curl_global_init(Int(CURL_GLOBAL_DEFAULT))

/// A non-blocking HTTP(S) client: libcurl's multi-socket API driven by the server's libevent
/// loop. No thread per request, nothing blocks the loop, and connections are kept alive and
/// reused across requests (the multi handle owns the connection cache). TLS peer and host
/// verification stay on; `HTTPS_PROXY`/`NO_PROXY` are honoured by libcurl.
///
/// Loop-confined, like everything on the loop.
public final class HTTPClient {
    public typealias Completion = (Result<ClientResponse, ClientError>) -> Void

    private let loop: EventLoop
    private let multi: UnsafeMutableRawPointer
    private var timer: OpaquePointer?
    private var transfers: [UnsafeMutableRawPointer: Transfer] = [:]
    private var sockets: [Int32: (event: OpaquePointer, flags: Int16)] = [:]
    /// Idle easy handles with the options every request shares already set: a new one allocates
    /// curl's receive buffer, and resetting one and setting those options again cost about 10k
    /// instructions a request (bench/RESULTS.md, session 6).
    private var idleHandles: [EasyHandle] = []
    /// Header lists by content: Telnyx commands send the same few headers every time.
    private var headerLists: [String: UnsafeMutablePointer<curl_slist>] = [:]
    static let maxIdleHandles = 64
    /// Whether any variable libcurl reads for a proxy is set (read once: the process's environment).
    static let proxyFromEnvironment: Bool = {
        let names: [String] = ["http_proxy", "HTTP_PROXY", "https_proxy", "HTTPS_PROXY", "all_proxy", "ALL_PROXY"]
        return names.contains { name in getenv(name) != nil }
    }()
    static let maxHeaderLists = 32
    /// Requests handed to libcurl, by origin (`scheme://host:port`), and the ones waiting for a slot.
    /// libcurl would queue transfers beyond its connection limit itself, but removing a finished
    /// handle then walks all of them: with thousands of commands queued in a burst, 60% of the
    /// server's time went to `curl_multi_remove_handle`. Here a burst waits in a `Deque` instead.
    private var origins: [String: Origin] = [:]
    private let maxInFlightPerOrigin: Int
    /// Whether each response carries libcurl's clock of its transfer (`ClientResponse.timing`): a load
    /// generator splits its round trip with it. Off by default: the server's commands would pay three
    /// `curl_easy_getinfo` calls each for figures nobody reads.
    public var recordsTiming = false
    /// TCP connections opened so far (a benchmark reads it: reuse means few).
    public private(set) var connectionsOpened = 0
    /// Requests started and not yet completed (in libcurl or waiting for a slot).
    public var inFlight: Int { transfers.count + origins.values.reduce(0) { $0 + $1.waiting.count } }

    /// - Parameters:
    ///   - maxConnectionsPerHost: TCP connections libcurl may open to one host. 64, not fewer: the
    ///     loop serves each ready connection once per pass, so with 16 command connections against
    ///     32 busy webhook connections the commands got a third of the passes and fell behind (55% of
    ///     the answers sent by the end of a saturating `bench/ingest.sh` run, 100% with 64; RESULTS.md,
    ///     session 11). Over HTTP/2 (Telnyx's API) libcurl multiplexes them on fewer connections.
    ///   - maxInFlightPerOrigin: requests to one origin handed to libcurl at once (over HTTP/2 they
    ///     share connections); more wait, in order, and their deadline keeps running while they wait:
    ///     one that reaches the front too late fails as a timeout without being sent.
    public init(loop: EventLoop, maxConnectionsPerHost: Int = 64, maxInFlightPerOrigin: Int = 64) throws(ClientError) {
        loop.assertOnLoop()
        self.maxInFlightPerOrigin = max(1, maxInFlightPerOrigin)
        guard curlInitResult == CURLE_OK else { throw .curl(function: "curl_global_init", code: Int32(curlInitResult.rawValue)) }
        guard let multi = curl_multi_init() else { throw .curl(function: "curl_multi_init", code: -1) }
        self.loop = loop
        self.multi = multi
        let me = Unmanaged.passUnretained(self).toOpaque()
        timer = event_new(
            loop.base, -1, 0,
            { _, _, arg in
                guard let arg else { return }
                Unmanaged<HTTPClient>.fromOpaque(arg).takeUnretainedValue().timerFired()
            }, me)
        guard timer != nil else { throw .curl(function: "event_new(timer)", code: -1) }
        _ = cf_multi_ptr(multi, CURLMOPT_SOCKETDATA, me)
        _ = cf_multi_ptr(multi, CURLMOPT_TIMERDATA, me)
        _ = cf_multi_socket_fn(multi) { _, fd, what, userp, _ in
            guard let userp else { return 0 }
            Unmanaged<HTTPClient>.fromOpaque(userp).takeUnretainedValue().socketChanged(fd, what: what)
            return 0
        }
        _ = cf_multi_timer_fn(multi) { _, timeoutMs, userp in
            guard let userp else { return 0 }
            Unmanaged<HTTPClient>.fromOpaque(userp).takeUnretainedValue().armTimer(timeoutMs)
            return 0
        }
        _ = cf_multi_long(multi, CURLMOPT_MAX_HOST_CONNECTIONS, maxConnectionsPerHost)
        _ = cf_multi_long(multi, CURLMOPT_MAXCONNECTS, maxConnectionsPerHost * 4)
    }

    deinit {
        for (easy, transfer) in transfers {
            curl_multi_remove_handle(multi, easy)
            transfer.release()
        }
        idleHandles.removeAll()  // each handle cleans itself up
        for socket in sockets.values { event_free(socket.event) }
        for list in headerLists.values { curl_slist_free_all(list) }
        if let timer { event_free(timer) }
        curl_multi_cleanup(multi)
    }

    /// Starts a request; `completion` runs on the loop thread, never synchronously inside `send`.
    public func send(_ request: ClientRequest, completion: @escaping Completion) {
        loop.assertOnLoop()
        let key = Self.origin(of: request.url)
        let origin: Origin
        if let existing = origins[key] { origin = existing } else { origin = Origin(); origins[key] = origin }
        if origin.running < maxInFlightPerOrigin && origin.waiting.isEmpty {
            origin.running += 1
            start(request, origin: key, completion: completion)
        } else {
            origin.waiting.append(Waiting(request: request, deadlineMs: loop.monotonicMs + Int64(request.timeoutMs), completion: completion))
        }
    }

    /// A slot of `key` freed: start the next waiting request whose deadline has not passed.
    private func admitNext(_ key: String) {
        guard let origin = origins[key] else { return }
        origin.running -= 1
        while origin.running < maxInFlightPerOrigin, let next = origin.waiting.popFirst() {
            let left = next.deadlineMs - loop.monotonicMs
            if left <= 0 {
                deferCompletion(next.completion, .failure(.timeout(ms: next.request.timeoutMs)))
                continue
            }
            var request = next.request
            request.timeoutMs = Int(left)
            origin.running += 1
            start(request, origin: key, reportedTimeoutMs: next.request.timeoutMs, completion: next.completion)
        }
        if origin.running == 0 && origin.waiting.isEmpty { origins[key] = nil }
    }

    /// `scheme://host:port` of a URL, lower-cased: what libcurl's per-host connection limit counts.
    public static func origin(of url: String) -> String {
        let bytes = Array(url.utf8)
        var start = 0
        if let colon = bytes.firstIndex(of: UInt8(ascii: ":")), bytes.count >= colon + 3,
            bytes[colon + 1] == UInt8(ascii: "/"), bytes[colon + 2] == UInt8(ascii: "/")
        {
            start = colon + 3
        }
        var end = start
        while end < bytes.count, bytes[end] != UInt8(ascii: "/"), bytes[end] != UInt8(ascii: "?"), bytes[end] != UInt8(ascii: "#") { end += 1 }
        return String(decoding: bytes[..<end], as: UTF8.self).lowercased()
    }

    private func start(_ request: ClientRequest, origin: String, reportedTimeoutMs: Int? = nil, completion: @escaping Completion) {
        let handle: EasyHandle
        if let idle = idleHandles.popLast() {
            handle = idle
        } else {
            do throws(ClientError) { handle = try EasyHandle(proxyFromEnvironment: Self.proxyFromEnvironment) } catch {
                return failBeforeStart(origin: origin, completion, error)
            }
        }
        let transfer = Transfer(
            request: request, handle: handle, origin: origin, reportedTimeoutMs: reportedTimeoutMs ?? request.timeoutMs,
            completion: completion)
        if let code = configure(handle.easy, transfer) {
            transfer.release()  // the handle goes with it: its options are half set
            failBeforeStart(origin: origin, completion, .curl(function: "curl_easy_setopt", code: Int32(code.rawValue)))
            return
        }
        transfers[handle.easy] = transfer
        let rc = curl_multi_add_handle(multi, handle.easy)
        if rc != CURLM_OK {
            transfers[handle.easy] = nil
            transfer.release()
            failBeforeStart(origin: origin, completion, .curl(function: "curl_multi_add_handle", code: Int32(rc.rawValue)))
        }
    }

    /// A request that could not be handed to libcurl: its completion runs later, then its slot frees.
    private func failBeforeStart(origin: String, _ completion: @escaping Completion, _ error: ClientError) {
        deferCompletion(
            { [weak self] result in
                completion(result)
                self?.admitNext(origin)
            }, .failure(error))
    }

    private func deferCompletion(_ completion: @escaping Completion, _ result: Result<ClientResponse, ClientError>) {
        do { try loop.schedule(afterMilliseconds: 0) { completion(result) } } catch { completion(result) }
    }

    /// What differs between requests; the rest was set once, when the handle was made. Every
    /// option a previous request on this handle may have set is set again here (method, body,
    /// headers, deadline, where the response goes), so nothing carries over from it.
    private func configure(_ easy: UnsafeMutableRawPointer, _ t: Transfer) -> CURLcode? {
        let me = Unmanaged.passUnretained(t).toOpaque()
        var codes: [CURLcode] = [
            cf_easy_str(easy, CURLOPT_URL, t.request.url),
            cf_easy_long(easy, CURLOPT_TIMEOUT_MS, t.request.timeoutMs),
            cf_easy_long(easy, CURLOPT_CONNECTTIMEOUT_MS, min(t.request.timeoutMs, 10_000)),
            cf_easy_ptr(easy, CURLOPT_WRITEDATA, me),
            cf_easy_ptr(easy, CURLOPT_HEADERDATA, me),
        ]
        // The method, in an order that undoes any earlier request's: NOBODY 0 turns a HEAD back
        // into a GET, COPYPOSTFIELDS makes a POST, HTTPGET clears a POST, NOBODY 1 makes a HEAD.
        let method = t.request.method.uppercased()
        codes.append(cf_easy_long(easy, CURLOPT_NOBODY, 0))
        if let body = t.request.body {
            codes.append(cf_easy_off(easy, CURLOPT_POSTFIELDSIZE_LARGE, curl_off_t(body.count)))
            codes.append(
                body.withUnsafeBytes { raw in
                    cf_easy_ptr(easy, CURLOPT_COPYPOSTFIELDS, UnsafeMutableRawPointer(mutating: raw.baseAddress ?? UnsafeRawPointer(bitPattern: 1)!))
                })
            codes.append(method == "POST" ? cf_easy_ptr(easy, CURLOPT_CUSTOMREQUEST, nil) : cf_easy_str(easy, CURLOPT_CUSTOMREQUEST, method))
        } else {
            codes.append(cf_easy_long(easy, CURLOPT_HTTPGET, 1))
            if method == "HEAD" { codes.append(cf_easy_long(easy, CURLOPT_NOBODY, 1)) }
            codes.append(
                method == "GET" || method == "HEAD" ? cf_easy_ptr(easy, CURLOPT_CUSTOMREQUEST, nil) : cf_easy_str(easy, CURLOPT_CUSTOMREQUEST, method)
            )
        }
        codes.append(cf_easy_ptr(easy, CURLOPT_HTTPHEADER, UnsafeMutableRawPointer(headerList(t))))
        return codes.first { $0 != CURLE_OK }
    }

    /// The request's headers as a curl list, cached by content (Telnyx commands send the same few
    /// every time); past the cache's size a list is the transfer's own and freed with it.
    private func headerList(_ t: Transfer) -> UnsafeMutablePointer<curl_slist>? {
        var key = ""
        for (name, value) in t.request.headers {
            key += name
            key += ": "
            key += value
            key += "\n"
        }
        if let cached = headerLists[key] { return cached }
        var built: UnsafeMutablePointer<curl_slist>? = nil
        for (name, value) in t.request.headers { built = curl_slist_append(built, "\(name): \(value)") }
        built = curl_slist_append(built, "Expect:")  // no "Expect: 100-continue" round trip before bodies
        if headerLists.count < Self.maxHeaderLists {
            headerLists[key] = built
        } else {
            t.headerList = built
        }
        return built
    }

    // MARK: libcurl ↔ libevent

    private func socketChanged(_ fd: curl_socket_t, what: Int32) {
        guard what != CURL_POLL_REMOVE else {
            if let existing = sockets.removeValue(forKey: fd) { event_free(existing.event) }
            return
        }
        var flags = Int16(EV_PERSIST)
        if what & CURL_POLL_IN != 0 { flags |= Int16(EV_READ) }
        if what & CURL_POLL_OUT != 0 { flags |= Int16(EV_WRITE) }
        if let existing = sockets[fd] {
            guard existing.flags != flags else { return }  // unchanged interest: no epoll_ctl
            event_del(existing.event)
            event_assign(existing.event, loop.base, fd, flags, Self.socketCallback, Unmanaged.passUnretained(self).toOpaque())
            event_add(existing.event, nil)
            sockets[fd] = (existing.event, flags)
            return
        }
        guard let event = event_new(loop.base, fd, flags, Self.socketCallback, Unmanaged.passUnretained(self).toOpaque()) else { return }
        event_add(event, nil)
        sockets[fd] = (event, flags)
    }

    private static let socketCallback: event_callback_fn = { fd, events, arg in
        guard let arg else { return }
        Unmanaged<HTTPClient>.fromOpaque(arg).takeUnretainedValue().socketReady(fd, events: events)
    }

    private func socketReady(_ fd: Int32, events: Int16) {
        var action: Int32 = 0
        if events & Int16(EV_READ) != 0 { action |= CURL_CSELECT_IN }
        if events & Int16(EV_WRITE) != 0 { action |= CURL_CSELECT_OUT }
        var running: Int32 = 0
        curl_multi_socket_action(multi, fd, action, &running)
        collectFinished()
    }

    private func armTimer(_ timeoutMs: Int) {
        guard let timer else { return }
        if timeoutMs < 0 {
            event_del(timer)
            return
        }
        var tv = timeval(tv_sec: timeoutMs / 1000, tv_usec: (timeoutMs % 1000) * 1000)
        event_add(timer, &tv)
    }

    private func timerFired() {
        var running: Int32 = 0
        curl_multi_socket_action(multi, CURL_SOCKET_TIMEOUT, 0, &running)
        collectFinished()
    }

    private func collectFinished() {
        var finished: [(Transfer, Result<ClientResponse, ClientError>)] = []
        var left: Int32 = 0
        while let message = curl_multi_info_read(multi, &left) {
            guard message.pointee.msg == CURLMSG_DONE, let easy = message.pointee.easy_handle else { continue }
            let code = message.pointee.data.result
            guard let transfer = transfers.removeValue(forKey: easy) else { continue }
            var status = 0
            var connects = 0
            _ = cf_info_long(easy, CURLINFO_RESPONSE_CODE, &status)
            _ = cf_info_long(easy, CURLINFO_NUM_CONNECTS, &connects)
            connectionsOpened += connects
            curl_multi_remove_handle(multi, easy)
            finished.append((transfer, transfer.result(code: code, status: status, newConnections: connects, timing: recordsTiming)))
            // Kept with its options for the next request (the connection cache lives in the multi
            // handle); after a failure it goes, so no state of a broken transfer is carried over.
            if code == CURLE_OK && idleHandles.count < Self.maxIdleHandles { idleHandles.append(transfer.handle) }
        }
        // Completions may start new requests; run them after curl's bookkeeping is done.
        for (transfer, result) in finished {
            transfer.completion(result)
            transfer.release()
            admitNext(transfer.origin)
        }
    }
}

/// One origin's share of the client: requests in libcurl and requests waiting for a slot. A class,
/// so the queue is mutated where it lives rather than copied out of the dictionary and back.
private final class Origin {
    var running = 0
    /// A ring buffer (swift-collections) rather than an array and a read index: O(1) at both
    /// ends, and a popped slot releases what it held (a completion's captures) at once.
    var waiting = Deque<Waiting>()
}

private struct Waiting {
    let request: ClientRequest
    let deadlineMs: Int64
    let completion: HTTPClient.Completion
}
