/// What the catalog generated from the SDK's command schemas does not say, but the engine needs.
extension CommandCatalog {
    /// Actions the SDK-derived index leaves out. `bridge` is in Telnyx's OpenAPI spec
    /// (`BridgeRequest`) but not among the SDK's call command schemas.
    public static let extra: [String: Action] = [
        "bridge": Action(
            path: "/calls/{call_control_id}/actions/bridge",
            params: [
                "call_control_id", "client_state", "command_id", "hold_after_unbridge", "mute_dtmf", "park_after_unbridge",
                "play_ringtone", "prevent_double_bridge", "queue", "record", "record_channels", "record_custom_file_name",
                "record_format", "record_max_length", "record_timeout_secs", "record_track", "record_trim", "ringtone",
                "video_room_context", "video_room_id",
            ],
            required: ["call_control_id"])
    ]

    /// Body fields the engine writes on every command it sends (the step tag and the idempotency
    /// key), so a flow may not set them.
    public static let engineOwned: Set<String> = ["client_state", "command_id"]

    /// Whether `action`'s body takes `field` (`siprec_start` has no `command_id`,
    /// `switch_supervisor_role` neither `command_id` nor `client_state`): Telnyx refuses a body
    /// with fields its schema does not list.
    ///
    /// Runs for every command sent, so it names the three exceptions instead of hashing into the
    /// catalog; `EngineCommandsTests` holds it to the catalog for every action.
    public static func takes(_ action: String, _ field: String) -> Bool {
        switch action {
        case "siprec_start", "client_state_update": return field != "command_id"
        case "switch_supervisor_role": return field != "command_id" && field != "client_state"
        // The Conference API's request schemas: create and join take both, leave and speak a
        // command_id only, the others neither.
        case "conference_create", "conference_join": return true
        case "conference_update": return field == "command_id"
        case "conference_leave", "conference_speak": return field == "command_id"
        case "conference_mute", "conference_unmute", "conference_hold", "conference_unhold", "conference_play": return false
        default: return true
        }
    }

    /// The HTTP method of `action` (`client_state_update` is a PUT), without a catalog lookup.
    public static func method(_ action: String) -> String { action == "client_state_update" ? "PUT" : "POST" }
}
