import CallflowCore
import CallflowTestSupport
import Foundation
import Testing

/// `ParamCheck` against the shapes `scripts/gen-command-catalog` derives from the SDK's schemas
/// (loosened where the OpenAPI spec allows more).
@Suite struct ParamCheckTests {
    static let templated: @Sendable (String) -> Bool = { $0.contains("{{") }

    static func problems(_ action: String, _ params: JSONObject) -> [(pointer: [String], message: String)] {
        ParamCheck.problems(action: action, params: params, templated: templated)
    }

    // MARK: enums

    @Test func speakLanguageEnglishIsRejectedWithTheAllowedList() throws {
        let found = Self.problems("speak", ["payload": "hi", "voice": "female", "language": "english"])
        let problem = try #require(found.first)
        #expect(found.count == 1)
        #expect(problem.pointer == ["language"])
        #expect(problem.message.hasPrefix(#""english" is not one of en-AU, en-GB, en-GB-WLS, en-IN, en-US, "#), "\(problem.message)")
        #expect(problem.message.hasSuffix("(29 in all) for speak.language"), "\(problem.message)")
    }

    @Test(arguments: ["en-US", "en-GB", "arb", "tr-TR"])
    func speakLanguageCodesAreAccepted(language: String) {
        #expect(Self.problems("speak", ["payload": "hi", "voice": "female", "language": .string(language)]).isEmpty)
    }

    @Test func closeMissesGetADidYouMean() throws {
        let problem = try #require(Self.problems("speak", ["payload": "x", "voice": "v", "language": "en-us"]).first)
        #expect(problem.message.hasSuffix(#"; did you mean "en-US"?"#), "\(problem.message)")
        let short = try #require(Self.problems("speak", ["payload": "x", "voice": "v", "payload_type": "html"]).first)
        #expect(short.message == #""html" is not one of text, ssml for speak.payload_type"#)
    }

    // MARK: types

    static let typeCases: [(String, String, JSONValue, String?)] = [
        ("gather", "timeout_millis", "5000", "expected integer, found string"),
        ("gather", "maximum_digits", 2.5, "expected integer, found number"),
        ("gather", "maximum_digits", 4.0, nil),
        ("gather", "maximum_digits", 4, nil),
        ("gather", "valid_digits", 123, "expected string, found number"),
        ("speak", "loop", true, "expected string or integer, found boolean"),
        ("speak", "loop", 3, nil),
        ("speak", "loop", "infinity", nil),
        ("record_start", "play_beep", "yes", "expected boolean, found string"),
        ("transfer", "custom_headers", ["name": "X-A", "value": "b"], "expected array, found object"),
        ("speak", "voice_settings", "azure", "expected object, found string"),
        (
            "dial", "stream_bidirectional_sampling_rate", 8001,
            "8001 is not one of 8000, 16000, 22050, 24000, 48000 for dial.stream_bidirectional_sampling_rate"
        ),
        ("dial", "stream_bidirectional_sampling_rate", 16000, nil),
        ("answer", "preferred_codecs", "PCMU,PCMA", nil),
    ]

    @Test(arguments: typeCases)
    func literalTypes(action: String, key: String, value: JSONValue, expected: String?) {
        let found = Self.problems(action, [key: value])
        if let expected {
            #expect(found.map(\.pointer) == [[key]])
            #expect(found.first?.message == expected, "\(found)")
        } else {
            #expect(found.isEmpty, "\(found)")
        }
    }

    // MARK: nested objects

