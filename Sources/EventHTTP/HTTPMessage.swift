import CLibevent

/// A request as the handler sees it. Valid only during the handler call: it points into
/// libevent's buffers so the body is never copied into Swift memory.
public struct HTTPRequest: ~Copyable {
    let request: OpaquePointer
    let pending: PendingReply

    /// Takes the reply out of the handler: return `nil` from the handler and `send` later.
    public func deferReply() -> PendingReply {
        pending.taken = true
        return pending
    }

    /// `GET`, `POST`, ... (upper case).
    public var method: String {
        switch evhttp_request_get_command(request) {
        case EVHTTP_REQ_GET: return "GET"
        case EVHTTP_REQ_POST: return "POST"
        case EVHTTP_REQ_HEAD: return "HEAD"
        case EVHTTP_REQ_PUT: return "PUT"
        case EVHTTP_REQ_DELETE: return "DELETE"
        case EVHTTP_REQ_OPTIONS: return "OPTIONS"
        case EVHTTP_REQ_TRACE: return "TRACE"
        case EVHTTP_REQ_CONNECT: return "CONNECT"
        case EVHTTP_REQ_PATCH: return "PATCH"
        default: return "UNKNOWN"
        }
    }

    /// The path without the query string, not percent-decoded; "/" when the target is unparsable.
    public var path: String {
        guard let uri = evhttp_request_get_evhttp_uri(request), let path = evhttp_uri_get_path(uri),
            path.pointee != 0
        else { return "/" }
        return String(cString: path)
    }

    /// The raw query string, if any.
    public var query: String? {
        guard let uri = evhttp_request_get_evhttp_uri(request), let q = evhttp_uri_get_query(uri) else { return nil }
        return String(cString: q)
    }

    /// A request header, looked up case-insensitively.
    public func header(_ name: String) -> String? {
        guard let headers = evhttp_request_get_input_headers(request),
            let value = evhttp_find_header(headers, name)
        else { return nil }
        return String(cString: value)
    }

    public var bodyCount: Int {
        evbuffer_get_length(evhttp_request_get_input_buffer(request))
    }

    /// Gives `body` contiguous, with `prefix` placed directly before it in the same buffer, so a
    /// caller that must hash `prefix + body` (a webhook signature) needs no copy of its own.
    public func withBody<R>(
        prefixedBy prefix: [UInt8] = [],
        _ body: (_ prefixed: UnsafeRawBufferPointer, _ body: UnsafeRawBufferPointer) throws -> R
    ) rethrows -> R {
        let buffer = evhttp_request_get_input_buffer(request)
        let bodyLength = evbuffer_get_length(buffer)
        if !prefix.isEmpty {
            _ = prefix.withUnsafeBytes { evbuffer_prepend(buffer, $0.baseAddress, $0.count) }
        }
        let total = prefix.count + bodyLength
        guard total > 0, let start = evbuffer_pullup(buffer, -1) else {
            let empty = UnsafeRawBufferPointer(start: nil, count: 0)
            return try body(empty, empty)
        }
        let whole = UnsafeRawBufferPointer(start: start, count: total)
        let tail = UnsafeRawBufferPointer(start: start + prefix.count, count: bodyLength)
        return try body(whole, tail)
    }
}

/// What the handler answers.
public struct HTTPResponse: Sendable, Equatable {
    public var status: Int
    public var headers: [(String, String)]
    public var body: [UInt8]

    public init(status: Int, headers: [(String, String)] = [], body: [UInt8] = []) {
        self.status = status
        self.headers = headers
        self.body = body
    }

    public static func == (lhs: HTTPResponse, rhs: HTTPResponse) -> Bool {
        lhs.status == rhs.status && lhs.body == rhs.body
            && lhs.headers.map { "\($0.0):\($0.1)" } == rhs.headers.map { "\($0.0):\($0.1)" }
    }

    /// A JSON response; adds the content type.
    public static func json(_ status: Int, _ body: [UInt8], headers: [(String, String)] = []) -> HTTPResponse {
        HTTPResponse(status: status, headers: [("Content-Type", "application/json")] + headers, body: body)
    }
}

/// The reason phrase for a status code.
func reasonPhrase(_ status: Int) -> String {
    switch status {
    case 200: return "OK"
    case 201: return "Created"
    case 202: return "Accepted"
    case 204: return "No Content"
    case 400: return "Bad Request"
    case 401: return "Unauthorized"
    case 403: return "Forbidden"
    case 404: return "Not Found"
    case 405: return "Method Not Allowed"
    case 409: return "Conflict"
    case 413: return "Payload Too Large"
    case 415: return "Unsupported Media Type"
    case 422: return "Unprocessable Entity"
    case 429: return "Too Many Requests"
    case 500: return "Internal Server Error"
    case 503: return "Service Unavailable"
    default: return "Status \(status)"
    }
}
