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
    /// The branch the call takes at each `split` node named (node, or `flow/node`, → branch): the
    /// simulation gives the call an id that the split's hash sends there, so a scenario can cover
    /// every branch without changing how branches are chosen.
    public var splits: [String: String] = [:]
    public var caller = CallerScript()
    /// `"METHOD URL"` → mocked response.
    public var http = HTTPMocks()
    public var faults = Faults()
    public var expect = Expectations()

    public init(name: String, flow: String) {
        self.name = name
        self.flow = flow
    }

    public typealias HTTPMock = TelnyxEmulator.HTTPMock

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
        /// `transferred`, `connected`, `referred`, `rejected`, `flow_hung_up`, `caller_hung_up`.
        public var ending: String? = nil
        /// Variables that must hold these values at the end.
        public var vars: JSONObject = [:]
        /// Texts that must be spoken, in order (substrings).
        public var spoken: [String] = []
        /// Actions that must be sent exactly once (duplicated webhooks must not repeat them).
        public var sentOnce: [String] = []
        public init() {}
    }

    /// Why a scenario file (or a mock file) cannot be used: every problem found, each with its
    /// JSON pointer and, when known, its line and column in the file.
    public struct ParseError: Error, Sendable, Equatable, CustomStringConvertible {
        public struct Problem: Sendable, Equatable {
            public var pointer: String
            public var message: String
            /// 1-based line and column of the value the problem is about.
            public var line: Int?
            public var column: Int?
            public init(pointer: String, message: String, line: Int? = nil, column: Int? = nil) {
                self.pointer = pointer
                self.message = message
                self.line = line
                self.column = column
            }
        }
        /// Never empty.
        public var problems: [Problem]
        public var pointer: String { problems[0].pointer }
        public var message: String { problems[0].message }

        public init(pointer: String, message: String, line: Int? = nil, column: Int? = nil) {
            problems = [Problem(pointer: pointer, message: message, line: line, column: column)]
        }
        init(_ problems: [Problem]) { self.problems = problems }

        /// `/pointer: message`, one line per problem.
        public var description: String {
            problems.map { "\($0.pointer.isEmpty ? "/" : $0.pointer): \($0.message)" }.joined(separator: "\n")
        }

        /// `file:line:column: /pointer: message`, one line per problem (what an editor can jump to).
        public func located(in file: String) -> String {
            problems.map { p in
                let place = p.line.map { ":\($0):\(p.column ?? 1)" } ?? ""
                return "\(file)\(place): \(p.pointer.isEmpty ? "/" : p.pointer): \(p.message)"
            }.joined(separator: "\n")
        }
    }

    /// Every key a scenario file may have, by the pointer of its object.
    static let topKeys = [
        "$schema", "description", "flow", "direction", "from", "to", "now", "vars", "splits", "agents", "caller", "http", "faults", "expect",
    ]
    static let callerKeys = [
        "digits", "amd", "target", "recording_secs", "ai_result", "hangup_after_node", "hangup_after_ms",
        "speech", "transcript", "ai", "fail",
    ]
    static let utteranceKeys = ["text", "confidence"]
    static let agentKeys = ["does", "answer_after_ms", "keys", "talk_ms"]
    static let aiKeys = ["summary", "reason", "after_ms", "fields"]
    /// `caller.fail` names, each a way Telnyx's side fails (see `CallerScript.Failure`).
    public static let failures = CallerScript.Failure.allCases.map(\.rawValue)
    static let faultKeys = ["duplicate", "delay_ms", "late_copy_ms", "api_errors"]
    static let apiErrorKeys = ["status", "code"]
    static let expectKeys = ["path", "not_visited", "commands", "spoken", "sent_once", "ending", "vars"]
    public static let endings = ["transferred", "connected", "referred", "rejected", "flow_hung_up", "caller_hung_up", "unfinished"]
    public static let amdResults = ["human", "machine", "not_sure", "human_residence", "human_business", "fax_detected", "silence"]
    public static let targets = ["answer", "busy", "no_answer"]
    /// The actions a scenario may name: every call action, `bridge`, and the Conference API's.
    public static let actions = Set(CommandCatalog.actions.keys).union(EmulatorModel.conferenceFields.keys).union(["bridge"])

    /// Reads a scenario file. Unknown keys, wrong types, unknown actions and event types are
    /// errors; with `flows` (the set the scenario's flow was loaded into), so are node names in
    /// `expect.path`, `expect.not_visited` and `caller.hangup_after_node` that are not in it.
    public static func parse(_ bytes: [UInt8], name: String, flows: FlowSet? = nil) throws(ParseError) -> Scenario {
        var r = try ScenarioReader(bytes)
        guard let o = r.object(r.root, [], known: topKeys) else { throw r.error! }
        let flow = r.string(o["flow"], ["flow"]) ?? ""
        if o["flow"] == nil { r.fail(["flow"], "missing required string field \"flow\" (a flow name, or the path of a flow file)") }
        var s = Scenario(name: name, flow: flow)
        s.description = r.string(o["description"], ["description"])
        s.direction = r.oneOf(o["direction"], ["direction"], ["inbound", "outbound"]) ?? s.direction
        s.from = r.string(o["from"], ["from"]) ?? s.from
        s.to = r.string(o["to"], ["to"]) ?? s.to
        if let v = o["now"] {
            if let text = v.stringValue, let t = Timestamp.parse(text) {
                s.start = t
            } else {
                r.fail(["now"], "expected an ISO-8601 time with offset, like 2026-11-23T10:00:00-06:00")
            }
        }
        if let v = o["vars"] { s.vars = r.object(v, ["vars"]) ?? [:] }
        if let v = o["splits"], let table = r.object(v, ["splits"]) {
            for (node, branch) in table.members {
                guard let name = r.string(branch, ["splits", node]) else { continue }
                s.splits[node] = name
            }
        }
        if let c = o["caller"], let obj = r.object(c, ["caller"], known: callerKeys) { s.caller = r.caller(obj) }
        if let v = o["agents"], let table = r.object(v, ["agents"]) { s.caller.agents = r.agents(table) }
        if let h = o["http"] { s.http.responses = r.mocks(h, ["http"]) }
        if let f = o["faults"], let obj = r.object(f, ["faults"], known: faultKeys) { s.faults = r.faults(obj) }
        if let e = o["expect"], let obj = r.object(e, ["expect"], known: expectKeys) { s.expect = r.expectations(obj) }
        if let flows, r.error == nil {
            let own = s.ownFlow
            for (i, node) in s.expect.path.enumerated() {
                r.node(node, ["expect", "path", String(i)], flows: flows, qualified: true, preferring: own)
            }
            for (i, node) in s.expect.notVisited.enumerated() {
                r.node(node, ["expect", "not_visited", String(i)], flows: flows, qualified: true, preferring: own)
            }
            if let node = s.caller.hangupAfterNode { r.node(node, ["caller", "hangup_after_node"], flows: flows, qualified: false, preferring: own) }
            for (node, branch) in s.splits.sorted(by: { $0.key < $1.key }) {
                if let why = Scenario.unknownSplit(node, branch, in: flows, own: own) { r.fail(["splits", node], why) }
            }
        }
        if let error = r.error { throw error }
        return s
    }

    /// Why `reference` (`flow/node`, or with `qualified: false` also a bare `node`) names no node of
    /// `flows`, or nil when it does. A bare name is suggested in `preferring` (the scenario's own
    /// flow) when that flow has it, else in the first flow by name that does.
    public static func unknownNode(_ reference: String, in flows: FlowSet, qualified: Bool, preferring: String? = nil) -> String? {
        let parts = reference.split(separator: "/", maxSplits: 1, omittingEmptySubsequences: false).map(String.init)
        if parts.count == 1 {
            let owners = flows.flows.keys.sorted { a, b in a == preferring || (b != preferring && a < b) }
                .filter { flows[$0]?.nodes[reference] != nil }
            if qualified {
                return "\"\(reference)\" names no flow; write \"flow/node\"" + (owners.first.map { ", like \"\($0)/\(reference)\"" } ?? "")
            }
            if !owners.isEmpty { return nil }
            let all = flows.flows.values.flatMap(\.order)
            return "no flow has a node \"\(reference)\"" + (Spelling.nearest(to: reference, in: all).map { "; did you mean \"\($0)\"?" } ?? "")
        }
        guard let flow = flows[parts[0]] else {
            return "no flow \"\(parts[0])\" (flows: \(flows.flows.keys.sorted().joined(separator: ", ")))"
                + (Spelling.nearest(to: parts[0], in: flows.flows.keys).map { "; did you mean \"\($0)/\(parts[1])\"?" } ?? "")
        }
        guard flow.nodes[parts[1]] == nil else { return nil }
        return "flow \"\(parts[0])\" has no node \"\(parts[1])\""
            + (Spelling.nearest(to: parts[1], in: flow.order).map { "; did you mean \"\(parts[0])/\($0)\"?" } ?? "")
    }
}

