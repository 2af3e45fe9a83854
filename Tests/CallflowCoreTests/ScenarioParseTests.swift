import CallflowCore
import CallflowTestSupport
import Foundation
import TelnyxEmulator
import Testing

/// Scenario and mock files are checked as strictly as flows: every problem, with its pointer,
/// its line and column, and the nearest real name.
@Suite struct ScenarioParseTests {
    static func problems(_ text: String, flows: FlowSet? = nil) -> [Scenario.ParseError.Problem] {
        do { _ = try Scenario.parse(Array(text.utf8), name: "t", flows: flows) } catch { return error.problems }
        return []
    }

    struct Case: Sendable, CustomTestStringConvertible {
        var text: String
        var pointer: String
        var message: String
        var testDescription: String { pointer }
    }

    static let cases: [Case] = [
        Case(text: #"{"flow":"main","calller":{}}"#, pointer: "/calller", message: "unknown field \"calller\"; did you mean \"caller\"?"),
        Case(text: #"{"flow":"main","caller":{"digts":[]}}"#, pointer: "/caller/digts", message: "did you mean \"digits\"?"),
        Case(
            text: #"{"flow":"main","http":{"GET https://a.example.com/x":{"stauts":200}}}"#,
            pointer: "/http/GET https:~1~1a.example.com~1x/stauts", message: "unknown field \"stauts\"; did you mean \"status\"?"),
        Case(
            text: #"{"flow":"main","http":{"GET https://a.example.com/x":{"status":"200"}}}"#,
            pointer: "/http/GET https:~1~1a.example.com~1x/status", message: "expected an integer from 100 to 599"),
        Case(
            text: #"{"flow":"main","http":{"fetch https://a.example.com/x":{}}}"#,
            pointer: "/http/fetch https:~1~1a.example.com~1x", message: "\"fetch\" is not a method"),
        Case(text: #"{"flow":"main","faults":{"delay_m":{}}}"#, pointer: "/faults/delay_m", message: "did you mean \"delay_ms\"?"),
        Case(
            text: #"{"flow":"main","faults":{"api_errors":{"transfer":{"stat":422}}}}"#,
            pointer: "/faults/api_errors/transfer/stat", message: "did you mean \"status\"?"),
        Case(
            text: #"{"flow":"main","faults":{"duplicate":["call.answred"]}}"#,
            pointer: "/faults/duplicate/0", message: "\"call.answred\" is not a Telnyx event type; did you mean \"call.answered\"?"),
        Case(
            text: #"{"flow":"main","expect":{"commands":["transfr"]}}"#,
            pointer: "/expect/commands/0", message: "did you mean \"transfer\"?"),
        Case(text: #"{"flow":"main","expect":{"ending":"hung_up"}}"#, pointer: "/expect/ending", message: "expected one of transferred"),
        Case(text: #"{"flow":"main","expect":{"endin":"x"}}"#, pointer: "/expect/endin", message: "did you mean \"ending\"?"),
        Case(text: #"{"flow":"main","caller":{"target":"bsy"}}"#, pointer: "/caller/target", message: "did you mean \"busy\"?"),
        Case(text: #"{"description":"no flow"}"#, pointer: "/flow", message: "missing required string field \"flow\""),
    ]

    @Test(arguments: cases) func badInputIsNamedByPointer(_ c: Case) throws {
        let found = Self.problems(c.text)
        let first = try #require(found.first, "no error for \(c.text)")
        #expect(first.pointer == c.pointer)
        #expect(first.message.contains(c.message), "\(first.message)")
        if c.pointer != "/flow" { #expect(first.line == 1 && first.column != nil, "positions come from the file") }
    }

    @Test func everyProblemIsReportedWithItsLineAndColumn() {
        let text = """
            {
              "flow": "main",
              "calller": {},
              "http": { "GET https://a.example.com/x": { "stauts": 200 } }
            }
            """
        let found = Self.problems(text)
        #expect(found.map(\.pointer) == ["/calller", "/http/GET https:~1~1a.example.com~1x/stauts"])
        #expect(found.map { "\($0.line ?? 0):\($0.column ?? 0)" } == ["3:14", "4:56"])
        var error = Scenario.ParseError(pointer: "", message: "")
        error.problems = found
        #expect(error.located(in: "s.json").hasPrefix("s.json:3:14: /calller: unknown field"))
    }

    @Test func nodeNamesMustExistInTheFlows() throws {
        let flows = try Flows.set()
        let text =
            #"{"flow":"main","caller":{"hangup_after_node":"mneu"},"expect":{"path":["main/menu","main/menuu","menu","mian/menu"],"not_visited":["voicemail/nope"]}}"#
        let found = Self.problems(text, flows: flows)
        #expect(found.map(\.pointer) == ["/expect/path/1", "/expect/path/2", "/expect/path/3", "/expect/not_visited/0", "/caller/hangup_after_node"])
        #expect(found[0].message == "flow \"main\" has no node \"menuu\"; did you mean \"main/menu\"?")
        #expect(found[1].message == "\"menu\" names no flow; write \"flow/node\", like \"main/menu\"")
        #expect(found[2].message.hasPrefix("no flow \"mian\""))
        #expect(found[4].message == "no flow has a node \"mneu\"; did you mean \"menu\"?")
        // Without the flows, names are not checked; a bare node name is fine for hangup_after_node.
        #expect(Self.problems(text).isEmpty)
        #expect(Self.problems(#"{"flow":"main","caller":{"hangup_after_node":"menu"}}"#, flows: flows).isEmpty)
    }

    @Test func everyShippedScenarioIsValidAgainstTheFlows() throws {
        let flows = try Flows.set()
        let dir = Fixtures.repoRoot.appendingPathComponent("tests/scenarios")
        for file in try FileManager.default.contentsOfDirectory(atPath: dir.path) where file.hasSuffix(".json") {
            let bytes = Array(try Data(contentsOf: dir.appendingPathComponent(file)))
            #expect(throws: Never.self, "\(file)") { try Scenario.parse(bytes, name: file, flows: flows) }
        }
    }

    @Test func mockFileErrorsPointIntoThatFile() throws {
        let text = """
            {
              "GET https://crm.example.com/accounts/1": { "status": 200 },
              "POST https://crm.example.com/calls": { "stauts": 204 }
            }
            """
        #expect {
            try HTTPMocks.parse(Array(text.utf8), source: "mocks.json")
        } throws: { error in
            (error as? Scenario.ParseError)?.located(in: "mocks.json")
                == "mocks.json:3:53: /POST https:~1~1crm.example.com~1calls/stauts: unknown field \"stauts\"; did you mean \"status\"?"
        }
        // Syntax errors carry the parser's position in the same file (no wrapping document).
        #expect {
            try HTTPMocks.parse(Array("{\n  \"GET https://a.example.com\": {},\n}".utf8), source: "m.json")
        } throws: { error in
            let p = (error as? Scenario.ParseError)?.problems.first
            return p?.line == 3 && p?.column == 1
        }
        #expect(throws: Scenario.ParseError.self) { try HTTPMocks.parse(Array("[]".utf8), source: "m.json") }
        #expect(throws: Scenario.ParseError.self) {
            try HTTPMocks.parse(Array(#"{"GET https://a.example.com":{"error":"timeout","status":200}}"#.utf8), source: "m.json")
        }
    }

    @Test func theMockTableAnswersByMethodAndURL() throws {
        let text =
            #"{"GET https://crm.example.com/accounts/1234":{"status":200,"body":{"tier":"gold"},"delay_ms":5},"POST https://crm.example.com/calls":{"error":"timeout"}}"#
        let mocks = try HTTPMocks.parse(Array(text.utf8), source: "mocks.json")
        let hit = mocks.answer(method: "GET", url: "https://crm.example.com/accounts/1234")
        #expect(hit.delayMs == 5)
        #expect(hit.outcome == .response(status: 200, body: Array(#"{"tier":"gold"}"#.utf8)))
        #expect(mocks.answer(method: "POST", url: "https://crm.example.com/calls").outcome == .failed("timeout"))
        let miss = mocks.answer(method: "GET", url: "https://crm.example.com/accounts/7")
        #expect(miss.outcome == .failed("no mock for \"GET https://crm.example.com/accounts/7\" (add it to mocks.json)"))
        #expect(mocks.answer(method: "POST", url: "https://crm.example.com/accounts/1234").outcome != hit.outcome, "the method is part of the key")
    }

    @Test func theShippedMocksAnswerEveryRequestOfTheShippedScenarios() throws {
        let mocks = try HTTPMocks.parse(Array(try Data(contentsOf: Fixtures.repoRoot.appendingPathComponent("mocks.json"))), source: "mocks.json")
        let dir = Fixtures.repoRoot.appendingPathComponent("tests/scenarios")
        for file in try FileManager.default.contentsOfDirectory(atPath: dir.path) where file.hasSuffix(".json") {
            let scenario = try Scenario.parse(Array(try Data(contentsOf: dir.appendingPathComponent(file))), name: file)
            for key in scenario.http.keys { #expect(mocks[key] != nil, "\(file): mocks.json has no \(key)") }
        }
    }

    @Test func theSchemaAgreesWithTheParser() throws {
        let url = Fixtures.repoRoot.appendingPathComponent("schema/scenario.schema.json")
        let schema = try SchemaValidator.load(url, strict: false)
        let dir = Fixtures.repoRoot.appendingPathComponent("tests/scenarios")
        for file in try FileManager.default.contentsOfDirectory(atPath: dir.path) where file.hasSuffix(".json") {
            let errors = schema.errors(try JSONParser.parse(Array(try Data(contentsOf: dir.appendingPathComponent(file)))))
            #expect(errors.isEmpty, "\(file): \(errors)")
        }
        // A mock file is the schema's $defs/mocks.
        let table = SchemaValidator(["$defs": schema.root["$defs"] ?? .null, "$ref": "#/$defs/mocks"], strict: false)
        #expect(table.errors(try JSONParser.parse(Array(try Data(contentsOf: Fixtures.repoRoot.appendingPathComponent("mocks.json"))))).isEmpty)
        #expect(!table.errors(try JSONParser.parse(#"{"GET https://a.example.com":{"stauts":200}}"#)).isEmpty)
        #expect(!schema.errors(try JSONParser.parse(#"{"flow":"main","calller":{}}"#)).isEmpty)
    }
}
