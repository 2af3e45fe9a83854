/// Flow language v2: one shape for every node that sends a Telnyx action, so each capability
/// (streams, recording, transcription, AI assistants, ...) uses its result and survives its
/// failure the same way — `on_error`, `timeout_ms`/`on_timeout` and `save_as` mean the same on all.
///
/// `command` is the general form (any action, raw `params`); the named nodes are the same spec
/// with friendly fields mapped onto Telnyx params by `Capability`, so there is one interpreter.
public struct ActionSpec: Sendable, Equatable {
    /// The node type as written (`command`, `stream`, `recording`, ...): for messages and graphs.
    public var type: String
    /// The Telnyx action (`streaming_start`, ...); `nil` for `wait`, which sends nothing.
    public var action: String?
    /// The body, before templates are rendered (checked against the command catalog at load).
    public var params: JSONObject
    /// Event types that complete the node: it waits for one of them (or its deadline).
    public var waitFor: Set<String>
    /// Event types that mean the action failed: the node goes to `on_error`.
    public var failOn: Set<String>
    /// Deadline for what the node waits for, 100-86400000 ms; only on a node that waits.
    public var timeoutMs: Int?
    /// `vars.<save_as>`: the awaited event's payload, or the command's response data.
    public var saveAs: String?
    /// Where the call goes when the action is done (or sent, for a node that waits for nothing).
    public var next: String
    /// Where a refused command, a failure event or (without `onTimeout`) the deadline goes; `nil`:
    /// the flow's `defaults.on_error`, else a hang-up.
    public var onError: String?
    /// Where the deadline goes; `nil`: `onError`, else `next`.
    public var onTimeout: String?
    /// What the node does to a background activity of the call.
    public var section: SectionChange?
    /// Sent when the deadline passes, so the abandoned action does not go on (`ai_assistant_stop`).
    public var stopOnTimeout: String?
    /// The node waits for the command's API response: `save_as` on a `command` with no event to
    /// wait for keeps its data; a background activity with no start event of its own waits to
    /// know Telnyx took it, so a refusal takes its `on_error` from this node.
    public var awaitsResponse: Bool = false

    /// Memberwise; `awaitsResponse` is set after, by the parser.
    public init(
        type: String, action: String?, params: JSONObject = [:], waitFor: Set<String> = [], failOn: Set<String> = [],
        timeoutMs: Int? = nil, saveAs: String? = nil, next: String, onError: String? = nil, onTimeout: String? = nil,
        section: SectionChange? = nil, stopOnTimeout: String? = nil
    ) {
        self.type = type
        self.action = action
        self.params = params
        self.waitFor = waitFor
        self.failOn = failOn
        self.timeoutMs = timeoutMs
        self.saveAs = saveAs
        self.next = next
        self.onError = onError
        self.onTimeout = onTimeout
        self.section = section
        self.stopOnTimeout = stopOnTimeout
    }

    /// Whether the node holds the call until an event, a response or its deadline.
    public var waits: Bool { !waitFor.isEmpty || awaitsResponse }

    /// How long a background activity's start waits for Telnyx unless `timeout_ms` says otherwise.
    public static let startDeadlineMs = 10_000

    /// Failure events Telnyx sends for an awaited success event (a `command` node's `wait_for`
    /// gets these without naming them, so a failure is never mistaken for silence).
    public static let failuresOf: [String: Set<String>] = [
        "streaming.started": ["streaming.failed"],
        "call.fork.started": [],
        "call.refer.completed": ["call.refer.failed"],
        "call.refer.started": ["call.refer.failed"],
        "siprec.started": ["siprec.failed"],
        "call.conversation.created": ["call.conversation.start_failed"],
        "call.conversation.ended": ["call.conversation.start_failed"],
        "call.recording.saved": ["call.recording.error"],
        "call.recording.transcription.saved": ["call.recording.error"],
    ]
}

/// A background activity that runs while the flow goes on: started by one node, stopped by
/// another (or by the call's end), paused around `sensitive` input.
public enum SectionKind: String, Sendable, Equatable, CaseIterable {
    /// `recording`, `transcription`, `stream`, `fork`, `siprec`, `suppression` (noise suppression) and
    /// `assistant` (an AI assistant).
    case recording, transcription, stream, fork, siprec, suppression, assistant

