/// Turns one flow file's bytes into a `Flow`, collecting every problem with its JSON pointer.
/// Cross-node checks (targets, reachability, cycles, gotos) live in `FlowChecker`. Typed field
/// access is `FieldReader`'s, shared with the server's config loader; its problems are errors here.
public struct FlowParser: FieldReader {
    /// The file the flow came from, named in every diagnostic.
    public let file: String
    /// The flow's name (its file name without `.json`), what `goto` and routes refer to.
    public let name: String
    let timeZones: any TimeZoneProvider
    var diagnostics: [Diagnostic] = []

    /// A parser for one file; `timeZones` resolves the IANA zones of `hours` nodes.
    public init(file: String, name: String, timeZones: any TimeZoneProvider) {
        self.file = file
        self.name = name
        self.timeZones = timeZones
    }

    /// Parses `bytes`. The flow comes back even with errors in some nodes (without those nodes),
    /// so cross-node checks still run and `check` reports every problem at once; only a flow
    /// with no error diagnostics may be used.
    public static func parse(
        _ bytes: [UInt8], file: String, name: String, timeZones: any TimeZoneProvider
    ) -> (flow: Flow?, diagnostics: [Diagnostic]) {
        var parser = FlowParser(file: file, name: name, timeZones: timeZones)
        let root: JSONValue
        do { root = try JSONParser.parse(bytes) } catch {
            return (nil, [Diagnostic(.error, file: file, pointer: "", "invalid JSON at \(error.line):\(error.column): \(error.message)")])
        }
        let flow = parser.flow(root)
        return (flow, parser.diagnostics)
    }

    /// `FieldReader`'s report: in a flow every field problem is an error at its JSON pointer.
    public mutating func problem(_ path: [String], _ message: String) { error(path, message) }

    mutating func error(_ pointer: [String], _ message: String) {
        diagnostics.append(Diagnostic(.error, file: file, pointer: JSONPointer.string(pointer), message))
    }

    mutating func unknownKeys(_ object: JSONObject, _ pointer: [String], allowed: [String], what: String) {
        unknownKeys(object, pointer, allowed: allowed) { "unknown field \"\($0)\" for \(what)" }
    }

    // MARK: typed field access (string, nonEmpty, int, bool, object: `FieldReader`)

    mutating func template(_ o: JSONObject, _ key: String, _ p: [String], required: Bool = true) -> Template? {
        guard let s = string(o, key, p, required: required) else { return nil }
        return template(s, p + [key])
    }

    mutating func template(_ s: String, _ p: [String]) -> Template? {
        do { return try Template(s) } catch {
            self.error(p, "\(error)")
            return nil
        }
    }

    /// Checks every string of a JSON value that is rendered as a template.
    mutating func templatedJSON(_ value: JSONValue, _ p: [String]) {
        for (pointer, text) in TemplatedJSON.strings(in: value) { _ = template(text, p + pointer) }
    }

    /// A target node id (checked against the node set later).
    mutating func target(_ o: JSONObject, _ key: String, _ p: [String], required: Bool = true) -> String? {
        nonEmpty(o, key, p, required: required)
    }

    // MARK: flow

    mutating func flow(_ root: JSONValue) -> Flow? {
        guard case .object(let top) = root else {
            error([], "a flow must be a JSON object")
            return nil
        }
        unknownKeys(top, [], allowed: NodeFields.topLevel, what: "a flow")
        let start = nonEmpty(top, "start", [])
        let description = string(top, "description", [], required: false)
        var defaults = Flow.Defaults()
        if let d = object(top, "defaults", [], required: false) {
            unknownKeys(d, ["defaults"], allowed: ["voice", "language", "on_error"], what: "defaults")
            defaults.onError = target(d, "on_error", ["defaults"], required: false)
            if let v = setting(d, "voice", ["defaults"]) { defaults.voice = v }
            if let l = setting(d, "language", ["defaults"]) { defaults.language = l }
        }
        let vars = object(top, "vars", [], required: false) ?? JSONObject()
        let onHangup = nonEmpty(top, "on_hangup", [], required: false)
        var nodes: [String: Node] = [:]
        var order: [String] = []
        var broken: [String: [(pointer: [String], target: String)]] = [:]
        if let nodeObjects = object(top, "nodes", []) {
            if nodeObjects.isEmpty { error(["nodes"], "a flow needs at least one node") }
            for (id, value) in nodeObjects.members {
                if let node = node(id: id, value, ["nodes", id], defaults: defaults) {
                    nodes[id] = node
                } else {
                    broken[id] = Self.rawEdges(value)
                }
                order.append(id)
            }
        }
        guard let start else { return nil }
        var flow = Flow(
            name: name, description: description, start: start, defaults: defaults, vars: vars,
            onHangup: onHangup, nodes: nodes, order: order)
        flow.brokenEdges = broken
        return flow
    }

    // MARK: nodes

