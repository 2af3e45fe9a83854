import CallflowCore

/// A scripted call: which flow, who calls, what the caller and the world do, and what must happen.
/// Read from `tests/scenarios/*.json`; `callflow simulate` builds one from its flags.
public struct Scenario: Sendable, Equatable {
    public var name: String
    public var description: String?
    public var flow: String
    public var direction: String = "inbound"
    public var from: String = "+13125550101"
    public var to: String = "+13125550100"
    /// Unix seconds of the simulated start.
    public var start: Int64 = 1_795_449_600
    public var vars: JSONObject = [:]
    public var caller = CallerScript()
    /// `"METHOD URL"` → mocked response.
    public var http: [String: HTTPMock] = [:]
    public var faults = Faults()
    public var expect = Expectations()

    public init(name: String, flow: String) {
        self.name = name
        self.flow = flow
    }

    public struct HTTPMock: Sendable, Equatable {
        public var status: Int = 200
        public var body: JSONValue? = nil
        /// `timeout` or `connection refused`: the request fails instead.
        public var error: String? = nil
        public var delayMs: Int = 80
        public init() {}
    }

    /// Faults Telnyx is known to produce, injected on purpose.
    public struct Faults: Sendable, Equatable {
        /// Event types delivered twice (same id).
        public var duplicate: Set<String> = []
        /// Event type → extra delivery delay (reorders events).
        public var delayMs: [String: Int] = [:]
        /// Event type → a copy with a new id arrives this much later (stale by then).
        public var lateCopyMs: [String: Int] = [:]
        /// Action → the API refuses it (once) with this status and error code.
        public var apiErrors: [String: (status: Int, code: String)] = [:]
        public init() {}

        /// When and what to deliver for one webhook Telnyx sends after `delayMs`: the original
        /// (delayed if asked), a duplicate, and a stale copy with a fresh id. `copy` numbers the
        /// stale copies so their ids stay unique and deterministic.
        public func deliveries(of body: JSONValue, after delayMs: Int, copy: inout Int) -> [(delayMs: Int, body: JSONValue)] {
            let type = body["data"]?["event_type"]?.stringValue ?? ""
            let d = delayMs + (self.delayMs[type] ?? 0)
            var out = [(d, body)]
            if duplicate.contains(type) { out.append((d + 1, body)) }
            if let late = lateCopyMs[type], case .object(var root) = body, case .object(var data)? = root["data"] {
                copy += 1
                data["id"] = .string("late-copy-\(copy)")
                root["data"] = .object(data)
                out.append((d + late, .object(root)))
            }
            return out
        }

        public static func == (a: Faults, b: Faults) -> Bool {
            a.duplicate == b.duplicate && a.delayMs == b.delayMs && a.lateCopyMs == b.lateCopyMs
                && a.apiErrors.mapValues { "\($0.status) \($0.code)" } == b.apiErrors.mapValues { "\($0.status) \($0.code)" }
        }
    }

    public struct Expectations: Sendable, Equatable {
        /// Nodes (`flow/node`) that must be entered, in this order (others may come between).
        public var path: [String] = []
        /// Nodes that must never be entered.
        public var notVisited: [String] = []
        /// Actions that must be sent, in this order (others may come between).
        public var commands: [String] = []
        /// `transferred`, `connected`, `rejected`, `flow_hung_up`, `caller_hung_up`.
        public var ending: String? = nil
        /// Variables that must hold these values at the end.
        public var vars: JSONObject = [:]
        /// Texts that must be spoken, in order (substrings).
        public var spoken: [String] = []
        /// Actions that must be sent exactly once (duplicated webhooks must not repeat them).
        public var sentOnce: [String] = []
        public init() {}
    }

    /// Why a scenario file cannot be used.
    public struct ParseError: Error, Sendable, Equatable, CustomStringConvertible {
        public var pointer: String
        public var message: String
        public var description: String { "\(pointer.isEmpty ? "/" : pointer): \(message)" }
    }

