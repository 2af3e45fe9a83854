/// An outbound HTTP request.
public struct ClientRequest: Sendable, Equatable {
    public var method: String
    public var url: String
    public var headers: [(String, String)]
    public var body: [UInt8]?
    /// Whole-request deadline (connect + send + response).
    public var timeoutMs: Int
    /// Responses larger than this fail with `.tooLarge` instead of filling memory.
    public var maxResponseBytes: Int

    public init(
        method: String, url: String, headers: [(String, String)] = [], body: [UInt8]? = nil, timeoutMs: Int = 10_000,
        maxResponseBytes: Int = 1 << 20
    ) {
        self.method = method
        self.url = url
        self.headers = headers
        self.body = body
        self.timeoutMs = timeoutMs
        self.maxResponseBytes = maxResponseBytes
    }

    public static func == (a: ClientRequest, b: ClientRequest) -> Bool {
        a.method == b.method && a.url == b.url && a.body == b.body && a.timeoutMs == b.timeoutMs
            && a.headers.map { $0.0 + ":" + $0.1 } == b.headers.map { $0.0 + ":" + $0.1 }
    }
}

public struct ClientResponse: Sendable {
    public var status: Int
    /// Header names lower-cased, in arrival order.
    public var headers: [(String, String)]
    public var body: [UInt8]
    /// New TCP connections this transfer opened (0 when a kept-alive one was reused).
    public var newConnections: Int
    /// libcurl's clock of the transfer, in µs from when it was handed to libcurl: the request about
    /// to be written (a connection ready), the response's first byte read, and done. A load
    /// generator splits its round trip with these (bench/calls.sh); zeros unless the client's
    /// `recordsTiming` is on.
    public var timing = Timing()

    public struct Timing: Sendable, Equatable {
        public var pretransferUs: Int64 = 0
        public var firstByteUs: Int64 = 0
        public var totalUs: Int64 = 0
        public init() {}
    }

    public func header(_ name: String) -> String? {
        let lower = name.lowercased()
        return headers.last { $0.0 == lower }?.1
    }
}

/// Why a request produced no response. Messages never include request headers (API keys).
public enum ClientError: Error, Sendable, Equatable, CustomStringConvertible {
    /// No complete response within the deadline.
    case timeout(ms: Int)
    /// The response body exceeded the limit.
    case tooLarge(limit: Int)
    /// DNS, connect, TLS, reset or an empty reply.
    case connection(String)
    /// A libcurl call failed outright.
    case curl(function: String, code: Int32)

    public var description: String {
        switch self {
        case .timeout(let ms): return "no response within \(ms) ms"
        case .tooLarge(let limit): return "response larger than \(limit) bytes"
        case .connection(let why): return "connection failed: \(why)"
        case .curl(let function, let code): return "\(function) failed (\(code))"
        }
    }

    /// Worth retrying: the request may not have been processed.
    public var isTransient: Bool {
        switch self {
        case .timeout, .connection: return true
        case .tooLarge, .curl: return false
        }
    }
}
