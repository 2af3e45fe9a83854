/// One HTTP/1.1 request read off a connection: what the handler sees through `HTTPRequest`.
struct ParsedRequest: Sendable, Equatable {
    /// As sent (a token; methods are case-sensitive).
    var method: String
    /// The request target: origin form (`/path?query`), or the path of an absolute form.
    var target: String
    var minorVersion: Int
    /// Names lower-cased, in arrival order.
    var headers: [(name: String, value: String)]
    var body: [UInt8]
    /// Whether the connection may carry another request after this one.
    var keepAlive: Bool

    static func == (a: ParsedRequest, b: ParsedRequest) -> Bool {
        a.method == b.method && a.target == b.target && a.minorVersion == b.minorVersion && a.body == b.body
            && a.keepAlive == b.keepAlive && a.headers.map { "\($0.name):\($0.value)" } == b.headers.map { "\($0.name):\($0.value)" }
    }

    func header(_ lowercasedName: String) -> String? { headers.first { $0.name == lowercasedName }?.value }
}

/// Why a request was refused before any handler saw it. Each becomes a JSON error with its status,
/// and the connection is closed after it (what follows on the connection cannot be framed).
struct RequestError: Error, Sendable, Equatable {
    var status: Int
    var message: String
}

/// An incremental HTTP/1.1 request parser (RFC 9112), strict where leniency lets two parsers
/// disagree on where a request ends: one `Content-Length` at most, never with `Transfer-Encoding`,
/// no obsolete line folding, CRLF line ends, no whitespace before a header's colon.
///
/// Hand-written rather than libevent's evhttp, because evhttp 2.1 (Debian's) accepts a repeated
/// `Content-Length` (first wins), answers its own errors with HTML pages, has no hook at accept
/// time and no deadline for a whole request; see `HTTPServer`. Pure: bytes in, requests out, so
/// it is tested without sockets and fuzzed.
struct RequestParser {
    let maxHeaderBytes: Int
    let maxBodyBytes: Int

    /// Where the head ends, once found (index of the first body byte).
    private var headEnd: Int? = nil
    /// How far the search for the end of the head has looked.
    private var scanned = 0
    private var head: ParsedRequest? = nil
    private var expectsContinue = false
    private var continueSent = false
    /// `Content-Length` of the request being read, or nil for chunked.
    private var contentLength: Int? = nil
    private var chunked = ChunkedBody()

    init(maxHeaderBytes: Int, maxBodyBytes: Int) {
        self.maxHeaderBytes = maxHeaderBytes
        self.maxBodyBytes = maxBodyBytes
    }

    enum Step: Equatable {
        /// More bytes are needed.
        case incomplete
        /// The head asked for `100 Continue` and is acceptable: send it, then keep reading.
        case sendContinue
        /// A whole request, `consumed` bytes long from the start of the buffer.
        case request(ParsedRequest, consumed: Int)
    }

    /// Parses from the start of `buffer`, which holds what arrived since the last request ended.
    /// After `.request` the caller drops `consumed` bytes and the parser is ready for the next.
    mutating func parse(_ buffer: [UInt8]) throws(RequestError) -> Step {
        if headEnd == nil {
            guard let end = findHeadEnd(buffer) else {
                if buffer.count > maxHeaderBytes {
                    throw RequestError(status: 431, message: "request headers are over \(maxHeaderBytes) bytes")
                }
                return .incomplete
            }
            if end > maxHeaderBytes { throw RequestError(status: 431, message: "request headers are over \(maxHeaderBytes) bytes") }
            headEnd = end
            try parseHead(buffer[0..<end])
        }
        guard let headEnd, let head else { return .incomplete }
        if expectsContinue && !continueSent && buffer.count == headEnd {
            continueSent = true
            return .sendContinue
        }
        var request = head
        let consumed: Int
        if let contentLength {
            guard buffer.count - headEnd >= contentLength else { return .incomplete }
            request.body = Array(buffer[headEnd..<(headEnd + contentLength)])
            consumed = headEnd + contentLength
        } else {
            guard let end = try chunked.parse(buffer, from: headEnd, maxBodyBytes: maxBodyBytes) else { return .incomplete }
            request.body = chunked.body
            consumed = end
        }
        self = RequestParser(maxHeaderBytes: maxHeaderBytes, maxBodyBytes: maxBodyBytes)
        return .request(request, consumed: consumed)
    }

    /// The index just past the blank line that ends the head, or nil.
    private mutating func findHeadEnd(_ buffer: [UInt8]) -> Int? {
        var i = max(0, scanned - 3)
        while i + 3 < buffer.count {
            if buffer[i] == 13 && buffer[i + 1] == 10 && buffer[i + 2] == 13 && buffer[i + 3] == 10 { return i + 4 }
            i += 1
        }
        scanned = buffer.count
        return nil
    }

