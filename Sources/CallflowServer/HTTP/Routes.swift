import CallflowCore
import EventHTTP
import Logging

/// The server's URL space: what answers where, and with which methods. A reader looking for
/// "what happens to a POST on /x" starts here.
final class Routes {
    private let webhookPath: String
    private let ingest: WebhookIngest
    /// `/v1/*` and `/admin/*`.
    private let control: ControlAPI?
    /// `/readyz`: ready to take calls (flows loaded, store healthy, not shutting down).
    private let readiness: () -> HTTPResponse
    /// `/metrics`: Prometheus text.
    private let metrics: (() -> HTTPResponse)?

    init(
        webhookPath: String, ingest: WebhookIngest, control: ControlAPI?, readiness: @escaping () -> HTTPResponse,
        metrics: (() -> HTTPResponse)?
    ) {
        self.webhookPath = webhookPath
        self.ingest = ingest
        self.control = control
        self.readiness = readiness
        self.metrics = metrics
    }

    func handle(_ request: borrowing HTTPRequest) -> HTTPResponse? {
        let path = request.path
        let method = request.method
        if ControlAPI.owns(path), let control { return control.handle(request) }
        switch path {
        case "/readyz":
            guard method == "GET" || method == "HEAD" else { return methodNotAllowed(method, allow: "GET, HEAD") }
            return readiness()
        case "/metrics" where metrics != nil:
            guard method == "GET" else { return methodNotAllowed(method, allow: "GET") }
            return metrics?()
        case "/healthz":
            guard method == "GET" || method == "HEAD" else { return methodNotAllowed(method, allow: "GET, HEAD") }
            return .ok
        case webhookPath:
            guard method == "POST" else { return methodNotAllowed(method, allow: "POST") }
            return ingest.handle(request)
        default:
            return .error(404, "no route for \(path)")
        }
    }

    private func methodNotAllowed(_ method: String, allow: String) -> HTTPResponse {
        .error(405, "method \(method) not allowed; use \(allow)", headers: [("Allow", allow)])
    }
}
