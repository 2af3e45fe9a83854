import CCurl

/// A libcurl easy handle with the options every request shares, and its error buffer. Freed
/// when the last reference goes (the pool, or the transfer of a handle that is not pooled again).
final class EasyHandle {
    let easy: UnsafeMutableRawPointer
    let errorBuffer = UnsafeMutablePointer<CChar>.allocate(capacity: Int(CURL_ERROR_SIZE) + 1)

    init(proxyFromEnvironment: Bool) throws(ClientError) {
        guard let easy = curl_easy_init() else {
            errorBuffer.deallocate()
            throw .curl(function: "curl_easy_init", code: -1)
        }
        self.easy = easy
        errorBuffer.initialize(repeating: 0, count: Int(CURL_ERROR_SIZE) + 1)
        var codes: [CURLcode] = [
            cf_easy_long(easy, CURLOPT_NOSIGNAL, 1),
            // A transfer that times out while its host name is still being resolved would otherwise
            // join the resolver thread inside curl_multi_remove_handle: the loop thread blocked
            // for as long as getaddrinfo takes (seconds with an unreachable DNS server). The thread
            // is left to finish and free itself instead.
            cf_easy_long(easy, CURLOPT_QUICK_EXIT, 1),
            cf_easy_long(easy, CURLOPT_TCP_KEEPALIVE, 1),
            cf_easy_long(easy, CURLOPT_SSL_VERIFYPEER, 1),
            cf_easy_long(easy, CURLOPT_SSL_VERIFYHOST, 2),
            cf_easy_long(easy, CURLOPT_FOLLOWLOCATION, 0),
            cf_easy_str(easy, CURLOPT_PROTOCOLS_STR, "http,https"),
            cf_easy_str(easy, CURLOPT_ACCEPT_ENCODING, ""),
            cf_easy_ptr(easy, CURLOPT_ERRORBUFFER, errorBuffer),
            cf_easy_data_fn(easy, CURLOPT_WRITEFUNCTION) { data, size, count, user in
                guard let user, let data else { return 0 }
                return Unmanaged<Transfer>.fromOpaque(user).takeUnretainedValue().received(data, size * count)
            },
            cf_easy_data_fn(easy, CURLOPT_HEADERFUNCTION) { data, size, count, user in
                guard let user, let data else { return 0 }
                return Unmanaged<Transfer>.fromOpaque(user).takeUnretainedValue().header(data, size * count)
            },
        ]
        // No proxy variable set at start: say so, and libcurl skips its environment lookups per request.
        if !proxyFromEnvironment { codes.append(cf_easy_str(easy, CURLOPT_PROXY, "")) }
        if let failed = codes.first(where: { $0 != CURLE_OK }) {
            throw .curl(function: "curl_easy_setopt", code: Int32(failed.rawValue))  // deinit cleans up
        }
    }

    deinit {
        curl_easy_cleanup(easy)
        errorBuffer.deallocate()
    }
}

/// One request in flight: its buffers live here until the transfer is cleaned up.
final class Transfer {
    let request: ClientRequest
    let handle: EasyHandle
    let origin: String
    /// The caller's whole deadline (the request's own is what was left of it after waiting).
    let reportedTimeoutMs: Int
    let completion: HTTPClient.Completion
    var body: [UInt8] = []
    var headers: [(String, String)] = []
    var tooLarge = false
    var headerList: UnsafeMutablePointer<curl_slist>? = nil

    init(request: ClientRequest, handle: EasyHandle, origin: String, reportedTimeoutMs: Int, completion: @escaping HTTPClient.Completion) {
        self.request = request
        self.handle = handle
        self.origin = origin
        self.reportedTimeoutMs = reportedTimeoutMs
        self.completion = completion
        handle.errorBuffer[0] = 0  // a message from an earlier request on this handle is not this one's
    }

    func release() {
        if let headerList { curl_slist_free_all(headerList) }
        headerList = nil
    }

    func received(_ data: UnsafeMutablePointer<CChar>, _ count: Int) -> Int {
        guard body.count + count <= request.maxResponseBytes else {
            tooLarge = true
            return 0  // aborts the transfer
        }
        data.withMemoryRebound(to: UInt8.self, capacity: count) { body.append(contentsOf: UnsafeBufferPointer(start: $0, count: count)) }
        return count
    }

    /// One header line: parsed as bytes (a String per line and per trim showed in the profile).
    func header(_ data: UnsafeMutablePointer<CChar>, _ count: Int) -> Int {
        data.withMemoryRebound(to: UInt8.self, capacity: count) { start in
            let line = UnsafeBufferPointer(start: start, count: count)
            if count >= 5, line[0] == UInt8(ascii: "H"), line[1] == UInt8(ascii: "T"), line[2] == UInt8(ascii: "T"),
                line[3] == UInt8(ascii: "P"), line[4] == UInt8(ascii: "/")
            {
                headers.removeAll()  // a new response (after 100 Continue or a proxy CONNECT)
                return
            }
            guard let colon = line.firstIndex(of: UInt8(ascii: ":")) else { return }
            func isSpace(_ b: UInt8) -> Bool {
                b == UInt8(ascii: " ") || b == UInt8(ascii: "\t") || b == UInt8(ascii: "\r") || b == UInt8(ascii: "\n")
            }
            var from = colon + 1
            var to = count
            while from < to, isSpace(line[from]) { from += 1 }
            while to > from, isSpace(line[to - 1]) { to -= 1 }
            let name = String(unsafeUninitializedCapacity: colon) { out in
                for i in 0..<colon { out[i] = line[i] >= 65 && line[i] <= 90 ? line[i] + 32 : line[i] }
                return colon
            }
            headers.append((name, String(decoding: UnsafeBufferPointer(rebasing: line[from..<to]), as: UTF8.self)))
        }
        return count
    }

    /// - Parameter timing: read libcurl's clock of the transfer into the response (`HTTPClient.recordsTiming`).
    func result(code: CURLcode, status: Int, newConnections: Int, timing: Bool) -> Result<ClientResponse, ClientError> {
        if code == CURLE_OK {
            var response = ClientResponse(status: status, headers: headers, body: body, newConnections: newConnections)
            guard timing else { return .success(response) }
            var us: curl_off_t = 0
            if cf_info_off(handle.easy, CURLINFO_PRETRANSFER_TIME_T, &us) == CURLE_OK { response.timing.pretransferUs = Int64(us) }
            if cf_info_off(handle.easy, CURLINFO_STARTTRANSFER_TIME_T, &us) == CURLE_OK { response.timing.firstByteUs = Int64(us) }
            if cf_info_off(handle.easy, CURLINFO_TOTAL_TIME_T, &us) == CURLE_OK { response.timing.totalUs = Int64(us) }
            return .success(response)
        }
        if tooLarge { return .failure(.tooLarge(limit: request.maxResponseBytes)) }
        if code == CURLE_OPERATION_TIMEDOUT { return .failure(.timeout(ms: reportedTimeoutMs)) }
        let detail = String(cString: handle.errorBuffer)
        let reason = detail.isEmpty ? String(cString: curl_easy_strerror(code)) : detail
        return .failure(.connection("\(reason) (curl \(code.rawValue))"))
    }
}
