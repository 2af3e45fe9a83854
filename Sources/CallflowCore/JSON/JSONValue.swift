/// A JSON document as a value.
///
/// Why our own type rather than `Codable`: flows, config and webhooks all need the same things
/// `JSONDecoder` does not give — object key order (menu choices and `if` conditions are ordered),
/// exact JSON pointers and line:column for every diagnostic, lenient typed access on webhooks, and a
/// byte-stable writer so the same command always serialises to the same body.
public enum JSONValue: Sendable {
    /// JSON `null`; also what a `nil` literal makes.
    case null
    /// `true` or `false`.
    case bool(Bool)
    /// An integer literal that fits in `Int` (no fraction, no exponent).
    case int(Int)
    /// Any other number.
    case double(Double)
    /// A string, unescaped.
    case string(String)
    /// Elements in document order.
    case array([JSONValue])
    /// Members in document order. Duplicate keys are rejected by the parser.
    case object(JSONObject)
}

/// Numbers compare by value (`1000` == `1000.0`), as JSON means them.
extension JSONValue: Equatable, Hashable {
    /// Numbers by value, so `1000` from a flow equals `1000.0` from a backend.
    public static func == (lhs: JSONValue, rhs: JSONValue) -> Bool {
        switch (lhs, rhs) {
        case (.null, .null): return true
        case (.bool(let a), .bool(let b)): return a == b
        case (.int(let a), .int(let b)): return a == b
        case (.double(let a), .double(let b)): return a == b
        case (.int(let a), .double(let b)), (.double(let b), .int(let a)): return Double(a) == b
        case (.string(let a), .string(let b)): return a == b
        case (.array(let a), .array(let b)): return a == b
        case (.object(let a), .object(let b)): return a == b
        default: return false
        }
    }

    /// Consistent with `==`: integers hash as the equal `Double`.
    public func hash(into hasher: inout Hasher) {
        switch self {
        case .null: hasher.combine(0)
        case .bool(let b): hasher.combine(b)
        case .int(let i): hasher.combine(Double(i))
        case .double(let d): hasher.combine(d)
        case .string(let s): hasher.combine(s)
        case .array(let a): hasher.combine(a)
        case .object(let o): hasher.combine(o)
        }
    }
}

/// An ordered JSON object. Lookups are linear: objects in webhooks, flows and config are small.
public struct JSONObject: Sendable, Equatable, Hashable, ExpressibleByDictionaryLiteral {
    /// The members in document order (the parser rejects duplicate keys; the subscript keeps them unique).
    public private(set) var members: [(key: String, value: JSONValue)]

    /// An empty object.
    public init() { members = [] }
    /// An object from members in order; the caller keeps keys unique.
    public init(_ members: [(key: String, value: JSONValue)]) { self.members = members }
    /// `["a": 1, "b": 2]` in that order.
    public init(dictionaryLiteral elements: (String, JSONValue)...) {
        members = elements.map { (key: $0.0, value: $0.1) }
    }

    /// The value under `key`; setting `nil` removes it, setting a new key appends it.
    public subscript(key: String) -> JSONValue? {
        get { members.first(where: { $0.key == key })?.value }
        set {
            if let index = members.firstIndex(where: { $0.key == key }) {
                if let newValue { members[index].value = newValue } else { members.remove(at: index) }
            } else if let newValue {
                members.append((key: key, value: newValue))
            }
        }
    }

    /// The keys in order.
    public var keys: [String] { members.map(\.key) }
    /// Whether there are no members.
    public var isEmpty: Bool { members.isEmpty }
    /// How many members there are.
    public var count: Int { members.count }

    /// Same members in the same order: order is part of an object here (menu choices, conditions).
    public static func == (lhs: JSONObject, rhs: JSONObject) -> Bool {
        lhs.members.count == rhs.members.count
            && zip(lhs.members, rhs.members).allSatisfy { $0.key == $1.key && $0.value == $1.value }
    }

    /// Consistent with `==`: order matters.
    public func hash(into hasher: inout Hasher) {
        hasher.combine(members.count)
        for member in members {
            hasher.combine(member.key)
            hasher.combine(member.value)
        }
    }
}

extension JSONValue: ExpressibleByStringLiteral, ExpressibleByIntegerLiteral, ExpressibleByBooleanLiteral,
    ExpressibleByArrayLiteral, ExpressibleByDictionaryLiteral, ExpressibleByNilLiteral, ExpressibleByFloatLiteral
{
    /// `"text"`.
    public init(stringLiteral value: String) { self = .string(value) }
    /// `42`.
    public init(integerLiteral value: Int) { self = .int(value) }
    /// `1.5`.
    public init(floatLiteral value: Double) { self = .double(value) }
    /// `true`.
    public init(booleanLiteral value: Bool) { self = .bool(value) }
    /// `[1, "a"]`.
    public init(arrayLiteral elements: JSONValue...) { self = .array(elements) }
    /// `["key": value]`, members in literal order.
    public init(dictionaryLiteral elements: (String, JSONValue)...) {
        self = .object(JSONObject(elements.map { (key: $0.0, value: $0.1) }))
    }
    /// `nil`: JSON `null`.
    public init(nilLiteral: ()) { self = .null }
}

extension JSONValue {
    /// The member `key` of an object; `nil` for a missing key or a value that is not an object.
    public subscript(key: String) -> JSONValue? {
        if case .object(let object) = self { return object[key] }
        return nil
    }

    /// The string, if this is one.
    public var stringValue: String? {
        if case .string(let s) = self { return s }
        return nil
    }

    /// The object, if this is one.
    public var objectValue: JSONObject? {
        if case .object(let o) = self { return o }
        return nil
    }

    /// The elements, if this is an array.
    public var arrayValue: [JSONValue]? {
        if case .array(let a) = self { return a }
        return nil
    }

    /// The boolean, if this is one (no truthiness: `"true"` and `1` are not).
    public var boolValue: Bool? {
        if case .bool(let b) = self { return b }
        return nil
    }

    /// An integer, also from a double literal with no fractional part (`30.0`).
    public var intValue: Int? {
        switch self {
        case .int(let i): return i
        case .double(let d) where d.rounded() == d && abs(d) < 9.0e15: return Int(d)
        default: return nil
        }
    }

    /// Any number as a `Double`.
    public var doubleValue: Double? {
        switch self {
        case .int(let i): return Double(i)
        case .double(let d): return d
        default: return nil
        }
    }

    /// Whether this is JSON `null` (a missing member is `nil`, not `.null`).
    public var isNull: Bool { self == .null }

    /// The JSON type name, for error messages ("expected string, found number").
    public var typeName: String {
        switch self {
        case .null: return "null"
        case .bool: return "boolean"
        case .int, .double: return "number"
        case .string: return "string"
        case .array: return "array"
        case .object: return "object"
        }
    }

    /// Follows a dotted path (`crm.tier`, `items.0.name`) into nested objects and arrays.
    public func lookup(path: some Collection<Substring>) -> JSONValue? {
        var current = self
        for part in path {
            switch current {
            case .object(let object):
                guard let next = object[String(part)] else { return nil }
                current = next
            case .array(let array):
                guard let index = Int(part), array.indices.contains(index) else { return nil }
                current = array[index]
            default:
                return nil
            }
        }
        return current
    }
}
