/// A string with `{{call.from}}` / `{{vars.crm.tier}}` references, parsed once at load time so
/// rendering per call is a walk over segments, and unknown roots are caught by `callflow check`.
public struct Template: Sendable, Equatable, Hashable, CustomStringConvertible {
    public enum Segment: Sendable, Equatable, Hashable {
        case literal(String)
        case reference(Reference)
    }

    /// `call.<field>` or `vars.<name>[.<path>...]`.
    public struct Reference: Sendable, Equatable, Hashable, CustomStringConvertible {
        public var root: String
        public var path: [String]
        public var description: String { ([root] + path).joined(separator: ".") }
    }

    public static let roots = ["call", "vars"]
    public static let callFields = ["from", "to", "direction", "id"]

    public let source: String
    public let segments: [Segment]

    public var description: String { source }
    public var references: [Reference] {
        segments.compactMap { if case .reference(let r) = $0 { return r } else { return nil } }
    }
    /// The template is exactly one reference (`"{{vars.crm}}"`): in JSON bodies it keeps the value's type.
    public var soleReference: Reference? {
        if segments.count == 1, case .reference(let r) = segments[0] { return r }
        return nil
    }

    /// Why a template string is malformed.
    public enum ParseError: Error, Sendable, Equatable, CustomStringConvertible {
        /// `{{` without `}}`.
        case unterminated
        /// `{{}}` or a reference with an empty path part.
        case empty
        /// A root other than `call` or `vars`.
        case unknownRoot(String, suggestion: String?)
        /// `call.<field>` with a field that does not exist.
        case unknownCallField(String)

        public var description: String {
            switch self {
            case .unterminated: return "template has {{ without a closing }}"
            case .empty: return "template reference is empty"
            case .unknownRoot(let root, let suggestion):
                return "template names unknown root \"\(root)\" (use call.* or vars.*)"
                    + (suggestion.map { "; did you mean \"\($0)\"?" } ?? "")
            case .unknownCallField(let field):
                return "template names unknown call field \"\(field)\" (known: \(Template.callFields.joined(separator: ", ")))"
            }
        }
    }

    public init(_ source: String) throws(ParseError) {
        self.source = source
        var segments: [Segment] = []
        var rest = Substring(source)
        while let open = rest.firstRange(of: "{{") {
            if open.lowerBound > rest.startIndex { segments.append(.literal(String(rest[..<open.lowerBound]))) }
            let afterOpen = rest[open.upperBound...]
            guard let close = afterOpen.firstRange(of: "}}") else { throw .unterminated }
            let expression = afterOpen[..<close.lowerBound].trimmingSpaces()
            let parts = expression.split(separator: ".", omittingEmptySubsequences: false).map(String.init)
            guard let root = parts.first, !root.isEmpty, parts.allSatisfy({ !$0.isEmpty }) else { throw .empty }
            guard Template.roots.contains(root) else {
                throw .unknownRoot(root, suggestion: Spelling.nearest(to: root, in: Template.roots))
            }
            if root == "call" {
                guard parts.count == 2, Template.callFields.contains(parts[1]) else {
                    throw .unknownCallField(parts.dropFirst().joined(separator: "."))
                }
            } else if parts.count < 2 {
                throw .empty
            }
            segments.append(.reference(Reference(root: root, path: Array(parts.dropFirst()))))
            rest = afterOpen[close.upperBound...]
        }
        if !rest.isEmpty { segments.append(.literal(String(rest))) }
        self.segments = segments
    }

    /// A template known to be valid (literals in code and tests).
    public static func literal(_ text: String) -> Template {
        (try? Template(text)) ?? Template(unchecked: text)
    }

    private init(unchecked text: String) {
        source = text
        segments = [.literal(text)]
    }

    public func render(_ context: TemplateContext) -> Rendered {
        var out = ""
        var missing: [String] = []
        for segment in segments {
            switch segment {
            case .literal(let s): out += s
            case .reference(let r):
                if let value = context.value(of: r) { out += value.templateText } else { missing.append(r.description) }
            }
        }
        return Rendered(text: out, missing: missing)
    }

    /// A rendered template and the references that had no value (rendered empty, and logged).
    public struct Rendered: Sendable, Equatable {
        public var text: String
        public var missing: [String]
    }
}

/// What templates can see: the call's own facts and its variables.
public struct TemplateContext: Sendable {
    public var call: JSONObject
    public var vars: JSONObject

    public init(call: JSONObject, vars: JSONObject) {
        self.call = call
        self.vars = vars
    }

    public func value(of reference: Template.Reference) -> JSONValue? {
        let root: JSONValue = reference.root == "call" ? .object(call) : .object(vars)
        guard let value = root.lookup(path: reference.path.map { Substring($0) }), !value.isNull else { return nil }
        return value
    }
}

extension JSONValue {
    /// How a value reads inside text: strings bare, everything else as JSON.
    public var templateText: String {
        if case .string(let s) = self { return s }
        return jsonString
    }
}

/// A JSON value whose strings may hold templates (`http` bodies and headers, `set` values,
/// `command` params), rendered as a whole.
public enum TemplatedJSON {
    /// Checks every string in `value`; returns the problems with their pointer suffixes.
    public static func problems(in value: JSONValue, at pointer: [String] = []) -> [(pointer: [String], error: Template.ParseError)] {
        switch value {
        case .string(let s):
            do { _ = try Template(s) } catch { return [(pointer, error)] }
            return []
        case .array(let items):
            return items.enumerated().flatMap { problems(in: $1, at: pointer + [String($0)]) }
        case .object(let object):
            return object.members.flatMap { problems(in: $0.value, at: pointer + [$0.key]) }
        default:
            return []
        }
    }

    /// Renders every string; a string that is exactly one reference keeps the referenced value's type.
    public static func render(_ value: JSONValue, _ context: TemplateContext, missing: inout [String]) -> JSONValue {
        switch value {
        case .string(let s):
            let template = Template.literal(s)
            if let only = template.soleReference {
                if let v = context.value(of: only) { return v }
                missing.append(only.description)
                return .string("")
            }
            let rendered = template.render(context)
            missing += rendered.missing
            return .string(rendered.text)
        case .array(let items):
            return .array(items.map { render($0, context, missing: &missing) })
        case .object(let object):
            return .object(JSONObject(object.members.map { (key: $0.key, value: render($0.value, context, missing: &missing)) }))
        default:
            return value
        }
    }
}

extension Substring {
    func trimmingSpaces() -> Substring {
        var s = self
        while let f = s.first, f == " " || f == "\t" { s = s.dropFirst() }
        while let l = s.last, l == " " || l == "\t" { s = s.dropLast() }
        return s
    }
}
