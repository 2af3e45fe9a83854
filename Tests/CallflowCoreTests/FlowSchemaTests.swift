import CallflowCore
import CallflowTestSupport
import Foundation
import Testing

@Suite struct FlowSchemaTests {
    static func schema() throws -> SchemaValidator {
        try SchemaValidator.load(Fixtures.repoRoot.appendingPathComponent("schema/flow.schema.json"), strict: false)
    }

    @Test(arguments: Flows.shipped)
    func shippedFlowValidates(_ name: String) throws {
        let errors = try Self.schema().errors(try JSONParser.parse(try Flows.file(name)))
        #expect(errors.isEmpty, "\(name): \(errors)")
    }

    @Test func schemaMatchesTheParser() throws {
        let root = try Self.schema().root
        for (type, spec) in NodeFields.allTypes {
            let node = try #require(root.lookup(path: ["$defs", Substring("node_\(type)")]), "schema lacks \(type)")
            let properties = Set(node["properties"]?.objectValue?.keys ?? [])
            #expect(properties == Set(spec.all), "\(type): schema \(properties.sorted()) vs parser \(spec.all.sorted())")
            let required = Set(node["required"]?.arrayValue?.compactMap(\.stringValue) ?? [])
            #expect(required == Set(["type"] + spec.required), "\(type) required")
        }
        #expect(Set(root["properties"]?.objectValue?.keys ?? []) == Set(NodeFields.topLevel))
    }

    @Test(arguments: [
        #"{"start":"a","nodes":{"a":{"type":"sya","text":"x","next":"a"}}}"#,
        #"{"start":"a","nodes":{"a":{"type":"say","text":"x"}}}"#,
        #"{"start":"a","nodes":{"a":{"type":"menu","prompt":"x","choices":{"12":"a"},"on_invalid":"a","on_no_input":"a"}}}"#,
        #"{"start":"a","nodes":{"a":{"type":"transfer","to":"555","on_failure":"a"}}}"#,
        #"{"start":"a","nodes":{}}"#,
        #"{"start":"a","nodez":{}}"#,
    ])
    func schemaRejects(_ text: String) throws {
        #expect(!(try Self.schema().errors(try JSONParser.parse(text))).isEmpty)
    }
}
