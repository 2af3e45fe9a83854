/// A string with `{{call.from}}` / `{{vars.crm.tier | 'none'}}` expressions, parsed once at load
/// time so rendering per call is a walk over segments, and mistakes are caught by `callflow check`.
public struct Template: Sendable, Equatable, Hashable, CustomStringConvertible {
    enum Segment: Sendable, Equatable, Hashable {
        case literal(String)
        case expression(Expression)
    }

    /// `call.<field>` or `vars.<name>[.<path>...]`.
    public struct Reference: Sendable, Equatable, Hashable, CustomStringConvertible {
        /// `call` or `vars`.
        public var root: String
        /// The dotted parts after the root (`["crm", "tier"]`); array elements by index.
        public var path: [String]
        /// The reference as written (`vars.crm.tier`).
        public var description: String { ([root] + path).joined(separator: ".") }
        /// The variable a `vars.*` reference reads (`crm` for `vars.crm.tier`); nil for `call.*`.
        public var variable: String? { root == "vars" ? path.first : nil }
    }

    /// What one `{{...}}` holds: references tried in order (`vars.a | vars.b`), then optionally a
    /// quoted text (`| 'none'`) used when none of them has a value.
    public struct Expression: Sendable, Equatable, Hashable, CustomStringConvertible {
        /// Tried in order; the first with a value wins.
        public var references: [Reference]
        /// With a fallback the expression always has a value: it is never reported missing.
        public var fallback: String?

        /// The expression as it would be written (`vars.a | vars.b | 'none'`).
        public var description: String {
            (references.map(\.description) + (fallback.map { [Template.quoted($0)] } ?? [])).joined(separator: " | ")
        }

        /// The first reference with a value, else the fallback text, else nil (missing).
        public func value(in context: TemplateContext) -> JSONValue? {
            for r in references { if let v = context.value(of: r) { return v } }
            return fallback.map(JSONValue.string)
        }
    }

    static let roots = ["call", "vars"]
    static let callFields = ["from", "to", "direction", "id"]

    /// The template as written in the flow: what messages, graphs and `==` show.
    public let source: String
    let segments: [Segment]

    /// `source`.
    public var description: String { source }
    /// The `{{...}}` parts, in order.
    public var expressions: [Expression] {
        segments.compactMap { if case .expression(let e) = $0 { return e } else { return nil } }
    }
    /// Every reference, in order: what `check` verifies the variables against.
    public var references: [Reference] { expressions.flatMap(\.references) }
    /// The template is exactly one expression (`"{{vars.crm}}"`): in JSON values it keeps the value's type.
    public var soleExpression: Expression? {
        if segments.count == 1, case .expression(let e) = segments[0] { return e }
        return nil
    }

    /// `'text'` as written in a template, quotes and backslashes escaped.
    static func quoted(_ text: String) -> String {
        "'" + text.replacing("\\", with: "\\\\").replacing("'", with: "\\'") + "'"
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
        /// `{{vars.x | }}` or `{{ | 'a'}}`: nothing on one side of a `|` (the expression as written).
        case emptyAlternative(String)
        /// A fallback quote that is never closed (the expression as written from `{{`).
        case unterminatedQuote(String)
        /// A quoted text that is not the last alternative, or text right after one.
        case misplacedFallback(String)
        /// A bare word after `|` (`{{vars.x | none}}`): meant as text, it needs quotes.
        case unquotedFallback(String, reference: String)

        /// The message `callflow check` prints after the field's pointer.
        public var description: String {
            switch self {
            case .unterminated: return "template has {{ without a closing }}"
            case .empty: return "template reference is empty"
            case .unknownRoot(let root, let suggestion):
                return "template names unknown root \"\(root)\" (use call.* or vars.*)"
                    + (suggestion.map { "; did you mean \"\($0)\"?" } ?? "")
            case .unknownCallField(let field):
                return "template names unknown call field \"\(field)\" (known: \(Template.callFields.joined(separator: ", ")))"
            case .emptyAlternative(let written):
                return "template {{\(written)}} has an empty side of \"|\"; write a reference, then the fallback: "
                    + "{{vars.NAME | 'default'}} or {{vars.NAME | call.from}}"
            case .unterminatedQuote(let written):
                return "template fallback in {{\(written) has no closing quote; write {{vars.NAME | 'default'}}"
            case .misplacedFallback(let written):
                return "template {{\(written)}}: quoted text can only be the last fallback, alone; "
                    + "write {{vars.NAME | vars.OTHER | 'default'}}"
            case .unquotedFallback(let word, let reference):
                return "template fallback \"\(word)\" is not a reference (call.* or vars.*); "
                    + "for text, quote it: {{\(reference) | '\(word)'}}"
            }
        }
    }

    /// Parses `source`; malformed `{{...}}` throws (the flow parser reports it at the field's pointer).
    public init(_ source: String) throws(ParseError) {
        self.source = source
        var segments: [Segment] = []
        var rest = Substring(source)
        while let open = rest.firstRange(of: "{{") {
            if open.lowerBound > rest.startIndex { segments.append(.literal(String(rest[..<open.lowerBound]))) }
            let (expression, after) = try Self.expression(rest[open.upperBound...])
            segments.append(.expression(expression))
            rest = after
        }
        if !rest.isEmpty { segments.append(.literal(String(rest))) }
        self.segments = segments
    }

    /// One alternative of an expression as scanned: a reference's text or a quoted text.
    enum Alternative {
        case reference(Substring)
        case quoted(String)
    }