    mutating func node(id: String, _ value: JSONValue, _ p: [String], defaults: Flow.Defaults) -> Node? {
        guard case .object(let o) = value else {
            error(p, "a node must be an object, found \(value.typeName)")
            return nil
        }
        guard let type = string(o, "type", p) else { return nil }
        guard let spec = NodeFields.allTypes[type] else {
            var message = "unknown node type \"\(type)\""
            if let s = Spelling.nearest(to: type, in: NodeFields.allTypes.keys.sorted()) { message += "; did you mean \"\(s)\"?" }
            error(p + ["type"], message)
            return nil
        }
        // Named action nodes check their keys per verb (`capability`).
        if Capability.all[type] == nil { unknownKeys(o, p, allowed: spec.all, what: "a \(type) node") }
        _ = string(o, "description", p, required: false)
        let before = diagnostics.count
        let kind = self.kind(type, o, p)
        guard let kind, diagnostics.count == before || !diagnostics[before...].contains(where: { $0.severity == .error }) else {
            return nil
        }
        // `on_error` of kinds without their own failure edge (see `Node.onError`).
        let ownsOnError: Bool
        switch kind {
        case .play, .aiGather, .http, .action: ownsOnError = true
        default: ownsOnError = false
        }
        let onError = ownsOnError ? nil : target(o, "on_error", p, required: false)
        var node = Node(id: id, kind: kind, onError: onError)
        if let map = object(o, "keys", p, required: false) {
            node.keys = targets(map, p + ["keys"]) {
                $0.count == 1 && "0123456789*#".contains($0) ? nil : "keys are single keys 0-9, * or #, found \"\($0)\""
            }.map { (digit: $0.key, target: $0.target) }
            if node.keys.isEmpty { error(p + ["keys"], "name at least one key (\"0\": \"operator\")") }
        }
        if let loop = o["loop"] {
            if let n = loop.intValue, (1...100).contains(n) {
                node.loop = .int(n)
            } else if loop.stringValue == "infinity" {
                node.loop = "infinity"
            } else {
                error(p + ["loop"], "expected a number of plays from 1 to 100 or \"infinity\", found \(loop.jsonString)")
            }
            if node.loop == "infinity" && node.keys.isEmpty {
                error(p + ["loop"], "audio that loops forever needs \"keys\" to leave it")
            }
        }
        return node
    }

    mutating func kind(_ type: String, _ o: JSONObject, _ p: [String]) -> NodeKind? {
        switch type {
        case "answer":
            return target(o, "next", p).map { .answer(next: $0) }
        case "say":
            let text = template(o, "text", p)
            let voice = setting(o, "voice", p)
            let language = setting(o, "language", p)
            let ssml = bool(o, "ssml", p) ?? false
            guard let text, let next = target(o, "next", p) else { return nil }
            return .say(.say(text, voice: voice, language: language, ssml: ssml), next: next)
        case "play":
            let next = target(o, "next", p)
            let onError = target(o, "on_error", p, required: false)
            let url = template(o, "url", p, required: false)
            let media = template(o, "media", p, required: false)
            if url != nil && media != nil { error(p, "give either \"url\" or \"media\", not both") }
            guard let source = url ?? media else {
                if o["url"] == nil && o["media"] == nil { error(p, "missing required field \"url\" (or \"media\")") }
                return nil
            }
            guard let next else { return nil }
            return .play(url != nil ? .play(source) : .media(source), next: next, onError: onError)
        case "menu":
            return menu(o, p)
        case "gather":
            return gather(o, p)
        case "set":
            guard let vars = object(o, "vars", p), let next = target(o, "next", p) else { return nil }
            templatedJSON(.object(vars), p + ["vars"])
            return .set(vars: vars, next: next)
        case "switch":
            let value = template(o, "value", p)
            let def = target(o, "default", p)
            guard let cases = object(o, "cases", p) else { return nil }
            let list = targets(cases, p + ["cases"])
            guard let value, let def else { return nil }
            return .switch(
                value: value, cases: Dictionary(list.map { ($0.key, $0.target) }, uniquingKeysWith: { a, _ in a }),
                caseOrder: list.map(\.key), default: def)
        case "if":
            return ifNode(o, p)
        case "hours":
            return hours(o, p)
        case "transfer":
            let to = dialable(o, "to", p)
            let from = o["from"] == nil ? nil : dialable(o, "from", p)
            let timeout = int(o, "timeout_secs", p, required: false, range: 5...600)
            guard let to, let onFailure = target(o, "on_failure", p) else { return nil }
            return .transfer(to: to, from: from, timeoutSecs: timeout, onFailure: onFailure)
        case "connect":
            let to = dialable(o, "to", p)
            let from = dialable(o, "from", p)
            let timeout = int(o, "timeout_secs", p, required: false, range: 5...600)
            let whisper = o["whisper"] == nil ? nil : prompt(o["whisper"]!, p + ["whisper"])
            guard let to, let from, let onFailure = target(o, "on_failure", p) else { return nil }
            return .connect(to: to, from: from, timeoutSecs: timeout, whisper: whisper, onFailure: onFailure)
        case "record":
            let promptValue = o["prompt"].flatMap { prompt($0, p + ["prompt"]) }
            let beep = bool(o, "beep", p) ?? true
            let maxLength = int(o, "max_length_secs", p, range: 1...14_400)
            let silence = int(o, "silence_timeout_secs", p, required: false, range: 1...600)
            var format = "mp3"
            if let f = string(o, "format", p, required: false) {
                if f == "mp3" || f == "wav" { format = f } else { error(p + ["format"], "expected \"mp3\" or \"wav\", found \"\(f)\"") }
            }
            guard let maxLength, let saveAs = variableName(o, "save_as", p), let next = target(o, "next", p) else { return nil }
            return .record(
                RecordSpec(
                    prompt: promptValue, beep: beep, maxLengthSecs: maxLength, silenceTimeoutSecs: silence,
                    format: format, saveAs: saveAs, next: next, transcribe: bool(o, "transcribe", p) ?? false))
        case "http":
            return http(o, p)
        case "ai_gather":
            let greeting = template(o, "greeting", p, required: false)
            guard let parameters = object(o, "parameters", p) else { return nil }
            if parameters["type"] == nil && parameters["properties"] == nil {
                error(p + ["parameters"], "expected a JSON Schema object (with \"type\" and \"properties\")")
            }
            templatedJSON(.object(parameters), p + ["parameters"])
            guard let saveAs = variableName(o, "save_as", p), let next = target(o, "next", p),
                let onError = target(o, "on_error", p)
            else { return nil }
            let voice = nonEmpty(o, "voice", p, required: false)
            return .aiGather(parameters: .object(parameters), greeting: greeting, voice: voice, saveAs: saveAs, next: next, onError: onError)
        case "machine_detection":
            let h = target(o, "on_human", p), m = target(o, "on_machine", p), u = target(o, "on_unknown", p)
            let beep = bool(o, "wait_for_beep", p) ?? false
            guard let h, let m, let u else { return nil }
            return .machineDetection(onHuman: h, onMachine: m, onUnknown: u, waitForBeep: beep)
        case "command":
            return command(o, p)
        case "pause":
            guard let v = o["seconds"] else {
                error(p, "missing required field \"seconds\"")
                return nil
            }
            guard let seconds = v.doubleValue, seconds > 0, seconds <= 3600 else {
                error(p + ["seconds"], "expected a number of seconds between 0 and 3600, found \(v.jsonString)")
                return nil
            }
            guard let next = target(o, "next", p) else { return nil }
            return .pause(seconds: seconds, next: next)
        case "split":
            return split(o, p)
        case "subflow":
            let flow = nonEmpty(o, "flow", p)
            let next = target(o, "next", p)
            let inputs = o["inputs"] == nil ? [:] : object(o, "inputs", p)
            if let inputs { templatedJSON(.object(inputs), p + ["inputs"]) }
            var outputs: [(caller: String, subflow: String)] = []
            if o["outputs"] != nil, let table = object(o, "outputs", p) {
                for (caller, value) in table.members {
                    guard let name = value.stringValue, !name.isEmpty else {
                        error(p + ["outputs", caller], "expected the name of a variable of the subflow, found \(value.jsonString)")
                        continue
                    }
                    outputs.append((caller, name))
                }
            }
            guard let flow, let next, let inputs else { return nil }
            return .subflow(SubflowSpec(flow: flow, inputs: inputs, outputs: outputs, next: next))
        case "return":
            return .return
        case "ring_group":
            return ringGroup(o, p)
        case "queue":
            return queue(o, p)
        case "callback":
            return callback(o, p)
        case "conference":
            return conference(o, p)
        case "goto":
            guard let flow = nonEmpty(o, "flow", p) else { return nil }
            return .goto(flow: flow, node: nonEmpty(o, "node", p, required: false))
        case "hangup":
            return .hangup
        case "reject":
            guard let cause = string(o, "cause", p) else { return nil }
            let causes = ["CALL_REJECTED", "USER_BUSY"]
            guard causes.contains(cause) else {
                error(p + ["cause"], "expected CALL_REJECTED or USER_BUSY, found \"\(cause)\"")
                return nil
            }
            return .reject(cause: cause)
        default:
            if let cap = Capability.all[type] { return capability(cap, o, p) }
            return nil
        }
    }

