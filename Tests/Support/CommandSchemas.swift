import CallflowCore
import Foundation

/// Telnyx's schema for each call command's body, as tests validate what the engine sends.
public enum CommandSchemas {
    public struct Missing: Error, CustomStringConvertible {
        public var description: String
    }

    /// The SDK-derived schemas name `from` as `from_` (Python's rename); the wire name is `from`.
    public static func sdkShape(_ body: JSONObject) -> JSONValue {
        var b = body
        if let from = b["from"] {
            b["from"] = nil
            b["from_"] = from
        }
        return .object(b)
    }

    public static func validator(for action: String) throws -> SchemaValidator {
        if action.hasPrefix(CallCommand.conferencePrefix) {
            // The Conference API's request schemas, taken from openapi-spec3.yml by scripts/conference-schemas.py.
            let file = Fixtures.repoRoot.appendingPathComponent("tests/telnyx/conference-requests.json")
            guard let schema = try JSONParser.parse(Array(try Data(contentsOf: file))).lookup(path: ["schemas", Substring(action)]) else {
                throw Missing(description: "tests/telnyx/conference-requests.json has no \(action)")
            }
            return SchemaValidator(schema, strict: true)
        }
        if action == "bridge" {
            // Not in the SDK set: validated against the OpenAPI spec's BridgeRequest.
            let spec = try JSONParser.parse(Array(try Data(contentsOf: Fixtures.telnyx.appendingPathComponent("telnyx-openapi-calls.json"))))
            guard let bridge = spec.lookup(path: ["components", "schemas", "BridgeRequest"]) else {
                throw Missing(description: "telnyx-openapi-calls.json has no BridgeRequest")
            }
            return SchemaValidator(bridge, strict: true)
        }
        return try SchemaValidator.load(Fixtures.telnyx.appendingPathComponent("commands/\(action).schema.json"), strict: true)
    }

    /// The body as its schema names it (`bridge` keeps the wire names of the OpenAPI spec).
    public static func schemaShape(_ action: String, _ body: JSONObject) -> JSONValue {
        action == "bridge" || action.hasPrefix(CallCommand.conferencePrefix) ? .object(body) : sdkShape(body)
    }
}
