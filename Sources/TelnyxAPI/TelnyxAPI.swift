import CallflowCore
import CallflowLoop
import EventHTTP
import Foundation
import TelnyxREST

/// Why an account command failed. Messages say what to check and never contain the API key.
public struct TelnyxAPIError: Error, Sendable, CustomStringConvertible {
    public var status: Int?
    public var errors: [TelnyxError]
    public var message: String

    public var description: String {
        var lines = [message]
        for e in errors {
            lines.append("  \(e.title ?? "error")\(e.detail.map { ": \($0)" } ?? "")\(e.pointer.map { " (field \($0))" } ?? "")")
        }
        return lines.joined(separator: "\n")
    }
}

/// Blocking calls to the Telnyx REST API for the CLI: each request runs this thread's own event
/// loop until it completes, through the same libcurl client and retry rules (TelnyxREST) as the
/// server. It needs nothing of the server (CallflowServer), so the server library carries no
/// CLI-only code and this client cannot come to lean on the server's internals.
public final class TelnyxAPI {
    private let loop: EventLoop
    private let http: HTTPClient
    private let baseURL: String
    private let authorization: String
    private let policy: RetryPolicy
    private let clockMs: () -> Int64

    /// `clockMs` (Unix milliseconds) measures the retry deadline and turns an `x-ratelimit-reset`
    /// Unix time into a wait. It is injected rather than borrowed from the server, so this client
    /// stands alone and a test can fix the time.
    public init(
        baseURL: String, apiKey: String, policy: RetryPolicy = RetryPolicy(maxAttempts: 4, deadlineMs: 30_000),
        clockMs: @escaping () -> Int64 = Clocks.wallMs
    ) throws {
        loop = try EventLoop()
        http = try HTTPClient(loop: loop)
        self.baseURL = baseURL.hasSuffix("/") ? String(baseURL.dropLast()) : baseURL
        authorization = "Bearer \(apiKey)"
        self.policy = policy
        self.clockMs = clockMs
    }

    /// Performs one request; returns the decoded JSON body (`null` for an empty one).
    public func request(
        _ method: String, _ path: String, query: [(String, String)] = [], body: JSONValue? = nil,
        what: String
    ) throws(TelnyxAPIError) -> JSONValue {
        var url = baseURL + path
        if !query.isEmpty {
            url +=
                "?"
                + query.map { "\(PathEscape.segment($0.0, keepingBrackets: true))=\(PathEscape.segment($0.1, keepingBrackets: true))" }.joined(
                    separator: "&")
        }
        var headers = [("Authorization", authorization), ("Accept", "application/json"), ("User-Agent", "callflow/1")]
        if body != nil { headers.append(("Content-Type", "application/json")) }
        let request = ClientRequest(method: method, url: url, headers: headers, body: body?.jsonBytes, timeoutMs: 15_000, maxResponseBytes: 16 << 20)
        var outcome: Result<(ClientResponse, Int), CommandFailure>? = nil
        let sender = RetryingRequest(http: http, loop: loop, policy: policy, clockMs: clockMs, random: { Double.random(in: 0...1) })
        sender.perform(request, what: what, onRetry: { _, _, _ in }) { [loop] result in
            outcome = result
            loop.handle.stop()
        }
        do { try loop.run() } catch { throw TelnyxAPIError(status: nil, errors: [], message: "\(error)") }
        switch outcome {
        case .success(let (response, _))?:
            if response.body.isEmpty { return .null }
            guard let json = try? JSONParser.parse(response.body) else {
                throw TelnyxAPIError(status: response.status, errors: [], message: "Telnyx answered \(what) with something that is not JSON")
            }
            return json
        case .failure(let failure)?:
            throw Self.explain(failure, what: what)
        case nil:
            throw TelnyxAPIError(status: nil, errors: [], message: "\(what): no answer")
        }
    }

    /// One GET of an arbitrary URL without credentials (the `connect` health check).
    func requestWithoutKey(_ url: String) throws(TelnyxAPIError) -> Int {
        var outcome: Result<ClientResponse, ClientError>? = nil
        http.send(ClientRequest(method: "GET", url: url, timeoutMs: 5000, maxResponseBytes: 64 << 10)) { [loop] result in
            outcome = result
            loop.handle.stop()
        }
        do { try loop.run() } catch { throw TelnyxAPIError(status: nil, errors: [], message: "\(error)") }
        switch outcome {
        case .success(let r)? where r.status == 200: return 200
        case .success(let r)?: throw TelnyxAPIError(status: r.status, errors: [], message: "\(url) answered HTTP \(r.status)")
        case .failure(let e)?: throw TelnyxAPIError(status: nil, errors: [], message: "\(url): \(e)")
        case nil: throw TelnyxAPIError(status: nil, errors: [], message: "\(url): no answer")
        }
    }

    static func explain(_ failure: CommandFailure, what: String) -> TelnyxAPIError {
        let message: String
        switch failure.status {
        case 401?, 403?: message = "\(what): Telnyx refused the API key (HTTP \(failure.status!)): check TELNYX_API_KEY"
        case 404?: message = "\(what): not found (HTTP 404): check the id"
        case 422?: message = "\(what): Telnyx rejected the request (HTTP 422)"
        case let status?: message = "\(what): HTTP \(status) (\(failure.reason))"
        case nil: message = "\(what): \(failure.reason)"
        }
        return TelnyxAPIError(status: failure.status, errors: failure.errors, message: message)
    }

    /// Every item of a `page[number]`/`page[size]` listing, following `meta.total_pages`.
    public func allPages(_ path: String, query: [(String, String)] = [], size: Int = 250, what: String) throws(TelnyxAPIError) -> [JSONValue] {
        var items: [JSONValue] = []
        var page = 1
        while true {
            let json = try request("GET", path, query: query + [("page[number]", String(page)), ("page[size]", String(size))], what: what)
            items += json["data"]?.arrayValue ?? []
            let total = json["meta"]?["total_pages"]?.intValue ?? 1
            if page >= total || page >= 1000 { return items }
            page += 1
        }
    }

    /// Every item of a cursor listing (`meta.cursors.after`), as active calls are paged.
    public func allCursorPages(_ path: String, size: Int = 250, what: String) throws(TelnyxAPIError) -> [JSONValue] {
        var items: [JSONValue] = []
        var after: String? = nil
        for _ in 0..<1000 {
            var query = [("page[limit]", String(size))]
            if let after { query.append(("page[after]", after)) }
            let json = try request("GET", path, query: query, what: what)
            let data = json["data"]?.arrayValue ?? []
            items += data
            guard let next = json["meta"]?["cursors"]?["after"]?.stringValue, !next.isEmpty, !data.isEmpty, next != after else { return items }
            after = next
        }
        return items
    }
}

extension TelnyxError {
    /// `errors[].source.pointer` as a field name (`/webhook_event_url` → `webhook_event_url`), when Telnyx gives one.
    public var pointer: String? { source }
}
