/// A `callback` node: the caller keeps their place without holding. The node books a call back
/// to `to` (the caller's number unless the flow took another); after the caller hangs up, the
/// call waits, stored like any call, until the callback may be placed (within `hours`, and once
/// an agent of `agents` is free), then dials it through the outbox and runs `flow` when answered.
/// Placing it is one committed step of the call, so it happens once, after a restart or with
/// several instances too.
public struct CallbackSpec: Sendable, Equatable {
    /// The number to call back (a template; `{{call.from}}` when absent).
    public var to: Template?
    /// The caller id of the callback; `nil`: the number the caller called.
    public var from: Template?
    /// The flow run when the callback is answered (it rings the agents, typically).
    public var flow: String
    /// Variables for that flow, rendered when the node runs (the reason for the call, the account).
    public var vars: JSONObject
    /// Only within these hours (the next opening when booked while closed); `nil`: any time.
    public var hours: OpeningHours?
    /// Wait until one of these agents is free (not ringing or talking for another call).
    public var agents: RingGroupSpec.Agents?
    /// Given up (logged) when it could not be placed within this many hours, 1-168 (24).
    public var expireHours: Int
    /// Where the caller goes once it is booked (a goodbye, typically).
    public var next: String

    /// Memberwise.
    public init(
        to: Template?, from: Template?, flow: String, vars: JSONObject, hours: OpeningHours?, agents: RingGroupSpec.Agents?,
        expireHours: Int, next: String
    ) {
        self.to = to
        self.from = from
        self.flow = flow
        self.vars = vars
        self.hours = hours
        self.agents = agents
        self.expireHours = expireHours
        self.next = next
    }

    /// The default of `expireHours`.
    public static let defaultExpireHours = 24
    /// How often a callback waiting for a free agent looks again.
    public static let agentPollMs = 15_000
}

/// A booked callback, kept with the call until it is placed.
public struct PendingCallback: Sendable, Equatable {
    /// The number to call.
    public var to: String
    /// The caller id.
    public var from: String
    /// The flow to run when answered.
    public var flow: String
    /// Its variables.
    public var vars: JSONObject
    /// Not before this time (Unix seconds).
    public var notBefore: Int64
    /// Given up after this time (Unix seconds).
    public var expiresAt: Int64
    /// One of these must be free (empty: no condition).
    public var agents: [String]
    /// The `callback` node that booked it (its `hours` are checked again before dialing).
    public var node: String
    /// The flow of that node.
    public var nodeFlow: String

    /// Memberwise.
    public init(
        to: String, from: String, flow: String, vars: JSONObject, notBefore: Int64, expiresAt: Int64, agents: [String], node: String,
        nodeFlow: String
    ) {
        self.to = to
        self.from = from
        self.flow = flow
        self.vars = vars
        self.notBefore = notBefore
        self.expiresAt = expiresAt
        self.agents = agents
        self.node = node
        self.nodeFlow = nodeFlow
    }
}

extension OpeningHours {
    /// Whether these hours are open at `time` (Unix seconds).
    public func isOpen(at time: Int64) -> Bool {
        let local = rules.local(time)
        return !closedDates.contains(local.date) && (ranges[local.weekday] ?? []).contains { $0.contains(local.minuteOfDay) }
    }

    /// The first minute at or after `time` when these hours are open, within 14 days; `nil`: none.
    public func nextOpening(after time: Int64) -> Int64? {
        if isOpen(at: time) { return time }
        var t = time - time % 60 + 60
        let end = time + 14 * 86_400
        while t <= end {
            if isOpen(at: t) { return t }
            t += 60
        }
        return nil
    }
}
