import FuzzSupport
import CallflowCore

/// JSONParser.parse must never trap; whatever it accepts, the writer must serialise to bytes the
/// parser accepts again as the same value (the writer is what builds command bodies).
@_cdecl("FuzzJSON_main")
public func fuzzMain(_ argc: Int32, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?) -> Int32 {
    var argc = argc
    var argv = argv
    return LLVMFuzzerRunDriver(&argc, &argv) { data, size in fuzz(data, size) }
}

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ data: UnsafePointer<UInt8>?, _ size: Int) -> Int32 {
    let bytes = UnsafeRawBufferPointer(start: data, count: size)
    guard let value = try? JSONParser.parse(bytes) else {
        // The other entry points must agree on rejection.
        precondition((try? JSONParser.parse(Array(bytes))) == nil, "raw-buffer and array parse disagree")
        return 0
    }
    precondition((try? JSONParser.parse(Array(bytes))) == value, "raw-buffer and array parse disagree")
    var map: JSONSourceMap? = JSONSourceMap()
    precondition((try? JSONParser.parse(Array(bytes), sourceMap: &map)) == value, "parse with a source map differs")
    let written = value.jsonBytes
    guard let again = try? JSONParser.parse(written) else {
        preconditionFailure("the writer produced JSON the parser rejects: \(String(decoding: written.prefix(200), as: UTF8.self))")
    }
    precondition(again == value, "write/parse round trip changed the value")
    precondition(again.jsonBytes == written, "the writer is not stable")
    return 0
}
