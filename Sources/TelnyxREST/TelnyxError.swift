import CallflowCore

/// A Telnyx API error body: `{"errors":[{"code":"90018","title":...,"detail":...}]}`.
public struct TelnyxError: Sendable, Equatable, CustomStringConvertible {
    public var code: String?
    public var title: String?
    public var detail: String?
    /// `source.pointer`: the field a 422 is about.
    public var source: String? = nil

    /// Parses every error of a body; empty when the body is not Telnyx's shape.
    public static func parse(_ body: [UInt8]) -> [TelnyxError] {
        guard let root = try? JSONParser.parse(body), let list = root["errors"]?.arrayValue else { return [] }
        return list.map { e in
            // `code` is documented as a string; tolerate a number.
            let code = e["code"]?.stringValue ?? e["code"]?.intValue.map(String.init)
            let pointer = e["source"]?["pointer"]?.stringValue.map { $0.hasPrefix("/") ? String($0.dropFirst()) : $0 }
            return TelnyxError(code: code, title: e["title"]?.stringValue, detail: e["detail"]?.stringValue, source: pointer)
        }
    }

    public var description: String {
        [code.map { "[\($0)]" }, title, detail].compactMap { $0 }.joined(separator: " ")
    }

    /// 90018: the call has already ended.
    public var callAlreadyEnded: Bool { code == "90018" }
}

/// Why a command was given up on.
public struct CommandFailure: Error, Sendable, Equatable, CustomStringConvertible {
    public var status: Int?
    public var errors: [TelnyxError]
    public var reason: String
    public var attempts: Int

    public init(status: Int?, errors: [TelnyxError], reason: String, attempts: Int) {
        self.status = status
        self.errors = errors
        self.reason = reason
        self.attempts = attempts
    }

    public var callGone: Bool { errors.contains(where: \.callAlreadyEnded) }

    public var description: String {
        var parts = [reason]
        if let status { parts.append("HTTP \(status)") }
        if !errors.isEmpty { parts.append(errors.map(\.description).joined(separator: "; ")) }
        parts.append("after \(attempts) attempt\(attempts == 1 ? "" : "s")")
        return parts.joined(separator: ", ")
    }
}
