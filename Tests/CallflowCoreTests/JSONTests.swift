import CallflowCore
import CallflowTestSupport
import Testing

@Suite struct JSONTests {
    @Test func parsesAndWritesRoundTrip() throws {
        let text = #"{"a":[1,-2.5,true,false,null,"x\"y\\z\n\u00e9\ud83d\ude00"],"b":{"c":{}},"d":[],"e":1e3}"#
        let value = try JSONParser.parse(text)
        #expect(value["a"]?.arrayValue?.count == 6)
        #expect(value["a"]?.arrayValue?[5] == .string("x\"y\\z\né😀"))
        #expect(value["e"] == .double(1000))
        let again = try JSONParser.parse(value.jsonBytes)
        #expect(again == value)
    }

    @Test func keepsKeyOrder() throws {
        let value = try JSONParser.parse(#"{"z":1,"a":2,"m":3}"#)
        #expect(value.objectValue?.keys == ["z", "a", "m"])
        #expect(value.jsonString == #"{"z":1,"a":2,"m":3}"#)
    }

    @Test(arguments: [
        ("", "1:1"), ("{", "1:2"), ("{\"a\":1,}", "1:8"), ("[1,]", "1:4"), ("{\"a\" 1}", "1:6"),
        ("\n\n  {\"a\": tru}", "3:9"), ("01", "1:1"), ("\"abc", "1:1"), ("{\"a\":1}x", "1:8"),
        ("\"\\ud800\"", "1:8"), ("{\"a\":1,\"a\":2}", "1:8"), ("\"a\u{01}\"", "1:3"), ("1.", "1:1"), ("-", "1:1"),
    ])
    func reportsLineAndColumn(_ input: String, _ place: String) {
        #expect {
            _ = try JSONParser.parse(input)
        } throws: { error in
            guard let e = error as? JSONParseError else { return false }
            return "\(e.line):\(e.column)" == place
        }
    }

    /// Small objects are checked for duplicate keys by a linear look, large ones by a set: a
    /// duplicate is caught wherever it falls, before, at and after the switch.
    @Test(arguments: [2, 15, 16, 17, 40])
    func rejectsDuplicateKeysInObjectsOfAnySize(_ size: Int) throws {
        let keys = (0..<size).map { "k\($0)" }
        let distinct = "{" + keys.map { "\"\($0)\":1" }.joined(separator: ",") + "}"
        #expect(try JSONParser.parse(distinct).objectValue?.count == size)
        for duplicateOf in [0, size / 2, size - 1] {
            let text = "{" + (keys + [keys[duplicateOf]]).map { "\"\($0)\":1" }.joined(separator: ",") + "}"
            #expect(throws: JSONParseError.self) { _ = try JSONParser.parse(text) }
        }
    }

    /// Every byte that needs escaping, alone, at either end and between runs of plain text.
    @Test func writesEscapesBetweenPlainRuns() throws {
        let specials = "\"\\\n\r\t\u{01}\u{1F}"
        for text in [specials, "a" + specials + "b", "plain é 😀", "", "x\"", "\"x", "ab\u{00}cd"] {
            let bytes = JSONValue.string(text).jsonBytes
            #expect(try JSONParser.parse(bytes) == .string(text))
            #expect(!bytes.dropFirst().dropLast().contains { $0 < 0x20 })
        }
        #expect(JSONValue.string("a\"b\u{01}").jsonString == #""a\"b\u0001""#)
    }

    @Test func rejectsInvalidUTF8AndDeepNesting() {
        #expect(throws: JSONParseError.self) { _ = try JSONParser.parse([0x22, 0xFF, 0xFE, 0x22]) }
        let deep = String(repeating: "[", count: 10_000) + String(repeating: "]", count: 10_000)
        #expect(throws: JSONParseError.self) { _ = try JSONParser.parse(deep) }
    }

    @Test func neverTrapsOnRandomBytes() {
        var rng = SplitMix(seed: 42)
        let alphabet = Array(#"{}[]:,"\u0123456789abcdefnrtl-+.eE "#.utf8) + [0x09] + [0x00, 0xC3, 0xA9, 0xFF]
        for _ in 0..<20_000 {
            let count = Int(rng.next() % 40)
            let bytes = (0..<count).map { _ in alphabet[Int(rng.next() % UInt64(alphabet.count))] }
            _ = try? JSONParser.parse(bytes)
        }
    }

    @Test func sourceMapRecordsPointers() throws {
        var map: JSONSourceMap? = JSONSourceMap()
        _ = try JSONParser.parse(Array("{\n  \"nodes\": {\n    \"a/b\": [1, 2]\n  }\n}".utf8), sourceMap: &map)
        #expect(map?.position(of: "/nodes/a~1b/1")?.line == 3)
        #expect(map?.position(of: "/nodes")?.line == 2)
    }

    @Test func lookupFollowsDottedPaths() throws {
        let value = try JSONParser.parse(#"{"crm":{"tier":"gold","items":[{"n":1}]}}"#)
        #expect(value.lookup(path: "crm.tier".split(separator: ".")) == .string("gold"))
        #expect(value.lookup(path: "crm.items.0.n".split(separator: ".")) == .int(1))
        #expect(value.lookup(path: "crm.nope".split(separator: ".")) == nil)
    }
}
