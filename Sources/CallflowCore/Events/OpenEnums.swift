/// Telnyx adds enum values without notice. A closed Swift enum would turn a new value into a
/// decode failure — and a failed webhook is retried forever — so enum-like fields are open
/// structs: the known values are constants, anything else is kept verbatim.
public protocol OpenEnum: RawRepresentable, Sendable, Hashable, CustomStringConvertible,
    ExpressibleByStringLiteral
where RawValue == String {
    /// Wraps any value, known or not: never fails, so a new Telnyx value never fails a webhook.
    init(rawValue: String)
}

extension OpenEnum {
    /// A known value in code: `status == "valid"` reads like the payload.
    public init(stringLiteral value: String) { self.init(rawValue: value) }
    /// The value as Telnyx sent it.
    public var description: String { rawValue }
}

/// `call.gather.ended` status.
public struct GatherStatus: OpenEnum {
    /// The value as Telnyx sent it.
    public let rawValue: String
    /// Any value, known or not.
    public init(rawValue: String) { self.rawValue = rawValue }
    /// The caller entered a complete, valid answer.
    public static let valid: Self = "valid"
    /// The input did not satisfy the gather (too few digits, or none valid).
    public static let invalid: Self = "invalid"
    /// The call hung up during the gather: the `call.hangup` webhook ends the flow, not this one.
    public static let callHangup: Self = "call_hangup"
    /// The gather was stopped before it ended (by another command).
    public static let cancelled: Self = "cancelled"
    /// Answering-machine detection stopped the gather.
    public static let cancelledAMD: Self = "cancelled_amd"
    /// The gather's timeout passed; Callflow treats the digits like any other answer.
    public static let timeout: Self = "timeout"
}

/// `call.speak.ended` status.
public struct SpeakStatus: OpenEnum {
    /// The value as Telnyx sent it.
    public let rawValue: String
    /// Any value, known or not.
    public init(rawValue: String) { self.rawValue = rawValue }
    /// The text was spoken to the end.
    public static let completed: Self = "completed"
    /// The call hung up while speaking: the `call.hangup` webhook ends the flow.
    public static let callHangup: Self = "call_hangup"
    /// Answering-machine detection stopped the speech.
    public static let cancelledAMD: Self = "cancelled_amd"
}

/// `call.playback.ended` status.
public struct PlaybackStatus: OpenEnum {
    /// The value as Telnyx sent it.
    public let rawValue: String
    /// Any value, known or not.
    public init(rawValue: String) { self.rawValue = rawValue }
    /// The audio played to the end.
    public static let completed: Self = "completed"
    /// The audio URL or media name did not resolve: a `play` node takes `on_error`.
    public static let fileNotFound: Self = "file_not_found"
    /// The call hung up during playback: the `call.hangup` webhook ends the flow.
    public static let callHangup: Self = "call_hangup"
    /// Telnyx could not say why playback ended; a `play` node treats it as a failure.
    public static let unknown: Self = "unknown"
    /// Stopped by a command (`playback_stop`, or barge-in).
    public static let cancelled: Self = "cancelled"
    /// Answering-machine detection stopped the playback.
    public static let cancelledAMD: Self = "cancelled_amd"
    /// The audio could not be played: a `play` node takes `on_error`.
    public static let failed: Self = "failed"
}

/// `call.hangup` cause.
public struct HangupCause: OpenEnum {
    /// The value as Telnyx sent it.
    public let rawValue: String
    /// Any value, known or not.
    public init(rawValue: String) { self.rawValue = rawValue }
    /// The call was rejected.
    public static let callRejected: Self = "call_rejected"
    /// An ordinary hang-up by either side.
    public static let normalClearing: Self = "normal_clearing"
    /// The caller hung up before the call was answered.
    public static let originatorCancel: Self = "originator_cancel"
    /// The call was not answered in time.
    public static let timeout: Self = "timeout"
    /// The call reached its time limit.
    public static let timeLimit: Self = "time_limit"
    /// The callee was busy.
    public static let userBusy: Self = "user_busy"
    /// The number called does not exist.
    public static let notFound: Self = "not_found"
    /// Nobody answered.
    public static let noAnswer: Self = "no_answer"
    /// No cause given.
    public static let unspecified: Self = "unspecified"
}

/// `call.hangup` source.
public struct HangupSource: OpenEnum {
    /// The value as Telnyx sent it.
    public let rawValue: String
    /// Any value, known or not.
    public init(rawValue: String) { self.rawValue = rawValue }
    /// The calling party hung up.
    public static let caller: Self = "caller"
    /// The called party hung up.
    public static let callee: Self = "callee"
    /// Telnyx could not tell.
    public static let unknown: Self = "unknown"
}

/// `call.initiated` direction.
public struct CallDirection: OpenEnum {
    /// The value as Telnyx sent it.
    public let rawValue: String
    /// Any value, known or not.
    public init(rawValue: String) { self.rawValue = rawValue }
    /// Someone called in: a new call the engine routes to a flow.
    public static let incoming: Self = "incoming"
    /// A call placed through the API (`dial`, or the control API's outbound calls): never routed.
    public static let outgoing: Self = "outgoing"
}

/// Result of `call.machine.detection.ended`, `call.machine.greeting.ended` and their premium
/// variants (each has its own value set; one open type holds them all).
public struct MachineResult: OpenEnum {
    /// The value as Telnyx sent it.
    public let rawValue: String
    /// Any value, known or not.
    public init(rawValue: String) { self.rawValue = rawValue }
    /// A person answered.
    public static let human: Self = "human"
    /// An answering machine (or voicemail) answered.
    public static let machine: Self = "machine"
    /// Detection (or greeting detection) could not decide; a `machine_detection` node takes `on_unknown`.
    public static let notSure: Self = "not_sure"
    /// Premium detection: a person at home.
    public static let humanResidence: Self = "human_residence"
    /// Premium detection: a person at a business.
    public static let humanBusiness: Self = "human_business"
    /// Premium detection: nobody spoke.
    public static let silence: Self = "silence"
    /// Premium detection: a fax machine answered (counted as a machine).
    public static let faxDetected: Self = "fax_detected"
    /// Greeting detection (plain or premium): the beep was heard, time to leave a message.
    public static let beepDetected: Self = "beep_detected"
    /// Premium greeting: the greeting ended with no beep.
    public static let noBeepDetected: Self = "no_beep_detected"
    /// Greeting detection: the machine's greeting ended.
    public static let ended: Self = "ended"
    /// Premium greeting detection: the greeting's prompt ended.
    public static let promptEnded: Self = "prompt_ended"

    /// Whether a detection result means a person answered.
    public var isHuman: Bool { self == .human || self == .humanResidence || self == .humanBusiness }
    /// Whether a detection result means a machine (voicemail, fax) answered.
    public var isMachine: Bool { self == .machine || self == .faxDetected }
}

/// `call.ai_gather.ended` status.
public struct AIGatherStatus: OpenEnum {
    /// The value as Telnyx sent it.
    public let rawValue: String
    /// Any value, known or not.
    public init(rawValue: String) { self.rawValue = rawValue }
    /// The AI gathered what `parameters` asked for: saved to `save_as`.
    public static let valid: Self = "valid"
    /// It did not: the node takes `on_error`.
    public static let invalid: Self = "invalid"
}