    /// `ring_group`: `agents` (a list) or `group` (a file in `flows/groups/`), the hold audio,
    /// the strategy, the ring time and the optional screening.
    mutating func ringGroup(_ o: JSONObject, _ p: [String]) -> NodeKind? {
        var hold: Prompt?
        if let h = o["hold"] {
            hold = holdAudio(h, p + ["hold"])
        } else {
            error(p, "missing required field \"hold\": what the caller hears while agents ring ({\"play\": url} or {\"media\": name})")
        }
        let saveAs = o["save_as"] == nil ? nil : variableName(o, "save_as", p)
        let next = target(o, "next", p)
        let onNoAnswer = target(o, "on_no_answer", p)
        guard let ring = ringFields(o, p), let hold, let next, let onNoAnswer else { return nil }
        var spec = RingGroupSpec(
            agents: ring.agents, strategy: ring.strategy, ringSecs: ring.ringSecs, from: ring.from, screen: ring.screen, hold: hold,
            saveAs: saveAs, next: next, onNoAnswer: onNoAnswer)
        spec.agentRingSecs = ring.perAgent
        return .ringGroup(spec)
    }

    /// Whether `name` can name a file in `flows/groups/` (no path, no dots).
    static func isGroupName(_ name: String) -> Bool {
        !name.isEmpty
            && name.unicodeScalars.allSatisfy { ($0.properties.isAlphabetic && $0.isASCII) || ("0"..."9").contains($0) || $0 == "-" || $0 == "_" }
    }

    /// Audio that loops (hold music): a URL or a media name, never speech (which cannot loop).
    mutating func holdAudio(_ value: JSONValue, _ p: [String]) -> Prompt? {
        let hold = prompt(value, p)
        if case .say? = hold {
            error(p, "hold audio plays in a loop: give {\"play\": url} or {\"media\": name}, not speech")
            return nil
        }
        return hold
    }

    /// `queue`: the queue's name and limits, hold audio, announcements, keys that leave, and the
    /// agents it rings (`ring`, a ring group's fields).
    mutating func queue(_ o: JSONObject, _ p: [String]) -> NodeKind? {
        let name = nonEmpty(o, "queue", p)
        let maxWait = int(o, "max_wait_secs", p, required: false, range: 1...86_400)
        let maxSize = int(o, "max_size", p, required: false, range: 1...5000)
        let hold = o["hold"].flatMap { holdAudio($0, p + ["hold"]) }
        if o["hold"] == nil {
            error(p, "missing required field \"hold\": what the caller hears while waiting ({\"play\": url} or {\"media\": name})")
        }
        var announce: QueueSpec.Announcement?
        if let a = object(o, "announce", p, required: false) {
            let ap = p + ["announce"]
            unknownKeys(a, ap, allowed: NodeFields.announceKeys, what: "an announcement")
            let every = int(a, "every_secs", ap, range: 10...600)
            let said = a["prompt"].flatMap { prompt($0, ap + ["prompt"]) }
            if a["prompt"] == nil { error(ap, "missing required field \"prompt\" (what the waiting caller hears)") }
            if let said, case .say = said {
                if let every { announce = QueueSpec.Announcement(everySecs: every, prompt: said) }
            } else if said != nil {
                error(ap + ["prompt"], "an announcement is spoken (it may read {{vars.queue_position}}): give text or {\"say\": text}")
            }
        }
        var leave: [(digit: String, target: String)] = []
        if let map = object(o, "leave", p, required: false) {
            leave = targets(map, p + ["leave"]) {
                $0.count == 1 && "0123456789*#".contains($0) ? nil : "leave keys are single keys 0-9, * or #, found \"\($0)\""
            }.map { (digit: $0.key, target: $0.target) }
        }
        var ring: RingGroupSpec?
        if let r = object(o, "ring", p, required: false) {
            unknownKeys(r, p + ["ring"], allowed: NodeFields.queueRingKeys, what: "a queue's ring")
            if let fields = ringFields(r, p + ["ring"]), let hold {
                ring = RingGroupSpec(
                    agents: fields.agents, strategy: fields.strategy, ringSecs: fields.ringSecs, from: fields.from, screen: fields.screen, hold: hold,
                    saveAs: nil, next: "", onNoAnswer: "")
                ring?.agentRingSecs = fields.perAgent
            }
        }
        let retry = int(o, "retry_secs", p, required: false, range: 5...600) ?? QueueSpec.defaultRetrySecs
        let onTimeout = target(o, "on_timeout", p)
        let onFull = target(o, "on_full", p)
        guard let name, let hold, let onTimeout, let onFull else { return nil }
        if o["announce"] != nil && announce == nil { return nil }
        if o["ring"] != nil && ring == nil { return nil }
        return .queue(
            QueueSpec(
                queue: name, maxWaitSecs: maxWait, maxSize: maxSize, hold: hold, announce: announce, leave: leave, ring: ring, retrySecs: retry,
                onTimeout: onTimeout, onFull: onFull))
    }