    public static func parse(_ bytes: [UInt8], name: String) throws(ParseError) -> Scenario {
        let root: JSONValue
        do { root = try JSONParser.parse(bytes) } catch { throw ParseError(pointer: "", message: "\(error)") }
        guard case .object(let o) = root else { throw ParseError(pointer: "", message: "a scenario is a JSON object") }
        func fail(_ p: String, _ m: String) -> ParseError { ParseError(pointer: p, message: m) }
        let known = ["$schema", "description", "flow", "direction", "from", "to", "now", "vars", "caller", "http", "faults", "expect"]
        for key in o.keys where !known.contains(key) {
            throw fail("/\(key)", "unknown field" + (Spelling.nearest(to: key, in: known).map { "; did you mean \"\($0)\"?" } ?? ""))
        }
        guard let flow = o["flow"]?.stringValue else { throw fail("/flow", "missing required string field \"flow\"") }
        var s = Scenario(name: name, flow: flow)
        s.description = o["description"]?.stringValue
        if let d = o["direction"] {
            guard let v = d.stringValue, v == "inbound" || v == "outbound" else { throw fail("/direction", "expected inbound or outbound") }
            s.direction = v
        }
        if let v = o["from"] { guard let t = v.stringValue else { throw fail("/from", "expected string") }; s.from = t }
        if let v = o["to"] { guard let t = v.stringValue else { throw fail("/to", "expected string") }; s.to = t }
        if let v = o["now"] {
            guard let text = v.stringValue, let t = Timestamp.parse(text) else {
                throw fail("/now", "expected an ISO-8601 time with offset, like 2026-11-23T10:00:00-06:00")
            }
            s.start = t
        }
        if let v = o["vars"] { guard let obj = v.objectValue else { throw fail("/vars", "expected object") }; s.vars = obj }
        if let c = o["caller"] {
            guard let obj = c.objectValue else { throw fail("/caller", "expected object") }
            s.caller = try Self.caller(obj)
        }
        if let h = o["http"] {
            guard let obj = h.objectValue else { throw fail("/http", "expected object") }
            for (key, value) in obj.members {
                let parts = key.split(separator: " ", maxSplits: 1)
                guard parts.count == 2, ["GET", "POST", "PUT", "PATCH", "DELETE"].contains(String(parts[0])), let m = value.objectValue else {
                    throw fail("/http/\(JSONPointer.escape(key))", "expected \"METHOD URL\": {status, body} ")
                }
                var mock = HTTPMock()
                mock.status = m["status"]?.intValue ?? 200
                mock.body = m["body"]
                mock.error = m["error"]?.stringValue
                mock.delayMs = m["delay_ms"]?.intValue ?? 80
                s.http[key] = mock
            }
        }
        if let f = o["faults"]?.objectValue {
            s.faults.duplicate = Set(f["duplicate"]?.arrayValue?.compactMap(\.stringValue) ?? [])
            for (k, v) in f["delay_ms"]?.objectValue?.members ?? [] { s.faults.delayMs[k] = v.intValue ?? 0 }
            for (k, v) in f["late_copy_ms"]?.objectValue?.members ?? [] { s.faults.lateCopyMs[k] = v.intValue ?? 0 }
            for (k, v) in f["api_errors"]?.objectValue?.members ?? [] {
                s.faults.apiErrors[k] = (v["status"]?.intValue ?? 422, v["code"]?.stringValue ?? "10015")
            }
        }
        if let e = o["expect"] {
            guard let obj = e.objectValue else { throw fail("/expect", "expected object") }
            let strings = { (k: String) in obj[k]?.arrayValue?.compactMap(\.stringValue) ?? [] }
            s.expect.path = strings("path")
            s.expect.notVisited = strings("not_visited")
            s.expect.commands = strings("commands")
            s.expect.spoken = strings("spoken")
            s.expect.sentOnce = strings("sent_once")
            let expectKeys = ["path", "not_visited", "commands", "spoken", "sent_once", "ending", "vars"]
            for key in obj.keys where !expectKeys.contains(key) {
                throw fail("/expect/\(key)", "unknown field" + (Spelling.nearest(to: key, in: expectKeys).map { "; did you mean \"\($0)\"?" } ?? ""))
            }
            s.expect.ending = obj["ending"]?.stringValue
            s.expect.vars = obj["vars"]?.objectValue ?? [:]
        }
        return s
    }