    private mutating func parseHead(_ bytes: ArraySlice<UInt8>) throws(RequestError) {
        // Lines end in CRLF; a lone CR or LF inside the head is refused (a classic smuggling lever).
        var lines: [ArraySlice<UInt8>] = []
        var start = bytes.startIndex
        var i = bytes.startIndex
        while i < bytes.endIndex {
            let b = bytes[i]
            if b == 13 {
                guard i + 1 < bytes.endIndex, bytes[i + 1] == 10 else { throw RequestError(status: 400, message: "a bare CR in the request head") }
                lines.append(bytes[start..<i])
                i += 2
                start = i
                continue
            }
            if b == 10 { throw RequestError(status: 400, message: "a bare LF in the request head; lines end in CRLF") }
            if b == 0 { throw RequestError(status: 400, message: "a NUL byte in the request head") }
            i += 1
        }
        // Tolerate empty lines before the request line (RFC 9112 §2.2).
        while let first = lines.first, first.isEmpty { lines.removeFirst() }
        guard let requestLine = lines.first else { throw RequestError(status: 400, message: "no request line") }
        let parts = requestLine.split(separator: 32, omittingEmptySubsequences: false)
        guard parts.count == 3, !parts[0].isEmpty, !parts[1].isEmpty, parts[0].allSatisfy(Self.isToken) else {
            throw RequestError(status: 400, message: "malformed request line; expected METHOD TARGET HTTP/1.1")
        }
        let version = Array(parts[2])
        guard version.count == 8, version.starts(with: Array("HTTP/1.".utf8)), version[7] == 48 || version[7] == 49 else {
            if version.starts(with: Array("HTTP/".utf8)) {
                throw RequestError(
                    status: 505, message: "HTTP version \(String(decoding: version.dropFirst(5), as: UTF8.self)) is not supported; use HTTP/1.1")
            }
            throw RequestError(status: 400, message: "malformed request line; expected METHOD TARGET HTTP/1.1")
        }
        let minor = Int(version[7] - 48)
        var headers: [(name: String, value: String)] = []
        headers.reserveCapacity(lines.count - 1)
        var lengths: [Int] = []
        var transferEncoding: String? = nil
        var connection = ""
        for line in lines.dropFirst() where !line.isEmpty {
            guard let first = line.first, first != 32 && first != 9 else {
                throw RequestError(status: 400, message: "obsolete line folding in the request head")
            }
            guard let colon = line.firstIndex(of: 58) else { throw RequestError(status: 400, message: "a header line without a colon") }
            let name = line[line.startIndex..<colon]
            guard !name.isEmpty, name.allSatisfy(Self.isToken) else {
                throw RequestError(status: 400, message: "a malformed header name (no spaces before the colon)")
            }
            var value = line[(colon + 1)...]
            while let f = value.first, f == 32 || f == 9 { value = value.dropFirst() }
            while let l = value.last, l == 32 || l == 9 { value = value.dropLast() }
            let lowered = String(decoding: name.map { $0 >= 65 && $0 <= 90 ? $0 + 32 : $0 }, as: UTF8.self)
            let text = String(decoding: value, as: UTF8.self)
            switch lowered {
            case "content-length":
                guard !value.isEmpty, value.count <= 18, value.allSatisfy({ $0 >= 48 && $0 <= 57 }), let n = Int(text) else {
                    throw RequestError(status: 400, message: "Content-Length must be a decimal number, found \"\(text)\"")
                }
                lengths.append(n)
            case "transfer-encoding":
                if transferEncoding != nil { throw RequestError(status: 400, message: "the request has more than one Transfer-Encoding header") }
                transferEncoding = text.lowercased()
            case "connection": connection = text.lowercased()
            case "expect": expectsContinue = text.lowercased() == "100-continue"
            default: break
            }
            headers.append((lowered, text))
        }
        if lengths.count > 1 { throw RequestError(status: 400, message: "the request has \(lengths.count) Content-Length headers; send exactly one") }
        if let transferEncoding {
            if !lengths.isEmpty {
                throw RequestError(status: 400, message: "the request has both Content-Length and Transfer-Encoding; send one of them")
            }
            guard minor == 1 else { throw RequestError(status: 400, message: "Transfer-Encoding needs HTTP/1.1") }
            guard transferEncoding == "chunked" else {
                throw RequestError(status: 501, message: "Transfer-Encoding \"\(transferEncoding)\" is not supported; send Content-Length or chunked")
            }
            contentLength = nil
        } else {
            contentLength = lengths.first ?? 0
        }
        if let contentLength, contentLength > maxBodyBytes {
            throw RequestError(status: 413, message: "request body is \(contentLength) bytes; the limit is \(maxBodyBytes)")
        }
        let tokens = connection.split(separator: ",").map { Self.trimmed($0) }
        let keepAlive = minor == 1 ? !tokens.contains("close") : tokens.contains("keep-alive")
        var target = String(decoding: parts[1], as: UTF8.self)
        // Absolute form (`http://host/path`), as sent to proxies: keep the path.
        if !target.hasPrefix("/"), let colon = target.firstIndex(of: ":"), target[colon...].hasPrefix("://") {
            let rest = target[target.index(colon, offsetBy: 3)...]
            target = rest.firstIndex(of: "/").map { String(rest[$0...]) } ?? "/"
        }
        head = ParsedRequest(
            method: String(decoding: parts[0], as: UTF8.self), target: target, minorVersion: minor, headers: headers,
            body: [], keepAlive: keepAlive)
    }

