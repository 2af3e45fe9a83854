/// Why a document is not JSON, with the place it went wrong.
public struct JSONParseError: Error, Sendable, Equatable, CustomStringConvertible {
    /// 1-based line of the offending byte.
    public let line: Int
    /// 1-based column (in bytes) of the offending byte.
    public let column: Int
    /// What is wrong there, in words a flow author can act on ("expected ',' or '}'").
    public let message: String

    /// `invalid JSON at line:column: message`, the form `check` prints.
    public var description: String { "invalid JSON at \(line):\(column): \(message)" }
}

/// Where each value of a parsed document starts, by JSON pointer (`/nodes/menu/choices/1`).
/// Recorded only when asked for: diagnostics need it, webhooks do not.
public struct JSONSourceMap: Sendable {
    /// Start of each value, 1-based, keyed by JSON pointer.
    public var positions: [String: (line: Int, column: Int)] = [:]
    /// An empty map; pass it to `parse(_:sourceMap:)` to have it filled.
    public init() {}
    /// Where the value at `pointer` starts; `nil` for a pointer the document does not have.
    public func position(of pointer: String) -> (line: Int, column: Int)? { positions[pointer] }
}

/// A strict RFC 8259 parser over raw bytes: never traps on any input, limits nesting depth,
/// rejects duplicate keys, invalid UTF-8, lone surrogates and trailing garbage.
public struct JSONParser {
    /// Arrays and objects nested deeper are refused, so a hostile body cannot exhaust the stack.
    public static let maximumDepth = 128

    /// Parses a whole document (without recording positions).
    public static func parse(_ bytes: some Collection<UInt8>) throws(JSONParseError) -> JSONValue {
        var map: JSONSourceMap? = nil
        return try parse(bytes, sourceMap: &map)
    }

    /// Parses a document held as a string (its UTF-8).
    public static func parse(_ text: String) throws(JSONParseError) -> JSONValue {
        try parse(Array(text.utf8))
    }

    /// Parses a document and, when `sourceMap` is non-nil, records where each value starts (scenario and mock files report line:column with every problem).
    public static func parse(
        _ bytes: some Collection<UInt8>, sourceMap: inout JSONSourceMap?
    ) throws(JSONParseError) -> JSONValue {
        let result: Result<JSONValue, JSONParseError> =
            bytes.withContiguousStorageIfAvailable { buffer in
                var parser = Parser(buffer: buffer, recordPositions: sourceMap != nil)
                let r = parser.document()
                if sourceMap != nil { sourceMap?.positions = parser.positions }
                return r
            }
            ?? {
                let copy = Array(bytes)
                return copy.withUnsafeBufferPointer { buffer in
                    var parser = Parser(buffer: buffer, recordPositions: sourceMap != nil)
                    let r = parser.document()
                    if sourceMap != nil { sourceMap?.positions = parser.positions }
                    return r
                }
            }()
        return try result.get()
    }

    /// Parses bytes in place, without a copy: how a webhook body is read straight from the server's buffer.
    public static func parse(
        _ raw: UnsafeRawBufferPointer
    ) throws(JSONParseError) -> JSONValue {
        let buffer = raw.bindMemory(to: UInt8.self)
        var parser = Parser(buffer: buffer, recordPositions: false)
        return try parser.document().get()
    }
}

private struct Parser {
    let buffer: UnsafeBufferPointer<UInt8>
    var index = 0
    let recordPositions: Bool
    var positions: [String: (line: Int, column: Int)] = [:]
    var pointer: [String] = []
    /// Members of the objects being parsed, innermost last (see `parseObject`).
    var pending: [(key: String, value: JSONValue)] = []

    init(buffer: UnsafeBufferPointer<UInt8>, recordPositions: Bool) {
        self.buffer = buffer
        self.recordPositions = recordPositions
        pending.reserveCapacity(32)
    }

    mutating func document() -> Result<JSONValue, JSONParseError> {
        do {
            skipWhitespace()
            let value = try parseValue(depth: 0)
            skipWhitespace()
            if index < buffer.count { throw error("unexpected data after the JSON value") }
            return .success(value)
        } catch let e as JSONParseError {
            return .failure(e)
        } catch {
            return .failure(JSONParseError(line: 1, column: 1, message: "\(error)"))
        }
    }

