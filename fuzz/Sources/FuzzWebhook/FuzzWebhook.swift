import FuzzSupport
import CallflowCore

/// Webhook bodies come from the internet (after the signature check): decoding must never trap,
/// and the byte and raw-buffer entry points must agree.
@_cdecl("FuzzWebhook_main")
public func fuzzMain(_ argc: Int32, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?) -> Int32 {
    var argc = argc
    var argv = argv
    return LLVMFuzzerRunDriver(&argc, &argv) { data, size in fuzz(data, size) }
}

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ data: UnsafePointer<UInt8>?, _ size: Int) -> Int32 {
    let raw = UnsafeRawBufferPointer(start: data, count: size)
    let a = Result { () throws(WebhookDecodeError) in try WebhookEvent.decode(raw) }
    let b = Result { () throws(WebhookDecodeError) in try WebhookEvent.decode(Array(raw)) }
    switch (a, b) {
    case (.success(let x), .success(let y)): precondition(x == y, "decode(raw) and decode([UInt8]) differ")
    case (.failure(let x), .failure(let y)): precondition(x == y, "decode(raw) and decode([UInt8]) fail differently")
    default: preconditionFailure("decode(raw) and decode([UInt8]) disagree")
    }
    if case .success(let event) = a { _ = event.kind; _ = event.payload.count }
    return 0
}