    /// Scans `text` (just after `{{`) up to the matching `}}`, outside quotes; returns the
    /// expression and the text after it.
    static func expression(_ text: Substring) throws(ParseError) -> (Expression, Substring) {
        var alternatives: [(alternative: Alternative?, junk: Bool)] = []
        var current = "", quoted: String? = nil, junk = false
        var i = text.startIndex
        func finish() {
            let word = Substring(current).trimmingSpaces()
            alternatives.append(quoted.map { (.quoted($0), junk || !word.isEmpty) } ?? (word.isEmpty ? nil : .reference(word), junk))
            current = ""
            quoted = nil
            junk = false
        }
        while true {
            guard i < text.endIndex else { throw .unterminated }
            let c = text[i]
            if c == "}" && text[i...].hasPrefix("}}") {
                finish()
                i = text.index(i, offsetBy: 2)
                break
            }
            if c == "|" {
                finish()
            } else if c == "'" || c == "\"" {
                if quoted != nil || !Substring(current).trimmingSpaces().isEmpty { junk = true }
                var value = ""
                var j = text.index(after: i)
                while true {
                    guard j < text.endIndex else { throw .unterminatedQuote(String(text)) }
                    if text[j] == c { break }
                    if text[j] == "\\", text.index(after: j) < text.endIndex { j = text.index(after: j) }
                    value.append(text[j])
                    j = text.index(after: j)
                }
                quoted = value
                current = ""
                i = j
            } else {
                current.append(c)
            }
            i = text.index(after: i)
        }
        let written = String(text[..<text.index(i, offsetBy: -2)])
        if alternatives.count == 1, alternatives[0].alternative == nil { throw .empty }
        var references: [Reference] = []
        var fallback: String? = nil
        for (index, entry) in alternatives.enumerated() {
            switch entry.alternative {
            case nil:
                throw .emptyAlternative(written)
            case .quoted(let value)?:
                guard index == alternatives.count - 1, index > 0, !entry.junk else { throw .misplacedFallback(written) }
                fallback = value
            case .reference(let word)?:
                if entry.junk { throw .misplacedFallback(written) }
                if index > 0, !word.contains("."), !roots.contains(String(word)) {
                    throw .unquotedFallback(String(word), reference: references[0].description)
                }
                references.append(try reference(word))
            }
        }
        return (Expression(references: references, fallback: fallback), text[i...])
    }

    static func reference(_ word: Substring) throws(ParseError) -> Reference {
        let parts = word.split(separator: ".", omittingEmptySubsequences: false).map(String.init)
        guard let root = parts.first, !root.isEmpty, parts.allSatisfy({ !$0.isEmpty }) else { throw .empty }
        guard roots.contains(root) else {
            throw .unknownRoot(root, suggestion: Spelling.nearest(to: root, in: roots))
        }
        if root == "call" {
            guard parts.count == 2, callFields.contains(parts[1]) else {
                throw .unknownCallField(parts.dropFirst().joined(separator: "."))
            }
        } else if parts.count < 2 {
            throw .empty
        }
        return Reference(root: root, path: Array(parts.dropFirst()))
    }

    /// A template known to be valid (literals in code and tests).
    public static func literal(_ text: String) -> Template {
        (try? Template(text)) ?? Template.text(text)
    }

    /// Plain text, never parsed: for text that was already rendered.
    public static func text(_ text: String) -> Template { Template(unchecked: text) }

    private init(unchecked text: String) {
        source = text
        segments = text.isEmpty ? [] : [.literal(text)]
    }

    /// Renders against one call: a missing value renders empty and is listed in `missing`.
    public func render(_ context: TemplateContext) -> Rendered {
        var out = ""
        var missing: [String] = []
        for segment in segments {
            switch segment {
            case .literal(let s): out += s
            case .expression(let e):
                if let value = e.value(in: context) { out += value.templateText } else { missing.append(e.description) }
            }
        }
        return Rendered(text: out, missing: missing)
    }

    /// A rendered template and the expressions that had no value (rendered empty, and logged).
    public struct Rendered: Sendable, Equatable {
        /// The rendered text.
        public var text: String
        /// The expressions that had no value, as written: logged as warnings by the machine.
        public var missing: [String]
    }
}

/// What templates can see: the call's own facts and its variables.
public struct TemplateContext: Sendable {
    /// The call's facts: `from`, `to`, `direction` and `id` (the call control id).
    public var call: JSONObject
    /// The call's variables.
    public var vars: JSONObject

    /// Memberwise.
    public init(call: JSONObject, vars: JSONObject) {
        self.call = call
        self.vars = vars
    }

    /// The referenced value; `nil` when it is missing or JSON `null`, so a fallback applies to both.
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
enum TemplatedJSON {
    /// Every string in `value` with its pointer suffix: each is rendered as a template.
    static func strings(in value: JSONValue, at pointer: [String] = []) -> [(pointer: [String], text: String)] {
        switch value {
        case .string(let s):
            return [(pointer, s)]
        case .array(let items):
            return items.enumerated().flatMap { strings(in: $1, at: pointer + [String($0)]) }
        case .object(let object):
            return object.members.flatMap { strings(in: $0.value, at: pointer + [$0.key]) }
        default:
            return []
        }
    }

    /// Renders every string; a string that is exactly one reference keeps the referenced value's type.
    static func render(_ value: JSONValue, _ context: TemplateContext, missing: inout [String]) -> JSONValue {
        switch value {
        case .string(let s):
            let template = Template.literal(s)
            if let only = template.soleExpression {
                if let v = only.value(in: context) { return v }
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