    func location(of offset: Int) -> (line: Int, column: Int) {
        var line = 1
        var lineStart = 0
        var i = 0
        let end = min(offset, buffer.count)
        while i < end {
            if buffer[i] == UInt8(ascii: "\n") {
                line += 1
                lineStart = i + 1
            }
            i += 1
        }
        return (line, offset - lineStart + 1)
    }

    func error(_ message: String, at offset: Int? = nil) -> JSONParseError {
        let (line, column) = location(of: offset ?? index)
        return JSONParseError(line: line, column: column, message: message)
    }

    mutating func skipWhitespace() {
        while index < buffer.count {
            switch buffer[index] {
            case 0x20, 0x0A, 0x0D, 0x09: index += 1
            default: return
            }
        }
    }

    func describeCurrent() -> String {
        guard index < buffer.count else { return "end of input" }
        let byte = buffer[index]
        if byte >= 0x20 && byte < 0x7F { return "'\(Character(Unicode.Scalar(byte)))'" }
        return "byte 0x\(String(byte, radix: 16))"
    }

    mutating func parseValue(depth: Int) throws -> JSONValue {
        guard depth <= JSONParser.maximumDepth else {
            throw error("nesting deeper than \(JSONParser.maximumDepth) levels")
        }
        if recordPositions {
            positions[pointerString()] = location(of: index)
        }
        guard index < buffer.count else { throw error("unexpected end of input, expected a value") }
        switch buffer[index] {
        case UInt8(ascii: "{"): return try parseObject(depth: depth)
        case UInt8(ascii: "["): return try parseArray(depth: depth)
        case UInt8(ascii: "\""): return .string(try parseString())
        case UInt8(ascii: "t"): try expectLiteral("true"); return .bool(true)
        case UInt8(ascii: "f"): try expectLiteral("false"); return .bool(false)
        case UInt8(ascii: "n"): try expectLiteral("null"); return .null
        case UInt8(ascii: "-"), UInt8(ascii: "0")...UInt8(ascii: "9"): return try parseNumber()
        default: throw error("unexpected \(describeCurrent()), expected a value")
        }
    }

    func pointerString() -> String {
        JSONPointer.string(pointer)
    }

    mutating func expectLiteral(_ literal: StaticString) throws {
        let start = index
        let count = literal.utf8CodeUnitCount
        guard buffer.count - index >= count else { throw error("invalid literal", at: start) }
        let matches = literal.withUTF8Buffer { lit in
            (0..<count).allSatisfy { buffer[index + $0] == lit[$0] }
        }
        guard matches else { throw error("invalid literal, expected \(literal)", at: start) }
        index += count
    }

    static let linearKeyCheckLimit = 16

    /// Members are gathered on `pending`, a stack shared by every object of the document (a nested
    /// object works above its parent's members and removes its own when done), and each object
    /// gets one array of exactly its size. Appending to a fresh array per object regrew it at 1,
    /// 2, 4, 8, ... members: the largest source of allocations in a webhook's decode.
    mutating func parseObject(depth: Int) throws -> JSONValue {
        index += 1  // {
        let base = pending.count
        defer { pending.removeSubrange(base...) }
        // Duplicate keys: a linear look through the members found so far for the small objects
        // webhooks and call state are made of; a set only once an object grows past that.
        var seen: Set<String>? = nil
        skipWhitespace()
        if index < buffer.count && buffer[index] == UInt8(ascii: "}") {
            index += 1
            return .object(JSONObject())
        }
        while true {
            skipWhitespace()
            guard index < buffer.count, buffer[index] == UInt8(ascii: "\"") else {
                throw error("unexpected \(describeCurrent()), expected a string key")
            }
            let keyStart = index
            let key = try parseString()
            let count = pending.count - base
            let duplicate: Bool
            if seen != nil {
                duplicate = seen?.insert(key).inserted == false
            } else {
                duplicate = pending[base...].contains { $0.key == key }
                if count + 1 == Self.linearKeyCheckLimit { seen = Set(pending[base...].map(\.key) + [key]) }
            }
            guard !duplicate else { throw error("duplicate key \"\(key)\"", at: keyStart) }
            skipWhitespace()
            guard index < buffer.count, buffer[index] == UInt8(ascii: ":") else {
                throw error("unexpected \(describeCurrent()), expected ':'")
            }
            index += 1
            skipWhitespace()
            if recordPositions { pointer.append(key) }
            let value = try parseValue(depth: depth + 1)
            if recordPositions { pointer.removeLast() }
            pending.append((key: key, value: value))
            skipWhitespace()
            guard index < buffer.count else { throw error("unexpected end of input, expected ',' or '}'") }
            if buffer[index] == UInt8(ascii: ",") {
                index += 1
                continue
            }
            if buffer[index] == UInt8(ascii: "}") {
                index += 1
                return .object(JSONObject(Array(pending[base...])))
            }
            throw error("unexpected \(describeCurrent()), expected ',' or '}'")
        }
    }

