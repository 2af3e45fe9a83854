import CallflowCore
import CallflowTestSupport
import Testing

/// `http` nodes branching on the response status (`on_status`), and what `save_as` keeps.
@Suite struct HTTPStatusTests {
    static let lookup = #"""
        "a":{"type":"http","method":"GET","url":"https://crm.example.com/orders/1","save_as":"order",
             "on_status":{"404":"unknown","4xx":"refused","5xx":"down","201":"created"},"next":"found","on_error":"failed"},
        "unknown":{"type":"say","text":"unknown","next":"end"},
        "refused":{"type":"say","text":"refused","next":"end"},
        "down":{"type":"say","text":"down","next":"end"},
        "created":{"type":"say","text":"created","next":"end"},
        "found":{"type":"say","text":"found","next":"end"},
        "failed":{"type":"say","text":"failed","next":"end"}
        """#

    /// Runs the lookup to `outcome`; the harness after it.
    static func after(_ outcome: HTTPOutcome) throws -> CallHarness {
        var h = try NodeTests.harness(Self.lookup)
        guard case .http(let id)? = h.state?.waiting else {
            Issue.record("not waiting for http: \(String(describing: h.state?.waiting))")
            return h
        }
        h.apply(.httpResult(requestID: id, outcome))
        return h
    }

    /// The node the call is at after the lookup ends with `outcome`.
    static func step(_ outcome: HTTPOutcome) throws -> String? { try after(outcome).state?.node }

    static func response(_ status: Int, _ body: String = "") -> HTTPOutcome { .response(status: status, body: Array(body.utf8)) }

    @Test func exactStatusWinsOverItsClass() throws {
        #expect(try Self.step(Self.response(404)) == "unknown")
        #expect(try Self.step(Self.response(403)) == "refused")
    }

    @Test func classMatchesAnyStatusInIt() throws {
        #expect(try Self.step(Self.response(503)) == "down")
        #expect(try Self.step(Self.response(500, #"{"error":"db"}"#)) == "down")
    }

    @Test func unmatchedStatusGoesWhereItWentBefore() throws {
        #expect(try Self.step(Self.response(200, #"{"id":1}"#)) == "found")
        #expect(try Self.step(Self.response(302)) == "failed")
        #expect(try Self.step(Self.response(200, "not json")) == "failed")
    }

    @Test func twoHundredClassMemberCanBeRouted() throws {
        #expect(try Self.step(Self.response(201, "")) == "created")
    }

    @Test func noResponseGoesToOnError() throws {
        #expect(try Self.step(.failed("timeout after 5000 ms")) == "failed")
    }

    @Test func theEdgeTakenIsLabelledWithTheKey() throws {
        let h = try Self.after(Self.response(503))
        #expect(h.state?.trace.last { $0.kind == .node }?.edge == "status 5xx")
    }

    @Test(arguments: [
        (response(200, #"{"id":1}"#), JSONValue.object(["id": 1]), 200),
        (response(404, #"{"error":"no such order"}"#), JSONValue.object(["error": "no such order"]), 404),
        (response(503, "<html>down</html>"), JSONValue.null, 503),
        (response(201, ""), JSONValue.null, 201),
        (HTTPOutcome.failed("connection refused"), JSONValue.null, 0),
    ])
    func bodyAndStatusAreSaved(_ outcome: HTTPOutcome, _ body: JSONValue, _ status: Int) throws {
        let h = try Self.after(outcome)
        #expect(h.state?.vars["order"] == body)
        #expect(h.state?.vars["order_status"] == .int(status))
    }

    @Test func statusIsReadableInTemplates() throws {
        var h = try NodeTests.harness(
            #"""
            "a":{"type":"http","method":"GET","url":"https://x/y","save_as":"r","next":"say","on_error":"say"},
            "say":{"type":"say","text":"status {{vars.r_status}} {{vars.r.error | 'none'}}","next":"end"}
            """#)
        h.httpResponse(404, #"{"error":"gone"}"#)
        #expect(h.last?.body["payload"] == "status 404 gone")
    }

    @Test func withoutSaveAsNothingIsSaved() throws {
        var h = try NodeTests.harness(
            #"""
            "a":{"type":"http","method":"GET","url":"https://x/y","on_status":{"404":"bye"},"next":"end","on_error":"end"}
            """#)
        h.httpResponse(404, "")
        #expect(h.last?.body["payload"] == "bye")
        #expect(h.state?.vars.keys.isEmpty == true)
    }

    @Test func onHangupHTTPMayBranchOnStatus() throws {
        var h = try NodeTests.harness(
            #"""
            "a":{"type":"say","text":"hi","next":"end"},
            "log":{"type":"http","method":"POST","url":"https://x/calls","body":{},"on_status":{"409":"again"}},
            "again":{"type":"http","method":"PUT","url":"https://x/calls","body":{}}
            """#, extra: #""on_hangup":"log","#)
        h.hangup()
        h.httpResponse(409, "")
        #expect(h.httpCalls.map(\.method) == ["POST", "PUT"])
        h.httpResponse(200, "")
        #expect(h.ended)
    }

    // MARK: check

    @Test(arguments: [
        ("600", "/nodes/a/on_status/600"), ("4XX", "/nodes/a/on_status/4XX"), ("40", "/nodes/a/on_status/40"),
        ("099", "/nodes/a/on_status/099"), ("4x", "/nodes/a/on_status/4x"), ("6xx", "/nodes/a/on_status/6xx"),
    ])
    func badKeysAreErrors(_ key: String, _ pointer: String) {
        let diagnostics = FlowCheckTests.check(
            FlowCheckTests.flow(
                #""a":{"type":"http","method":"GET","url":"https://x","on_status":{"\#(key)":"end"},"next":"end","on_error":"end"}"#))
        let error = diagnostics.first { $0.severity == .error }
        #expect(error?.pointer == pointer)
        #expect(error?.message == #"on_status keys are a status 100-599 ("404") or a class 1xx-5xx ("4xx"), found "\#(key)""#)
    }

    @Test(arguments: ["100", "404", "599", "1xx", "5xx"])
    func goodKeysAreAccepted(_ key: String) {
        let diagnostics = FlowCheckTests.check(
            FlowCheckTests.flow(
                #""a":{"type":"http","method":"GET","url":"https://x","on_status":{"\#(key)":"end"},"next":"end","on_error":"end"}"#))
        #expect(diagnostics.isEmpty, "\(diagnostics)")
    }

    @Test func targetsMustBeNodes() {
        let diagnostics = FlowCheckTests.check(
            FlowCheckTests.flow(
                #""a":{"type":"http","method":"GET","url":"https://x","on_status":{"404":"ned"},"next":"end","on_error":"end"}"#))
        #expect(diagnostics.map(\.description) == [#"f.json: /nodes/a/on_status/404: "ned" is not a node of this flow; did you mean "end"?"#])
    }

    @Test func targetsMustBeNames() {
        let diagnostics = FlowCheckTests.check(
            FlowCheckTests.flow(
                #""a":{"type":"http","method":"GET","url":"https://x","on_status":{"404":5},"next":"end","on_error":"end"}"#))
        #expect(diagnostics.map(\.description) == ["f.json: /nodes/a/on_status/404: expected a node name, found number"])
    }

    @Test func onStatusTargetsAreReachable() {
        let diagnostics = FlowCheckTests.check(
            FlowCheckTests.flow(
                #"""
                "a":{"type":"http","method":"GET","url":"https://x","on_status":{"404":"only"},"next":"end","on_error":"end"},
                "only":{"type":"say","text":"x","next":"end"}
                """#))
        #expect(diagnostics.isEmpty, "\(diagnostics)")
    }

    @Test func brokenNodeStillChecksItsStatusTargets() {
        // The method is wrong, so the node does not parse; its on_status target is checked all the same.
        let diagnostics = FlowCheckTests.check(
            FlowCheckTests.flow(
                #""a":{"type":"http","method":"FETCH","url":"https://x","on_status":{"404":"nowhere"},"next":"end","on_error":"end"}"#))
        #expect(diagnostics.contains { $0.pointer == "/nodes/a/on_status/404" && $0.message.contains("\"nowhere\" is not a node") })
    }

    @Test(arguments: [("404", true), ("4xx", true), ("4x", false), ("600", false)])
    func schemaKnowsOnStatus(_ key: String, _ accepted: Bool) throws {
        let flow = try JSONParser.parse(
            #"""
            {"start":"a","nodes":{"a":{"type":"http","method":"GET","url":"https://x","save_as":"r",
             "on_status":{"\#(key)":"b"},"next":"b","on_error":"b"},"b":{"type":"hangup"}}}
            """#)
        #expect(try FlowSchemaTests.schema().errors(flow).isEmpty == accepted)
    }

    @Test func graphShowsStatusEdges() throws {
        let flow = try #require(try Flows.single(#"{"start":"a","nodes":{\#(Self.lookup),"end":{"type":"hangup"}}}"#)["t"])
        let mermaid = FlowGraph.render(flow, format: .mermaid)
        #expect(mermaid.contains("n_a -->|status 404| n_unknown\n"))
        #expect(mermaid.contains("n_a -->|status 5xx| n_down\n"))
        #expect(FlowGraph.render(flow, format: .dot).contains(#""a" -> "refused" [label="status 4xx"];"#))
        #expect(flow.nodes["a"]?.kind.edges.map(\.label) == ["next", "status 404", "status 4xx", "status 5xx", "status 201", "on_error"])
    }
}