    /// `conference`: join by name (the default action), or act on the call's conference.
    mutating func conference(_ o: JSONObject, _ p: [String]) -> NodeKind? {
        func choice<T: RawRepresentable & CaseIterable>(_ key: String, _ fallback: T) -> T? where T.RawValue == String {
            guard let text = string(o, key, p, required: false) else { return fallback }
            if let v = T(rawValue: text) { return v }
            let all = T.allCases.map(\.rawValue)
            error(
                p + [key],
                "expected one of \(all.joined(separator: ", ")), found \"\(text)\""
                    + (Spelling.nearest(to: text, in: all).map { "; did you mean \"\($0)\"?" } ?? ""))
            return nil
        }
        let action = choice("action", ConferenceSpec.Action.join)
        let role = choice("role", ConferenceSpec.Role.participant)
        let who = choice("who", ConferenceSpec.Who.`self`)
        let name = o["name"] == nil ? nil : template(o, "name", p)
        if action == .join && o["name"] == nil { error(p, "missing required field \"name\" (the conference to join or create)") }
        var beep: String?
        if let b = string(o, "beep", p, required: false) {
            if ConferenceSpec.beeps.contains(b) {
                beep = b
            } else {
                error(p + ["beep"], "expected one of \(ConferenceSpec.beeps.joined(separator: ", ")), found \"\(b)\"")
            }
        }
        let hold = o["hold"].flatMap { holdAudio($0, p + ["hold"]) }
        var prompt: Prompt?
        if let v = o["prompt"] {
            prompt = self.prompt(v, p + ["prompt"])
            if action == .play, case .say? = prompt {
                error(p + ["prompt"], "play takes {\"play\": url} or {\"media\": name}; use action speak for text")
            }
            if action == .speak, let pr = prompt, case .say = pr {} else if action == .speak { error(p + ["prompt"], "speak takes text") }
        } else if action == .speak || action == .play {
            error(p, "missing required field \"prompt\" (what the conference hears)")
        }
        var whisper: [Template] = []
        if let list = o["whisper_to"] {
            if case .array(let items) = list {
                for (i, item) in items.enumerated() {
                    if let text = item.stringValue, let t = template(text, p + ["whisper_to", String(i)]) {
                        whisper.append(t)
                    } else if item.stringValue == nil {
                        error(p + ["whisper_to", String(i)], "expected a call control id (a template such as {{vars.agent_leg}})")
                    }
                }
            } else {
                error(p + ["whisper_to"], "expected a list of call control ids")
            }
            if role != .whisper { error(p + ["whisper_to"], "whisper_to is for role whisper") }
        } else if role == .whisper {
            error(p, "role whisper needs \"whisper_to\": the call control ids (templates) that hear this call")
        }
        var keys: [(digit: String, target: String)] = []
        if let map = object(o, "keys", p, required: false) {
            keys = targets(map, p + ["keys"]) {
                $0.count == 1 && "0123456789*#".contains($0) ? nil : "keys are single keys 0-9, * or #, found \"\($0)\""
            }.map { (digit: $0.key, target: $0.target) }
        }
        if action == .unhold && who == .all { error(p + ["who"], "unhold needs who \"self\": Telnyx's unhold names the calls it takes off hold") }
        var invite: [Template] = []
        if let list = o["invite"] {
            if case .array(let items) = list, !items.isEmpty {
                for (i, item) in items.enumerated() {
                    guard let text = item.stringValue, let t = template(text, p + ["invite", String(i)]) else {
                        error(p + ["invite", String(i)], "expected an E.164 number or a sip: URI")
                        continue
                    }
                    if t.references.isEmpty && !E164.isDialable(text) {
                        error(p + ["invite", String(i)], "\"\(text)\" is not an E.164 number (+13125550141) or a sip: URI")
                    }
                    invite.append(t)
                }
            } else {
                error(p + ["invite"], "expected a list of E.164 numbers or sip: URIs")
            }
            if action != .join && action != .invite { error(p + ["invite"], "invite is for action join or invite") }
        } else if action == .invite {
            error(p, "missing required field \"invite\" (who to dial into the conference)")
        }
        let endOnExit = bool(o, "end_on_exit", p)
        let wait = bool(o, "wait_for_moderator", p) ?? false
        let maxParticipants = int(o, "max_participants", p, required: false, range: 2...500)
        let next = target(o, "next", p)
        guard let action, let role, let who, let next else { return nil }
        if o["name"] != nil && name == nil { return nil }
        if (action == .speak || action == .play) && prompt == nil { return nil }
        var spec = ConferenceSpec(
            action: action, name: name, role: role, whisperTo: whisper, beep: beep, hold: hold, waitForModerator: wait, endOnExit: endOnExit,
            maxParticipants: maxParticipants, who: who, prompt: prompt, keys: keys, next: next)
        spec.invite = invite
        return .conference(spec)
    }

