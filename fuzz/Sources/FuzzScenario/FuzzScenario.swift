import FuzzSupport
import CallflowCore
import TelnyxEmulator

/// Scenario files (`callflow test`) must parse or be refused with an error, never trap.
@_cdecl("FuzzScenario_main")
public func fuzzMain(_ argc: Int32, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?) -> Int32 {
    var argc = argc
    var argv = argv
    return LLVMFuzzerRunDriver(&argc, &argv) { data, size in fuzz(data, size) }
}

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ data: UnsafePointer<UInt8>?, _ size: Int) -> Int32 {
    let bytes = Array(UnsafeBufferPointer(start: data, count: size))
    _ = try? Scenario.parse(bytes, name: "fuzz")
    return 0
}
