import CallflowCore
import EventHTTP

/// The Telnyx account operations behind `callflow telnyx ...`: Call Control Applications, the
/// `connect` wizard, active calls, call status and call events.
public struct AccountCommands {
    public let api: TelnyxAPI

    public init(api: TelnyxAPI) { self.api = api }

    static func escape(_ id: String) -> String { PathEscape.segment(id) }

    public func listApps() throws(TelnyxAPIError) -> [JSONValue] {
        try api.allPages("/call_control_applications", what: "listing applications")
    }

    public func showApp(_ id: String) throws(TelnyxAPIError) -> JSONValue {
        try api.request("GET", "/call_control_applications/\(Self.escape(id))", what: "application \(id)")["data"] ?? .null
    }

    public func createApp(
        name: String, webhookURL: String, failoverURL: String? = nil, timeoutSecs: Int? = nil,
        active: Bool? = nil
    ) throws(TelnyxAPIError) -> JSONValue {
        var body: JSONObject = ["application_name": .string(name), "webhook_event_url": .string(webhookURL), "webhook_api_version": "2"]
        if let failoverURL { body["webhook_event_failover_url"] = .string(failoverURL) }
        if let timeoutSecs { body["webhook_timeout_secs"] = .int(timeoutSecs) }
        if let active { body["active"] = .bool(active) }
        return try api.request("POST", "/call_control_applications", body: .object(body), what: "creating application \(name)")["data"] ?? .null
    }

    /// PATCH requires `application_name` and `webhook_event_url`, so unchanged ones are read first.
    public func updateApp(
        _ id: String, webhookURL: String? = nil, failoverURL: String? = nil, timeoutSecs: Int? = nil,
        active: Bool? = nil
    ) throws(TelnyxAPIError) -> JSONValue {
        let current = try showApp(id)
        var body: JSONObject = [
            "application_name": current["application_name"] ?? "",
            "webhook_event_url": webhookURL.map(JSONValue.string) ?? current["webhook_event_url"] ?? "",
            "webhook_api_version": "2",
        ]
        if let failoverURL { body["webhook_event_failover_url"] = .string(failoverURL) }
        if let timeoutSecs { body["webhook_timeout_secs"] = .int(timeoutSecs) }
        if let active { body["active"] = .bool(active) }
        return try api.request(
            "PATCH", "/call_control_applications/\(Self.escape(id))", body: .object(body),
            what: "updating application \(id)")["data"] ?? .null
    }

    public func deleteApp(_ id: String) throws(TelnyxAPIError) -> JSONValue {
        try api.request("DELETE", "/call_control_applications/\(Self.escape(id))", what: "deleting application \(id)")["data"] ?? .null
    }

    public struct Connected: Sendable {
        public var app: JSONValue
        public var created: Bool
        public var webhookURL: String
        /// `nil` when /healthz answered 200, else why not.
        public var healthProblem: String?
    }

    /// Points an application (by id, or by exact name — created when absent) at
    /// `<publicURL><webhookPath>`, then checks that `<publicURL>/healthz` answers.
    public func connect(publicURL: String, webhookPath: String, appID: String?, name: String?) throws(TelnyxAPIError) -> Connected {
        let base = publicURL.hasSuffix("/") ? String(publicURL.dropLast()) : publicURL
        let webhook = base + webhookPath
        var app: JSONValue
        var created = false
        if let appID {
            app = try updateApp(appID, webhookURL: webhook)
        } else {
            let wanted = name ?? "callflow"
            let existing = try api.allPages(
                "/call_control_applications", query: [("filter[application_name][contains]", wanted)],
                what: "looking up application \(wanted)")
            if let match = existing.first(where: { $0["application_name"]?.stringValue == wanted }), let id = match["id"]?.stringValue {
                app = try updateApp(id, webhookURL: webhook)
            } else {
                app = try createApp(name: wanted, webhookURL: webhook)
                created = true
            }
        }
        let health = api.probe(base + "/healthz")
        return Connected(app: app, created: created, webhookURL: webhook, healthProblem: health)
    }

    public func activeCalls(connection: String) throws(TelnyxAPIError) -> [JSONValue] {
        try api.allCursorPages("/connections/\(Self.escape(connection))/active_calls", what: "active calls of connection \(connection)")
    }

    public func call(_ id: String) throws(TelnyxAPIError) -> JSONValue {
        try api.request("GET", "/calls/\(Self.escape(id))", what: "call \(id)")["data"] ?? .null
    }

    public func events(legID: String?, since: String?) throws(TelnyxAPIError) -> [JSONValue] {
        var query: [(String, String)] = []
        if let legID { query.append(("filter[leg_id]", legID)) }
        if let since { query.append(("filter[occurred_at][gte]", since)) }
        return try api.allPages("/call_events", query: query, what: "call events")
    }
}

extension TelnyxAPI {
    /// GETs `url` (no API key sent); `nil` when it answers 200, else what went wrong.
    public func probe(_ url: String) -> String? {
        do {
            _ = try requestWithoutKey(url)
            return nil
        } catch {
            return "\(error)"
        }
    }
}

/// Plain text tables for terminal output.
public enum TextTable {
    public static func render(_ headers: [String], _ rows: [[String]]) -> String {
        var widths = headers.map(\.count)
        for row in rows { for (i, cell) in row.enumerated() where i < widths.count { widths[i] = max(widths[i], cell.count) } }
        func line(_ cells: [String]) -> String {
            cells.enumerated().map { i, c in i == cells.count - 1 ? c : c + String(repeating: " ", count: widths[i] - c.count) }
                .joined(separator: "  ")
        }
        return ([line(headers)] + rows.map(line)).joined(separator: "\n") + "\n"
    }

    /// A JSON value as a table cell.
    public static func cell(_ v: JSONValue?) -> String {
        guard let v, !v.isNull else { return "-" }
        return v.templateText
    }
}