    /// `callback`: who to call back, the flow to run, and when it may be placed.
    mutating func callback(_ o: JSONObject, _ p: [String]) -> NodeKind? {
        let to = o["to"] == nil ? nil : dialable(o, "to", p)
        let from = o["from"] == nil ? nil : dialable(o, "from", p)
        let flow = nonEmpty(o, "flow", p)
        let vars = o["vars"] == nil ? [:] : object(o, "vars", p)
        if let vars { templatedJSON(.object(vars), p + ["vars"]) }
        var hours: OpeningHours?
        if let h = object(o, "hours", p, required: false) {
            var spec = h
            spec["on_open"] = "x"
            spec["on_closed"] = "x"
            unknownKeys(h, p + ["hours"], allowed: ["timezone", "open", "closed_dates"], what: "callback hours")
            if case .hours(let parsed, _, _)? = self.hours(spec, p + ["hours"]) { hours = parsed }
        }
        var agents: RingGroupSpec.Agents?
        switch (o["agents"], o["group"]) {
        case (.some, .some): error(p, "give either \"agents\" or \"group\", not both")
        case (let list?, nil):
            if let fields = ringFields(["agents": list], p) { agents = fields.agents }
        case (nil, _?):
            if let g = nonEmpty(o, "group", p) { agents = .group(g) }
        case (nil, nil): break
        }
        let expire = int(o, "expire_hours", p, required: false, range: 1...168) ?? CallbackSpec.defaultExpireHours
        let next = target(o, "next", p)
        guard let flow, let vars, let next else { return nil }
        if o["hours"] != nil && hours == nil { return nil }
        return .callback(CallbackSpec(to: to, from: from, flow: flow, vars: vars, hours: hours, agents: agents, expireHours: expire, next: next))
    }

    /// Who to ring and how: the fields a `ring_group` and a `queue`'s `ring` share.
    mutating func ringFields(
        _ o: JSONObject, _ p: [String]
    ) -> (
        agents: RingGroupSpec.Agents, strategy: RingGroupSpec.Strategy, ringSecs: Int, from: Template?, screen: RingGroupSpec.Screening?,
        perAgent: [String: Int]
    )? {
        var agents: RingGroupSpec.Agents?
        var perAgent: [String: Int] = [:]
        switch (o["agents"], o["group"]) {
        case (nil, nil):
            error(p, "name who to ring: \"agents\": [\"+13125550141\", ...] or \"group\": \"support\" (flows/groups/support.json)")
        case (.some, .some):
            error(p, "give either \"agents\" or \"group\", not both")
        case (let list?, nil):
            guard case .array(let items) = list, !items.isEmpty else {
                error(p + ["agents"], "expected a list of E.164 numbers or sip: URIs, found \(list.jsonString)")
                break
            }
            var templates: [Template] = []
            for (i, item) in items.enumerated() {
                var entry = item
                if case .object(let o) = item {
                    // `{"to": "+13125550141", "ring_secs": 10}`: an agent with its own ring time.
                    let ap = p + ["agents", String(i)]
                    unknownKeys(o, ap, allowed: ["to", "ring_secs"], what: "an agent")
                    guard let to = string(o, "to", ap), let secs = int(o, "ring_secs", ap, range: 5...120) else { continue }
                    if to.contains("{{") { error(ap + ["to"], "an agent with its own ring_secs needs its address as written, not a template") }
                    perAgent[to] = secs
                    entry = .string(to)
                }
                guard let text = entry.stringValue else {
                    error(
                        p + ["agents", String(i)], "expected an E.164 number, a sip: URI or {\"to\": ..., \"ring_secs\": N}, found \(item.typeName)")
                    continue
                }
                guard let t = template(text, p + ["agents", String(i)]) else { continue }
                if t.references.isEmpty && !E164.isDialable(text) {
                    error(p + ["agents", String(i)], "\"\(text)\" is not an E.164 number (+13125550141) or a sip: URI")
                    continue
                }
                templates.append(t)
            }
            if templates.count == items.count { agents = .list(templates) }
        case (nil, _?):
            if let g = nonEmpty(o, "group", p) {
                if Self.isGroupName(g) {
                    agents = .group(g)
                } else {
                    error(p + ["group"], "a group is named by its file in flows/groups/ without .json: letters, digits, - and _, found \"\(g)\"")
                }
            }
        }
        var strategy = RingGroupSpec.Strategy.simultaneous
        if let s = string(o, "strategy", p, required: false) {
            if let known = RingGroupSpec.Strategy(rawValue: s) {
                strategy = known
            } else {
                error(p + ["strategy"], "expected \"simultaneous\" or \"sequential\", found \"\(s)\"")
            }
        }
        let ringSecs = int(o, "ring_secs", p, required: false, range: 5...120) ?? RingGroupSpec.defaultRingSecs
        let from = o["from"] == nil ? nil : dialable(o, "from", p)
        var screen: RingGroupSpec.Screening?
        if let s = object(o, "screen", p, required: false) {
            let sp = p + ["screen"]
            unknownKeys(s, sp, allowed: NodeFields.screenKeys, what: "a screen")
            let promptValue = s["prompt"].flatMap { prompt($0, sp + ["prompt"]) }
            if s["prompt"] == nil { error(sp, "missing required field \"prompt\" (what the agent hears before accepting)") }
            let accept = string(s, "accept", sp, required: false) ?? "1"
            if accept.count != 1 || !"0123456789*#".contains(accept) { error(sp + ["accept"], "expected one key 0-9, * or #, found \"\(accept)\"") }
            let timeout = int(s, "timeout_ms", sp, required: false, range: 1000...60_000) ?? 8000
            if let promptValue { screen = RingGroupSpec.Screening(prompt: promptValue, accept: accept, timeoutMs: timeout) }
        }
        guard let agents else { return nil }
        if o["screen"] != nil && screen == nil { return nil }
        return (agents, strategy, ringSecs, from, screen, perAgent)
    }