/// Reads a scenario or mock document, collecting every problem with its pointer and position.
struct ScenarioReader {
    let root: JSONValue
    private let map: JSONSourceMap?
    private var problems: [Scenario.ParseError.Problem] = []
    var error: Scenario.ParseError? { problems.isEmpty ? nil : Scenario.ParseError(problems) }

    init(_ bytes: [UInt8]) throws(Scenario.ParseError) {
        var map: JSONSourceMap? = JSONSourceMap()
        do { root = try JSONParser.parse(bytes, sourceMap: &map) } catch {
            throw Scenario.ParseError(pointer: "", message: error.message, line: error.line, column: error.column)
        }
        self.map = map
    }

    mutating func fail(_ tokens: [String], _ message: String) {
        let pointer = JSONPointer.string(tokens)
        let at = map?.position(of: pointer)
        problems.append(.init(pointer: pointer, message: message, line: at?.line, column: at?.column))
    }

    /// An object, with every key outside `known` (when given) reported with the nearest known one.
    mutating func object(_ v: JSONValue?, _ at: [String], known: [String]? = nil) -> JSONObject? {
        guard let v else { return nil }
        guard let o = v.objectValue else {
            fail(at, "expected an object, got \(v.typeName)")
            return nil
        }
        for key in o.keys where known.map({ !$0.contains(key) }) ?? false {
            fail(
                at + [key],
                "unknown field \"\(key)\""
                    + (Spelling.nearest(to: key, in: known!).map { "; did you mean \"\($0)\"?" }
                        ?? " (known: \(known!.joined(separator: ", ")))"))
        }
        return o
    }

