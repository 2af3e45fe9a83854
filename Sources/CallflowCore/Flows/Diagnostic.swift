/// One problem `callflow check` reports, as `file: /json/pointer: message`.
public struct Diagnostic: Sendable, Equatable, Hashable, CustomStringConvertible {
    /// Errors stop a flow from loading (`check` exits 1); warnings do not (unless `--strict`).
    public enum Severity: String, Sendable, Hashable {
        /// `error` stops the flow from loading; `warning` is reported and the flow still runs.
        case error, warning
    }
    /// Whether the problem stops the flow from loading.
    public var severity: Severity
    /// The file as the user named it (`flows/main.json`).
    public var file: String
    /// RFC 6901 pointer to the value at fault (`/nodes/menu/timeout_ms`); empty: the whole file.
    public var pointer: String
    /// What is wrong, and where it can say so, how to fix it.
    public var message: String

    /// Memberwise.
    public init(_ severity: Severity, file: String, pointer: String, _ message: String) {
        self.severity = severity
        self.file = file
        self.pointer = pointer
        self.message = message
    }

    /// `file: /pointer: message`, with `warning: ` before a warning's message.
    public var description: String {
        "\(file): \(pointer.isEmpty ? "/" : pointer): \(severity == .warning ? "warning: " : "")\(message)"
    }
}
