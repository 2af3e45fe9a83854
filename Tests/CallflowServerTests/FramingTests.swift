import Foundation
import Testing

/// Requests whose body length two parsers could read differently are refused and their
/// connection closed, so nothing after them on the connection is ever served (RFC 9112 §6.3).
@Suite(.serialized) struct FramingTests {
    static let smuggled = "GET /smuggled HTTP/1.1\r\nHost: x\r\n\r\n"

    @Test(arguments: [
        ("Content-Length: 3\r\nContent-Length: 60\r\n", "abc", "2 Content-Length headers"),
        ("Content-Length: 3\r\ncontent-length: 3\r\n", "abc", "2 Content-Length headers"),
    ])
    func ambiguousFramingIsRefusedAndTheConnectionClosed(_ headers: String, _ body: String, _ reason: String) throws {
        let server = try TestServer(config: IngressTests.config())
        defer { server.stop() }
        let connection = try RawConnection(port: server.port, timeoutSeconds: 3)
        connection.send("POST /webhooks/telnyx HTTP/1.1\r\nHost: x\r\n\(headers)\r\n\(body)\(Self.smuggled)")
        let (bytes, closed) = connection.readUntilClose()
        let text = String(decoding: bytes, as: UTF8.self)
        #expect(closed, "the connection is closed after the 400")
        #expect(text.hasPrefix("HTTP/1.1 400"))
        #expect(text.contains(#"{"error":"the request has "#) && text.contains(reason), "\(text)")
        #expect(text.components(separatedBy: "HTTP/1.1 ").count == 2, "exactly one response; the smuggled request is never served: \(text)")
    }

    /// (evhttp refused this one itself, with an HTML page; the server's own parser answers JSON.)
    @Test func contentLengthWithTransferEncodingIsRefusedAndTheConnectionClosed() throws {
        let server = try TestServer(config: IngressTests.config())
        defer { server.stop() }
        let connection = try RawConnection(port: server.port, timeoutSeconds: 3)
        connection.send(
            "POST /webhooks/telnyx HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n"
                + "3\r\nabc\r\n0\r\n\r\n\(Self.smuggled)")
        let (bytes, closed) = connection.readUntilClose()
        let text = String(decoding: bytes, as: UTF8.self)
        #expect(closed && text.hasPrefix("HTTP/1.1 400"))
        #expect(text.contains(#"{"error":"the request has both Content-Length and Transfer-Encoding; send one of them"}"#))
        #expect(text.components(separatedBy: "HTTP/1.1 ").count == 2, "exactly one response: \(text)")
    }

    @Test func oneContentLengthStillKeepsTheConnectionAlive() throws {
        let server = try TestServer(config: IngressTests.config())
        defer { server.stop() }
        let connection = try RawConnection(port: server.port, timeoutSeconds: 3)
        connection.send("GET /healthz HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n")
        #expect(connection.readResponse()?.status == 200)
        connection.send("GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
        #expect(connection.readResponse()?.status == 200)
    }
}