    mutating func string(_ v: JSONValue?, _ at: [String]) -> String? {
        guard let v else { return nil }
        guard let s = v.stringValue else {
            fail(at, "expected a string, got \(v.typeName)")
            return nil
        }
        return s
    }

    mutating func int(_ v: JSONValue?, _ at: [String], in range: ClosedRange<Int> = 0...Int.max) -> Int? {
        guard let v else { return nil }
        guard let n = v.intValue, range.contains(n) else {
            fail(
                at,
                range.upperBound == Int.max
                    ? "expected an integer of at least \(range.lowerBound), got \(v.jsonString)"
                    : "expected an integer from \(range.lowerBound) to \(range.upperBound), got \(v.jsonString)")
            return nil
        }
        return n
    }

    mutating func oneOf(_ v: JSONValue?, _ at: [String], _ allowed: [String]) -> String? {
        guard let text = string(v, at) else { return nil }
        guard allowed.contains(text) else {
            fail(
                at,
                "expected one of \(allowed.joined(separator: ", ")), got \"\(text)\""
                    + (Spelling.nearest(to: text, in: allowed).map { "; did you mean \"\($0)\"?" } ?? ""))
            return nil
        }
        return text
    }

    /// A list of strings, each one of `allowed` (when given).
    mutating func strings(_ v: JSONValue?, _ at: [String], allowed: Set<String>? = nil, what: String = "") -> [String] {
        guard let v else { return [] }
        guard let list = v.arrayValue else {
            fail(at, "expected a list of strings, got \(v.typeName)")
            return []
        }
        var out: [String] = []
        for (i, item) in list.enumerated() {
            guard let text = string(item, at + [String(i)]) else { continue }
            if let allowed, !allowed.contains(text) { unknown(text, what, at + [String(i)], allowed) }
            out.append(text)
        }
        return out
    }

    mutating func unknown(_ text: String, _ what: String, _ at: [String], _ allowed: Set<String>) {
        fail(at, "\"\(text)\" is not a \(what)" + (Spelling.nearest(to: text, in: allowed.sorted()).map { "; did you mean \"\($0)\"?" } ?? ""))
    }

