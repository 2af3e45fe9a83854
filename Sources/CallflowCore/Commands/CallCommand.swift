/// One request to the Telnyx Call Control API, as data. The machine produces these; the shell's
/// client sends them (in order per call, retried with the same `command_id`).
public struct CallCommand: Sendable, Equatable, CustomStringConvertible {
    /// The leg the action applies to; for `dial` the leg on whose behalf we dial.
    public var callControlID: String
    /// `answer`, `speak`, ..., or `dial` (`POST /calls`).
    public var action: String
    /// The JSON body, including `client_state` and `command_id`.
    public var body: JSONObject
    /// The machine waits for the response (`save_as` on a node with no event to wait for): the
    /// shell feeds its data back as `MachineInput.commandSucceeded`.
    public var reportsResult: Bool
    /// The conference a `conference_*` action applies to (`/conferences/{id}/actions/...`);
    /// `callControlID` is then the call the command belongs to.
    public var conference: String? = nil

    /// A command for `callControlID`; `body` already carries its `client_state` and `command_id`.
    public init(callControlID: String, action: String, body: JSONObject, reportsResult: Bool = false) {
        self.callControlID = callControlID
        self.action = action
        self.body = body
        self.reportsResult = reportsResult
    }

    /// An outbound call for pending dial `token` (`POST /calls`): its client_state names the token, so
    /// the call's first webhook finds the flow to start, and its command_id is derived from it, so a
    /// re-send after a restart is the same dial. What the control API and a booked callback send.
    public static func outboundDial(
        token: String, to: String, from: String, connectionID: String, machineDetection: String = "disabled"
    )
        -> CallCommand
    {
        var body: JSONObject = [
            "to": .string(to), "from": .string(from), "connection_id": .string(connectionID),
            "client_state": .string(StepTag(step: 0, dial: token).encoded), "command_id": .string("cf-dial-\(token)"),
        ]
        if machineDetection != "disabled" { body["answering_machine_detection"] = .string(machineDetection) }
        return CallCommand(callControlID: "dial:\(token)", action: "dial", body: body)
    }

    /// The idempotency key Telnyx deduplicates by; deterministic per call step, so a retry or a re-send after a restart is recognised.
    public var commandID: String? { body["command_id"]?.stringValue }

    /// The call whose machine hears about this command: a command for a dialed or transferred
    /// leg belongs to the call that created it (the parent in its client_state).
    public var owningCall: String { StepTag(clientState: body["client_state"]?.stringValue)?.parent ?? callControlID }

    /// The call step a Callflow `command_id` (`cf-<call hash>-<step>-<seq>`, see `Run.commandID`)
    /// belongs to; `nil` for any other id.
    public static func step(ofCommandID id: String) -> Int? {
        let parts = id.split(separator: "-")
        guard parts.count == 4, parts[0] == "cf" else { return nil }
        return Int(parts[2])
    }

    /// The call step this command was issued at (from its `command_id`), `nil` for a foreign id.
    public var step: Int? { commandID.flatMap(Self.step(ofCommandID:)) }

    /// The HTTP method Telnyx's spec gives the action (`client_state_update` is a PUT).
    public var method: String { CommandCatalog.method(action) }

    /// Whether anyone reads Telnyx's answer: a command that reports its result to the machine, and
    /// a dial, whose answer names the new leg. The client parses no other answer (5k instructions
    /// a command that nobody would look at).
    public var answerIsRead: Bool { reportsResult || action == "dial" }

    /// Path under the API base URL.
    public var path: String {
        if action == "dial" { return "/calls" }
        if action == Self.conferenceCreate { return "/conferences" }
        if action.hasPrefix(Self.conferencePrefix) {
            return "/conferences/\(PathEscape.segment(conference ?? ""))/actions/\(action.dropFirst(Self.conferencePrefix.count))"
        }
        return "/calls/\(PathEscape.segment(callControlID))/actions/\(action)"
    }

    /// Conference API actions are named `conference_<verb>` in the machine (`conference_join`:
    /// `POST /conferences/{id}/actions/join`); creating one is `conference_create` (`POST /conferences`).
    public static let conferencePrefix = "conference_"
    /// `POST /conferences`.
    public static let conferenceCreate = "conference_create"

    /// `action` and the body with secrets redacted: safe for logs and traces.
    public var description: String { "\(action) \(body.jsonStringRedacted)" }
}

extension JSONObject {
    /// The body as JSON for logs and traces (no secrets live in command bodies).
    public var jsonStringRedacted: String { JSONValue.object(self).jsonString }
}

/// Percent-encoding for one URL path segment (call control ids contain `:`) or one query-string
/// name or value: the one escaper of the binary (the Telnyx client's paths and the account
/// commands' queries).
public enum PathEscape {
    /// Keeps RFC 3986 unreserved characters and `:`; with `keepingBrackets`, `[` and `]` too, so a
    /// query reads `page[number]=2` as Telnyx documents it rather than `page%5Bnumber%5D=2`.
    public static func segment(_ s: String, keepingBrackets: Bool = false) -> String {
        // Call control ids are nearly always unreserved characters only: return them as they are.
        guard s.utf8.contains(where: { !isKept($0, keepingBrackets) }) else { return s }
        let hex = Array("0123456789ABCDEF".utf8)
        var out: [UInt8] = []
        out.reserveCapacity(s.utf8.count + 16)
        for b in s.utf8 {
            if isKept(b, keepingBrackets) {
                out.append(b)
            } else {
                out += [UInt8(ascii: "%"), hex[Int(b >> 4)], hex[Int(b & 15)]]
            }
        }
        return String(decoding: out, as: UTF8.self)
    }

    static func isKept(_ b: UInt8, _ keepingBrackets: Bool) -> Bool {
        isUnreserved(b) || (keepingBrackets && (b == UInt8(ascii: "[") || b == UInt8(ascii: "]")))
    }

    /// RFC 3986 unreserved characters, plus ":" (allowed in a path segment; Telnyx ids hold it).
    static func isUnreserved(_ b: UInt8) -> Bool {
        switch b {
        case UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "A")...UInt8(ascii: "Z"), UInt8(ascii: "0")...UInt8(ascii: "9"),
            UInt8(ascii: "-"), UInt8(ascii: "_"), UInt8(ascii: "."), UInt8(ascii: "~"), UInt8(ascii: ":"):
            return true
        default:
            return false
        }
    }
}
