import CallflowCore
import Testing

@Suite struct FlowCheckTests {
    static func check(_ text: String, extra: [String: String] = [:]) -> [Diagnostic] {
        var files = [(name: "f", file: "f.json", bytes: Array(text.utf8))]
        for (name, t) in extra { files.append((name, "\(name).json", Array(t.utf8))) }
        return FlowSet.load(files: files, timeZones: TestZones()).diagnostics
    }

    /// An inline flow whose command failures go to `end` (so only what a test is about warns).
    static func flow(_ nodes: String, top: String = "") -> String {
        let defaults = top.contains("\"defaults\"") ? "" : #""defaults":{"on_error":"end"},"#
        return #"{"start":"a",\#(defaults)\#(top)"nodes":{\#(nodes),"end":{"type":"hangup"}}}"#
    }

    @Test func shippedFlowsAreClean() throws {
        let files = try Flows.shipped.map { (name: $0, file: "flows/\($0).json", bytes: try Flows.file($0)) }
        let (set, diagnostics) = FlowSet.load(files: files + (try Flows.groupFiles()), timeZones: TestZones())
        #expect(diagnostics.isEmpty, "\(diagnostics)")
        #expect(set?.flows.count == Flows.shipped.count)
    }

    static let cases: [(String, String, String, String)] = [
        ("invalid JSON", "{\n  \"start\": \"a\",\n  \"nodes\": {,}\n}", "/", "invalid JSON at 3:13"),
        ("unknown node type", flow(#""a":{"type":"menue","next":"end"}"#), "/nodes/a/type", #"unknown node type "menue"; did you mean "menu"?"#),
        ("misspelled field", flow(#""a":{"type":"say","text":"x","nxt":"end","next":"end"}"#), "/nodes/a/nxt", #"did you mean "next"?"#),
        ("missing field", flow(#""a":{"type":"say","next":"end"}"#), "/nodes/a", #"missing required field "text""#),
        ("wrong type", flow(#""a":{"type":"pause","seconds":"two","next":"end"}"#), "/nodes/a/seconds", "expected a number of seconds"),
        (
            "wrong type int",
            flow(#""a":{"type":"menu","prompt":"x","choices":{"1":"end"},"max_attempts":"3","on_invalid":"end","on_no_input":"end"}"#),
            "/nodes/a/max_attempts", "expected integer, found string"
        ),
        ("missing target", flow(#""a":{"type":"answer","next":"ned"}"#), "/nodes/a/next", #""ned" is not a node of this flow; did you mean "end"?"#),
        ("missing start", #"{"start":"nope","nodes":{"a":{"type":"hangup"}}}"#, "/start", #""nope" is not a node"#),
        (
            "goto missing flow", flow(#""a":{"type":"goto","flow":"voicemale"}"#), "/nodes/a/flow",
            #"goto names flow "voicemale", which does not exist"#
        ),
        (
            "goto missing node", flow(#""a":{"type":"goto","flow":"f","node":"ende"}"#), "/nodes/a/node",
            #"flow "f" has no node "ende"; did you mean "end"?"#
        ),
        (
            "unreachable", flow(#""a":{"type":"hangup"},"lost":{"type":"say","text":"x","next":"end"}"#), "/nodes/lost",
            "warning: node \"lost\" is unreachable"
        ),
        (
            "instant cycle",
            flow(#""a":{"type":"set","vars":{},"next":"b"},"b":{"type":"if","conditions":[{"value":"x","op":"empty","next":"a"}],"else":"a"}"#),
            "/nodes/a", "cycle that never waits for the caller or a timer: a → b → a"
        ),
        (
            "menu choice key", flow(#""a":{"type":"menu","prompt":"x","choices":{"10":"end"},"on_invalid":"end","on_no_input":"end"}"#),
            "/nodes/a/choices/10", "menu choices are single keys"
        ),
        ("not E.164", flow(#""a":{"type":"transfer","to":"3125550001","on_failure":"end"}"#), "/nodes/a/to", "is not an E.164 number"),
        ("template root", flow(#""a":{"type":"say","text":"{{caller.from}}","next":"end"}"#), "/nodes/a/text", #"unknown root "caller""#),
        ("template call field", flow(#""a":{"type":"say","text":"{{call.fromm}}","next":"end"}"#), "/nodes/a/text", "unknown call field"),
        ("template unterminated", flow(#""a":{"type":"say","text":"{{vars.x","next":"end"}"#), "/nodes/a/text", "without a closing }}"),
        (
            "template in http body",
            flow(#""a":{"type":"http","method":"POST","url":"https://x","body":{"k":["{{var.x}}"]},"next":"end","on_error":"end"}"#),
            "/nodes/a/body/k/0", "unknown root"
        ),
        (
            "call command in on_hangup", flow(#""a":{"type":"hangup"},"h":{"type":"say","text":"x","next":"end"}"#, top: #""on_hangup":"h","#),
            "/nodes/h/type", "on_hangup runs after the caller has gone"
        ),
        (
            "command params", flow(#""a":{"type":"command","action":"speak","params":{"payload":"x","voice":"female","loudness":1},"next":"end"}"#),
            "/nodes/a/params/loudness", #"speak does not take "loudness""#
        ),
        (
            "command required", flow(#""a":{"type":"command","action":"transfer","params":{},"next":"end"}"#), "/nodes/a/params",
            #"transfer requires "to""#
        ),
        ("command action", flow(#""a":{"type":"command","action":"speek","next":"end"}"#), "/nodes/a/action", #"did you mean "speak"?"#),
        (
            "command wait_for", flow(#""a":{"type":"command","action":"answer","wait_for":"call.answerd","next":"end"}"#), "/nodes/a/wait_for",
            #"did you mean "call.answered"?"#
        ),
        (
            "bad time zone", flow(#""a":{"type":"hours","timezone":"Mars/Olympus","open":{},"on_open":"end","on_closed":"end"}"#),
            "/nodes/a/timezone", "unknown IANA time zone"
        ),
        (
            "bad hours",
            flow(
                #""a":{"type":"hours","timezone":"UTC","open":{"mon-fry":["09:00-17:00"],"tue":["17:00-09:00"]},"on_open":"end","on_closed":"end"}"#),
            "/nodes/a/open/mon-fry", "expected a day"
        ),
        (
            "bad range", flow(#""a":{"type":"hours","timezone":"UTC","open":{"tue":["17:00-09:00"]},"on_open":"end","on_closed":"end"}"#),
            "/nodes/a/open/tue/0", "start before end"
        ),
        (
            "bad regex",
            flow(
                #""a":{"type":"gather","min_digits":1,"max_digits":3,"pattern":"[0-9","save_as":"x","next":"end","on_invalid":"end","on_no_input":"end"}"#
            ),
            "/nodes/a/pattern", "not a valid regular expression"
        ),
        (
            "min > max",
            flow(#""a":{"type":"gather","min_digits":5,"max_digits":3,"save_as":"x","next":"end","on_invalid":"end","on_no_input":"end"}"#),
            "/nodes/a/min_digits", "larger than max_digits"
        ),
        ("reject cause", flow(#""a":{"type":"reject","cause":"BUSY"}"#), "/nodes/a/cause", "expected CALL_REJECTED or USER_BUSY"),
        (
            "http needs edges from start", flow(#""a":{"type":"http","method":"GET","url":"https://x"}"#), "/nodes/a",
            #"missing required field "next""#
        ),
        ("top level typo", #"{"strat":"a","start":"a","nodes":{"a":{"type":"hangup"}}}"#, "/strat", #"did you mean "start"?"#),
        ("duplicate key", #"{"start":"a","nodes":{"a":{"type":"hangup"},"a":{"type":"hangup"}}}"#, "/", "duplicate key"),
    ]

    @Test(arguments: FlowCheckTests.cases.map(\.0))
    func reportsProblem(_ name: String) {
        let (_, text, pointer, message) = Self.cases.first { $0.0 == name }!
        let diagnostics = Self.check(text)
        #expect(
            diagnostics.contains { ($0.pointer.isEmpty ? "/" : $0.pointer) == pointer && $0.description.contains(message) },
            "\(name): expected \(pointer): \(message), got \(diagnostics.map(\.description))")
    }

    @Test func reportsAllProblemsAtOnce() {
        let diagnostics = Self.check(
            Self.flow(
                #"""
                "a":{"type":"menu","prompt":{"say":"{{var.x}}"},"choices":{"1":"salse"},"on_invalid":"end","on_no_input":"end","timout_ms":1},
                "sales":{"type":"transfer","to":"555","on_failure":"end"}
                """#))
        let text = diagnostics.map(\.description).joined(separator: "\n")
        #expect(text.contains("timout_ms"))
        #expect(text.contains("unknown root \"var\""))
        #expect(text.contains("\"salse\" is not a node"))
        #expect(text.contains("\"555\" is not an E.164"))
        #expect(diagnostics.allSatisfy { $0.description.hasPrefix("f.json: /") })
    }

    @Test func warningsAloneStillLoad() {
        let (set, diagnostics) = FlowSet.load(
            files: [("f", "f.json", Array(Self.flow(#""a":{"type":"hangup"},"lost":{"type":"hangup"}"#, top: #""defaults":{},"#).utf8))],
            timeZones: TestZones())
        #expect(set != nil)
        #expect(diagnostics.map(\.pointer) == ["/nodes/lost", "/nodes/end"])
        #expect(diagnostics.allSatisfy { $0.severity == .warning })
    }
}
