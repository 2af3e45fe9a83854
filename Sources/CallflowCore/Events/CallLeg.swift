/// The fields every call-control webhook carries about its call leg.
///
/// `clientState` is normalised: Telnyx sends `null` or `""` when unset, both become `nil`, so the
/// machine never mistakes an empty string for a step tag.
public struct CallLeg: Sendable, Equatable, Hashable {
    public var callControlID: String
    public var callLegID: String?
    public var callSessionID: String?
    public var connectionID: String?
    public var clientState: String?
    public var from: String?
    public var to: String?

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
