import CLibevent

/// A request as the handler sees it, valid during the handler call.
public struct HTTPRequest: ~Copyable {
    let parsed: ParsedRequest
    let pending: PendingReply

    init(parsed: ParsedRequest, pending: PendingReply) {
        self.parsed = parsed
        self.pending = pending
    }

    /// Takes the reply out of the handler: return `nil` from the handler and `send` later.
    public func deferReply() -> PendingReply {
        pending.taken = true
        return pending
    }

    /// `GET`, `POST`, ... as sent (methods are case-sensitive; any token reaches the handler, so
    /// routes answer 404/405 for methods they do not know).
    public var method: String { parsed.method }

    /// The path without the query string, not percent-decoded; "/" when the target has none.
    public var path: String {
        let target = parsed.target
        let end = target.firstIndex { $0 == "?" || $0 == "#" } ?? target.endIndex
        let path = target[..<end]
        return path.hasPrefix("/") ? String(path) : "/"
    }

    /// The raw query string, if any.
    public var query: String? {
        guard let q = parsed.target.firstIndex(of: "?") else { return nil }
        let rest = parsed.target[parsed.target.index(after: q)...]
        return String(rest.prefix { $0 != "#" })
    }

    /// A request header, looked up case-insensitively (the first, when repeated).
    public func header(_ name: String) -> String? {
        parsed.header(name.lowercased())
    }

    public var bodyCount: Int { parsed.body.count }

    /// Gives `body` contiguous, with `prefix` placed directly before it in the same buffer, so a
    /// caller that must hash `prefix + body` (a webhook signature) hashes one buffer.
    public func withBody<R>(
        prefixedBy prefix: [UInt8] = [],
        _ body: (_ prefixed: UnsafeRawBufferPointer, _ body: UnsafeRawBufferPointer) throws -> R
    ) rethrows -> R {
        if prefix.isEmpty {
            return try parsed.body.withUnsafeBytes { try body($0, $0) }
        }
        let whole = prefix + parsed.body
        return try whole.withUnsafeBytes { all in
            try body(all, UnsafeRawBufferPointer(rebasing: all[prefix.count...]))
        }
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
    case 408: return "Request Timeout"
    case 409: return "Conflict"
    case 413: return "Payload Too Large"
    case 415: return "Unsupported Media Type"
    case 422: return "Unprocessable Entity"
    case 429: return "Too Many Requests"
    case 431: return "Request Header Fields Too Large"
    case 500: return "Internal Server Error"
    case 501: return "Not Implemented"
    case 502: return "Bad Gateway"
    case 503: return "Service Unavailable"
    case 505: return "HTTP Version Not Supported"
    default: return "Status \(status)"
    }
}