    /// A `key → node` object (`choices`, `cases`, `on_status`) in file order. `badKey` says why a
    /// key is not allowed (nil: allowed).
    /// `{"branches": {"control": {"weight": 50, "next": "a"}, "variant": {"weight": 50, "next": "b"}}}`:
    /// branches in file order, at least two, weights whole numbers with a positive total.
    mutating func split(_ o: JSONObject, _ p: [String]) -> NodeKind? {
        guard let branches = object(o, "branches", p) else { return nil }
        let bp = p + ["branches"]
        var list: [SplitBranch] = []
        var valid = true
        for (name, value) in branches.members {
            guard let b = value.objectValue else {
                error(bp + [name], "expected an object with \"weight\" and \"next\", found \(value.jsonString)")
                valid = false
                continue
            }
            unknownKeys(b, bp + [name], allowed: NodeFields.splitBranchKeys, what: "a split branch")
            let weight = int(b, "weight", bp + [name], range: 0...SplitBranch.maxWeight)
            let next = target(b, "next", bp + [name])
            guard !name.isEmpty, let weight, let next else {
                if name.isEmpty { error(bp, "a branch name must not be empty (it is the outcome edge and the metrics label)") }
                valid = false
                continue
            }
            list.append(SplitBranch(name: name, weight: weight, next: next))
        }
        guard valid else { return nil }
        guard list.count >= 2 else {
            error(bp, "a split needs at least two branches, found \(list.count)")
            return nil
        }
        guard list.contains(where: { $0.weight > 0 }) else {
            error(bp, "every branch has weight 0: give at least one a positive weight")
            return nil
        }
        return .split(branches: list)
    }

    mutating func targets(
        _ map: JSONObject, _ p: [String], badKey: (String) -> String? = { _ in nil }
    ) -> [(key: String, target: String)] {
        var out: [(key: String, target: String)] = []
        for (key, v) in map.members {
            if let problem = badKey(key) { error(p + [key], problem) }
            guard let t = v.stringValue, !t.isEmpty else {
                error(p + [key], "expected a node name, found \(v.typeName)")
                continue
            }
            out.append((key, t))
        }
        return out
    }

    /// Target-naming fields of a node object that did not parse, read as plainly as possible.
    static func rawEdges(_ value: JSONValue) -> [(pointer: [String], target: String)] {
        guard case .object(let o) = value else { return [] }
        var out: [(pointer: [String], target: String)] = []
        for (key, v) in o.members {
            if key == "next" || key == "default" || key == "else" || key.hasPrefix("on_"), let t = v.stringValue, !t.isEmpty {
                out.append(([key], t))
            }
            if key == "choices" || key == "cases" || key == "on_status" || key == "keys" || key == "leave", case .object(let map) = v {
                for (k, t) in map.members { if let t = t.stringValue, !t.isEmpty { out.append(([key, k], t)) } }
            }
            if key == "conditions", case .array(let list) = v {
                for (i, c) in list.enumerated() { if let t = c["next"]?.stringValue, !t.isEmpty { out.append(([key, String(i), "next"], t)) } }
            }
        }
        return out
    }

    /// A prompt's `voice` or `language`: a template is checked here and its value at run time;
    /// a literal language must be one Telnyx's speak accepts.
    mutating func setting(_ o: JSONObject, _ key: String, _ p: [String]) -> String? {
        guard let s = nonEmpty(o, key, p, required: false) else { return nil }
        if s.contains("{{") {
            _ = template(s, p + [key])
        } else if let problem = ParamCheck.problem(action: "speak", key: key, value: .string(s)) {
            error(p + [key], problem)
        }
        return s
    }

    mutating func variableName(_ o: JSONObject, _ key: String, _ p: [String]) -> String? {
        guard let name = nonEmpty(o, key, p) else { return nil }
        let ok = name.unicodeScalars.allSatisfy { ($0.properties.isAlphabetic && $0.isASCII) || ("0"..."9").contains($0) || $0 == "_" }
        guard ok else {
            error(p + [key], "variable names use letters, digits and _ only, found \"\(name)\"")
            return nil
        }
        return name
    }

    /// A phone number or SIP URI (or a template that yields one at run time).
    mutating func dialable(_ o: JSONObject, _ key: String, _ p: [String]) -> Template? {
        guard let t = template(o, key, p) else { return nil }
        if t.references.isEmpty && !E164.isDialable(t.source) {
            error(p + [key], "\"\(t.source)\" is not an E.164 number (+13125550100) or a sip: URI")
        }
        return t
    }

    mutating func prompt(_ value: JSONValue, _ p: [String]) -> Prompt? {
        if case .string(let s) = value { return template(s, p).map { .say($0, voice: nil, language: nil, ssml: false) } }
        guard case .object(let o) = value else {
            error(p, "a prompt is {\"say\": text} or {\"play\": url}, found \(value.typeName)")
            return nil
        }
        unknownKeys(o, p, allowed: NodeFields.promptKeys, what: "a prompt")
        let kinds = ["say", "play", "media"].filter { o[$0] != nil }
        if kinds.count > 1 { error(p, "a prompt has one of \"say\", \"play\" or \"media\", not \(kinds.joined(separator: " and "))") }
        if o["play"] != nil {
            return template(o, "play", p).map { .play($0) }
        }
        if o["media"] != nil {
            return template(o, "media", p).map { .media($0) }
        }
        guard o["say"] != nil else {
            error(p, "a prompt needs \"say\" (text), \"play\" (audio URL) or \"media\" (Telnyx media name)")
            return nil
        }
        let voice = setting(o, "voice", p)
        let language = setting(o, "language", p)
        let ssml = bool(o, "ssml", p) ?? false
        return template(o, "say", p).map { .say($0, voice: voice, language: language, ssml: ssml) }
    }