    mutating func parseArray(depth: Int) throws -> JSONValue {
        index += 1  // [
        var elements: [JSONValue] = []
        skipWhitespace()
        if index < buffer.count && buffer[index] == UInt8(ascii: "]") {
            index += 1
            return .array(elements)
        }
        while true {
            skipWhitespace()
            if recordPositions { pointer.append(String(elements.count)) }
            elements.append(try parseValue(depth: depth + 1))
            if recordPositions { pointer.removeLast() }
            skipWhitespace()
            guard index < buffer.count else { throw error("unexpected end of input, expected ',' or ']'") }
            if buffer[index] == UInt8(ascii: ",") {
                index += 1
                continue
            }
            if buffer[index] == UInt8(ascii: "]") {
                index += 1
                return .array(elements)
            }
            throw error("unexpected \(describeCurrent()), expected ',' or ']'")
        }
    }

    mutating func parseNumber() throws -> JSONValue {
        let start = index
        var isInteger = true
        if buffer[index] == UInt8(ascii: "-") { index += 1 }
        guard index < buffer.count, isDigit(buffer[index]) else { throw error("invalid number", at: start) }
        if buffer[index] == UInt8(ascii: "0") {
            index += 1
            if index < buffer.count, isDigit(buffer[index]) { throw error("leading zero in number", at: start) }
        } else {
            while index < buffer.count, isDigit(buffer[index]) { index += 1 }
        }
        if index < buffer.count, buffer[index] == UInt8(ascii: ".") {
            isInteger = false
            index += 1
            guard index < buffer.count, isDigit(buffer[index]) else { throw error("invalid number", at: start) }
            while index < buffer.count, isDigit(buffer[index]) { index += 1 }
        }
        if index < buffer.count, buffer[index] == UInt8(ascii: "e") || buffer[index] == UInt8(ascii: "E") {
            isInteger = false
            index += 1
            if index < buffer.count, buffer[index] == UInt8(ascii: "+") || buffer[index] == UInt8(ascii: "-") {
                index += 1
            }
            guard index < buffer.count, isDigit(buffer[index]) else { throw error("invalid number", at: start) }
            while index < buffer.count, isDigit(buffer[index]) { index += 1 }
        }
        let text = String(decoding: UnsafeBufferPointer(rebasing: buffer[start..<index]), as: UTF8.self)
        if isInteger, let value = Int(text) { return .int(value) }
        guard let value = Double(text), value.isFinite else { throw error("number out of range", at: start) }
        return .double(value)
    }

    func isDigit(_ byte: UInt8) -> Bool { byte >= UInt8(ascii: "0") && byte <= UInt8(ascii: "9") }

