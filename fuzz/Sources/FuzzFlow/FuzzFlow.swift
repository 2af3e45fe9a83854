import FuzzSupport
import CallflowCore
import CallflowServer

/// The flow parser and checker (FlowSet.load runs FlowParser.parse on each file, then the
/// cross-flow checks) must never trap, whatever a flow file holds.
let zones = SystemTimeZones()

@_cdecl("FuzzFlow_main")
public func fuzzMain(_ argc: Int32, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?) -> Int32 {
    var argc = argc
    var argv = argv
    return LLVMFuzzerRunDriver(&argc, &argv) { data, size in fuzz(data, size) }
}

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ data: UnsafePointer<UInt8>?, _ size: Int) -> Int32 {
    let bytes = Array(UnsafeBufferPointer(start: data, count: size))
    let (flow, diagnostics) = FlowParser.parse(bytes, file: "main.json", name: "main", timeZones: zones)
    if flow == nil { precondition(diagnostics.contains { $0.severity == .error }, "no flow and no error") }
    let (set, all) = FlowSet.load(files: [(name: "main", file: "main.json", bytes: bytes)], timeZones: zones)
    if set == nil { precondition(all.contains { $0.severity == .error }, "no set and no error") }
    return 0
}
