/// A `conference` node: the call joins a named conference (created by the first call that asks
/// for the name), or acts on the conference it is in: leave, mute or unmute, hold or unhold,
/// speak or play to it. Telnyx's Conference API (`POST /conferences`, `/conferences/{id}/actions/*`).
///
/// The name → conference id table is shared like the agents a ring group holds: the call that
/// creates a conference claims its name in the same commit as the `create` command, so two callers
/// on two instances never create two conferences of one name. The creating call keeps the name
/// (and stays stored after its own hang-up) until Telnyx reports `conference.ended`.
public struct ConferenceSpec: Sendable, Equatable {
    /// What the node does.
    public enum Action: String, Sendable, CaseIterable {
        case join, leave, mute, unmute, hold, unhold, speak, play
        /// Dials `invite` into the call's conference (a warm transfer that becomes three-way).
        case invite
    }
    /// How the call takes part when it joins.
    public enum Role: String, Sendable, CaseIterable {
        /// Talks and listens; with `wait_for_moderator`, waits on hold until a moderator is in.
        case participant
        /// Starts the conference when joining and, by default, ends it when leaving.
        case moderator
        /// Muted: only listens.
        case listener
        /// Supervisor roles (`supervisor_role`): hears all, heard by nobody / by all / by `whisper_to`.
        case monitor, barge, whisper
    }
    /// Whom `mute`, `unmute`, `hold` and `unhold` apply to.
    public enum Who: String, Sendable, CaseIterable {
        /// This call.
        case `self`
        /// Every participant (Telnyx's default without `call_control_ids`).
        case all
    }

    public var action: Action
    /// The conference's name (join; a template, so a flow can name one per case).
    public var name: Template?
    public var role: Role
    /// `whisper`: the call control ids (templates) that hear the supervisor.
    public var whisperTo: [Template]
    /// `beep_enabled`: `always`, `never`, `on_enter`, `on_exit`; `nil`: Telnyx's default.
    public var beep: String?
    /// Hold audio of the conference (join: before it starts; `hold`: what the held call hears).
    public var hold: Prompt?
    /// Participants wait on hold until a moderator joins (`start_conference_on_enter: false`).
    public var waitForModerator: Bool
    /// End the conference when this call leaves; `nil`: true for a moderator, else false.
    public var endOnExit: Bool?
    /// `max_participants` of a conference this call creates.
    public var maxParticipants: Int?
    /// Whom mute/unmute/hold/unhold apply to.
    public var who: Who
    /// speak/play: what the conference hears.
    public var prompt: Prompt?
    /// join: keys that run another node while the call stays in the conference.
    public var keys: [(digit: String, target: String)]
    /// join, invite: addresses (templates) dialed and joined to the conference when they answer.
    public var invite: [Template] = []
    /// Where the call goes: after joining, when it left the conference (ended, or removed) and is
    /// still on the line; after the other actions, at once.
    public var next: String

    /// Memberwise.
    public init(
        action: Action, name: Template?, role: Role, whisperTo: [Template], beep: String?, hold: Prompt?, waitForModerator: Bool,
        endOnExit: Bool?, maxParticipants: Int?, who: Who, prompt: Prompt?, keys: [(digit: String, target: String)], next: String
    ) {
        self.action = action
        self.name = name
        self.role = role
        self.whisperTo = whisperTo
        self.beep = beep
        self.hold = hold
        self.waitForModerator = waitForModerator
        self.endOnExit = endOnExit
        self.maxParticipants = maxParticipants
        self.who = who
        self.prompt = prompt
        self.keys = keys
        self.next = next
    }

    /// Compares keys by digit and target in order (tuples are not `Equatable`).
    public static func == (a: ConferenceSpec, b: ConferenceSpec) -> Bool {
        a.action == b.action && a.name == b.name && a.role == b.role && a.whisperTo == b.whisperTo && a.beep == b.beep && a.hold == b.hold
            && a.waitForModerator == b.waitForModerator && a.endOnExit == b.endOnExit && a.maxParticipants == b.maxParticipants
            && a.who == b.who && a.prompt == b.prompt && a.next == b.next && a.invite == b.invite
            && sameKeyTargets(a.keys, b.keys)
    }

    /// The `beep_enabled` values Telnyx takes.
    public static let beeps = ["always", "never", "on_enter", "on_exit"]
    /// How long a join waits for another call to finish creating the conference of its name.
    public static let creationWaitMs = 15_000
    /// How often it looks meanwhile.
    public static let creationPollMs = 1_000
    /// How long a creating call is kept after its own hang-up, waiting for `conference.ended`.
    public static let keptAfterHangupMs = 12 * 3_600_000
}

/// The conference a call is in (or created): stored with the call.
public struct ConferenceMembership: Sendable, Equatable {
    /// The name it was joined by.
    public var name: String
    /// Telnyx's conference id, once known (the create's response, or the name table).
    public var id: String?
    /// This call created it: it holds the name until the conference ends.
    public var creator: Bool
    /// Telnyx reported this call in it (`conference.participant.joined`) and not out again.
    public var joined: Bool = false
    /// Looks at the name table while another call creates the conference.
    public var polls: Int = 0
    /// Addresses to dial into the conference once this call is in it (`invite`).
    public var pendingInvites: [String] = []
    /// Legs this call invited that are in the conference or ringing: hung up when they leave it.
    public var guests: [String] = []

    /// Memberwise.
    public init(name: String, id: String?, creator: Bool) {
        self.name = name
        self.id = id
        self.creator = creator
    }

    /// The name table entry this call holds: `(name, id)` while it is the creator.
    public var claim: (name: String, id: String)? { creator ? (name, id ?? "") : nil }
}

/// A change of the name → conference table a step makes (committed with it, like `AgentClaims`).
public struct ConferenceClaim: Sendable, Equatable {
    /// The name.
    public var name: String
    /// The conference id (`""` while it is being created); `nil`: the name is released.
    public var id: String?

    /// Memberwise.
    public init(name: String, id: String?) {
        self.name = name
        self.id = id
    }

    /// What changed between the entry a call held before a step and after it.
    public static func between(_ before: (name: String, id: String)?, _ after: (name: String, id: String)?) -> [ConferenceClaim] {
        switch (before, after) {
        case (nil, nil): return []
        case (let b?, nil): return [ConferenceClaim(name: b.name, id: nil)]
        case (nil, let a?): return [ConferenceClaim(name: a.name, id: a.id)]
        case (let b?, let a?):
            if b.name == a.name { return b.id == a.id ? [] : [ConferenceClaim(name: a.name, id: a.id)] }
            return [ConferenceClaim(name: b.name, id: nil), ConferenceClaim(name: a.name, id: a.id)]
        }
    }
}

/// An entry of the name → conference table: who created it and its id (`""` while being created).
public struct ConferenceEntry: Sendable, Equatable {
    public var creator: String
    public var id: String

    public init(creator: String, id: String) {
        self.creator = creator
        self.id = id
    }
}
