/// Checks the values of a Telnyx command's params against the shapes `CommandCatalog` derives from
/// the SDK's schemas and the OpenAPI spec: JSON types, enum values, nested objects (required keys,
/// variants picked by their discriminator, keys the schema does not list) and array items.
///
/// Two moments: `problems(action:params:templated:)` when a flow loads, skipping every string a
/// template will replace (a template may yield anything, of any type); `problem(action:key:value:)`
/// for one param after the engine rendered it.
///
/// What it does not do: names and required top-level params are the parser's job (it reports
/// unknown ones with a did-you-mean), so keys a catalog action does not take are skipped here.
/// Everything reported is a value the schema refuses; what the schema leaves undecided (a key an
/// object does not list when the schema says nothing about other keys, which is how the SDK leaves
/// most objects) is only a warning, from `warnings(action:params:templated:)`.
public enum ParamCheck {
    /// Errors in the literal values of `params` (a `command` node's, before rendering). `pointer`
    /// is the path below `params`: `["language"]`, `["transcription_engine_config", "language"]`,
    /// `["messages", "0", "role"]`. `templated` says whether a string holds a template.
    public static func problems(
        action: String, params: JSONObject, templated: (String) -> Bool
    )
        -> [(pointer: [String], message: String)]
    {
        let schema = findings(action: action, params: params, templated: templated).filter { !$0.warning }.map { ($0.pointer, $0.message) }
        // A value the schema already refuses is not told off twice.
        return schema
            + params.members.compactMap { member in
                if case .string(let s) = member.value, templated(s) { return nil }
                if schema.contains(where: { $0.0.first == member.key }) { return nil }
                return DocumentedLimit.problem(action: action, key: member.key, value: member.value).map { ([member.key], $0) }
            }
    }

    /// What the schema leaves undecided but looks wrong: keys a nested object does not list (with a
    /// did-you-mean) where the schema neither closes nor opens the object.
    public static func warnings(
        action: String, params: JSONObject, templated: (String) -> Bool
    )
        -> [(pointer: [String], message: String)]
    {
        findings(action: action, params: params, templated: templated).filter(\.warning).map { ($0.pointer, $0.message) }
    }

    /// Why the rendered `value` of `key` is not valid for `action`, nil when it is (or when the
    /// catalog does not describe `action` or `key`). The message names where in the value it went
    /// wrong (`speak.voice_settings.gender`).
    public static func problem(action: String, key: String, value: JSONValue) -> String? {
        guard let shape = CommandCatalog.actions[action]?.shape(of: key) else { return nil }
        return schemaProblem(action, key, value, shape) ?? DocumentedLimit.problem(action: action, key: key, value: value)
    }

    static func schemaProblem(_ action: String, _ key: String, _ value: JSONValue, _ shape: CommandCatalog.ValueShape) -> String? {
        var out: [Finding] = []
        check(value, shape, [key], "\(action).\(key)", { _ in false }, &out)
        return out.first(where: { !$0.warning }).map { $0.locates ? $0.message : "\($0.label): \($0.message)" }
    }

    // MARK: internals

    struct Finding {
        var pointer: [String]
        var label: String
        var message: String
        var warning = false
        /// Whether `message` names `label` itself.
        var locates = true
    }

    static func findings(action: String, params: JSONObject, templated: (String) -> Bool) -> [Finding] {
        guard let spec = CommandCatalog.actions[action] else { return [] }
        var out: [Finding] = []
        for (key, value) in params.members {
            guard let shape = spec.shape(of: key) else { continue }
            check(value, shape, [key], "\(action).\(key)", templated, &out)
        }
        return out
    }

    typealias Shape = CommandCatalog.ValueShape

    static func check(
        _ value: JSONValue, _ shape: Shape, _ pointer: [String], _ label: String,
        _ templated: (String) -> Bool, _ out: inout [Finding]
    ) {
        if case .string(let s) = value, templated(s) { return }
        guard fits(value, shape.types) else {
            out.append(
                Finding(
                    pointer: pointer, label: label, message: "expected \(describe(shape.types)), found \(value.typeName)",
                    locates: false))
            return
        }
        switch value {
        case .string(let s):
            if let allowed = shape.strings, !allowed.contains(s) {
                out.append(Finding(pointer: pointer, label: label, message: notOneOf("\"\(s)\"", s, allowed, label)))
            }
        case .int, .double:
            if let allowed = shape.integers, let i = value.intValue, !allowed.contains(i) {
                out.append(Finding(pointer: pointer, label: label, message: notOneOf(String(i), nil, allowed.map(String.init), label)))
            }
        case .array(let items):
            guard let itemShape = shape.items.map({ CommandCatalog.shapes[$0] }) else { return }
            for (i, item) in items.enumerated() {
                check(item, itemShape, pointer + [String(i)], "\(label)[\(i)]", templated, &out)
            }
        case .object(let object):
            if shape.variants.isEmpty {
                members(object, shape, pointer, label, templated, &out)
            } else {
                variant(object, shape, pointer, label, templated, &out)
            }
        case .null, .bool:
            return
        }
    }

