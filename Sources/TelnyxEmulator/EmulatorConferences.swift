import CallflowCore

/// Telnyx's Conference API as the emulator plays it: `POST /conferences` (the calling leg is the
/// first participant), `/conferences/{id}/actions/join|leave|mute|unmute|hold|unhold|speak|play`,
/// and the webhooks `conference.created`, `conference.participant.joined`/`left` and
/// `conference.ended` (with the creating leg's call_control_id), sent as Telnyx documents them.
extension EmulatorModel {
    struct Conference: Sendable, Equatable {
        var id: String
        var name: String
        var creator: String
        var participants: [String] = []
        /// Participants that end the conference when they leave (`end_conference_on_exit`).
        var endOnExit: Set<String> = []
        var ended = false
    }

    /// Fields each request takes (the OpenAPI spec's `*ConferenceRequest` schemas), and those it requires.
    static let conferenceFields: [String: (all: Set<String>, required: [String])] = [
        "conference_create": (
            [
                "beep_enabled", "call_control_id", "client_state", "comfort_noise", "command_id", "duration_minutes", "hold_audio_url",
                "hold_media_name", "max_participants", "name", "region", "start_conference_on_create",
            ], ["call_control_id", "name"]
        ),
        "conference_join": (
            [
                "beep_enabled", "call_control_id", "client_state", "command_id", "end_conference_on_exit", "hold", "hold_audio_url",
                "hold_media_name", "mute", "region", "soft_end_conference_on_exit", "start_conference_on_enter", "supervisor_role",
                "whisper_call_control_ids",
            ], ["call_control_id"]
        ),
        "conference_leave": (["beep_enabled", "call_control_id", "command_id", "region"], ["call_control_id"]),
        "conference_mute": (["call_control_ids", "region"], []),
        "conference_unmute": (["call_control_ids", "region"], []),
        "conference_hold": (["audio_url", "call_control_ids", "media_name", "region"], []),
        "conference_unhold": (["call_control_ids", "region"], []),
        "conference_speak": (
            ["call_control_ids", "command_id", "language", "payload", "payload_type", "region", "voice", "voice_settings"], ["payload", "voice"]
        ),
        "conference_play": (["audio_url", "call_control_ids", "loop", "media_name", "region"], []),
        "conference_update": (
            ["call_control_id", "command_id", "region", "supervisor_role", "whisper_call_control_ids"], ["call_control_id", "supervisor_role"]
        ),
    ]

    /// One Conference API request: `action` is `conference_<verb>`, `id` the path's conference.
    public mutating func conferenceCommand(_ action: String, conference id: String?, body: JSONObject) -> (Reply, [Emission]) {
        guard let fields = Self.conferenceFields[action] else {
            return (.error(status: 404, code: "404", title: "Not found", detail: "no conference action \(action)"), [])
        }
        if let extra = body.keys.first(where: { !fields.all.contains($0) }) {
            return (.error(status: 422, code: "10015", title: "Invalid parameter", detail: "\(action) does not take \(extra)"), [])
        }
        if let missing = fields.required.first(where: { body[$0] == nil }) {
            return (.error(status: 422, code: "10015", title: "Invalid parameter", detail: "\(action) requires \(missing)"), [])
        }
        let leg = body["call_control_id"]?.stringValue
        if let leg, legs[leg].map({ $0.ended }) ?? true {
            return (
                .error(
                    status: 422, code: "90018", title: "Call has already ended", detail: "This call is no longer active and can't receive commands."),
                []
            )
        }
        if action == "conference_create" {
            guard let leg, let name = body["name"]?.stringValue else {
                return (.error(status: 422, code: "10015", title: "Invalid parameter", detail: "name"), [])
            }
            let cid = nextID("conf")
            var conf = Conference(id: cid, name: name, creator: leg)
            conf.participants = [leg]
            conferences[cid] = conf
            let state = body["client_state"]?.stringValue
            return (
                .ok(["id": .string(cid), "name": .string(name), "record_type": "conference", "status": "init"]),
                [
                    webhook("conference.created", leg, after: 20, ["conference_id": .string(cid)], clientState: .some(state)),
                    webhook("conference.participant.joined", leg, after: 40, ["conference_id": .string(cid)], clientState: .some(state)),
                ] + listens(leg, after: 500)
            )
        }
        guard let id, var conf = conferences[id], !conf.ended else {
            return (.error(status: 422, code: "10005", title: "Conference not found", detail: "no active conference \(id ?? "")"), [])
        }
        switch action {
        case "conference_join":
            guard let leg else { return (.ok(["result": "ok"]), []) }
            if !conf.participants.contains(leg) { conf.participants.append(leg) }
            if body["end_conference_on_exit"]?.boolValue == true { conf.endOnExit.insert(leg) }
            conferences[id] = conf
            let state = body["client_state"]?.stringValue ?? legs[leg]?.clientState
            return (
                .ok(["result": "ok"]),
                [webhook("conference.participant.joined", leg, after: 30, ["conference_id": .string(id)], clientState: .some(state))]
            )
        case "conference_leave":
            guard let leg else { return (.ok(["result": "ok"]), []) }
            return (.ok(["result": "ok"]), participantLeaves(leg, conference: id, after: 20))
        default:
            return (.ok(["result": "ok"]), [])  // mute, hold, speak, play: no webhook of their own here
        }
    }

    /// The scripted caller in a conference presses its next keys (the conference's `keys`), as it
    /// does during a prompt that loops: a token it answers with `scriptedInput`.
    mutating func listens(_ leg: String, after: Int) -> [Emission] {
        guard legs[leg]?.scripted == true else { return [] }
        let token = nextToken()
        conferenceInputs[leg] = token
        return [.needInput(delayMs: after, leg: leg, token: token, prompt: "[conference]")]
    }

    /// `leg` leaves conference `id` (it left or hung up): `conference.participant.left`, and the
    /// conference ends when the leg had `end_conference_on_exit` or was the last one.
    mutating func participantLeaves(_ leg: String, conference id: String, after: Int) -> [Emission] {
        guard var conf = conferences[id], !conf.ended, conf.participants.contains(leg) else { return [] }
        conf.participants.removeAll { $0 == leg }
        conferenceInputs[leg] = nil
        var out = [webhook("conference.participant.left", leg, after: after, ["conference_id": .string(id)])]
        if conf.endOnExit.contains(leg) || conf.participants.isEmpty {
            for other in conf.participants {
                out.append(webhook("conference.participant.left", other, after: after + 10, ["conference_id": .string(id)]))
            }
            conf.participants = []
            conf.ended = true
            out.append(webhook("conference.ended", conf.creator, after: after + 20, ["conference_id": .string(id), "reason": "all_left"]))
        }
        conferences[id] = conf
        return out
    }

    /// A hung-up leg leaves every conference it is in.
    mutating func leaveConferences(_ leg: String, after: Int) -> [Emission] {
        conferences.values.filter { $0.participants.contains(leg) }.map(\.id).sorted().flatMap {
            participantLeaves(leg, conference: $0, after: after)
        }
    }
}
