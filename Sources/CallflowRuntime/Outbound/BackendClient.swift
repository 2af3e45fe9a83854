import CallflowCore
import EventHTTP

/// Where the requests of `http` nodes go. The server uses `BackendClient` (the user's real
/// backend); `callflow dev` answers them from a mock file instead, so a demo call never waits for
/// a host that does not exist. Completion runs on the loop thread.
public protocol BackendRequests: AnyObject {
    func perform(_ call: HTTPCall, completion: @escaping (HTTPOutcome) -> Void)
}

/// Performs the requests of `http` nodes against the user's own backend. Results go back into
/// the machine as `.httpResult`; the machine decides what a status or body means.
public final class BackendClient: BackendRequests {
    private let http: HTTPClient
    private let maxResponseBytes: Int

    public init(http: HTTPClient, maxResponseBytes: Int) {
        self.http = http
        self.maxResponseBytes = maxResponseBytes
    }

    public func perform(_ call: HTTPCall, completion: @escaping (HTTPOutcome) -> Void) {
        var headers = call.headers.sorted { $0.key < $1.key }.map { ($0.key, $0.value) }
        headers.append(("Idempotency-Key", call.idempotencyKey))
        if !call.headers.keys.contains(where: { $0.lowercased() == "accept" }) { headers.append(("Accept", "application/json")) }
        if !call.headers.keys.contains(where: { $0.lowercased() == "user-agent" }) { headers.append(("User-Agent", "callflow/1")) }
        let request = ClientRequest(
            method: call.method, url: call.url, headers: headers, body: call.body, timeoutMs: call.timeoutMs,
            maxResponseBytes: maxResponseBytes)
        http.send(request) { result in
            switch result {
            case .success(let response): completion(.response(status: response.status, body: response.body))
            case .failure(let error): completion(.failed("\(error)"))
            }
        }
    }
}
