import CallflowCore
import TelnyxEmulator
import Testing

/// `split`: weighted branches, deterministic per call, each branch its own outcome edge.
@Suite struct SplitNodeTests {
    static let nodes =
        #""a":{"type":"split","branches":{"control":{"weight":70,"next":"c"},"variant":{"weight":30,"next":"v"},"off":{"weight":0,"next":"o"}}},"c":{"type":"say","text":"control","next":"end"},"v":{"type":"say","text":"variant","next":"end"},"o":{"type":"say","text":"off","next":"end"}"#

    static func flows() throws -> FlowSet { try Flows.single(FlowCheckTests.flow(nodes)) }

    /// The branch a call with id `id` takes (through the whole engine, from `call.initiated`).
    static func branch(of id: String, in flows: FlowSet) throws -> String {
        var engine = MemoryEngine(flows: flows, defaultFlow: "t")
        let body =
            #"{"data":{"event_type":"call.initiated","id":"e-\#(id)","occurred_at":"2026-11-23T16:00:00Z","payload":{"call_control_id":"\#(id)","direction":"incoming","from":"+13125550101","to":"+13125550100"}}}"#
        let work = engine.receive(try WebhookEvent.decode(Array(body.utf8)), now: Times.mondayMorning)
        let left = try #require(work.visits.first { $0.from?.node == "a" }, "the split was left by a branch")
        return try #require(left.edge)
    }

    @Test func theSameCallTakesTheSameBranchEveryTime() throws {
        let flows = try Self.flows()
        for i in 0..<50 {
            let id = "v3:same-\(i)"
            #expect(try Self.branch(of: id, in: flows) == Self.branch(of: id, in: flows))
            #expect(
                SplitBranch.pick(try #require(Self.branches(flows)), call: id, flow: "t", node: "a")?.name == (try Self.branch(of: id, in: flows)))
        }
    }

    static func branches(_ flows: FlowSet) -> [SplitBranch]? {
        if case .split(let b)? = flows["t"]?.nodes["a"]?.kind { return b }
        return nil
    }

    /// 10,000 fixed call ids (so the result is the same every run): shares near the weights, and a
    /// branch of weight 0 never taken.
    @Test func callsSpreadByWeightAndWeightZeroIsOff() throws {
        let branches = try #require(Self.branches(try Self.flows()))
        var counts: [String: Int] = [:]
        for i in 0..<10_000 {
            let id = "v3:\(String(i * 7919, radix: 16))-call"
            counts[SplitBranch.pick(branches, call: id, flow: "t", node: "a")?.name ?? "none", default: 0] += 1
        }
        #expect(counts["off"] == nil)
        #expect(counts["none"] == nil)
        #expect((6_700...7_300).contains(counts["control"] ?? 0), "\(counts)")
        #expect((2_700...3_300).contains(counts["variant"] ?? 0), "\(counts)")
    }

    @Test func eachBranchIsAnOutcomeEdgeTheFunnelCounts() throws {
        var h = try NodeTests.harness(
            Self.nodes.replacingOccurrences(of: #""a":"#, with: #""s":"#) + #","a":{"type":"answer","next":"s"}"#)
        h.answered()
        let visit = try #require(h.outputs.flatMap(\.visits).first { $0.from?.node == "s" })
        #expect(["control", "variant"].contains(visit.edge ?? ""))
        #expect(h.state?.trace.contains { $0.detail == "split: \(visit.edge ?? "")" } == true)
        #expect(h.last?.body["payload"] == .string(visit.edge == "control" ? "control" : "variant"))
    }

    static let broken: [(String, String, String)] = [
        (#""a":{"type":"split","branches":{"only":{"weight":1,"next":"end"}}}"#, "/nodes/a/branches", "at least two branches"),
        (
            #""a":{"type":"split","branches":{"x":{"weight":0,"next":"end"},"y":{"weight":0,"next":"end"}}}"#, "/nodes/a/branches",
            "every branch has weight 0"
        ),
        (
            #""a":{"type":"split","branches":{"x":{"weight":-1,"next":"end"},"y":{"weight":1,"next":"end"}}}"#, "/nodes/a/branches/x/weight",
            "between 0 and 1000000"
        ),
        (
            #""a":{"type":"split","branches":{"x":{"weight":1},"y":{"weight":1,"next":"end"}}}"#, "/nodes/a/branches/x",
            #"missing required field "next""#
        ),
        (
            #""a":{"type":"split","branches":{"x":{"weight":1,"next":"end","nxt":"end"},"y":{"weight":1,"next":"end"}}}"#, "/nodes/a/branches/x/nxt",
            #"did you mean "next"?"#
        ),
        (
            #""a":{"type":"split","branches":{"x":{"weight":1,"next":"ned"},"y":{"weight":1,"next":"end"}}}"#, "/nodes/a/branches/x/next",
            #""ned" is not a node of this flow"#
        ),
        (#""a":{"type":"split","branches":{"x":5,"y":{"weight":1,"next":"end"}}}"#, "/nodes/a/branches/x", "expected an object"),
    ]

    @Test(arguments: broken) func checkExplainsABrokenSplit(_ nodes: String, _ pointer: String, _ message: String) throws {
        let (_, diagnostics) = FlowSet.load(files: [("t", "t.json", Array(FlowCheckTests.flow(nodes).utf8))], timeZones: TestZones())
        #expect(diagnostics.contains { $0.pointer == pointer && $0.description.contains(message) }, "\(diagnostics)")
    }

    /// `callflow test` covers every branch: a scenario names the branch it wants, and the
    /// simulated call gets an id the split sends there; a branch that does not exist is an error.
    @Test(arguments: ["control", "variant"]) func aScenarioChoosesTheBranchItCovers(_ branch: String) throws {
        let flows = try Self.flows()
        let text = #"{"flow":"t","splits":{"a":"\#(branch)"},"expect":{"path":["t/a","t/\#(branch == "control" ? "c" : "v")","t/end"]}}"#
        let scenario = try Scenario.parse(Array(text.utf8), name: "split.json", flows: flows)
        let result = Simulation.run(flows: flows, scenario: scenario)
        #expect(result.passed, "\(result.failures)")
        #expect(result.visits.contains { $0.node == (branch == "control" ? "c" : "v") })
    }

    @Test func aScenarioNamingAMissingBranchOrNodeIsAnError() throws {
        let flows = try Self.flows()
        #expect(throws: Scenario.ParseError.self) {
            try Scenario.parse(Array(#"{"flow":"t","splits":{"a":"contrl"}}"#.utf8), name: "x.json", flows: flows)
        }
        do throws(Scenario.ParseError) {
            _ = try Scenario.parse(Array(#"{"flow":"t","splits":{"a":"contrl"}}"#.utf8), name: "x.json", flows: flows)
        } catch {
            #expect(error.message.contains(#"did you mean "control"?"#), "\(error.message)")
        }
        #expect(throws: Scenario.ParseError.self) {
            try Scenario.parse(Array(#"{"flow":"t","splits":{"c":"control"}}"#.utf8), name: "x.json", flows: flows)
        }
        #expect(throws: Scenario.ParseError.self) {
            try Scenario.parse(Array(#"{"flow":"t","splits":{"a":"off"}}"#.utf8), name: "x.json", flows: flows)
        }
    }
}
