/// The fields each node type takes: what `callflow check` uses to flag unknown or misspelled
/// fields and missing required ones, and what `schema/flow.schema.json` mirrors.
public enum NodeFields {
    /// One node type's keys besides `type` and `description`.
    public struct Spec: Sendable {
        /// Keys the node must have.
        public var required: [String]
        /// Keys the node may have.
        public var optional: [String]
        /// Every key the node may have, `type` and `description` included.
        public var all: [String] { ["type", "description"] + required + optional }
    }

    /// Node type → keys, for the built-in node types (action nodes are in `allTypes`).
    public static let specs: [String: Spec] = [
        "answer": Spec(required: ["next"], optional: ["on_error"]),
        "say": Spec(required: ["text", "next"], optional: ["voice", "language", "ssml", "on_error", "keys"]),
        "play": Spec(required: ["next"], optional: ["url", "media", "on_error", "keys", "loop"]),
        "menu": Spec(
            required: ["prompt", "choices", "on_invalid", "on_no_input"],
            optional: ["timeout_ms", "max_attempts", "invalid", "no_input", "on_error", "speech", "min_confidence"]),
        "gather": Spec(
            required: ["min_digits", "max_digits", "save_as", "next", "on_invalid", "on_no_input"],
            optional: [
                "prompt", "terminator", "timeout_ms", "inter_digit_timeout_ms", "pattern",
                "max_attempts", "sensitive", "on_error",
            ]),
        "set": Spec(required: ["vars", "next"], optional: []),
        "switch": Spec(required: ["value", "cases", "default"], optional: []),
        "if": Spec(required: ["conditions", "else"], optional: []),
        "hours": Spec(required: ["timezone", "open", "on_open", "on_closed"], optional: ["closed_dates"]),
        "transfer": Spec(required: ["to", "on_failure"], optional: ["from", "timeout_secs"]),
        "connect": Spec(required: ["to", "from", "on_failure"], optional: ["timeout_secs", "whisper"]),
        "record": Spec(
            required: ["max_length_secs", "save_as", "next"],
            optional: ["prompt", "beep", "silence_timeout_secs", "format", "transcribe", "on_error"]),
        "http": Spec(
            required: ["method", "url"],
            optional: ["headers", "body", "timeout_ms", "save_as", "next", "on_status", "on_error"]),
        "ai_gather": Spec(
            required: ["parameters", "save_as", "next", "on_error"],
            optional: ["greeting", "voice"]),
        "machine_detection": Spec(required: ["on_human", "on_machine", "on_unknown"], optional: ["wait_for_beep"]),
        "command": Spec(required: ["action", "next"], optional: ["params", "wait_for", "timeout_ms", "on_timeout", "save_as", "on_error"]),
        "pause": Spec(required: ["seconds", "next"], optional: []),
        "split": Spec(required: ["branches"], optional: []),
        "subflow": Spec(required: ["flow", "next"], optional: ["inputs", "outputs"]),
        "return": Spec(required: [], optional: []),
        "goto": Spec(required: ["flow"], optional: ["node"]),
        "conference": Spec(
            required: ["next"],
            optional: [
                "action", "name", "role", "whisper_to", "beep", "hold", "wait_for_moderator", "end_on_exit", "max_participants", "who", "prompt",
                "keys", "invite", "on_error",
            ]),
        "callback": Spec(required: ["flow", "next"], optional: ["to", "from", "vars", "hours", "agents", "group", "expire_hours", "on_error"]),
        "queue": Spec(
            required: ["queue", "hold", "on_timeout", "on_full"],
            optional: ["max_wait_secs", "max_size", "announce", "leave", "ring", "retry_secs", "on_error"]),
        "ring_group": Spec(
            required: ["hold", "next", "on_no_answer"],
            optional: ["agents", "group", "strategy", "ring_secs", "from", "screen", "save_as", "on_error"]),
        "hangup": Spec(required: [], optional: []),
        "reject": Spec(required: ["cause"], optional: []),
    ]

    /// `specs` plus the named action nodes (their keys depend on the verb; the parser checks those).
    public static let allTypes: [String: Spec] = specs.merging(
        Capability.all.mapValues { Spec(required: ["next"], optional: $0.keys(nil).filter { $0 != "next" }) }, uniquingKeysWith: { a, _ in a })

    /// The keys of a flow file's top level.
    public static let topLevel = ["$schema", "description", "start", "defaults", "vars", "on_hangup", "nodes"]
    /// The keys of a prompt object (`{"say": ...}`, `{"play": ...}`, `{"media": ...}`).
    public static let promptKeys = ["say", "play", "media", "voice", "language", "ssml"]
    /// The keys of a `ring_group`'s `screen`.
    public static let screenKeys = ["prompt", "accept", "timeout_ms"]
    /// The keys of a `queue`'s `announce`.
    public static let announceKeys = ["every_secs", "prompt"]
    /// The keys of a `queue`'s `ring` (a ring group without its own hold audio and edges).
    public static let queueRingKeys = ["agents", "group", "strategy", "ring_secs", "from", "screen"]
    /// The keys of one `split` branch.
    public static let splitBranchKeys = ["weight", "next"]
    /// The keys of one `if` condition.
    public static let conditionKeys = ["value", "op", "to", "next"]
}
