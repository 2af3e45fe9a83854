import Testing

@testable import EventHTTP

/// The request parser, without sockets: framing, limits and the errors each bad input gets.
@Suite struct RequestParserTests {
    static func parse(
        _ text: String, maxHeader: Int = 16 << 10, maxBody: Int = 1 << 20, chunks: Int = 1
    ) throws(RequestError)
        -> (ParsedRequest, Int)?
    {
        var parser = RequestParser(maxHeaderBytes: maxHeader, maxBodyBytes: maxBody)
        let bytes = Array(text.utf8)
        // Fed in `chunks` pieces, as reads would deliver them.
        var buffer: [UInt8] = []
        let size = max(1, bytes.count / chunks)
        var offset = 0
        while offset < bytes.count {
            buffer += bytes[offset..<min(bytes.count, offset + size)]
            offset += size
            if case .request(let r, let consumed) = try parser.parse(buffer) { return (r, consumed) }
        }
        return nil
    }

    @Test(arguments: [1, 3, 1000])
    func aRequestWithABodyParsesWhateverTheReadSizes(_ chunks: Int) throws {
        let text = "POST /webhooks/telnyx?x=1 HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\nTelnyx-Signature-Ed25519: sig\r\n\r\nhelloGET"
        let (r, consumed) = try #require(try Self.parse(text, chunks: chunks))
        #expect(r.method == "POST" && r.target == "/webhooks/telnyx?x=1" && r.minorVersion == 1 && r.keepAlive)
        #expect(r.body == Array("hello".utf8))
        #expect(r.header("telnyx-signature-ed25519") == "sig")
        #expect(consumed == text.utf8.count - 3, "a pipelined request after it is left in the buffer")
    }

    @Test(arguments: [1, 7, 1000])
    func chunkedBodiesAreDecoded(_ chunks: Int) throws {
        let text = "POST /x HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n5;ext=1\r\nhello\r\n6\r\n world\r\n0\r\nTrailer: t\r\n\r\n"
        let (r, consumed) = try #require(try Self.parse(text, chunks: chunks))
        #expect(String(decoding: r.body, as: UTF8.self) == "hello world")
        #expect(consumed == text.utf8.count)
    }

    @Test(arguments: [
        ("GET / HTTP/1.0\r\n\r\n", false), ("GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n", true),
        ("GET / HTTP/1.1\r\n\r\n", true), ("GET / HTTP/1.1\r\nConnection: Keep-Alive, close\r\n\r\n", false),
    ])
    func keepAliveFollowsTheVersionAndConnectionHeader(_ text: String, _ keepAlive: Bool) throws {
        #expect(try #require(try Self.parse(text)).0.keepAlive == keepAlive)
    }

    @Test func anAbsoluteTargetKeepsItsPath() throws {
        #expect(try #require(try Self.parse("GET http://example.com/healthz?a HTTP/1.1\r\n\r\n")).0.target == "/healthz?a")
    }

    @Test(arguments: [
        ("POST / HTTP/1.1\r\nContent-Length: 3\r\nContent-Length: 60\r\n\r\nabc", 400, "2 Content-Length headers"),
        ("POST / HTTP/1.1\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n", 400, "both Content-Length and Transfer-Encoding"),
        ("POST / HTTP/1.1\r\nTransfer-Encoding: gzip\r\n\r\n", 501, "Transfer-Encoding \"gzip\" is not supported"),
        ("POST / HTTP/1.1\r\nContent-Length: 10000000000\r\n\r\n", 413, "request body is 10000000000 bytes; the limit is 1048576"),
        ("POST / HTTP/1.1\r\nContent-Length: -1\r\n\r\n", 400, "Content-Length must be a decimal number"),
        ("POST / HTTP/1.1\r\nContent-Length: 1 2\r\n\r\n", 400, "Content-Length must be a decimal number"),
        ("POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n", 400, "malformed chunk size \"zz\""),
        ("POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabcdef\r\n", 400, "a chunk is longer than its size"),
        ("GET / HTTP/1.1\r\nHost : a\r\n\r\n", 400, "malformed header name"),
        ("GET / HTTP/1.1\r\nX: a\r\n folded\r\n\r\n", 400, "obsolete line folding"),
        ("GET / HTTP/1.1\nHost: a\r\n\r\n", 400, "a bare LF"),
        ("GET / HTTP/2.0\r\n\r\n", 505, "HTTP version 2.0 is not supported"),
        ("GET /\r\n\r\n", 400, "malformed request line"),
        ("G(T / HTTP/1.1\r\n\r\n", 400, "malformed request line"),
        ("GET / HTTP/1.1\r\nNoColon\r\n\r\n", 400, "without a colon"),
    ])
    func malformedOrAmbiguousRequestsAreRefused(_ text: String, _ status: Int, _ message: String) {
        #expect {
            _ = try Self.parse(text)
        } throws: { error in
            guard let e = error as? RequestError else { return false }
            return e.status == status && e.message.contains(message)
        }
    }

    @Test func headsAndChunkedBodiesOverTheLimitsAreRefused() {
        #expect(throws: RequestError(status: 431, message: "request headers are over 64 bytes")) {
            _ = try Self.parse("GET / HTTP/1.1\r\nX: " + String(repeating: "a", count: 100), maxHeader: 64)
        }
        #expect(throws: RequestError(status: 413, message: "request body is over the limit of 4 bytes")) {
            _ = try Self.parse("POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n", maxBody: 4)
        }
    }

    @Test func expectContinueIsAnsweredBeforeTheBody() throws {
        var parser = RequestParser(maxHeaderBytes: 1024, maxBodyBytes: 1024)
        var buffer = Array("POST / HTTP/1.1\r\nExpect: 100-continue\r\nContent-Length: 2\r\n\r\n".utf8)
        #expect(try parser.parse(buffer) == .sendContinue)
        #expect(try parser.parse(buffer) == .incomplete)
        buffer += Array("ok".utf8)
        guard case .request(let r, _) = try parser.parse(buffer) else { Issue.record("no request"); return }
        #expect(r.body == Array("ok".utf8))
    }
}