    static func trimmed(_ s: Substring) -> Substring {
        var t = s
        while let f = t.first, f == " " || f == "\t" { t = t.dropFirst() }
        while let l = t.last, l == " " || l == "\t" { t = t.dropLast() }
        return t
    }

    /// tchar of RFC 9110 §5.6.2.
    static func isToken(_ b: UInt8) -> Bool {
        switch b {
        case 48...57, 65...90, 97...122: return true
        case 33, 35, 36, 37, 38, 39, 42, 43, 45, 46, 94, 95, 96, 124, 126: return true
        default: return false
        }
    }
}

/// The chunked transfer coding (RFC 9112 §7.1), decoded incrementally: each call resumes where
/// the last stopped, so a body trickled in tiny reads costs linear time.
struct ChunkedBody {
    private(set) var body: [UInt8] = []
    private var position: Int? = nil
    private var remainingInChunk = 0
    private var phase = Phase.size

    private enum Phase { case size, data, dataEnd, trailer }

    /// The index just past the end of the chunked body in `buffer`, or nil if it is not all there.
    mutating func parse(_ buffer: [UInt8], from start: Int, maxBodyBytes: Int) throws(RequestError) -> Int? {
        var i = position ?? start
        defer { position = i }
        while true {
            switch phase {
            case .size, .trailer:
                guard let lineEnd = try Self.lineEnd(buffer, from: i) else {
                    if buffer.count - i > 4096 { throw RequestError(status: 400, message: "a chunk-size or trailer line over 4096 bytes") }
                    return nil
                }
                let line = buffer[i..<lineEnd]
                i = lineEnd + 2
                if phase == .trailer {
                    if line.isEmpty { return i }
                    continue
                }
                let digits = line.prefix { $0 != 59 && $0 != 32 && $0 != 9 }  // chunk extensions after ';' are ignored
                guard !digits.isEmpty, digits.count <= 8, let size = Int(String(decoding: digits, as: UTF8.self), radix: 16), size >= 0 else {
                    throw RequestError(status: 400, message: "malformed chunk size \"\(String(decoding: line.prefix(32), as: UTF8.self))\"")
                }
                if size == 0 {
                    phase = .trailer
                    continue
                }
                if body.count + size > maxBodyBytes {
                    throw RequestError(status: 413, message: "request body is over the limit of \(maxBodyBytes) bytes")
                }
                remainingInChunk = size
                phase = .data
            case .data:
                let available = min(remainingInChunk, buffer.count - i)
                if available == 0 { return nil }
                body.append(contentsOf: buffer[i..<(i + available)])
                i += available
                remainingInChunk -= available
                if remainingInChunk == 0 { phase = .dataEnd }
            case .dataEnd:
                guard buffer.count - i >= 2 else { return nil }
                guard buffer[i] == 13 && buffer[i + 1] == 10 else { throw RequestError(status: 400, message: "a chunk is longer than its size") }
                i += 2
                phase = .size
            }
        }
    }

    private static func lineEnd(_ buffer: [UInt8], from start: Int) throws(RequestError) -> Int? {
        var i = start
        while i < buffer.count {
            if buffer[i] == 10 { throw RequestError(status: 400, message: "a bare LF in the chunked body; lines end in CRLF") }
            if buffer[i] == 13 {
                guard i + 1 < buffer.count else { return nil }
                guard buffer[i + 1] == 10 else { throw RequestError(status: 400, message: "a bare CR in the chunked body") }
                return i
            }
            i += 1
        }
        return nil
    }
}
