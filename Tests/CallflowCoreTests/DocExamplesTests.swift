import CallflowCore
import CallflowTestSupport
import Foundation
import Testing

/// docs/flows.md cannot drift: every ```json example loads without errors (and matches the schema),
/// and every field a node type accepts is documented in that type's section.
@Suite struct DocExamplesTests {
    static let docs: String = (try? String(contentsOf: Fixtures.repoRoot.appendingPathComponent("docs/flows.md"), encoding: .utf8)) ?? ""

    /// The ```json blocks of a markdown text, in order.
    static func jsonBlocks(_ text: String) -> [String] {
        text.components(separatedBy: "```json\n").dropFirst().compactMap { $0.components(separatedBy: "\n```").first }
    }

    static var examples: [Int] { Array(jsonBlocks(docs).indices) }

    /// Blocks marked `<!-- flow: NAME -->` on the line before: flows the other examples may name
    /// (a `subflow`'s flow), loaded beside every example.
    static let namedFlows: [(name: String, text: String)] = docs.components(separatedBy: "<!-- flow: ").dropFirst().compactMap { part in
        guard let end = part.range(of: " -->\n```json\n") else { return nil }
        let name = String(part[..<end.lowerBound])
        return (name, part[end.upperBound...].components(separatedBy: "\n```").first ?? "")
    }

    /// The problems of one example: a whole flow must be clean; nodes (`"id": {...}, ...`) are put in a
    /// flow with a `hangup` for every target they name, and must have no errors. Both are checked
    /// beside the shipped flows (for `goto`) and against the schema.
    static func problems(_ block: String) throws -> [String] {
        let whole = block.hasPrefix("{")
        var text = whole ? block : "{" + block + "}"
        if !whole {
            guard case .object(let nodes) = try JSONParser.parse(text), let first = nodes.keys.first else { return ["not JSON nodes"] }
            let draft = #"{"start":"\#(first)","nodes":\#(text)}"#
            let parsed = FlowParser.parse(Array(draft.utf8), file: "example.json", name: "example", timeZones: TestZones())
            let targets = parsed.flow?.nodes.values.flatMap { $0.edges.map(\.target) } ?? []
            let stubs = Set(targets).subtracting(nodes.keys).sorted().map { #""\#($0)":{"type":"hangup"}"# }
            text = #"{"start":"\#(first)","nodes":{\#(([block] + stubs).joined(separator: ","))}}"#
        }
        var files = try Flows.shipped.map { (name: $0, file: "flows/\($0).json", bytes: try Flows.file($0)) } + (try Flows.groupFiles())
        // A named flow is itself an example: it is checked for errors (its warnings, such as a
        // return no subflow of the set runs, depend on the examples that use it).
        let named = namedFlows.first { $0.text == block }
        for flow in namedFlows where flow.text != block { files.append((flow.name, "\(flow.name).json", Array(flow.text.utf8))) }
        files.append((name: named?.name ?? "example", file: "example.json", bytes: Array(text.utf8)))
        let diagnostics = FlowSet.load(files: files, timeZones: TestZones()).diagnostics
            .filter { $0.file == "example.json" && ((whole && named == nil) || $0.severity == .error) }
        let schema = try SchemaValidator.load(Fixtures.repoRoot.appendingPathComponent("schema/flow.schema.json"), strict: false)
        return diagnostics.map(\.description) + schema.errors(try JSONParser.parse(text)).map { "schema: \($0)" }
    }

    @Test func docsHaveExamples() {
        #expect(Self.jsonBlocks(Self.docs).count >= 20)
    }

    @Test(arguments: examples)
    func exampleIsValid(_ index: Int) throws {
        let block = Self.jsonBlocks(Self.docs)[index]
        let problems = try Self.problems(block)
        #expect(problems.isEmpty, "docs/flows.md example \(index + 1):\n\(block)\n\(problems)")
    }

    @Test(arguments: [
        #""a": { "type": "say", "text": "x", "nxt": "b" }"#,
        #""a": { "type": "http", "method": "GET", "url": "https://x", "on_status": { "4x": "b" }, "next": "b", "on_error": "b" }"#,
        #""a": { "type": "say", "text": "{{vars.x | }}", "next": "b" }"#,
        #"{ "start": "a", "nodes": { "a": { "type": "say", "text": "{{vars.x}}", "next": "b" }, "b": { "type": "hangup" } } }"#,
    ])
    func brokenExamplesAreCaught(_ block: String) throws {
        #expect(!(try Self.problems(block)).isEmpty)
    }

    /// The text of the `### ...` section that documents `type` (`### hangup / reject` covers both).
    static func section(_ type: String) -> String? {
        docs.components(separatedBy: "\n### ").first { part in
            part.prefix { $0 != "\n" }.components(separatedBy: " / ").contains(type)
        }.map { $0.components(separatedBy: "\n## ").first ?? $0 }
    }

    @Test(arguments: NodeFields.allTypes.keys.sorted())
    func everyFieldIsDocumented(_ type: String) throws {
        let spec = try #require(NodeFields.allTypes[type])
        let text = try #require(Self.section(type), "docs/flows.md has no section for \(type)")
        for field in spec.required { #expect(text.contains("**`\(field)`**"), "\(type): required \(field) not in bold") }
        for field in spec.optional { #expect(text.contains("`\(field)`"), "\(type): \(field) undocumented") }
    }

    @Test func topLevelPromptAndConditionFieldsAreDocumented() {
        for key in NodeFields.topLevel + NodeFields.promptKeys + NodeFields.conditionKeys {
            #expect(Self.docs.contains("`\(key)`") || Self.docs.contains("\"\(key)\""), "\(key) undocumented")
        }
    }
}