    /// The commands that stop and restart the activity around a `sensitive` gather; `nil` when
    /// the activity hears nothing a caller keys in.
    var suspend: (stop: String, resume: String)? {
        switch self {
        case .recording: return ("record_pause", "record_resume")
        case .transcription: return ("transcription_stop", "transcription_start")
        case .stream: return ("streaming_stop", "streaming_start")
        case .fork: return ("fork_stop", "fork_start")
        case .siprec: return ("siprec_stop", "siprec_start")
        case .suppression, .assistant: return nil
        }
    }
}

/// What an action node does to a background activity.
public enum SectionChange: Sendable, Equatable {
    /// Starts it: the call keeps it in `CallState.sections` until stopped or the call ends.
    case start(SectionKind)
    /// Stops it.
    case stop(SectionKind)
    /// Pauses it (`recording` only: `record_pause`).
    case pause(SectionKind)
    /// Resumes it after a pause.
    case resume(SectionKind)

    /// The activity changed.
    public var kind: SectionKind {
        switch self {
        case .start(let k), .stop(let k), .pause(let k), .resume(let k): return k
        }
    }

    /// The activity this starts; nil for a stop, pause or resume.
    public var started: SectionKind? {
        if case .start(let k) = self { return k }
        return nil
    }
}

/// A named node over Telnyx actions: its verbs (`action: "start"`, `"stop"`, ...), and per verb
/// the Telnyx action, the friendly fields and what it waits for.
struct Capability: Sendable {
    struct Field: Sendable {
        enum Kind: Sendable { case template, int, bool, json, rename(String) }
        /// The key in the flow file.
        var key: String
        /// The Telnyx param it sets.
        var param: String
        var kind: Kind
        var required = false
    }

    struct Verb: Sendable {
        var action: String?
        var fields: [Field] = []
        /// Params sent unless the flow sets them.
        var defaults: JSONObject = [:]
        var section: SectionChange?
        var waitFor: Set<String> = []
        var failOn: Set<String> = []
        var stopOnTimeout: String? = nil
        /// Whether `params` (raw Telnyx params, checked against the catalog) is allowed.
        var rawParams = true
        /// Waits for the API response (a start with no start event of its own).
        var awaitsResponse = false
        /// Whether it produces something `save_as` could keep.
        var keepsResult = true
    }

    var type: String
    /// "a" or "an", for messages ("an ai_assistant node").
    var article: String { type.first.map { "aeiou".contains($0) } == true ? "an" : "a" }
    /// Verbs by the value of the node's `action` field; `""` for a node without verbs.
    var verbs: [String: Verb]
    var defaultVerb: String

    static func t(_ key: String, _ param: String, required: Bool = false) -> Field {
        Field(key: key, param: param, kind: .template, required: required)
    }
    static func f(_ key: String, _ param: String, _ kind: Field.Kind, required: Bool = false) -> Field {
        Field(key: key, param: param, kind: kind, required: required)
    }