    mutating func parseString() throws -> String {
        let start = index
        index += 1  // opening quote
        // Fast path: no escapes, ASCII or valid UTF-8 copied in one go.
        let contentStart = index
        var hasEscapes = false
        var hasNonASCII = false
        while index < buffer.count {
            let byte = buffer[index]
            if byte == UInt8(ascii: "\"") { break }
            if byte == UInt8(ascii: "\\") {
                hasEscapes = true
                index += 2
                continue
            }
            if byte < 0x20 { throw error("control character in string") }
            if byte >= 0x80 { hasNonASCII = true }
            index += 1
        }
        guard index < buffer.count else { throw error("unterminated string", at: start) }
        let contentEnd = index
        index += 1  // closing quote
        let raw = UnsafeBufferPointer(rebasing: buffer[contentStart..<contentEnd])
        if !hasEscapes {
            if hasNonASCII {
                guard let s = String(validating: raw, as: UTF8.self) else {
                    throw error("invalid UTF-8 in string", at: contentStart)
                }
                return s
            }
            return String(decoding: raw, as: UTF8.self)
        }
        return try unescape(raw, offset: contentStart)
    }

    func unescape(_ raw: UnsafeBufferPointer<UInt8>, offset: Int) throws -> String {
        var bytes: [UInt8] = []
        bytes.reserveCapacity(raw.count)
        var i = 0
        func hex4(_ at: Int) throws -> UInt32 {
            guard at + 4 <= raw.count else { throw error("invalid \\u escape", at: offset + at) }
            var value: UInt32 = 0
            for k in 0..<4 {
                let c = raw[at + k]
                let digit: UInt32
                switch c {
                case UInt8(ascii: "0")...UInt8(ascii: "9"): digit = UInt32(c - UInt8(ascii: "0"))
                case UInt8(ascii: "a")...UInt8(ascii: "f"): digit = UInt32(c - UInt8(ascii: "a") + 10)
                case UInt8(ascii: "A")...UInt8(ascii: "F"): digit = UInt32(c - UInt8(ascii: "A") + 10)
                default: throw error("invalid \\u escape", at: offset + at)
                }
                value = value << 4 | digit
            }
            return value
        }
        while i < raw.count {
            let byte = raw[i]
            guard byte == UInt8(ascii: "\\") else {
                bytes.append(byte)
                i += 1
                continue
            }
            guard i + 1 < raw.count else { throw error("invalid escape", at: offset + i) }
            let escaped = raw[i + 1]
            i += 2
            switch escaped {
            case UInt8(ascii: "\""): bytes.append(0x22)
            case UInt8(ascii: "\\"): bytes.append(0x5C)
            case UInt8(ascii: "/"): bytes.append(0x2F)
            case UInt8(ascii: "b"): bytes.append(0x08)
            case UInt8(ascii: "f"): bytes.append(0x0C)
            case UInt8(ascii: "n"): bytes.append(0x0A)
            case UInt8(ascii: "r"): bytes.append(0x0D)
            case UInt8(ascii: "t"): bytes.append(0x09)
            case UInt8(ascii: "u"):
                var scalar = try hex4(i)
                i += 4
                if scalar >= 0xD800 && scalar < 0xDC00 {
                    guard i + 6 <= raw.count, raw[i] == UInt8(ascii: "\\"), raw[i + 1] == UInt8(ascii: "u") else {
                        throw error("lone surrogate in \\u escape", at: offset + i)
                    }
                    let low = try hex4(i + 2)
                    guard low >= 0xDC00 && low < 0xE000 else {
                        throw error("lone surrogate in \\u escape", at: offset + i)
                    }
                    i += 6
                    scalar = 0x10000 + ((scalar - 0xD800) << 10) + (low - 0xDC00)
                } else if scalar >= 0xDC00 && scalar < 0xE000 {
                    throw error("lone surrogate in \\u escape", at: offset + i)
                }
                guard let unicode = Unicode.Scalar(scalar) else {
                    throw error("invalid \\u escape", at: offset + i)
                }
                bytes.append(contentsOf: Array(String(Character(unicode)).utf8))
            default:
                throw error("invalid escape '\\\(Character(Unicode.Scalar(escaped)))'", at: offset + i - 2)
            }
        }
        guard let s = String(validating: bytes, as: UTF8.self) else {
            throw error("invalid UTF-8 in string", at: offset)
        }
        return s
    }
}