    static let nestedCases: [(String, JSONObject, [String], String)] = [
        (
            "speak", ["voice_settings": ["type": "azure", "gender": "male"]], ["voice_settings", "gender"],
            #""male" is not one of Male, Female for speak.voice_settings.gender; did you mean "Male"?"#
        ),
        ("speak", ["voice_settings": ["type": "azur"]], ["voice_settings", "type"], #"did you mean "azure"?"#),
        ("speak", ["voice_settings": ["gender": "Male"]], ["voice_settings"], #"speak.voice_settings requires "type" (one of elevenlabs, "#),
        ("speak", ["voice_settings": ["type": "minimax", "pitch": "high"]], ["voice_settings", "pitch"], "expected integer, found string"),
        (
            "transcription_start", ["transcription_engine_config": ["transcription_engine": "Google", "language": "english"]],
            ["transcription_engine_config", "language"], "for transcription_start.transcription_engine_config.language"
        ),
        (
            "answer",
            ["transcription_config": ["transcription_engine_config": ["transcription_engine": "Azure", "region": "eastus", "language": "xx"]]],
            ["transcription_config", "transcription_engine_config", "language"], #""xx" is not one of"#
        ),
        (
            "transcription_start", ["transcription_engine_config": ["transcription_engine": "Azure"]], ["transcription_engine_config"],
            #"transcription_start.transcription_engine_config requires "region""#
        ),
        (
            "ai_assistant_add_messages", ["messages": [["role": "user", "content": "hi"], ["role": "usr", "content": "x"]]],
            ["messages", "1", "role"], #"for ai_assistant_add_messages.messages[1].role; did you mean "user"?"#
        ),
        ("transfer", ["custom_headers": [["name": "X-A", "value": 3]]], ["custom_headers", "0", "value"], "expected string, found number"),
        // The SDK says a list of URLs per event, the spec one URL: either, not a number.
        (
            "answer", ["webhook_urls": ["call.answered": ["https://a"], "call.bridged": "https://b", "call.hangup": 3]],
            ["webhook_urls", "call.hangup"],
            "expected string or array, found number"
        ),
        // Closed by the spec (additionalProperties: false), which lists the same keys as the SDK.
        (
            "transcription_start",
            ["transcription_engine_config": ["transcription_engine": "Deepgram", "transcription_model": "deepgram/nova-3", "keyterm": ["Telnyx"]]],
            ["transcription_engine_config", "keyterm"],
            #"transcription_start.transcription_engine_config does not take "keyterm"; did you mean "keyterms"?"#
        ),
        (
            "transcription_start", ["transcription_engine_config": ["transcription_engine": "Deepgram", "language": "en"]],
            ["transcription_engine_config"],
            #"requires "transcription_model""#
        ),
    ]

    @Test(arguments: nestedCases)
    func nestedValues(action: String, params: JSONObject, pointer: [String], message: String) {
        let found = Self.problems(action, params)
        #expect(found.count == 1, "\(found)")
        #expect(found.first?.pointer == pointer)
        #expect(found.first?.message.contains(message) == true, "\(found)")
    }

    static let nestedValid: [(String, JSONObject)] = [
        ("speak", ["voice_settings": ["type": "azure", "gender": "Female", "effect": "eq_car"]]),
        // AWS settings are open (`additionalProperties: true`).
        ("speak", ["voice_settings": ["type": "aws", "anything": 1]]),
        // The SDK says the Deepgram configs' engine is "deepgram/nova-3"; the OpenAPI spec says "Deepgram".
        (
            "transcription_start",
            ["transcription_engine_config": ["transcription_engine": "Deepgram", "transcription_model": "deepgram/nova-3", "language": "en"]]
        ),
        (
            "transcription_start",
            ["transcription_engine_config": ["transcription_engine": "deepgram/nova-2", "transcription_model": "deepgram/nova-2"]]
        ),
        // "keyterms" is nova-3 only: with two Deepgram variants possible, the one that takes it decides.
        (
            "transcription_start",
            ["transcription_engine_config": ["transcription_engine": "Deepgram", "transcription_model": "deepgram/nova-3", "keyterms": ["Telnyx"]]]
        ),
        // No discriminator and several variants it could be: nothing is certain.
        ("transcription_start", ["transcription_engine_config": ["language": "english"]]),
        ("speak", ["voice_settings": ["type": "minimax", "language_boost": nil]]),
    ]

    @Test(arguments: nestedValid)
    func nestedValuesAccepted(action: String, params: JSONObject) {
        #expect(Self.problems(action, params).isEmpty, "\(Self.problems(action, params))")
        #expect(ParamCheck.warnings(action: action, params: params, templated: Self.templated).isEmpty)
    }

    @Test func unlistedNestedKeysOnlyWarn() throws {
        let params: JSONObject = ["voice_settings": ["type": "azure", "gendr": "Male"]]
        #expect(Self.problems("speak", params).isEmpty)
        let warning = try #require(ParamCheck.warnings(action: "speak", params: params, templated: Self.templated).first)
        #expect(warning.pointer == ["voice_settings", "gendr"])
        #expect(warning.message == #"speak.voice_settings has no field "gendr" in Telnyx's schema; did you mean "gender"?"#)
    }

    @Test func unknownActionsAndKeysAreLeftToTheParser() {
        #expect(Self.problems("speek", ["language": "english"]).isEmpty)
        #expect(Self.problems("speak", ["lang": "english"]).isEmpty)
        #expect(ParamCheck.problem(action: "bridge", key: "call_control_id", value: 3) == nil)
    }

    // MARK: templates

    static let templatedCases: [(String, String, JSONValue, JSONValue, String)] = [
        ("speak", "language", "{{vars.lang}}", "english", #""english" is not one of"#),
        ("gather", "timeout_millis", "{{vars.ms}}", "soon", "gather.timeout_millis: expected integer, found string"),
        (
            "speak", "voice_settings", ["type": "azure", "gender": "{{vars.g}}"], ["type": "azure", "gender": "male"],
            "for speak.voice_settings.gender"
        ),
        (
            "speak", "voice_settings", ["type": "{{vars.provider}}", "gender": "male"], ["type": "azure", "gender": "male"],
            "for speak.voice_settings.gender"
        ),
        (
            "ai_assistant_add_messages", "messages", [["role": "{{vars.r}}", "content": "x"]], [["role": "bot", "content": "x"]],
            "for ai_assistant_add_messages.messages[0].role"
        ),
    ]

    @Test(arguments: templatedCases)
    func templatesAreCheckedOnceRendered(action: String, key: String, source: JSONValue, rendered: JSONValue, message: String) throws {
        #expect(Self.problems(action, [key: source]).isEmpty, "a template could yield anything")
        let problem = try #require(ParamCheck.problem(action: action, key: key, value: rendered))
        #expect(problem.contains(message), "\(problem)")
    }

    static let renderedValid: [(String, String, JSONValue)] = [
        ("speak", "language", "en-GB"), ("gather", "timeout_millis", 3000), ("speak", "voice_settings", ["type": "azure", "gender": "Male"]),
    ]

    @Test(arguments: renderedValid)
    func renderedValidValuesPass(action: String, key: String, value: JSONValue) {
        #expect(ParamCheck.problem(action: action, key: key, value: value) == nil)
    }

    // MARK: the catalog against the schemas

    static let schemaActions: [String] = {
        let dir = Fixtures.telnyx.appendingPathComponent("commands")
        let names = (try? FileManager.default.contentsOfDirectory(atPath: dir.path)) ?? []
        return names.filter { $0.hasSuffix(".schema.json") }.map { String($0.dropLast(".schema.json".count)) }.sorted()
    }()

    static func schema(_ action: String) throws -> JSONValue {
        let url = Fixtures.telnyx.appendingPathComponent("commands/\(action).schema.json")
        return try JSONParser.parse(Array(try Data(contentsOf: url)))
    }

    @Test func everySchemaIsAnAction() {
        #expect(Self.schemaActions.count == 41)
        #expect(Set(Self.schemaActions) == Set(CommandCatalog.actions.keys))
    }

    @Test(arguments: schemaActions)
    func catalogKnowsEnvelopeFields(action: String) throws {
        let spec = try #require(CommandCatalog.actions[action])
        let properties = try #require(try Self.schema(action)["properties"]?.objectValue)
        #expect(spec.takesCommandID == (properties["command_id"] != nil))
        #expect(spec.takesClientState == (properties["client_state"] != nil))
        #expect(Set(spec.paramShapes.keys) == spec.params)
        #expect(spec.method == (action == "client_state_update" ? "PUT" : "POST"))
        switch action {
        case "siprec_start": #expect(!spec.takesCommandID && spec.takesClientState)
        case "switch_supervisor_role": #expect(!spec.takesCommandID && !spec.takesClientState)
        case "client_state_update": #expect(!spec.takesCommandID && spec.takesClientState)
        default: break
        }
    }

    /// A body built from the schema itself (not the catalog): required fields only, then every
    /// field with each `anyOf` branch in turn; every one passes, without warnings.
    @Test(arguments: schemaActions)
    func exampleBodiesPass(action: String) throws {
        let schema = try Self.schema(action)
        let validator = SchemaValidator(schema, strict: true)
        let minimal = Example(root: schema, full: false, choice: 0).value(schema)
        var bodies = [minimal]
        for choice in 0..<16 { bodies.append(Example(root: schema, full: true, choice: choice).value(schema)) }
        for body in bodies {
            guard case .object(var params) = body else { throw CheckError.notAnObject }
            #expect(validator.errors(.object(params)).isEmpty, "the example itself: \(validator.errors(.object(params)))")
            if let from = params["from_"] {
                params["from_"] = nil
                params["from"] = from
            }
            // The schema allows any string where Telnyx's prose sets a limit (`DocumentedLimit`).
            let withinLimits: [String: JSONValue] = ["loop": 2, "digits": "12#", "max_length": 60, "timeout_secs": 5]
            for key in (DocumentedLimit.table[action] ?? [:]).keys where params[key] != nil { params[key] = withinLimits[key] }
            #expect(Self.problems(action, params).isEmpty, "\(action) \(JSONValue.object(params).jsonString): \(Self.problems(action, params))")
            #expect(ParamCheck.warnings(action: action, params: params, templated: Self.templated).isEmpty)
            for (key, value) in params.members {
                #expect(ParamCheck.problem(action: action, key: key, value: value) == nil, "\(action).\(key)")
            }
        }
    }

    /// Every top-level enum refuses a value outside it, naming the field.
    @Test(arguments: schemaActions)
    func everyEnumRefusesStrangers(action: String) throws {
        let spec = try #require(CommandCatalog.actions[action])
        for key in spec.params.sorted() {
            guard let shape = spec.shape(of: key), shape.strings != nil, shape.types.contains(.string) else { continue }
            let found = Self.problems(action, [key: "zz-not-a-value"])
            #expect(found.count == 1 && found[0].message.contains("for \(action).\(key)"), "\(action).\(key): \(found)")
        }
    }

    enum CheckError: Error { case notAnObject }

    /// Makes a value a JSON Schema accepts: the first enum value, the const, a plain value per type,
    /// an object with its required (or, `full`, all) properties; `choice` picks the `anyOf` branch.
    struct Example {
        let root: JSONValue
        let full: Bool
        let choice: Int

        func value(_ schema: JSONValue, depth: Int = 0) -> JSONValue {
            guard case .object(let s) = schema, depth < 12 else { return "x" }
            if let ref = s["$ref"]?.stringValue, let target = root.lookup(path: ref.dropFirst(2).split(separator: "/")) {
                return value(target, depth: depth + 1)
            }
            if let branches = s["anyOf"]?.arrayValue {
                let usable = branches.filter { $0["type"]?.stringValue != "null" }
                return value(usable[(choice + depth) % usable.count], depth: depth + 1)
            }
            if let c = s["const"] { return c }
            if let first = s["enum"]?.arrayValue?.first { return first }
            switch s["type"]?.stringValue {
            case "string": return "x"
            case "integer": return 1
            case "number": return 1.5
            case "boolean": return true
            case "null": return nil
            case "array": return .array([value(s["items"] ?? [:], depth: depth + 1)])
            case "object":
                let properties = s["properties"]?.objectValue ?? JSONObject()
                let required = Set(s["required"]?.arrayValue?.compactMap(\.stringValue) ?? [])
                var out = JSONObject()
                for (key, p) in properties.members where full || required.contains(key) {
                    out[key] = value(p, depth: depth + 1)
                }
                return .object(out)
            default: return "x"
            }
        }
    }
}
