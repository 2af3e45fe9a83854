import FuzzSupport
import CallflowCore
import CallflowServer

/// The config loader's decoding of a parsed document: every problem reported, never a trap.
@_cdecl("FuzzConfig_main")
public func fuzzMain(_ argc: Int32, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?) -> Int32 {
    var argc = argc
    var argv = argv
    return LLVMFuzzerRunDriver(&argc, &argv) { data, size in fuzz(data, size) }
}

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ data: UnsafePointer<UInt8>?, _ size: Int) -> Int32 {
    let raw = UnsafeRawBufferPointer(start: data, count: size)
    guard let root = try? JSONParser.parse(raw) else { return 0 }
    _ = try? ConfigLoader.decode(root, path: "config.json")
    return 0
}