    static func caller(_ o: JSONObject) throws(ParseError) -> CallerScript {
        var c = CallerScript()
        let known = ["digits", "amd", "target", "recording_secs", "ai_result", "hangup_after_node", "hangup_after_ms"]
        for key in o.keys where !known.contains(key) {
            throw ParseError(pointer: "/caller/\(key)", message: "unknown field" + (Spelling.nearest(to: key, in: known).map { "; did you mean \"\($0)\"?" } ?? ""))
        }
        if let d = o["digits"] {
            guard let list = d.arrayValue, list.allSatisfy({ $0.stringValue != nil }) else {
                throw ParseError(pointer: "/caller/digits", message: "expected a list of strings, one per gather (\"\" = silence)")
            }
            c.inputs = list.compactMap(\.stringValue)
        }
        if let v = o["amd"]?.stringValue { c.amd = v }
        if let v = o["target"]?.stringValue {
            guard ["answer", "busy", "no_answer"].contains(v) else {
                throw ParseError(pointer: "/caller/target", message: "expected answer, busy or no_answer")
            }
            c.target = v
        }
        if let v = o["recording_secs"]?.intValue { c.recordingSeconds = v }
        if let v = o["ai_result"] { c.aiResult = v.isNull ? nil : v }
        c.hangupAfterNode = o["hangup_after_node"]?.stringValue
        c.hangupAfterMs = o["hangup_after_ms"]?.intValue
        return c
    }
}

extension Timestamp {
    /// `2026-11-23T10:00:00-06:00` or `...Z` → Unix seconds.
    public static func parse(_ text: String) -> Int64? {
        let chars = Array(text.utf8)
        guard chars.count >= 20 else { return nil }
        func num(_ a: Int, _ b: Int) -> Int? { Int(String(decoding: chars[a..<b], as: UTF8.self)) }
        guard let y = num(0, 4), let mo = num(5, 7), let d = num(8, 10), let h = num(11, 13), let mi = num(14, 16), let s = num(17, 19),
            chars[4] == 45, chars[7] == 45, chars[10] == 84, (1...12).contains(mo), (1...31).contains(d), h < 24, mi < 60, s < 61
        else { return nil }
        var rest = chars[19...]
        if rest.first == 46 { rest = rest.drop(while: { $0 == 46 || ($0 >= 48 && $0 <= 57) }) }
        var offset = 0
        if rest.first == 90 { offset = 0 } else if rest.count == 6, rest.first == 43 || rest.first == 45 {
            let r = Array(rest)
            guard let oh = Int(String(decoding: r[1..<3], as: UTF8.self)), let om = Int(String(decoding: r[4..<6], as: UTF8.self)) else { return nil }
            offset = (oh * 3600 + om * 60) * (r[0] == 45 ? -1 : 1)
        } else { return nil }
        // Days from civil (Howard Hinnant).
        let yy = mo <= 2 ? y - 1 : y
        let era = (yy >= 0 ? yy : yy - 399) / 400
        let yoe = yy - era * 400
        let doy = (153 * (mo + (mo > 2 ? -3 : 9)) + 2) / 5 + d - 1
        let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy
        let days = era * 146_097 + doe - 719_468
        return Int64(days) * 86_400 + Int64(h * 3600 + mi * 60 + s - offset)
    }
}
