import CallflowCore
import CallflowTestSupport
import Foundation
import Testing

@Suite struct GraphTests {
    @Test(arguments: Flows.shipped)
    func everyEdgeIsDrawn(_ name: String) throws {
        let flow = try #require(try Flows.set()[name])
        let mermaid = FlowGraph.render(flow, format: .mermaid)
        let dot = FlowGraph.render(flow, format: .dot)
        #expect(mermaid.hasPrefix("flowchart TD\n"))
        #expect(dot.hasPrefix("digraph \"\(name)\" {") && dot.hasSuffix("}\n"))
        for id in flow.order {
            let node = try #require(flow.nodes[id])
            for edge in node.kind.edges {
                #expect(mermaid.contains("-->|\(edge.label)| n_\(edge.target)"), "\(name): \(id) \(edge.label)")
                #expect(dot.contains("\"\(id)\" -> \"\(edge.target)\" [label=\"\(edge.label)\"]"), "\(name): \(id) \(edge.label)")
            }
        }
    }

    @Test func docsEmbedTheCurrentMainGraph() throws {
        let docs = try String(contentsOf: Fixtures.repoRoot.appendingPathComponent("docs/flows.md"), encoding: .utf8)
        let graph = FlowGraph.render(try #require(try Flows.set()["main"]), format: .mermaid)
        #expect(docs.contains("```mermaid\n" + graph + "```"), "regenerate the graph in docs/flows.md with `callflow graph main`")
    }

    @Test func labelsAreEscaped() throws {
        let set = try Flows.single(#"{"start":"a","nodes":{"a":{"type":"say","text":"Say \"hi\" <now>","next":"b"},"b":{"type":"hangup"}}}"#)
        let flow = try #require(set["t"])
        #expect(FlowGraph.render(flow, format: .mermaid).contains("#quot;hi#quot; #lt;now#gt;"))
        #expect(FlowGraph.render(flow, format: .dot).contains(#"Say \"hi\" <now>"#))
    }
}