    /// An object against one object shape: required keys, known keys' values, other keys.
    static func members(
        _ object: JSONObject, _ shape: Shape, _ pointer: [String], _ label: String,
        _ templated: (String) -> Bool, _ out: inout [Finding]
    ) {
        for key in shape.required where object[key] == nil {
            out.append(Finding(pointer: pointer, label: label, message: "\(label) requires \"\(key)\""))
        }
        for (key, value) in object.members {
            if let index = shape.properties[key] ?? shape.additional {
                check(value, CommandCatalog.shapes[index], pointer + [key], "\(label).\(key)", templated, &out)
                continue
            }
            let hint = Spelling.nearest(to: key, in: shape.properties.keys).map { "; did you mean \"\($0)\"?" } ?? ""
            switch shape.keys {
            case .open:
                continue
            case .closed:
                out.append(Finding(pointer: pointer + [key], label: label, message: "\(label) does not take \"\(key)\"\(hint)"))
            case .unstated:
                out.append(
                    Finding(
                        pointer: pointer + [key], label: label,
                        message: "\(label) has no field \"\(key)\" in Telnyx's schema\(hint)", warning: true))
            }
        }
    }

    /// An object against alternative shapes (`voice_settings` by `type`, a transcription engine's
    /// config by `transcription_engine`). Only errors every candidate agrees on are certain, so with
    /// several candidates it reports nothing unless all fail, and then the closest one's errors.
    static func variant(
        _ object: JSONObject, _ shape: Shape, _ pointer: [String], _ label: String,
        _ templated: (String) -> Bool, _ out: inout [Finding]
    ) {
        let variants = shape.variants.map { CommandCatalog.shapes[$0] }
        var candidates = variants
        if let key = shape.discriminator {
            let named = { (v: Shape) in v.properties[key].flatMap { CommandCatalog.shapes[$0].strings } ?? [] }
            var all: [String] = []
            for v in variants { all += named(v).filter { !all.contains($0) } }
            switch object[key] {
            case .string(let s)?:
                if templated(s) { return }
                candidates = variants.filter { named($0).contains(s) }
                if candidates.isEmpty {
                    out.append(Finding(pointer: pointer + [key], label: "\(label).\(key)", message: notOneOf("\"\(s)\"", s, all, "\(label).\(key)")))
                    return
                }
            case let other?:
                out.append(
                    Finding(
                        pointer: pointer + [key], label: "\(label).\(key)", message: "expected string, found \(other.typeName)",
                        locates: false))
                return
            case nil:
                candidates = variants.filter { !$0.required.contains(key) }
                if candidates.isEmpty {
                    out.append(
                        Finding(
                            pointer: pointer, label: label,
                            message: "\(label) requires \"\(key)\" (one of \(listing(all, near: nil)))"))
                    return
                }
            }
        }
        if candidates.count == 1 {
            members(object, candidates[0], pointer, label, templated, &out)
            return
        }
        var best: [Finding]? = nil
        for candidate in candidates {
            var found: [Finding] = []
            members(object, candidate, pointer, label, templated, &found)
            found.removeAll(where: \.warning)
            if found.isEmpty { return }
            if found.count < best?.count ?? Int.max { best = found }
        }
        out += best ?? []
    }

    static func fits(_ value: JSONValue, _ types: Shape.Types) -> Bool {
        switch value {
        case .null: return types.contains(.null)
        case .bool: return types.contains(.boolean)
        case .int: return types.contains(.integer) || types.contains(.number)
        case .double(let d): return types.contains(.number) || (types.contains(.integer) && value.intValue != nil && d.rounded() == d)
        case .string: return types.contains(.string)
        case .array: return types.contains(.array)
        case .object: return types.contains(.object)
        }
    }

    /// "integer", "string or integer", "string, array or null".
    static func describe(_ types: Shape.Types) -> String {
        var names: [String] = []
        if types.contains(.string) { names.append("string") }
        if types.contains(.number) { names.append("number") } else if types.contains(.integer) { names.append("integer") }
        if types.contains(.boolean) { names.append("boolean") }
        if types.contains(.array) { names.append("array") }
        if types.contains(.object) { names.append("object") }
        if types.contains(.null) { names.append("null") }
        guard let last = names.popLast() else { return "nothing" }
        return names.isEmpty ? last : names.joined(separator: ", ") + " or " + last
    }

    /// `"english" is not one of en-AU, en-GB, ... (29 in all) for speak.language; did you mean ...?`
    static func notOneOf(_ shown: String, _ word: String?, _ allowed: [String], _ label: String) -> String {
        var message = "\(shown) is not one of \(listing(allowed, near: word)) for \(label)"
        // Tighter than `Spelling`'s own limit: the values are listed already, so only a near-typo
        // ("en-us", "male") is worth pointing at, not "html" -> "ssml".
        if let word, let s = Spelling.nearest(to: word, in: allowed),
            Spelling.distance(word.lowercased(), s.lowercased()) <= max(1, word.count / 3)
        {
            message += "; did you mean \"\(s)\"?"
        }
        return message
    }

    /// The allowed values, all of them when few; else the first ten, those sharing the typed
    /// value's first two letters first (`english` lists the `en-...` codes).
    static func listing(_ allowed: [String], near word: String?) -> String {
        let limit = 12, shown = 10
        guard allowed.count > limit else { return allowed.joined(separator: ", ") }
        var ordered = allowed
        if let word, !word.isEmpty {
            let prefix = word.lowercased().prefix(2)
            let close = allowed.filter { $0.lowercased().hasPrefix(prefix) }
            ordered = close + allowed.filter { !$0.lowercased().hasPrefix(prefix) }
        }
        return ordered.prefix(shown).joined(separator: ", ") + ", ... (\(allowed.count) in all)"
    }
}