    /// Every named action node. Keys shared by all: `type`, `description`, `action` (the verb),
    /// `params`, `save_as`, `timeout_ms`, `next`, `on_error`, `on_timeout`.
    static let all: [String: Capability] = {
        var c: [String: Capability] = [:]
        func add(_ type: String, _ verbs: [String: Verb], default d: String = "start") {
            c[type] = Capability(type: type, verbs: verbs, defaultVerb: d)
        }
        add(
            "recording",
            [
                "start": Verb(
                    action: "record_start",
                    fields: [
                        t("channels", "channels"), t("format", "format"), t("track", "recording_track"),
                        f("transcribe", "transcription", .bool), t("transcription_language", "transcription_language"),
                        f("max_length_secs", "max_length", .int), f("beep", "play_beep", .bool),
                    ],
                    defaults: ["channels": "single", "format": "mp3"], section: .start(.recording), awaitsResponse: true),
                "pause": Verb(action: "record_pause", section: .pause(.recording)),
                "resume": Verb(action: "record_resume", section: .resume(.recording)),
                "stop": Verb(action: "record_stop", section: .stop(.recording)),
            ])
        add(
            "transcription",
            [
                "start": Verb(
                    action: "transcription_start",
                    fields: [
                        t("engine", "transcription_engine"), t("tracks", "transcription_tracks"),
                        f("engine_config", "transcription_engine_config", .json),
                    ],
                    section: .start(.transcription), awaitsResponse: true),
                "stop": Verb(action: "transcription_stop", section: .stop(.transcription)),
            ])
        add(
            "stream",
            [
                "start": Verb(
                    action: "streaming_start",
                    fields: [
                        t("url", "stream_url", required: true), t("track", "stream_track"), t("codec", "stream_codec"),
                        t("auth_token", "stream_auth_token"), t("bidirectional", "stream_bidirectional_mode"),
                        f("custom_parameters", "custom_parameters", .json),
                    ],
                    section: .start(.stream), waitFor: ["streaming.started"], failOn: ["streaming.failed"]),
                "stop": Verb(action: "streaming_stop", section: .stop(.stream)),
            ])
        add(
            "fork",
            [
                "start": Verb(action: "fork_start", fields: [t("rx", "rx"), t("tx", "tx")], section: .start(.fork), waitFor: ["call.fork.started"]),
                "stop": Verb(action: "fork_stop", section: .stop(.fork)),
            ])
        add(
            "siprec",
            [
                "start": Verb(
                    action: "siprec_start", fields: [t("connector", "connector_name", required: true), t("track", "siprec_track")],
                    section: .start(.siprec), waitFor: ["siprec.started"], failOn: ["siprec.failed"]),
                "stop": Verb(action: "siprec_stop", section: .stop(.siprec)),
            ])
        add(
            "noise_suppression",
            [
                "start": Verb(
                    action: "suppression_start", fields: [t("direction", "direction"), t("engine", "noise_suppression_engine")],
                    section: .start(.suppression), awaitsResponse: true, keepsResult: false),
                "stop": Verb(action: "suppression_stop", section: .stop(.suppression)),
            ])
        add(
            "ai_assistant",
            [
                "start": Verb(
                    action: "ai_assistant_start",
                    fields: [
                        f("assistant", "assistant", .json, required: true), t("greeting", "greeting"),
                        f("transcription", "transcription", .json), f("message_history", "message_history", .json),
                    ],
                    section: .start(.assistant), waitFor: ["call.conversation.ended"],
                    failOn: ["call.conversation.start_failed"], stopOnTimeout: "ai_assistant_stop"),
                "add_messages": Verb(
                    action: "ai_assistant_add_messages", fields: [f("messages", "messages", .json, required: true)], keepsResult: false),
                "stop": Verb(action: "ai_assistant_stop", section: .stop(.assistant)),
            ])
        add(
            "refer",
            [
                "": Verb(
                    action: "refer", fields: [t("to", "sip_address", required: true)],
                    waitFor: ["call.refer.completed"], failOn: ["call.refer.failed"])
            ], default: "")
        add(
            "send_dtmf",
            [
                "": Verb(
                    action: "send_dtmf",
                    fields: [
                        t("digits", "digits", required: true),
                        f("duration_ms", "duration_millis", .int),
                    ])
            ], default: "")
        add("wait", ["": Verb(action: nil, rawParams: false)], default: "")
        return c
    }()

    /// Fields every action node takes besides its own.
    static let commonKeys = ["action", "params", "save_as", "timeout_ms", "next", "on_error", "on_timeout"]

    /// The flow-file keys of a node type (for unknown-field checks and the JSON Schema).
    func keys(_ verb: Verb?) -> [String] {
        let own = (verb.map { [$0] } ?? Array(verbs.values)).flatMap { $0.fields.map(\.key) }
        return Self.commonKeys + (type == "wait" ? ["for"] : []) + own + (type == "ai_assistant" ? ["wait"] : [])
    }
}

// MARK: parsing

extension FlowParser {
    /// The fields all action nodes share, read once.
    mutating func actionCommon(
        _ o: JSONObject, _ p: [String], type: String, action: String?, waitFor: Set<String>, failOn: Set<String>,
        awaitsResponse: Bool? = nil
    ) -> ActionSpec? {
        let timeout = int(o, "timeout_ms", p, required: false, range: 100...86_400_000)
        let saveAs = o["save_as"] == nil ? nil : variableName(o, "save_as", p)
        let onError = target(o, "on_error", p, required: false)
        let onTimeout = target(o, "on_timeout", p, required: false)
        let response = awaitsResponse ?? (waitFor.isEmpty && saveAs != nil && action != nil)
        if timeout != nil && waitFor.isEmpty && !response {
            error(
                p + ["timeout_ms"],
                "timeout_ms bounds a wait, but this node does not wait"
                    + (type == "command"
                        ? " (give \"wait_for\" or \"save_as\")" : type == "send_dtmf" ? " (give \"save_as\" to wait for Telnyx's answer)" : ""))
        }
        guard let next = target(o, "next", p) else { return nil }
        var spec = ActionSpec(
            type: type, action: action, params: [:], waitFor: waitFor, failOn: failOn, timeoutMs: timeout, saveAs: saveAs,
            next: next, onError: onError, onTimeout: onTimeout)
        spec.awaitsResponse = response
        return spec
    }

