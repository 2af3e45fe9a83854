/// The fields every call-control webhook carries about its call leg.
///
/// `clientState` is normalised: Telnyx sends `null` or `""` when unset, both become `nil`, so the
/// machine never mistakes an empty string for a step tag.
public struct CallLeg: Sendable, Equatable, Hashable {
    /// `call_control_id`: the id every command for this leg is sent to, and the call's key here.
    public var callControlID: String
    /// `call_leg_id`: Telnyx's id of the leg, stable across its events.
    public var callLegID: String?
    /// `call_session_id`: shared by the legs of one session (a caller and the leg dialed for them).
    public var callSessionID: String?
    /// `connection_id`: the Call Control Application the call came through (a `connect` dials with it).
    public var connectionID: String?
    /// `client_state` as Telnyx echoes it: base64 of a `StepTag` when Callflow wrote it, `nil` when unset.
    public var clientState: String?
    /// The caller's number.
    public var from: String?
    /// The number called.
    public var to: String?

    /// Memberwise; tests and the emulator build legs directly, with `clientState` already normalised.
    public init(
        callControlID: String, callLegID: String? = nil, callSessionID: String? = nil,
        connectionID: String? = nil, clientState: String? = nil, from: String? = nil, to: String? = nil
    ) {
        self.callControlID = callControlID
        self.callLegID = callLegID
        self.callSessionID = callSessionID
        self.connectionID = connectionID
        self.clientState = clientState
        self.from = from
        self.to = to
    }
}
