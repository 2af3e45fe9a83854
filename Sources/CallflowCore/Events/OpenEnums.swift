/// Telnyx adds enum values without notice. A closed Swift enum would turn a new value into a
/// decode failure — and a failed webhook is retried forever — so enum-like fields are open
/// structs: the known values are constants, anything else is kept verbatim.
public protocol OpenEnum: RawRepresentable, Sendable, Hashable, CustomStringConvertible,
    ExpressibleByStringLiteral where RawValue == String
{
    init(rawValue: String)
}

extension OpenEnum {
    public init(stringLiteral value: String) { self.init(rawValue: value) }
    public var description: String { rawValue }
}

/// `call.gather.ended` status.
public struct GatherStatus: OpenEnum {
    public let rawValue: String
    public init(rawValue: String) { self.rawValue = rawValue }
    public static let valid: Self = "valid"
    public static let invalid: Self = "invalid"
    public static let callHangup: Self = "call_hangup"
    public static let cancelled: Self = "cancelled"
    public static let cancelledAMD: Self = "cancelled_amd"
    public static let timeout: Self = "timeout"
}

/// `call.speak.ended` status.
public struct SpeakStatus: OpenEnum {
    public let rawValue: String
    public init(rawValue: String) { self.rawValue = rawValue }
    public static let completed: Self = "completed"
    public static let callHangup: Self = "call_hangup"
    public static let cancelledAMD: Self = "cancelled_amd"
}

/// `call.playback.ended` status.
public struct PlaybackStatus: OpenEnum {
    public let rawValue: String
    public init(rawValue: String) { self.rawValue = rawValue }
    public static let completed: Self = "completed"
    public static let fileNotFound: Self = "file_not_found"
    public static let callHangup: Self = "call_hangup"
    public static let unknown: Self = "unknown"
    public static let cancelled: Self = "cancelled"
    public static let cancelledAMD: Self = "cancelled_amd"
    public static let failed: Self = "failed"
}

/// `call.hangup` cause.
public struct HangupCause: OpenEnum {
    public let rawValue: String
    public init(rawValue: String) { self.rawValue = rawValue }
    public static let callRejected: Self = "call_rejected"
    public static let normalClearing: Self = "normal_clearing"
    public static let originatorCancel: Self = "originator_cancel"
    public static let timeout: Self = "timeout"
    public static let timeLimit: Self = "time_limit"
    public static let userBusy: Self = "user_busy"
    public static let notFound: Self = "not_found"
    public static let noAnswer: Self = "no_answer"
    public static let unspecified: Self = "unspecified"
}

/// `call.hangup` source.
public struct HangupSource: OpenEnum {
    public let rawValue: String
    public init(rawValue: String) { self.rawValue = rawValue }
    public static let caller: Self = "caller"
    public static let callee: Self = "callee"
    public static let unknown: Self = "unknown"
}

/// `call.initiated` direction.
public struct CallDirection: OpenEnum {
    public let rawValue: String
    public init(rawValue: String) { self.rawValue = rawValue }
    public static let incoming: Self = "incoming"
    public static let outgoing: Self = "outgoing"
}

/// Result of `call.machine.detection.ended`, `call.machine.greeting.ended` and their premium
/// variants (each has its own value set; one open type holds them all).
public struct MachineResult: OpenEnum {
    public let rawValue: String
    public init(rawValue: String) { self.rawValue = rawValue }
    public static let human: Self = "human"
    public static let machine: Self = "machine"
    public static let notSure: Self = "not_sure"
    public static let humanResidence: Self = "human_residence"
    public static let humanBusiness: Self = "human_business"
    public static let silence: Self = "silence"
    public static let faxDetected: Self = "fax_detected"
    public static let beepDetected: Self = "beep_detected"
    public static let noBeepDetected: Self = "no_beep_detected"
    public static let ended: Self = "ended"
    public static let promptEnded: Self = "prompt_ended"

    /// Whether a detection result means a person answered.
    public var isHuman: Bool { self == .human || self == .humanResidence || self == .humanBusiness }
    /// Whether a detection result means a machine (voicemail, fax) answered.
    public var isMachine: Bool { self == .machine || self == .faxDetected }
}

/// `call.ai_gather.ended` status.
public struct AIGatherStatus: OpenEnum {
    public let rawValue: String
    public init(rawValue: String) { self.rawValue = rawValue }
    public static let valid: Self = "valid"
    public static let invalid: Self = "invalid"
}