    /// Raw Telnyx params of `action`, checked against the catalog: names, required ones (those
    /// the node's own fields do not supply), and that no template is malformed.
    mutating func actionParams(_ params: JSONObject, action: String, supplied: Set<String>, _ p: [String]) {
        guard let spec = CommandCatalog.actions[action] ?? CommandCatalog.extra[action] else { return }
        for key in params.keys where !spec.params.contains(key) {
            var message = "\(action) does not take \"\(key)\""
            if let s = Spelling.nearest(to: key, in: spec.params) { message += "; did you mean \"\(s)\"?" }
            error(p + [key], message)
        }
        for key in CommandCatalog.engineOwned where params[key] != nil {
            error(p + [key], "\(key) is set by the engine for every command")
        }
        for key in spec.required where params[key] == nil && !supplied.contains(key) && !CommandCatalog.engineOwned.contains(key) {
            error(p, "\(action) requires \"\(key)\"")
        }
        templatedJSON(.object(params), p)
        for (pointer, message) in ParamCheck.problems(action: action, params: params, templated: { $0.contains("{{") }) {
            error(p + pointer, message)
        }
    }

    /// `command`: any Telnyx action by name, with raw params.
    mutating func command(_ o: JSONObject, _ p: [String]) -> NodeKind? {
        let params = object(o, "params", p, required: false) ?? JSONObject()
        let waitFor = nonEmpty(o, "wait_for", p, required: false)
        if let waitFor, !WebhookEvent.documentedTypes.contains(waitFor) {
            var message = "unknown event type \"\(waitFor)\""
            if let s = Spelling.nearest(to: waitFor, in: WebhookEvent.documentedTypes) { message += "; did you mean \"\(s)\"?" }
            error(p + ["wait_for"], message)
        }
        guard let action = nonEmpty(o, "action", p) else { return nil }
        let known = Set(CommandCatalog.actions.keys).union(CommandCatalog.extra.keys)
        guard known.contains(action) else {
            var message = "unknown call action \"\(action)\""
            if let s = Spelling.nearest(to: action, in: known) { message += "; did you mean \"\(s)\"?" }
            error(p + ["action"], message)
            return nil
        }
        actionParams(params, action: action, supplied: action == "dial" ? ["connection_id"] : [], p + ["params"])
        let waits: Set<String> = waitFor.map { [$0] } ?? []
        let fails = waitFor.flatMap { ActionSpec.failuresOf[$0] } ?? []
        guard var spec = actionCommon(o, p, type: "command", action: action, waitFor: waits, failOn: fails) else { return nil }
        spec.params = params
        deadlineCheck(spec, p)
        return .action(spec)
    }

