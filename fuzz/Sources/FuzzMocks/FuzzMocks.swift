import FuzzSupport
import CallflowCore
import TelnyxEmulator

/// HTTP mock files (`mocks.json`, `--http-mock`) must parse or be refused, never trap.
@_cdecl("FuzzMocks_main")
public func fuzzMain(_ argc: Int32, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?) -> Int32 {
    var argc = argc
    var argv = argv
    return LLVMFuzzerRunDriver(&argc, &argv) { data, size in fuzz(data, size) }
}

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ data: UnsafePointer<UInt8>?, _ size: Int) -> Int32 {
    let bytes = Array(UnsafeBufferPointer(start: data, count: size))
    _ = try? HTTPMocks.parse(bytes, source: "mocks.json")
    return 0
}