    mutating func menu(_ o: JSONObject, _ p: [String]) -> NodeKind? {
        let promptValue = o["prompt"].flatMap { prompt($0, p + ["prompt"]) }
        if o["prompt"] == nil { error(p, "missing required field \"prompt\"") }
        let invalid = o["invalid"].flatMap { prompt($0, p + ["invalid"]) }
        let noInput = o["no_input"].flatMap { prompt($0, p + ["no_input"]) }
        let timeout = int(o, "timeout_ms", p, required: false, range: 500...120_000) ?? 5000
        let attempts = int(o, "max_attempts", p, required: false, range: 1...10) ?? 3
        var choices: [(String, String)] = []
        if let c = object(o, "choices", p) {
            if c.isEmpty { error(p + ["choices"], "a menu needs at least one choice") }
            choices = targets(c, p + ["choices"]) {
                $0.count == 1 && "0123456789*#".contains($0) ? nil : "menu choices are single keys 0-9, * or #, found \"\($0)\""
            }
        }
        var speech: [(digit: String, phrases: [String])] = []
        if let map = object(o, "speech", p, required: false) {
            for (digit, value) in map.members {
                let list = value.arrayValue ?? [value]
                let phrases = list.compactMap { $0.stringValue }.filter { !Speech.words($0).isEmpty }
                if phrases.count != list.count || phrases.isEmpty {
                    error(p + ["speech", digit], "expected a phrase or a list of phrases (words the caller may say), found \(value.jsonString)")
                }
                if !choices.contains(where: { $0.0 == digit }) {
                    error(p + ["speech", digit], "speech keys name a choice; \"\(digit)\" is not in choices")
                }
                speech.append((digit, phrases))
            }
        }
        var minConfidence = 0.5
        if let v = o["min_confidence"] {
            if let d = v.doubleValue, (0...1).contains(d) {
                minConfidence = d
            } else {
                error(p + ["min_confidence"], "expected a number between 0 and 1, found \(v.jsonString)")
            }
            if speech.isEmpty { error(p + ["min_confidence"], "min_confidence applies to \"speech\", which this menu does not have") }
        }
        let onInvalid = target(o, "on_invalid", p), onNoInput = target(o, "on_no_input", p)
        guard let promptValue, let onInvalid, let onNoInput else { return nil }
        var spec = MenuSpec(
            prompt: promptValue, choices: choices, timeoutMs: timeout, maxAttempts: attempts, invalid: invalid,
            noInput: noInput, onInvalid: onInvalid, onNoInput: onNoInput)
        spec.speech = speech
        spec.minConfidence = minConfidence
        return .menu(spec)
    }

    mutating func gather(_ o: JSONObject, _ p: [String]) -> NodeKind? {
        let promptValue = o["prompt"].flatMap { prompt($0, p + ["prompt"]) }
        let minDigits = int(o, "min_digits", p, range: 1...128)
        let maxDigits = int(o, "max_digits", p, range: 1...128)
        if let minDigits, let maxDigits, minDigits > maxDigits {
            error(p + ["min_digits"], "min_digits (\(minDigits)) is larger than max_digits (\(maxDigits))")
        }
        var terminator: String? = nil
        if let t = string(o, "terminator", p, required: false) {
            if t.count == 1 && "0123456789*#".contains(t) {
                terminator = t
            } else {
                error(p + ["terminator"], "a terminator is one key 0-9, * or #, found \"\(t)\"")
            }
        }
        let timeout = int(o, "timeout_ms", p, required: false, range: 500...120_000)
        let interDigit = int(o, "inter_digit_timeout_ms", p, required: false, range: 500...120_000)
        var pattern: String? = nil
        if let pat = string(o, "pattern", p, required: false) {
            if (try? Regex(pat)) == nil { error(p + ["pattern"], "not a valid regular expression: \(pat)") } else { pattern = pat }
        }
        let attempts = int(o, "max_attempts", p, required: false, range: 1...10) ?? 3
        let sensitive = bool(o, "sensitive", p) ?? false
        let saveAs = variableName(o, "save_as", p)
        let next = target(o, "next", p), onInvalid = target(o, "on_invalid", p), onNoInput = target(o, "on_no_input", p)
        guard let minDigits, let maxDigits, let saveAs, let next, let onInvalid, let onNoInput else { return nil }
        return .gather(
            GatherSpec(
                prompt: promptValue, minDigits: minDigits, maxDigits: maxDigits, terminator: terminator,
                timeoutMs: timeout, interDigitTimeoutMs: interDigit, pattern: pattern, maxAttempts: attempts,
                saveAs: saveAs, sensitive: sensitive, next: next, onInvalid: onInvalid, onNoInput: onNoInput))
    }

    mutating func ifNode(_ o: JSONObject, _ p: [String]) -> NodeKind? {
        let otherwise = target(o, "else", p)
        guard let list = o["conditions"] else {
            error(p, "missing required field \"conditions\"")
            return nil
        }
        guard case .array(let items) = list, !items.isEmpty else {
            error(p + ["conditions"], "expected a non-empty array of conditions")
            return nil
        }
        var conditions: [Condition] = []
        for (i, item) in items.enumerated() {
            let cp = p + ["conditions", String(i)]
            guard case .object(let c) = item else {
                error(cp, "expected object, found \(item.typeName)")
                continue
            }
            unknownKeys(c, cp, allowed: NodeFields.conditionKeys, what: "a condition")
            let value = template(c, "value", cp)
            let opName = string(c, "op", cp)
            let op = opName.flatMap(Condition.Op.init(rawValue:))
            if let opName, op == nil {
                var message = "unknown op \"\(opName)\" (use \(Condition.Op.allCases.map(\.rawValue).joined(separator: " ")))"
                if let s = Spelling.nearest(to: opName, in: Condition.Op.allCases.map(\.rawValue)) { message += "; did you mean \"\(s)\"?" }
                error(cp + ["op"], message)
            }
            if let op, op != .empty, c["to"] == nil { error(cp, "op \"\(op.rawValue)\" needs a \"to\" value") }
            if op == .matches, let pattern = c["to"]?.stringValue, (try? Regex(pattern)) == nil {
                error(cp + ["to"], "not a valid regular expression: \(pattern)")
            }
            if let to = c["to"]?.stringValue { _ = template(to, cp + ["to"]) }
            let next = target(c, "next", cp)
            if let value, let op, let next { conditions.append(Condition(value: value, op: op, to: c["to"], next: next)) }
        }
        guard let otherwise, conditions.count == items.count else { return nil }
        return .if(conditions: conditions, else: otherwise)
    }

