import CallflowCore
import CallflowRuntime
import EventHTTP

/// What the control API needs from the running server.
public protocol ControlBackend: AnyObject {
    /// Re-reads and checks every flow; keeps the old set on any error.
    func reloadFlows() -> Result<String, ReloadError>
    var flowSet: FlowSet { get }
    var retainedRevisions: [String] { get }
    /// The live or recently finished call, as JSON.
    func callDocument(_ id: String, reply: @escaping (JSONValue?) -> Void)
    /// Dials `request` and starts its flow; `reply` gets the HTTP answer.
    func placeCall(_ request: DialRequest, reply: @escaping (HTTPResponse) -> Void)
}

/// Why a reload kept the old flows.
public struct ReloadError: Error, Sendable, CustomStringConvertible {
    public var problems: [String]
    public var description: String { problems.joined(separator: "\n") }
}

/// The bearer-token control API: `POST /v1/calls`, `GET /v1/calls/{id}`, `GET /v1/flows`,
/// `POST /admin/reload`. Off (404) when no token is configured.
public final class ControlAPI {
    private let token: [UInt8]?
    private unowned let backend: any ControlBackend
    static let amdModes = ["disabled", "detect", "detect_beep", "detect_words", "greeting_end", "premium"]

    public init(token: String?, backend: any ControlBackend) {
        self.token = token.map { Array($0.utf8) }
        self.backend = backend
    }

    /// Whether `path` belongs to the control API.
    public static func owns(_ path: String) -> Bool { path.hasPrefix("/v1/") || path == "/v1" || path.hasPrefix("/admin/") }

    public func handle(_ request: borrowing HTTPRequest) -> HTTPResponse? {
        guard let token else { return .error(404, "control API disabled: set CALLFLOW_ADMIN_TOKEN to enable it") }
        guard let given = request.header("authorization"), given.hasPrefix("Bearer "),
            Self.constantTimeEqual(Array(given.dropFirst(7).utf8), token)
        else {
            return .error(401, "missing or wrong bearer token", headers: [("WWW-Authenticate", "Bearer")])
        }
        let path = request.path
        let method = request.method
        switch path {
        case "/admin/reload":
            guard method == "POST" else { return .error(405, "use POST", headers: [("Allow", "POST")]) }
            switch backend.reloadFlows() {
            case .success(let revision): return .json(200, JSONValue.object(["status": "reloaded", "revision": .string(revision)]).jsonBytes)
            case .failure(let error):
                return .json(
                    422,
                    JSONValue.object([
                        "error": "flows have errors; the previous flows stay active",
                        "problems": .array(error.problems.map(JSONValue.string)),
                    ]).jsonBytes)
            }
        case "/v1/flows":
            guard method == "GET" else { return .error(405, "use GET", headers: [("Allow", "GET")]) }
            let set = backend.flowSet
            let flows = set.flows.keys.sorted().map { name -> JSONValue in
                let f = set.flows[name]!
                return .object([
                    "name": .string(name), "description": f.description.map(JSONValue.string) ?? .null,
                    "nodes": .int(f.order.count), "start": .string(f.start),
                ])
            }
            return .json(
                200,
                JSONValue.object([
                    "revision": .string(set.revision), "flows": .array(flows),
                    "revisions_in_use": .array(backend.retainedRevisions.map(JSONValue.string)),
                ]).jsonBytes)
        case "/v1/calls":
            guard method == "POST" else { return .error(405, "use POST", headers: [("Allow", "POST")]) }
            let parsed = request.withBody { _, body in Result { () throws(JSONParseError) in try JSONParser.parse(body) } }
            let outbound: DialRequest
            switch parsed {
            case .failure(let e): return .error(400, "body is not JSON: \(e)")
            case .success(let value):
                switch validate(value) {
                case .failure(let message): return .error(400, message.text)
                case .success(let r): outbound = r
                }
            }
            let pending = request.deferReply()
            backend.placeCall(outbound) { pending.send($0) }
            return nil
        default:
            if path.hasPrefix("/v1/calls/") {
                guard method == "GET" else { return .error(405, "use GET", headers: [("Allow", "GET")]) }
                let id = String(path.dropFirst("/v1/calls/".count))
                let pending = request.deferReply()
                backend.callDocument(id) { document in
                    pending.send(document.map { .json(200, $0.jsonBytes) } ?? .error(404, "no live or recent call \(id)"))
                }
                return nil
            }
            return .error(404, "no route for \(path)")
        }
    }

    struct Message: Error, Sendable { var text: String }

    func validate(_ value: JSONValue) -> Result<DialRequest, Message> {
        guard case .object(let o) = value else { return .failure(Message(text: "expected a JSON object")) }
        let known = ["to", "from", "connection_id", "flow", "vars", "machine_detection"]
        for key in o.keys where !known.contains(key) {
            return .failure(
                Message(text: "unknown field \"\(key)\"" + (Spelling.nearest(to: key, in: known).map { "; did you mean \"\($0)\"?" } ?? "")))
        }
        guard let to = o["to"]?.stringValue else { return .failure(Message(text: "\"to\" is required (E.164, like +13125550100)")) }
        guard E164.isDialable(to) else { return .failure(Message(text: "\"to\" must be E.164 (+13125550100) or a sip: URI, got \"\(to)\"")) }
        guard let from = o["from"]?.stringValue else { return .failure(Message(text: "\"from\" is required (one of your Telnyx numbers, E.164)")) }
        guard E164.isValid(from) else { return .failure(Message(text: "\"from\" must be E.164 (+13125550100), got \"\(from)\"")) }
        guard let connection = o["connection_id"]?.stringValue, !connection.isEmpty else {
            return .failure(Message(text: "\"connection_id\" is required (your Call Control Application id)"))
        }
        guard let flow = o["flow"]?.stringValue else { return .failure(Message(text: "\"flow\" is required")) }
        guard backend.flowSet[flow] != nil else {
            let names = backend.flowSet.flows.keys.sorted()
            return .failure(
                Message(
                    text: "no flow \"\(flow)\"" + (Spelling.nearest(to: flow, in: names).map { "; did you mean \"\($0)\"?" } ?? "")
                        + " (flows: \(names.joined(separator: ", ")))"))
        }
        var vars = JSONObject()
        if let v = o["vars"] {
            guard let object = v.objectValue else { return .failure(Message(text: "\"vars\" must be an object")) }
            vars = object
        }
        var amd = "detect"
        if let v = o["machine_detection"] {
            guard let mode = v.stringValue, Self.amdModes.contains(mode) else {
                return .failure(Message(text: "\"machine_detection\" must be one of \(Self.amdModes.joined(separator: ", "))"))
            }
            amd = mode
        }
        return .success(DialRequest(to: to, from: from, connectionID: connection, flow: flow, vars: vars, machineDetection: amd))
    }

    /// Compares without an early exit, so response time says nothing about the token.
    static func constantTimeEqual(_ a: [UInt8], _ b: [UInt8]) -> Bool {
        var diff = UInt8(a.count == b.count ? 0 : 1)
        for i in 0..<max(a.count, b.count) {
            diff |= (i < a.count ? a[i] : 0) ^ (i < b.count ? b[i] : 0)
        }
        return diff == 0
    }
}