    /// A named action node (`stream`, `recording`, `ai_assistant`, `wait`, ...).
    mutating func capability(_ cap: Capability, _ o: JSONObject, _ p: [String]) -> NodeKind? {
        var verbName = cap.defaultVerb
        if let v = o["action"] {
            guard let s = v.stringValue, cap.verbs[s] != nil, s != "" else {
                let names = cap.verbs.keys.filter { !$0.isEmpty }.sorted()
                if names.isEmpty {
                    error(p + ["action"], "\(cap.article) \(cap.type) node has no \"action\"")
                } else {
                    var message = "expected action \(names.map { "\"\($0)\"" }.joined(separator: ", ")), found \(v.jsonString)"
                    if let s = v.stringValue, let near = Spelling.nearest(to: s, in: names) { message += "; did you mean \"\(near)\"?" }
                    error(p + ["action"], message)
                }
                return nil
            }
            verbName = s
        }
        guard let verb = cap.verbs[verbName] else { return nil }
        let allowed = cap.keys(verb)
        for key in o.keys where !(["type", "description"] + allowed).contains(key) {
            var message = "unknown field \"\(key)\" for \(cap.article) \(cap.type) node" + (verbName.isEmpty ? "" : " with action \"\(verbName)\"")
            if let s = Spelling.nearest(to: key, in: allowed) { message += "; did you mean \"\(s)\"?" }
            error(p + [key], message)
        }
        var body = verb.defaults
        for field in verb.fields {
            guard let value = o[field.key] else {
                if field.required { error(p, "missing required field \"\(field.key)\"") }
                continue
            }
            switch field.kind {
            case .template, .rename:
                if let t = template(o, field.key, p) { body[field.param] = .string(t.source) }
            case .int:
                if let i = int(o, field.key, p, range: 0...86_400) { body[field.param] = .int(i) }
            case .bool:
                if let b = bool(o, field.key, p) { body[field.param] = .bool(b) }
            case .json:
                templatedJSON(value, p + [field.key])
                body[field.param] = value
            }
        }
        if let raw = object(o, "params", p, required: false) {
            if !verb.rawParams { error(p + ["params"], "\(cap.article) \(cap.type) node sends no command, so it takes no params") }
            for (k, v) in raw.members where body[k] == nil || verb.defaults[k] != nil { body[k] = v }
            if let action = verb.action { actionParams(raw, action: action, supplied: Set(body.keys), p + ["params"]) }
        }
        if o["save_as"] != nil, !verb.keepsResult {
            error(
                p + ["save_as"],
                "save_as names what a node produces; \(cap.article) \(cap.type) node" + (verbName.isEmpty ? "" : " with action \"\(verbName)\"")
                    + " has nothing to keep")
        } else if o["save_as"] != nil, verb.section != nil, verb.section?.started == nil {
            error(
                p + ["save_as"],
                "save_as names what a start produces; \(cap.article) \(cap.type) node with action \"\(verbName)\" has no result to keep")
        }
        var waitFor = verb.waitFor, failOn = verb.failOn, response = verb.awaitsResponse
        if cap.type == "ai_assistant", verbName == "start", bool(o, "wait", p) == false {
            waitFor = []
            failOn = []
            response = true
        }
        // `save_as` on a node with nothing else to wait for keeps the response (`send_dtmf`).
        if verb.section == nil, waitFor.isEmpty, o["save_as"] != nil { response = true }
        if cap.type == "wait" {
            let events = eventList(o, "for", p)
            waitFor = events
            failOn = events.reduce(into: Set<String>()) { $0.formUnion(ActionSpec.failuresOf[$1] ?? []) }
            if o["timeout_ms"] == nil { error(p, "missing required field \"timeout_ms\" (a wait needs a deadline)") }
        }
        guard
            var spec = actionCommon(
                o, p, type: cap.type, action: verb.action, waitFor: waitFor, failOn: failOn,
                awaitsResponse: verb.action != nil && response)
        else { return nil }
        spec.params = body
        spec.section = verb.section
        // A background activity that never starts must not hold the caller: starts have a deadline.
        // (A waiting `ai_assistant` is the conversation itself: its deadline is the flow's to choose.)
        if verb.section?.started != nil, spec.timeoutMs == nil, spec.waits, cap.type != "ai_assistant" || response {
            spec.timeoutMs = ActionSpec.startDeadlineMs
        }
        deadlineCheck(spec, p)
        spec.stopOnTimeout = waitFor.isEmpty ? nil : verb.stopOnTimeout
        if let action = verb.action {
            // Raw params were checked above; these are the node's own fields, named as written.
            let own = JSONObject(body.members.filter { member in o["params"]?[member.key] == nil })
            for (pointer, message) in ParamCheck.problems(action: action, params: own, templated: { $0.contains("{{") }) {
                let key = verb.fields.first { $0.param == pointer.first }?.key
                error(p + (key.map { [$0] + pointer.dropFirst() } ?? ["params"] + pointer), message)
            }
        }
        return .action(spec)
    }

    /// `on_timeout` names where a deadline goes, so the node must have one (its own or a start's 10 s).
    mutating func deadlineCheck(_ spec: ActionSpec, _ p: [String]) {
        if spec.onTimeout != nil && spec.timeoutMs == nil { error(p + ["on_timeout"], "on_timeout needs \"timeout_ms\" (how long to wait)") }
    }

    /// An event type or a list of them, each one Telnyx documents.
    mutating func eventList(_ o: JSONObject, _ key: String, _ p: [String]) -> Set<String> {
        guard let v = o[key] else {
            error(p, "missing required field \"\(key)\"")
            return []
        }
        let items: [JSONValue] = v.arrayValue ?? [v]
        var out = Set<String>()
        for (i, item) in items.enumerated() {
            let ip = v.arrayValue == nil ? p + [key] : p + [key, String(i)]
            guard let type = item.stringValue, !type.isEmpty else {
                error(ip, "expected an event type like \"call.recording.saved\", found \(item.typeName)")
                continue
            }
            guard WebhookEvent.documentedTypes.contains(type) else {
                var message = "unknown event type \"\(type)\""
                if let s = Spelling.nearest(to: type, in: WebhookEvent.documentedTypes) { message += "; did you mean \"\(s)\"?" }
                error(ip, message)
                continue
            }
            out.insert(type)
        }
        if items.isEmpty { error(p + [key], "name at least one event type") }
        return out
    }
}