    static let dayNames = ["sun", "mon", "tue", "wed", "thu", "fri", "sat"]

    mutating func hours(_ o: JSONObject, _ p: [String]) -> NodeKind? {
        let zone = nonEmpty(o, "timezone", p)
        var rules: TimeZoneRules? = nil
        if let zone {
            rules = timeZones.rules(for: zone)
            if rules == nil { error(p + ["timezone"], "unknown IANA time zone \"\(zone)\" (like America/Chicago)") }
        }
        var ranges: [Int: [ClosedRange<Int>]] = [:]
        if let open = object(o, "open", p) {
            for (key, value) in open.members {
                let kp = p + ["open", key]
                guard let days = Self.days(key) else {
                    error(kp, "expected a day (mon) or day range (mon-fri), found \"\(key)\"")
                    continue
                }
                guard case .array(let list) = value else {
                    error(kp, "expected a list of \"HH:MM-HH:MM\" ranges")
                    continue
                }
                for (i, item) in list.enumerated() {
                    guard let text = item.stringValue, let range = Self.minuteRange(text) else {
                        error(kp + [String(i)], "expected \"HH:MM-HH:MM\" (24-hour, start before end), found \(item.jsonString)")
                        continue
                    }
                    for d in days { ranges[d, default: []].append(range) }
                }
            }
        }
        var closed = Set<String>()
        if let list = o["closed_dates"] {
            if case .array(let items) = list {
                for (i, item) in items.enumerated() {
                    if let d = item.stringValue, Self.isDate(d) {
                        closed.insert(d)
                    } else {
                        error(p + ["closed_dates", String(i)], "expected a date \"YYYY-MM-DD\", found \(item.jsonString)")
                    }
                }
            } else {
                error(p + ["closed_dates"], "expected a list of dates")
            }
        }
        let onOpen = target(o, "on_open", p), onClosed = target(o, "on_closed", p)
        guard let zone, let rules, let onOpen, let onClosed else { return nil }
        return .hours(OpeningHours(timezone: zone, rules: rules, ranges: ranges, closedDates: closed), onOpen: onOpen, onClosed: onClosed)
    }

    static func days(_ key: String) -> [Int]? {
        let parts = key.lowercased().split(separator: "-", omittingEmptySubsequences: false).map(String.init)
        guard parts.count == 1 || parts.count == 2 else { return nil }
        guard let a = dayNames.firstIndex(of: parts[0]) else { return nil }
        guard parts.count == 2 else { return [a] }
        guard let b = dayNames.firstIndex(of: parts[1]) else { return nil }
        var out = [a], d = a
        while d != b {
            d = (d + 1) % 7
            out.append(d)
        }
        return out
    }

    static func minuteRange(_ text: String) -> ClosedRange<Int>? {
        let parts = text.split(separator: "-")
        guard parts.count == 2, let a = minute(parts[0]), let b = minute(parts[1]), a < b else { return nil }
        return a...(b - 1)
    }

    static func minute(_ s: Substring) -> Int? {
        let hm = s.split(separator: ":")
        guard hm.count == 2, hm[0].count == 2, hm[1].count == 2, let h = Int(hm[0]), let m = Int(hm[1]),
            (0...24).contains(h), (0...59).contains(m), h * 60 + m <= 1440
        else { return nil }
        return h * 60 + m
    }

    static func isDate(_ s: String) -> Bool {
        let parts = s.split(separator: "-")
        guard parts.count == 3, parts[0].count == 4, parts[1].count == 2, parts[2].count == 2,
            let m = Int(parts[1]), let d = Int(parts[2]), Int(parts[0]) != nil
        else { return false }
        return (1...12).contains(m) && (1...31).contains(d)
    }

    mutating func http(_ o: JSONObject, _ p: [String]) -> NodeKind? {
        var method: String? = nil
        if let m = string(o, "method", p) {
            let upper = m.uppercased()
            if ["GET", "POST", "PUT", "PATCH", "DELETE"].contains(upper) {
                method = upper
            } else {
                error(p + ["method"], "expected GET, POST, PUT, PATCH or DELETE, found \"\(m)\"")
            }
        }
        let url = template(o, "url", p)
        if let url, !(url.source.hasPrefix("https://") || url.source.hasPrefix("http://") || url.source.hasPrefix("{{")) {
            error(p + ["url"], "expected an http(s) URL, found \"\(url.source)\"")
        }
        var headers: [(String, Template)] = []
        if let h = object(o, "headers", p, required: false) {
            for (name, value) in h.members {
                guard let s = value.stringValue else {
                    error(p + ["headers", name], "expected string, found \(value.typeName)")
                    continue
                }
                if let t = template(s, p + ["headers", name]) { headers.append((name, t)) }
            }
        }
        let body = o["body"]
        if let body {
            templatedJSON(body, p + ["body"])
            if method == "GET" { error(p + ["body"], "a GET request has no body") }
        }
        let timeout = int(o, "timeout_ms", p, required: false, range: 100...60_000) ?? 5000
        let saveAs = o["save_as"] == nil ? nil : variableName(o, "save_as", p)
        let next = target(o, "next", p, required: false)
        let onError = target(o, "on_error", p, required: false)
        let onStatus =
            object(o, "on_status", p, required: false).map {
                targets($0, p + ["on_status"]) {
                    HTTPSpec.isStatusKey($0) ? nil : "on_status keys are a status 100-599 (\"404\") or a class 1xx-5xx (\"4xx\"), found \"\($0)\""
                }
            } ?? []
        guard let method, let url else { return nil }
        return .http(
            HTTPSpec(
                method: method, url: url, headers: headers, body: body, timeoutMs: timeout, saveAs: saveAs,
                next: next, onError: onError, onStatus: onStatus))
    }
}