    /// Event type → milliseconds.
    mutating func delays(_ v: JSONValue?, _ at: [String]) -> [String: Int] {
        guard let o = object(v, at) else { return [:] }
        var out: [String: Int] = [:]
        for (type, value) in o.members {
            if !WebhookEvent.documentedTypes.contains(type) { unknown(type, "Telnyx event type", at + [type], WebhookEvent.documentedTypes) }
            if let ms = int(value, at + [type]) { out[type] = ms }
        }
        return out
    }

    mutating func caller(_ o: JSONObject) -> CallerScript {
        var c = CallerScript()
        if let d = o["digits"] {
            if let list = d.arrayValue, list.allSatisfy({ $0.stringValue != nil }) {
                c.inputs = list.compactMap(\.stringValue)
            } else {
                fail(["caller", "digits"], "expected a list of strings, one per gather (\"\" = silence)")
            }
        }
        c.amd = oneOf(o["amd"], ["caller", "amd"], Scenario.amdResults) ?? c.amd
        c.target = oneOf(o["target"], ["caller", "target"], Scenario.targets) ?? c.target
        c.recordingSeconds = int(o["recording_secs"], ["caller", "recording_secs"]) ?? c.recordingSeconds
        if let v = o["ai_result"] { c.aiResult = v.isNull ? nil : v }
        c.hangupAfterNode = string(o["hangup_after_node"], ["caller", "hangup_after_node"])
        c.hangupAfterMs = int(o["hangup_after_ms"], ["caller", "hangup_after_ms"])
        if let v = o["speech"] { c.speech = speech(v) }
        c.transcript = string(o["transcript"], ["caller", "transcript"]) ?? c.transcript
        if let v = o["ai"], let a = object(v, ["caller", "ai"], known: Scenario.aiKeys) { c.ai = ai(a) }
        if let v = o["fail"] { c.failures = failures(v) }
        return c
    }

    /// `agents`: address → `"answer"`, `"busy"`, `"no_answer"`, or `{"does", "answer_after_ms",
    /// "keys", "talk_ms"}` (what a ring group's agent does when rung).
    mutating func agents(_ table: JSONObject) -> [String: CallerScript.AgentScript] {
        var out: [String: CallerScript.AgentScript] = [:]
        for (address, value) in table.members {
            let at = ["agents", address]
            if !E164.isDialable(address) { fail(at, "\"\(address)\" is not an E.164 number or a sip: URI (the address a ring group dials)") }
            if value.stringValue != nil {
                if let does = oneOf(value, at, Scenario.targets) { out[address] = CallerScript.AgentScript(does: does) }
                continue
            }
            guard let o = object(value, at, known: Scenario.agentKeys) else { continue }
            var agent = CallerScript.AgentScript(does: oneOf(o["does"], at + ["does"], Scenario.targets) ?? "answer")
            agent.answerAfterMs = int(o["answer_after_ms"], at + ["answer_after_ms"])
            if o["keys"] != nil { agent.keys = string(o["keys"], at + ["keys"]) ?? agent.keys }
            if let talk = o["talk_ms"] { agent.talkMs = talk.isNull ? nil : int(talk, at + ["talk_ms"]) }
            out[address] = agent
        }
        return out
    }

    /// `caller.speech`: utterances, each `"text"` or `{"text": ..., "confidence": 0...1}`.
    mutating func speech(_ v: JSONValue) -> [CallerScript.Utterance] {
        let at = ["caller", "speech"]
        guard let list = v.arrayValue else {
            fail(at, "expected a list of utterances (\"text\" or {\"text\": ..., \"confidence\": 0.9}), got \(v.typeName)")
            return []
        }
        var out: [CallerScript.Utterance] = []
        for (i, item) in list.enumerated() {
            let here = at + [String(i)]
            if let text = item.stringValue {
                if text.isEmpty { fail(here, "an utterance needs words (leave it out for silence)") }
                out.append(.init(text))
                continue
            }
            guard item.objectValue != nil, let u = object(item, here, known: Scenario.utteranceKeys) else {
                fail(here, "expected \"text\" or {\"text\": ..., \"confidence\": 0.9}, got \(item.typeName)")
                continue
            }
            guard let text = string(u["text"], here + ["text"]) else {
                if u["text"] == nil { fail(here, "missing required string field \"text\"") }
                continue
            }
            if text.isEmpty { fail(here + ["text"], "an utterance needs words (leave it out for silence)") }
            var utterance = CallerScript.Utterance(text)
            if let c = u["confidence"] {
                if let d = c.doubleValue, d >= 0, d <= 1 {
                    utterance.confidence = d
                } else {
                    fail(here + ["confidence"], "expected a number from 0 to 1, got \(c.jsonString)")
                }
            }
            out.append(utterance)
        }
        return out
    }

