/// What Callflow puts in `client_state`: which call and step a command belongs to. Telnyx echoes
/// it on the webhooks that follow, which is how a late event from a step the call already left is
/// recognised as stale, and how a transfer or dial target's events find their parent call.
public struct StepTag: Sendable, Equatable {
    /// The call's `CallState.step` when the command was issued: an event echoing an older one is stale.
    public var step: Int
    /// Set on legs we created (transfer targets, `connect` dials): the call whose flow owns them.
    public var parent: String?
    /// Set on outbound calls placed through the control API: finds the flow to start even when
    /// the call's first webhooks arrive before Telnyx's answer to the dial.
    public var dial: String?
    /// Set on a `ring_group`'s agent legs: the agent's index in the run (`RingProgress.agents`),
    /// so each leg's events find their agent even before Telnyx has named the leg.
    public var agent: Int?
    /// Set on a leg a `conference` invited: joined to the call's conference when it answers.
    public var invite: Bool = false

    /// Memberwise.
    public init(step: Int, parent: String? = nil, dial: String? = nil, agent: Int? = nil, invite: Bool = false) {
        self.step = step
        self.parent = parent
        self.dial = dial
        self.agent = agent
        self.invite = invite
    }

    /// The `client_state` to send: base64 of `{"cf":1,"step":...}` (with `parent` and `dial` when set).
    public var encoded: String {
        var object: JSONObject = ["cf": 1, "step": .int(step)]
        if let parent { object["parent"] = .string(parent) }
        if let dial { object["dial"] = .string(dial) }
        if let agent { object["agent"] = .int(agent) }
        if invite { object["invite"] = true }
        return Base64Text.encode(JSONValue.object(object).jsonBytes)
    }

    /// `nil` for client_state that Callflow did not write (another app's, or garbage).
    public init?(clientState: String?) {
        guard let clientState, let bytes = Base64Text.decode(clientState), let value = try? JSONParser.parse(bytes),
            value["cf"]?.intValue == 1, let step = value["step"]?.intValue
        else { return nil }
        self.step = step
        self.parent = value["parent"]?.stringValue
        self.dial = value["dial"]?.stringValue
        self.agent = value["agent"]?.intValue
        self.invite = value["invite"]?.boolValue ?? false
    }
}
