import CallflowCore
import Testing

/// `subflow` / `return`: a flow run as a subroutine, with inputs, outputs and its own variables.
@Suite struct SubflowTests {
    /// The caller: answers, keeps `keep`, runs `collect` with a prompt, says what came back.
    static let caller = #"""
        {"start":"a","defaults":{"on_error":"end"},"vars":{"keep":"mine","account_number":""},"on_hangup":"note",
         "nodes":{"a":{"type":"answer","next":"sub"},
                  "sub":{"type":"subflow","flow":"collect","inputs":{"prompt":"Account for {{call.from}}?"},
                         "outputs":{"account_number":"account"},"next":"said"},
                  "said":{"type":"say","text":"Got {{vars.account_number}}, still {{vars.keep}}","next":"end"},
                  "note":{"type":"http","method":"POST","url":"https://crm.example.com/calls","body":{"kept":"{{vars.keep}}"}},
                  "end":{"type":"hangup"}}}
        """#
    static let collect = #"""
        {"start":"ask","defaults":{"on_error":"done"},"vars":{"prompt":"","account":"","scratch":"inner"},
         "nodes":{"ask":{"type":"gather","prompt":"{{vars.prompt}}","min_digits":4,"max_digits":4,"save_as":"account","sensitive":true,
                         "next":"done","on_invalid":"done","on_no_input":"done"},
                  "done":{"type":"return"}}}
        """#

    static func harness() throws -> CallHarness {
        var h = CallHarness(flows: try Flows.set(extra: ["caller": caller, "collect": collect]), defaultFlow: "caller")
        h.initiated()
        h.answered()
        return h
    }

    @Test func aSubflowGetsItsInputsReturnsItsOutputsAndGivesTheCallerItsVariablesBack() throws {
        var h = try Self.harness()
        #expect(h.state?.flow == "collect")
        #expect(h.state?.vars["prompt"] == "Account for +13125550101?")
        #expect(h.state?.vars["keep"] == nil, "the caller's variables are put aside")
        #expect(h.state?.frames.map(\.node) == ["sub"])
        h.gatherEnded("1234")
        #expect(h.state?.flow == "caller")
        #expect(h.state?.frames.isEmpty == true)
        #expect(h.state?.vars["account_number"] == "1234")
        #expect(h.state?.vars["keep"] == "mine")
        #expect(h.state?.vars["scratch"] == nil, "the subflow's own variables stay in it")
        #expect(h.state?.sensitiveVars.contains("account_number") == true, "a sensitive output stays sensitive")
        #expect(h.last?.body["payload"] == "Got 1234, still mine")
        let edges = h.outputs.flatMap(\.visits).map { "\($0.flow)/\($0.node)<-\($0.edge ?? "")" }
        #expect(edges.contains("collect/ask<-subflow") && edges.contains("caller/said<-return"), "\(edges)")
    }

    @Test func aHangUpInsideASubflowRunsTheCallersOnHangupWithItsVariables() throws {
        var h = try Self.harness()
        h.hangup()
        #expect(h.state?.flow == "caller")
        #expect(h.state?.frames.isEmpty == true)
        let posted = try #require(h.httpCalls.last?.body)
        #expect(String(decoding: posted, as: UTF8.self).contains(#""kept":"mine""#), "on_hangup sees the caller's variables")
        #expect(h.state?.trace.contains { $0.detail == "left the subflow: the caller hung up" } == true)
    }

    @Test func aCallInsideASubflowSurvivesTheStore() throws {
        let h = try Self.harness()
        let state = try #require(h.state)
        let back = try StateCodec.decodeState(StateCodec.encode(state))
        #expect(back.frames == state.frames)
        #expect(back.flow == "collect")
    }

    @Test func returnOutsideASubflowHangsUp() throws {
        var h = CallHarness(
            flows: try Flows.single(#"{"start":"a","nodes":{"a":{"type":"answer","next":"r"},"r":{"type":"return"}}}"#), defaultFlow: "t")
        h.initiated()
        h.answered()
        #expect(h.logs.contains("return outside a subflow; hanging up"))
        #expect(h.actions.last == "hangup")
    }

    static func diagnostics(_ flows: [String: String]) -> [Diagnostic] {
        FlowSet.load(files: flows.map { ($0.key, "\($0.key).json", Array($0.value.utf8)) }, timeZones: TestZones()).diagnostics
    }

    static func calls(_ other: String, via kind: String = "subflow") -> String {
        let node =
            kind == "subflow"
            ? #"{"type":"subflow","flow":"\#(other)","next":"r"}"# : #"{"type":"goto","flow":"\#(other)"}"#
        return #"{"start":"s","nodes":{"s":\#(node),"r":{"type":"return"}}}"#
    }

    @Test func recursionIsACheckError() {
        let selfCall = Self.diagnostics(["a": Self.calls("a")])
        #expect(selfCall.contains { $0.severity == .error && $0.description.contains("subflow recursion: a → a") }, "\(selfCall)")
        let mutual = Self.diagnostics(["a": Self.calls("b"), "b": Self.calls("a")])
        #expect(mutual.contains { $0.pointer == "/nodes/s/flow" && $0.description.contains("subflow recursion: a → b → a") }, "\(mutual)")
        let throughGoto = Self.diagnostics(["a": Self.calls("b"), "b": Self.calls("a", via: "goto")])
        #expect(throughGoto.contains { $0.description.contains("subflow recursion: a → b → a") }, "\(throughGoto)")
        let fine = Self.diagnostics(["a": Self.calls("b"), "b": #"{"start":"r","nodes":{"r":{"type":"return"}}}"#])
        #expect(!fine.contains { $0.severity == .error }, "\(fine)")
    }

    @Test func inputsAndOutputsMustBeTheSubflowsVariables() {
        let caller =
            #"{"start":"s","nodes":{"s":{"type":"subflow","flow":"b","inputs":{"promt":"x"},"outputs":{"mine":"acount"},"next":"e"},"e":{"type":"hangup"}}}"#
        let sub = #"{"start":"r","vars":{"prompt":"","account":""},"nodes":{"r":{"type":"return"}}}"#
        let d = Self.diagnostics(["a": caller, "b": sub])
        #expect(d.contains { $0.pointer == "/nodes/s/inputs/promt" && $0.description.contains(#"did you mean "prompt"?"#) }, "\(d)")
        #expect(d.contains { $0.pointer == "/nodes/s/outputs/mine" && $0.description.contains(#"did you mean "account"?"#) }, "\(d)")
        let missing = Self.diagnostics(["a": #"{"start":"s","nodes":{"s":{"type":"subflow","flow":"colect","next":"e"},"e":{"type":"hangup"}}}"#])
        #expect(missing.contains { $0.pointer == "/nodes/s/flow" && $0.description.contains("which does not exist") }, "\(missing)")
        let unused = Self.diagnostics(["b": sub])
        #expect(unused.contains { $0.severity == .warning && $0.description.contains("no subflow node runs flow \"b\"") }, "\(unused)")
    }

    @Test func theGraphShowsWhatASubflowRuns() throws {
        let flow = try #require(try Flows.set(extra: ["caller": Self.caller, "collect": Self.collect])["caller"])
        #expect(FlowGraph.render(flow, format: .mermaid).contains("-.->|runs| ext_"))
        #expect(FlowGraph.render(flow, format: .dot).contains(#""flow collect" [shape=parallelogram]"#))
        #expect(FlowGraph.summary(try #require(flow.nodes["sub"]).kind) == "subflow collect → account_number")
    }
}
