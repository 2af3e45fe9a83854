import CallflowCore
import Testing

/// `{{vars.x | 'default'}}` and `{{vars.x | vars.y | call.from}}`: parsed at load, rendered per call.
@Suite struct TemplateFallbackTests {
    static let context = TemplateContext(call: ["from": "+13125550101"], vars: ["name": "Ann", "crm": ["tier": "gold"], "gone": nil])

    @Test(arguments: [
        (#"Hi {{vars.name | "friend"}}"#, "Hi Ann"),
        (#"Hi {{vars.nobody | "friend"}}"#, "Hi friend"),
        ("Hi {{vars.nobody | 'friend'}}", "Hi friend"),
        ("Hi {{ vars.nobody|'friend' }}!", "Hi friend!"),
        ("{{vars.gone | 'null counts as missing'}}", "null counts as missing"),
        ("{{vars.nobody | ''}}", ""),
        ("{{vars.crm.tier | 'none'}}", "gold"),
        ("{{vars.crm.level | 'none'}}", "none"),
        ("{{vars.nobody | vars.name}}", "Ann"),
        ("{{vars.nobody | vars.missing | call.from}}", "+13125550101"),
        ("{{vars.nobody | vars.missing | 'last'}}", "last"),
        ("{{vars.x | '}} and {{ and | inside'}}", "}} and {{ and | inside"),
        (#"{{vars.x | 'it\'s'}}"#, "it's"),
        (#"{{vars.x | "say \"hi\""}}"#, #"say "hi""#),
        (#"{{vars.x | 'a\\b'}}"#, #"a\b"#),
    ])
    func renders(_ source: String, _ expected: String) throws {
        let rendered = try Template(source).render(Self.context)
        #expect(rendered.text == expected)
        #expect(rendered.missing.isEmpty)
    }

    @Test func aReferenceFallbackCanBeMissingToo() throws {
        let rendered = try Template("[{{vars.nobody | vars.missing}}]").render(Self.context)
        #expect(rendered.text == "[]")
        #expect(rendered.missing == ["vars.nobody | vars.missing"])
    }

    @Test func parsedOnceIntoAnExpression() throws {
        let t = try Template("x {{vars.a | call.to | 'n/a'}}")
        #expect(t.expressions.count == 1)
        #expect(t.expressions.first?.references.map(\.description) == ["vars.a", "call.to"])
        #expect(t.expressions.first?.references.map(\.variable) == ["a", nil])
        #expect(t.expressions.first?.fallback == "n/a")
        #expect(t.expressions.first?.description == "vars.a | call.to | 'n/a'")
    }

    @Test(arguments: [
        (
            "{{vars.x | }}", "/nodes/a/text",
            "template {{vars.x | }} has an empty side of \"|\"; write a reference, then the fallback: {{vars.NAME | 'default'}} or {{vars.NAME | call.from}}"
        ),
        (#"{{ | "a"}}"#, "/nodes/a/text", #"template {{ | "a"}} has an empty side of "|""#),
        ("{{vars.x || 'a'}}", "/nodes/a/text", "has an empty side of \"|\""),
        (#"{{vars.x | "abc}}"#, "/nodes/a/text", #"template fallback in {{vars.x | "abc}} has no closing quote; write {{vars.NAME | 'default'}}"#),
        (
            "{{vars.x | 'a' | vars.y}}", "/nodes/a/text",
            "quoted text can only be the last fallback, alone; write {{vars.NAME | vars.OTHER | 'default'}}"
        ),
        ("{{vars.x | 'a' 'b'}}", "/nodes/a/text", "quoted text can only be the last fallback"),
        ("{{vars.x | 'a' b}}", "/nodes/a/text", "quoted text can only be the last fallback"),
        ("{{'a'}}", "/nodes/a/text", "quoted text can only be the last fallback"),
        (
            "{{vars.x | none}}", "/nodes/a/text",
            #"template fallback "none" is not a reference (call.* or vars.*); for text, quote it: {{vars.x | 'none'}}"#
        ),
        ("{{vars.x | varz.y}}", "/nodes/a/text", #"unknown root "varz" (use call.* or vars.*); did you mean "vars"?"#),
        ("{{vars.x | call.frm}}", "/nodes/a/text", "unknown call field \"frm\""),
        ("{{vars.x | 'a'", "/nodes/a/text", "without a closing }}"),
    ])
    func malformedFallbacksAreCheckErrors(_ text: String, _ pointer: String, _ message: String) {
        let json = text.replacing("\\", with: "\\\\").replacing("\"", with: "\\\"")
        let diagnostics = FlowCheckTests.check(FlowCheckTests.flow(#""a":{"type":"say","text":"\#(json)","next":"end"}"#))
        #expect(diagnostics.count == 1, "\(diagnostics)")
        #expect(diagnostics.first?.pointer == pointer)
        #expect(diagnostics.first?.severity == .error)
        #expect(diagnostics.first?.message.contains(message) == true, "\(diagnostics)")
    }

    @Test(arguments: [
        (#""a":{"type":"http","method":"GET","url":"https://x/{{vars.id | }}","next":"end","on_error":"end"}"#, "/nodes/a/url"),
        (
            #""a":{"type":"http","method":"GET","url":"https://x","headers":{"X-Id":"{{vars.id | }}"},"next":"end","on_error":"end"}"#,
            "/nodes/a/headers/X-Id"
        ),
        (
            #""a":{"type":"http","method":"POST","url":"https://x","body":{"k":["{{vars.id | }}"]},"next":"end","on_error":"end"}"#,
            "/nodes/a/body/k/0"
        ),
        (#""a":{"type":"switch","value":"{{vars.id | }}","cases":{},"default":"end"}"#, "/nodes/a/value"),
        (#""a":{"type":"transfer","to":"{{vars.to | }}","on_failure":"end"}"#, "/nodes/a/to"),
        (#""a":{"type":"set","vars":{"k":"{{vars.id | }}"},"next":"end"}"#, "/nodes/a/vars/k"),
        (#""a":{"type":"if","conditions":[{"value":"x","op":"eq","to":"{{vars.id | }}","next":"end"}],"else":"end"}"#, "/nodes/a/conditions/0/to"),
        (
            #""a":{"type":"ai_gather","parameters":{"type":"object","description":"{{vars.id | }}"},"save_as":"x","next":"end","on_error":"end"}"#,
            "/nodes/a/parameters/description"
        ),
        (
            #""a":{"type":"menu","prompt":{"say":"{{vars.id | }}"},"choices":{"1":"end"},"on_invalid":"end","on_no_input":"end"}"#,
            "/nodes/a/prompt/say"
        ),
    ])
    func checkedWhereverTemplatesAre(_ nodes: String, _ pointer: String) {
        let diagnostics = FlowCheckTests.check(FlowCheckTests.flow(nodes))
        #expect(diagnostics.filter { $0.severity == .error }.map(\.pointer) == [pointer], "\(diagnostics)")
    }

    // MARK: at run time

    @Test func aFallbackNeverWarns() throws {
        let h = try NodeTests.harness(#""a":{"type":"say","text":"Hello {{vars.name | 'friend'}}, {{vars.crm.tier | call.from}}","next":"end"}"#)
        #expect(h.last?.body["payload"] == "Hello friend, +13125550101")
        #expect(!h.logs.contains { $0.contains("is missing") }, "\(h.logs)")
    }

    @Test func withoutAFallbackTheMissingValueIsLogged() throws {
        let h = try NodeTests.harness(#""a":{"type":"say","text":"Hello {{vars.name}}","next":"end"}"#)
        #expect(h.last?.body["payload"] == "Hello ")
        #expect(h.logs.contains { $0.contains("template value vars.name is missing in node \"a\"") }, "\(h.logs)")
    }

    @Test func jsonValuesKeepTheirTypeOrGetTheFallbackText() throws {
        var h = try NodeTests.harness(
            #"""
            "a":{"type":"set","vars":{"n":5},"next":"h"},
            "h":{"type":"http","method":"POST","url":"https://x/{{vars.id | 'new'}}","headers":{"X-Who":"{{vars.who | call.from}}"},
                 "body":{"n":"{{vars.n | '0'}}","m":"{{vars.m | '0'}}","text":"n={{vars.n | '0'}}"},"next":"end","on_error":"end"}
            """#)
        let call = try #require(h.httpCalls.last)
        #expect(call.url == "https://x/new")
        #expect(call.headers["X-Who"] == "+13125550101")
        #expect(call.body.map { String(decoding: $0, as: UTF8.self) } == #"{"n":5,"m":"0","text":"n=5"}"#)
        #expect(!h.logs.contains { $0.contains("is missing") })
        h.httpResponse(200, "")
    }

    @Test(arguments: [("", "end"), ("gold", "bye")])
    func switchAndTransferUseFallbacks(_ tier: String, _ expected: String) throws {
        let set = tier.isEmpty ? "" : #""tier":"\#(tier)","#
        let h = try NodeTests.harness(
            #"""
            "a":{"type":"set","vars":{\#(set)"x":1},"next":"s"},
            "s":{"type":"switch","value":"{{vars.tier | 'basic'}}","cases":{"gold":"bye","basic":"t"},"default":"end"},
            "t":{"type":"transfer","to":"{{vars.agent | '+13125550001'}}","on_failure":"end"}
            """#)
        if expected == "end" {
            #expect(h.last?.action == "transfer")
            #expect(h.last?.body["to"] == "+13125550001")
        } else {
            #expect(h.last?.body["payload"] == "bye")
        }
        #expect(!h.logs.contains { $0.contains("is missing") })
    }

    @Test func conditionsUseFallbacks() throws {
        let h = try NodeTests.harness(
            #"""
            "a":{"type":"if","conditions":[{"value":"{{vars.count | '0'}}","op":"eq","to":"{{vars.none | '0'}}","next":"bye"}],"else":"end"}
            """#)
        #expect(h.last?.body["payload"] == "bye")
        #expect(!h.logs.contains { $0.contains("is missing") })
    }

    @Test func repromptTextIsNotParsedAgain() throws {
        // The invalid prompt and the menu prompt are joined after rendering: a value holding
        // "{{...}}" (here from a backend) is spoken as it is, not rendered a second time.
        var h = try NodeTests.harness(
            #"""
            "s":{"type":"set","vars":{"secret":"1234"},"next":"h"},
            "h":{"type":"http","method":"GET","url":"https://x","save_as":"r","next":"a","on_error":"end"},
            "a":{"type":"menu","prompt":"Menu {{vars.r.raw}}","invalid":"No.","choices":{"1":"bye"},"on_invalid":"end","on_no_input":"end"}
            """#, start: "s")
        h.httpResponse(200, #"{"raw":"{{vars.secret}}"}"#)
        #expect(h.last?.body["payload"] == "Menu {{vars.secret}}")
        h.gatherEnded("9", "invalid")
        #expect(h.last?.body["payload"] == "No. Menu {{vars.secret}}")
    }
}
