/// A `ring_group` node: rings people (agents) for the caller, bridges the first who answers
/// (and accepts, when screened), and hangs up the others at once. The caller hears `hold` audio
/// meanwhile, so there is never dead air. An agent that another call of this deployment has
/// ringing or bridged is busy and is skipped: the claim is committed with the input that rings
/// the agent (`AgentClaims`), so two instances on Redis never ring or bridge one agent twice.
public struct RingGroupSpec: Sendable, Equatable {
    /// Ring every free agent at once, or one after another in the listed order.
    public enum Strategy: String, Sendable, CaseIterable {
        case simultaneous, sequential
    }

    /// Who to ring: addresses in the node, or a group file (`flows/groups/<name>.json`) of the
    /// flow's revision, so a roster change is a reload, not a flow edit.
    public enum Agents: Sendable, Equatable {
        /// E.164 numbers or `sip:` URIs (or templates that yield one).
        case list([Template])
        /// A group file's name (without `.json`).
        case group(String)
    }

    /// Who to ring.
    public var agents: Agents
    /// All at once (default) or in order.
    public var strategy: Strategy
    /// How long each agent's phone rings, 5-120 s (`dial` `timeout_secs`; 20).
    public var ringSecs: Int
    /// Agents listed as `{"to": ..., "ring_secs": N}`: their own ring time, by address.
    public var agentRingSecs: [String: Int] = [:]
    /// The caller id the agents see; `nil`: the number the caller dialed (`{{call.to}}`).
    public var from: Template?
    /// Asks the agent to accept before the caller is bridged.
    public var screen: Screening?
    /// What the caller hears until an agent is bridged (played in a loop).
    public var hold: Prompt
    /// `vars.<save_as>`: the address of the agent who took the call.
    public var saveAs: String?
    /// Where the caller goes after the conversation, when the agent hangs up first (the caller
    /// leg stays parked: `park_after_unbridge: self`), for a survey or a goodbye.
    public var next: String
    /// Where the caller goes when nobody answered (busy, no answer, declined, or nobody free).
    public var onNoAnswer: String

    /// Memberwise.
    public init(
        agents: Agents, strategy: Strategy, ringSecs: Int, from: Template?, screen: Screening?, hold: Prompt, saveAs: String?,
        next: String, onNoAnswer: String
    ) {
        self.agents = agents
        self.strategy = strategy
        self.ringSecs = ringSecs
        self.from = from
        self.screen = screen
        self.hold = hold
        self.saveAs = saveAs
        self.next = next
        self.onNoAnswer = onNoAnswer
    }

    /// The default ring time of each agent, in seconds.
    public static let defaultRingSecs = 20

    /// How long the machine waits past an agent's ring time for Telnyx to report the leg, before
    /// it treats the agent as not answering (a lost webhook must not hold the caller forever).
    public static let graceMs = 10_000

    /// A prompt on the agent's leg before the bridge ("Call from the support line, press 1 to accept").
    public struct Screening: Sendable, Equatable {
        /// What the agent hears (as a keypad gather).
        public var prompt: Prompt
        /// The key that accepts the call; anything else, or silence, declines it.
        public var accept: String
        /// How long the agent has to press it, 1000-60000 ms (8000).
        public var timeoutMs: Int

        /// Memberwise.
        public init(prompt: Prompt, accept: String, timeoutMs: Int) {
            self.prompt = prompt
            self.accept = accept
            self.timeoutMs = timeoutMs
        }
    }
}

/// One `ring_group` run of a call: the agents it resolved, the legs it dialed and which one took
/// the call. Stored with the call, so a restart mid-ring carries on with the same legs.
public struct RingProgress: Sendable, Equatable {
    /// The addresses rung, in the node's order (rendered once, when the node was entered).
    public var agents: [String]
    /// One entry per agent dialed, in the order dialed.
    public var legs: [RingLeg] = []
    /// The next agent a sequential group considers.
    public var nextAgent: Int = 0
    /// Deadline timers armed so far (each gets a fresh id).
    public var rounds: Int = 0
    /// The hold audio was started on the caller and not yet stopped.
    public var holding: Bool = false
    /// The deadline timer armed now (in a `queue`, where the call's wait holds the announcements).
    public var deadline: String?
    /// Which run of a `queue`'s ringing this is (each pause starts a new one): in every agent leg's
    /// client_state, so a late event of an earlier round's leg is not taken for this round's.
    public var round: Int = 0

    /// Agent indexes fit below this in client_state (`StepTag.agent` is `round * limit + index`).
    public static let agentLimit = 1000

    /// Memberwise, with nothing dialed yet.
    public init(agents: [String]) { self.agents = agents }

    /// The agents this run holds (ringing, screening or talking): what no other call may ring.
    public var heldAgents: [String] {
        legs.compactMap { $0.status == .done ? nil : agents.indices.contains($0.agent) ? agents[$0.agent] : nil }
    }

    /// The leg entry for agent index `agent`, if it was dialed.
    public func legIndex(agent: Int) -> Int? { legs.firstIndex { $0.agent == agent } }

    /// The agent that took the call (answered and, when screened, is being asked or accepted).
    public var taken: RingLeg? { legs.first { $0.status == .screening || $0.status == .bridging || $0.status == .bridged } }
}

extension CallState {
    /// Every agent this call holds: its ring's legs and the agents serving its queue.
    public var heldAgents: [String] { (ring?.heldAgents ?? []) + serving.map(\.agent) }
}

/// An agent's leg of a `ring_group` run.
public struct RingLeg: Sendable, Equatable {
    /// Where the leg is.
    public enum Status: String, Sendable {
        /// Dialed, not answered.
        case ringing
        /// Answered; the screening prompt waits for the agent's key.
        case screening
        /// Accepted (or not screened); the bridge is asked for.
        case bridging
        /// Talking with the caller.
        case bridged
        /// Ended, declined or cancelled: the agent is free again.
        case done
    }
    /// The agent's index in `RingProgress.agents`.
    public var agent: Int
    /// Telnyx's id of the leg, once one of its webhooks (or the dial's response) named it.
    public var leg: String?
    /// Where it is.
    public var status: Status
    /// The `command_id` of its `dial`: a refusal or the response (which names the leg) finds it.
    public var dial: String

    /// Memberwise.
    public init(agent: Int, leg: String? = nil, status: Status, dial: String) {
        self.agent = agent
        self.leg = leg
        self.status = status
        self.dial = dial
    }
}

/// Agents a step started or stopped holding: the ledger commits these with the step, and refuses
/// the commit (a conflict: the input is stepped again, seeing the agent busy) when another call
/// holds an agent first.
public struct AgentClaims: Sendable, Equatable {
    /// Agents now held by the call.
    public var take: [String] = []
    /// Agents the call no longer holds.
    public var release: [String] = []

    /// Nothing taken or released.
    public init(take: [String] = [], release: [String] = []) {
        self.take = take
        self.release = release
    }

    /// Whether the step changed no claim.
    public var isEmpty: Bool { take.isEmpty && release.isEmpty }

    /// What changed between the agents held before a step and after it.
    public static func between(_ before: [String], _ after: [String]) -> AgentClaims {
        guard !(before.isEmpty && after.isEmpty) else { return AgentClaims() }
        let b = Set(before), a = Set(after)
        return AgentClaims(take: after.filter { !b.contains($0) }, release: before.filter { !a.contains($0) })
    }
}