    mutating func ai(_ o: JSONObject) -> CallerScript.AIConversation {
        var a = CallerScript.AIConversation()
        a.summary = string(o["summary"], ["caller", "ai", "summary"]) ?? a.summary
        if let reason = string(o["reason"], ["caller", "ai", "reason"]) {
            if reason.isEmpty { fail(["caller", "ai", "reason"], "expected the reason call.conversation.ended reports, like \"completed\"") }
            a.reason = reason
        }
        a.afterMs = int(o["after_ms"], ["caller", "ai", "after_ms"]) ?? a.afterMs
        if let f = o["fields"] { a.fields = object(f, ["caller", "ai", "fields"]) ?? [:] }
        return a
    }

    /// `caller.fail`: names from `Scenario.failures`; the AI ones exclude each other.
    mutating func failures(_ v: JSONValue) -> Set<CallerScript.Failure> {
        let names = strings(v, ["caller", "fail"], allowed: Set(Scenario.failures), what: "failure (\(Scenario.failures.joined(separator: ", ")))")
        let set = Set(names.compactMap(CallerScript.Failure.init(rawValue:)))
        let ai = [CallerScript.Failure.aiStart, .aiEarly, .aiNever].filter(set.contains)
        if ai.count > 1 {
            fail(
                ["caller", "fail"], "\(ai.map { "\"\($0.rawValue)\"" }.joined(separator: " and ")) exclude each other: a conversation fails one way")
        }
        return set
    }

    mutating func faults(_ o: JSONObject) -> Scenario.Faults {
        var f = Scenario.Faults()
        f.duplicate = Set(strings(o["duplicate"], ["faults", "duplicate"], allowed: WebhookEvent.documentedTypes, what: "Telnyx event type"))
        f.delayMs = delays(o["delay_ms"], ["faults", "delay_ms"])
        f.lateCopyMs = delays(o["late_copy_ms"], ["faults", "late_copy_ms"])
        if let errors = object(o["api_errors"], ["faults", "api_errors"]) {
            let actions = Scenario.actions
            for (action, value) in errors.members {
                let at = ["faults", "api_errors", action]
                if !actions.contains(action) { unknown(action, "Telnyx call action", at, actions) }
                guard let e = object(value, at, known: Scenario.apiErrorKeys) else { continue }
                f.apiErrors[action] = (int(e["status"], at + ["status"], in: 400...599) ?? 422, string(e["code"], at + ["code"]) ?? "10015")
            }
        }
        return f
    }

    mutating func expectations(_ o: JSONObject) -> Scenario.Expectations {
        var e = Scenario.Expectations()
        let actions = Scenario.actions
        e.path = strings(o["path"], ["expect", "path"])
        e.notVisited = strings(o["not_visited"], ["expect", "not_visited"])
        e.commands = strings(o["commands"], ["expect", "commands"], allowed: actions, what: "Telnyx call action")
        e.spoken = strings(o["spoken"], ["expect", "spoken"])
        e.sentOnce = strings(o["sent_once"], ["expect", "sent_once"], allowed: actions, what: "Telnyx call action")
        e.ending = oneOf(o["ending"], ["expect", "ending"], Scenario.endings)
        if let v = o["vars"] { e.vars = object(v, ["expect", "vars"]) ?? [:] }
        return e
    }

    mutating func node(_ reference: String, _ at: [String], flows: FlowSet, qualified: Bool, preferring: String?) {
        if let why = Scenario.unknownNode(reference, in: flows, qualified: qualified, preferring: preferring) { fail(at, why) }
    }

    /// A mock table: `"METHOD URL"` → `{status, body, error, delay_ms}`.
    mutating func mocks(_ v: JSONValue, _ at: [String]) -> [String: HTTPMock] {
        guard let table = object(v, at) else { return [:] }
        var out: [String: HTTPMock] = [:]
        for (key, value) in table.members {
            let here = at + [key]
            if let why = HTTPMocks.badKey(key) { fail(here, why) }
            guard let m = object(value, here, known: HTTPMock.keys) else { continue }
            var mock = HTTPMock()
            mock.status = int(m["status"], here + ["status"], in: 100...599) ?? mock.status
            mock.body = m["body"]
            if let error = string(m["error"], here + ["error"]) {
                if error.isEmpty { fail(here + ["error"], "expected the failure's reason, like \"timeout\" or \"connection refused\"") }
                mock.error = error
            }
            mock.delayMs = int(m["delay_ms"], here + ["delay_ms"]) ?? mock.delayMs
            if mock.error != nil, m["status"] != nil || m["body"] != nil {
                fail(here, "a mock either fails (\"error\") or answers (\"status\", \"body\"), not both")
            }
            out[key] = mock
        }
        return out
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
        if rest.first == 90 {
            offset = 0
        } else if rest.count == 6, rest.first == 43 || rest.first == 45 {
            let r = Array(rest)
            guard let oh = Int(String(decoding: r[1..<3], as: UTF8.self)), let om = Int(String(decoding: r[4..<6], as: UTF8.self)) else { return nil }
            offset = (oh * 3600 + om * 60) * (r[0] == 45 ? -1 : 1)
        } else {
            return nil
        }
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

extension Scenario {
    /// The scenario's own flow, by name (a path `../flows/main.json` names `main`).
    var ownFlow: String {
        let file = flow.split(separator: "/").last.map(String.init) ?? flow
        return file.hasSuffix(".json") ? String(file.dropLast(5)) : file
    }

    /// The `split` node `reference` names (`node` in the scenario's flow `own`, or `flow/node`)
    /// and its branches, or `nil` when it names no split.
    static func split(_ reference: String, in flows: FlowSet, own: String) -> (flow: String, node: String, branches: [SplitBranch])? {
        let parts = reference.split(separator: "/", maxSplits: 1).map(String.init)
        let (flow, node) = parts.count == 2 ? (parts[0], parts[1]) : (own, reference)
        guard case .split(let branches)? = flows[flow]?.nodes[node]?.kind else { return nil }
        return (flow, node, branches)
    }

    /// Why `splits.<reference>: <branch>` cannot be honoured, or `nil`.
    static func unknownSplit(_ reference: String, _ branch: String, in flows: FlowSet, own: String) -> String? {
        guard let branches = split(reference, in: flows, own: own)?.branches else {
            return "\"\(reference)\" is not a split node of flow \"\(own)\" (write flow/node for another flow)"
        }
        guard let chosen = branches.first(where: { $0.name == branch }) else {
            let names = branches.map(\.name)
            let hint = Spelling.nearest(to: branch, in: names).map { "; did you mean \"\($0)\"?" } ?? ""
            return "split \"\(reference)\" has no branch \"\(branch)\"\(hint) (branches: \(names.joined(separator: ", ")))"
        }
        return chosen.weight == 0 ? "branch \"\(branch)\" of split \"\(reference)\" has weight 0: no call takes it" : nil
    }

    /// A call id that takes the requested branch at every split in `splits` (searched among
    /// `base-1`, `base-2`, ...); `nil` when none does within the attempts.
    func callID(base: String, flows: FlowSet) -> String? {
        guard !splits.isEmpty else { return base }
        var wanted: [(flow: String, node: String, branches: [SplitBranch], branch: String)] = []
        for (reference, branch) in splits {
            guard let split = Scenario.split(reference, in: flows, own: ownFlow) else { return nil }
            wanted.append((split.flow, split.node, split.branches, branch))
        }
        for k in 1...200_000 {
            let id = "\(base)-\(k)"
            if wanted.allSatisfy({ SplitBranch.pick($0.branches, call: id, flow: $0.flow, node: $0.node)?.name == $0.branch }) { return id }
        }
        return nil
    }
}
