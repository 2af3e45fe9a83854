/// One problem `callflow check` reports, as `file: /json/pointer: message`.
public struct Diagnostic: Sendable, Equatable, Hashable, CustomStringConvertible {
    public enum Severity: String, Sendable, Hashable {
        case error, warning
    }
    public var severity: Severity
    public var file: String
    public var pointer: String
    public var message: String

    public init(_ severity: Severity, file: String, pointer: String, _ message: String) {
        self.severity = severity
        self.file = file
        self.pointer = pointer
        self.message = message
    }

    public var description: String {
        "\(file): \(pointer.isEmpty ? "/" : pointer): \(severity == .warning ? "warning: " : "")\(message)"
    }
}
