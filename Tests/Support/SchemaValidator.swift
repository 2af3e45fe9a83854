import CallflowCore
import Foundation

/// A JSON Schema (2020-12 subset) validator for tests: type, enum, const, properties, required,
/// additionalProperties, items, anyOf, oneOf, allOf, $ref into $defs, minimum, maximum,
/// minLength, minItems, minProperties, pattern. `strict` also rejects properties the schema does
/// not name even where the schema leaves additionalProperties open (the SDK-derived command
/// schemas do), which is how "no unknown fields" is enforced.
public struct SchemaValidator {
    public let root: JSONValue
    public var strict: Bool

    public init(_ schema: JSONValue, strict: Bool) {
        root = schema
        self.strict = strict
    }

    public static func load(_ url: URL, strict: Bool) throws -> SchemaValidator {
        SchemaValidator(try JSONParser.parse(Array(try Data(contentsOf: url))), strict: strict)
    }

    public func errors(_ value: JSONValue) -> [String] {
        var out: [String] = []
        validate(value, root, "", &out)
        return out
    }

    private func resolve(_ ref: String) -> JSONValue? {
        guard ref.hasPrefix("#/") else { return nil }
        return root.lookup(path: ref.dropFirst(2).split(separator: "/"))
    }

    private func typeMatches(_ value: JSONValue, _ type: String) -> Bool {
        switch (type, value) {
        case ("null", .null), ("boolean", .bool), ("string", .string), ("array", .array), ("object", .object): return true
        case ("integer", .int): return true
        case ("integer", .double(let d)): return d.rounded() == d
        case ("number", .int), ("number", .double): return true
        default: return false
        }
    }

    private func validate(_ value: JSONValue, _ schema: JSONValue, _ at: String, _ out: inout [String]) {
        if case .bool(let b) = schema {
            if !b { out.append("\(at): not allowed") }
            return
        }
        guard case .object(let s) = schema else { return }
        if let ref = s["$ref"]?.stringValue {
            if let target = resolve(ref) { validate(value, target, at, &out) } else { out.append("\(at): unresolved \(ref)") }
        }
        if let type = s["type"] {
            let types = type.arrayValue?.compactMap(\.stringValue) ?? [type.stringValue ?? ""]
            if !types.contains(where: { typeMatches(value, $0) }) {
                out.append("\(at): expected \(types.joined(separator: "|")), found \(value.typeName)")
                return
            }
        }
        if let options = s["enum"]?.arrayValue, !options.contains(value) { out.append("\(at): \(value.jsonString) not in enum") }
        if let c = s["const"], c != value { out.append("\(at): expected \(c.jsonString)") }
        if let min = s["minimum"]?.doubleValue, let v = value.doubleValue, v < min { out.append("\(at): below minimum \(min)") }
        if let min = s["exclusiveMinimum"]?.doubleValue, let v = value.doubleValue, v <= min { out.append("\(at): not above \(min)") }
        if let max = s["maximum"]?.doubleValue, let v = value.doubleValue, v > max { out.append("\(at): above maximum \(max)") }
        if let min = s["minLength"]?.intValue, let v = value.stringValue, v.count < min { out.append("\(at): shorter than \(min)") }
        if let pattern = s["pattern"]?.stringValue, let v = value.stringValue, let regex = try? Regex(pattern),
            (try? regex.firstMatch(in: v)) == nil
        {
            out.append("\(at): \"\(v)\" does not match \(pattern)")
        }
        for (keyword, mode) in [("anyOf", 0), ("oneOf", 1)] {
            guard let branches = s[keyword]?.arrayValue else { continue }
            let passing = branches.filter { branch in
                var e: [String] = []
                validate(value, branch, at, &e)
                return e.isEmpty
            }.count
            if passing == 0 || (mode == 1 && passing > 1) {
                out.append("\(at): matches \(passing) of the \(keyword) branches")
            }
        }
        for branch in s["allOf"]?.arrayValue ?? [] { validate(value, branch, at, &out) }
        if case .array(let items) = value {
            if let min = s["minItems"]?.intValue, items.count < min { out.append("\(at): fewer than \(min) items") }
            if let itemSchema = s["items"] {
                for (i, item) in items.enumerated() { validate(item, itemSchema, "\(at)/\(i)", &out) }
            }
        }
        if case .object(let object) = value {
            let properties = s["properties"]?.objectValue ?? JSONObject()
            if let min = s["minProperties"]?.intValue, object.count < min { out.append("\(at): fewer than \(min) properties") }
            if let names = s["propertyNames"] {
                for key in object.keys { validate(.string(key), names, "\(at)/\(key)", &out) }
            }
            for key in s["required"]?.arrayValue?.compactMap(\.stringValue) ?? [] where object[key] == nil {
                out.append("\(at): missing required \(key)")
            }
            for (key, v) in object.members {
                if let p = properties[key] {
                    validate(v, p, "\(at)/\(key)", &out)
                } else if let additional = s["additionalProperties"] {
                    if case .bool(true) = additional { continue }
                    validate(v, additional, "\(at)/\(key)", &out)
                } else if strict && s["properties"] != nil {
                    out.append("\(at)/\(key): unknown field")
                }
            }
        }
    }
}
