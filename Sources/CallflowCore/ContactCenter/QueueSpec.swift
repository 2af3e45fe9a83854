/// A `queue` node: the caller waits in a Telnyx queue (`enqueue`) with hold audio, hears
/// announcements with their place in line and the average wait, may leave by a key, and, when the
/// node rings agents, is bridged to the first agent who answers for the head of the queue
/// (`bridge` with `queue`, so callers are served in the order they came).
public struct QueueSpec: Sendable, Equatable {
    /// The Telnyx queue's name (created by Telnyx on first use).
    public var queue: String
    /// `max_wait_time_secs`: Telnyx takes the caller out after this long (then `on_timeout`).
    public var maxWaitSecs: Int?
    /// `max_size`: a caller who finds the queue this full goes to `on_full`.
    public var maxSize: Int?
    /// Looped while the caller waits.
    public var hold: Prompt
    /// Spoken every `everySecs` while the caller waits (it may read `vars.queue_position`,
    /// `vars.queue_avg_wait_secs` and `vars.queue_avg_wait_mins`).
    public var announce: Announcement?
    /// Keys that take the caller out of the queue, each to its node (voicemail, a callback offer).
    public var leave: [(digit: String, target: String)]
    /// Agents rung while the caller waits; `nil`: agents take calls from the queue by other means.
    public var ring: RingGroupSpec?
    /// How long to wait before ringing again when no agent took a call, 5-600 s (15).
    public var retrySecs: Int
    /// Where the caller goes when Telnyx takes them out after `maxWaitSecs`.
    public var onTimeout: String
    /// Where the caller goes when the queue is full.
    public var onFull: String

    /// Memberwise.
    public init(
        queue: String, maxWaitSecs: Int?, maxSize: Int?, hold: Prompt, announce: Announcement?, leave: [(digit: String, target: String)],
        ring: RingGroupSpec?, retrySecs: Int, onTimeout: String, onFull: String
    ) {
        self.queue = queue
        self.maxWaitSecs = maxWaitSecs
        self.maxSize = maxSize
        self.hold = hold
        self.announce = announce
        self.leave = leave
        self.ring = ring
        self.retrySecs = retrySecs
        self.onTimeout = onTimeout
        self.onFull = onFull
    }

    /// Compares leave keys by digit and target in order (tuples are not `Equatable`).
    public static func == (a: QueueSpec, b: QueueSpec) -> Bool {
        a.queue == b.queue && a.maxWaitSecs == b.maxWaitSecs && a.maxSize == b.maxSize && a.hold == b.hold && a.announce == b.announce
            && sameKeyTargets(a.leave, b.leave) && a.ring == b.ring
            && a.retrySecs == b.retrySecs && a.onTimeout == b.onTimeout && a.onFull == b.onFull
    }

    /// The default pause between rounds of ringing.
    public static let defaultRetrySecs = 15

    /// An announcement repeated while the caller waits.
    public struct Announcement: Sendable, Equatable {
        /// Seconds between announcements, 10-600.
        public var everySecs: Int
        /// What is said (or played).
        public var prompt: Prompt

        /// Memberwise.
        public init(everySecs: Int, prompt: Prompt) {
            self.everySecs = everySecs
            self.prompt = prompt
        }
    }

    /// Variables the queue keeps up to date for prompts.
    public enum Variables {
        /// The caller's place in line (1: next), from `call.enqueued`.
        public static let position = "queue_position"
        /// The average wait of the queue in seconds, from `call.enqueued`.
        public static let averageWaitSecs = "queue_avg_wait_secs"
        /// The same in whole minutes, rounded up (at least 1), for prompts.
        public static let averageWaitMins = "queue_avg_wait_mins"
        /// How the caller left: `answered`, `timeout`, `full` or the key pressed.
        public static let outcome = "queue_outcome"
    }
}

/// Where a `queue` node's caller is: announcements and the hold audio.
public struct QueueProgress: Sendable, Equatable {
    /// The announcement timer armed now, if any.
    public var announceTimer: String?
    /// An announcement is being spoken (the hold audio resumes when it ends).
    public var announcing = false
    /// Timers armed so far (each gets a fresh id).
    public var timers = 0
    /// Telnyx confirmed the caller is in the queue (`call.enqueued`).
    public var enqueued = false

    /// Nothing armed yet.
    public init() {}
}
