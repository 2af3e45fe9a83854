/// Typed access to the fields of a JSON object that reports, rather than throws, what is wrong:
/// a missing required field, a value of the wrong type, an integer out of range, an unknown key
/// with the nearest known one suggested. Every problem goes to `problem(_:_:)` with the path of
/// keys where it is, and reading goes on, so one pass reports everything at once.
///
/// A protocol, so each reader keeps its own problem list in its own shape: `FlowParser` reports
/// JSON pointers (`/nodes/menu/max_attempts`) among its other diagnostics, in order; the server's
/// config loader reports dotted keys (`server.port`). The messages are the same for both.
public protocol FieldReader {
    /// Records one problem at `path` (the keys from the document's root).
    mutating func problem(_ path: [String], _ message: String)
}

extension FieldReader {
    /// Reports every key of `object` that is not in `allowed`, at its own path, with `message(key)`
    /// followed by the nearest allowed key when one is close (`; did you mean "port"?`).
    public mutating func unknownKeys(_ object: JSONObject, _ path: [String], allowed: [String], message: (String) -> String) {
        for key in object.keys where !allowed.contains(key) {
            var text = message(key)
            if let s = Spelling.nearest(to: key, in: allowed) { text += "; did you mean \"\(s)\"?" }
            problem(path + [key], text)
        }
    }

    /// The field's value; a missing one is reported (at the object's path) only when `required`.
    mutating func field(_ o: JSONObject, _ key: String, _ path: [String], required: Bool) -> JSONValue? {
        guard let v = o[key] else {
            if required { problem(path, "missing required field \"\(key)\"") }
            return nil
        }
        return v
    }

    /// The string at `key`; a wrong type is reported and read as absent.
    public mutating func string(_ o: JSONObject, _ key: String, _ path: [String], required: Bool = true) -> String? {
        guard let v = field(o, key, path, required: required) else { return nil }
        guard case .string(let s) = v else {
            problem(path + [key], "expected string, found \(v.typeName)")
            return nil
        }
        return s
    }

    /// A string that must not be empty.
    public mutating func nonEmpty(_ o: JSONObject, _ key: String, _ path: [String], required: Bool = true) -> String? {
        guard let s = string(o, key, path, required: required) else { return nil }
        if s.isEmpty {
            problem(path + [key], "must not be empty")
            return nil
        }
        return s
    }

    /// A JSON number that is a whole number (`3` or `3.0`) inside `range`.
    public mutating func int(_ o: JSONObject, _ key: String, _ path: [String], required: Bool = true, range: ClosedRange<Int>) -> Int? {
        guard let v = field(o, key, path, required: required) else { return nil }
        guard let i = v.intValue else {
            problem(path + [key], "expected integer, found \(v.typeName)")
            return nil
        }
        guard range.contains(i) else {
            problem(path + [key], "must be between \(range.lowerBound) and \(range.upperBound), found \(i)")
            return nil
        }
        return i
    }

    /// Never required: a missing boolean is the default.
    public mutating func bool(_ o: JSONObject, _ key: String, _ path: [String]) -> Bool? {
        guard let v = o[key] else { return nil }
        guard case .bool(let b) = v else {
            problem(path + [key], "expected boolean, found \(v.typeName)")
            return nil
        }
        return b
    }

    /// The object at `key`; a wrong type is reported and read as absent.
    public mutating func object(_ o: JSONObject, _ key: String, _ path: [String], required: Bool = true) -> JSONObject? {
        guard let v = field(o, key, path, required: required) else { return nil }
        guard case .object(let obj) = v else {
            problem(path + [key], "expected object, found \(v.typeName)")
            return nil
        }
        return obj
    }

    /// A string naming one case of `Value` (`store.kind`, `log.level`), decoded into it; any other
    /// string is reported as `expected <expected>, found "<text>"`.
    public mutating func choice<Value: CaseIterable & RawRepresentable>(
        _ o: JSONObject, _ key: String, _ path: [String], required: Bool = true, expected: String
    ) -> Value? where Value.RawValue == String {
        guard let s = string(o, key, path, required: required) else { return nil }
        guard let value = Value(rawValue: s) else {
            problem(path + [key], "expected \(expected), found \"\(s)\"")
            return nil
        }
        return value
    }
}
