import FuzzSupport
@testable import EventHTTP

/// The HTTP/1.1 request parser as the server drives it: bytes arrive in feeds, each feed is
/// appended to the connection's buffer and parsed until it needs more; after a request the
/// consumed bytes are dropped and parsing goes on (pipelining) unless the request closes the
/// connection; an error ends the connection.
///
/// Input layout: byte 0 seeds the feed sizes (0: the whole stream in one feed), byte 1 picks the
/// limits, the rest is the byte stream a client sends.
///
/// Invariants: `consumed` is in 1...buffer.count; no request's body is over maxBodyBytes; and the
/// framing does not depend on how the bytes were split: the requests parsed from the feeds and
/// from the whole stream at once are the same, up to where either stops (an error such as 431
/// may legitimately come earlier when bytes trickle in).
@_cdecl("FuzzRequest_main")
public func fuzzMain(_ argc: Int32, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?) -> Int32 {
    var argc = argc
    var argv = argv
    return LLVMFuzzerRunDriver(&argc, &argv) { data, size in fuzz(data, size) }
}

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ data: UnsafePointer<UInt8>?, _ size: Int) -> Int32 {
    guard size >= 2, let data else { return 0 }
    let input = Array(UnsafeBufferPointer(start: data, count: size))
    let seed = input[0]
    let limits = input[1]
    let stream = Array(input[2...])
    let maxBody = [0, 16, 1024, 1 << 20][Int(limits & 3)]
    let maxHeader = [64, 1024, 8192, 65536][Int((limits >> 2) & 3)]

    var feeds: [ArraySlice<UInt8>] = []
    if seed == 0 {
        feeds = [stream[...]]
    } else {
        var state = UInt32(seed) &* 2_654_435_761 | 1
        var i = 0
        while i < stream.count {
            state ^= state << 13; state ^= state >> 17; state ^= state << 5
            let n = min(stream.count - i, 1 + Int(state % (seed < 128 ? 8 : 97)))
            feeds.append(stream[i..<(i + n)])
            i += n
        }
    }
    let split = run(feeds, maxHeader: maxHeader, maxBody: maxBody)
    let whole = run([stream[...]], maxHeader: maxHeader, maxBody: maxBody)
    let n = min(split.count, whole.count)
    precondition(Array(split.prefix(n)) == Array(whole.prefix(n)), "framing depends on how the bytes were split")
    return 0
}

func run(_ feeds: [ArraySlice<UInt8>], maxHeader: Int, maxBody: Int) -> [ParsedRequest] {
    var parser = RequestParser(maxHeaderBytes: maxHeader, maxBodyBytes: maxBody)
    var buffer: [UInt8] = []
    var requests: [ParsedRequest] = []
    for feed in feeds {
        buffer += feed
        while true {
            let step: RequestParser.Step
            do { step = try parser.parse(buffer) } catch {
                precondition((400...599).contains(error.status), "error status \(error.status)")
                return requests
            }
            switch step {
            case .incomplete:
                break
            case .sendContinue:
                continue
            case .request(let request, let consumed):
                precondition(consumed >= 1 && consumed <= buffer.count, "consumed \(consumed) of \(buffer.count)")
                precondition(request.body.count <= maxBody, "body \(request.body.count) over \(maxBody)")
                requests.append(request)
                buffer.removeFirst(consumed)
                if !request.keepAlive { return requests }
                continue
            }
            break
        }
    }
    return requests
}
