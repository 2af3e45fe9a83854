import CallflowCore
import Foundation
import Testing

#if canImport(Glibc)
    import Glibc
#endif

/// What a public endpoint meets: slow clients, connections that never send a request, and
/// requests the server refuses before any handler (each answered as the README's table says,
/// with a JSON body).
@Suite(.serialized) struct ConnectionEdgeTests {
    /// Sends `request` a byte at a time, `gapMs` apart, until the server answers or closes.
    /// Returns what came back and how many bytes had been sent by then.
    static func trickle(_ request: String, port: Int, gapMs: UInt32) throws -> (reply: String, sent: Int) {
        let connection = try RawConnection(port: port, timeoutSeconds: 1)
        let bytes = Array(request.utf8)
        var received: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 4096)
        for (i, byte) in bytes.enumerated() {
            connection.send([byte])
            usleep(gapMs * 1000)
            let n = recv(connection.fd, &buffer, buffer.count, Int32(MSG_DONTWAIT))
            if n > 0 { received += buffer[0..<n] }
            if n == 0 || n > 0 { return (String(decoding: received + connection.readUntilClose().bytes, as: UTF8.self), i + 1) }
        }
        return (String(decoding: received + connection.readUntilClose().bytes, as: UTF8.self), bytes.count)
    }

    /// A client trickling a byte every 200 ms is cut at the request deadline (1 s here) with a
    /// 408, though the connection is never quiet for as long as the timeout.
    @Test func aRequestMustArriveWholeWithinTheTimeoutFromItsFirstByte() throws {
        let server = try TestServer(config: IngressTests.config(timeout: 1))
        defer { server.stop() }
        let request = "POST /webhooks/telnyx HTTP/1.1\r\nHost: x\r\nContent-Length: 40\r\n\r\n" + String(repeating: "a", count: 40)
        let (reply, sent) = try Self.trickle(request, port: server.port, gapMs: 200)
        #expect(sent < request.utf8.count, "cut before the request was complete")
        #expect(reply.hasPrefix("HTTP/1.1 408"), "\(reply)")
        #expect(reply.contains(#"{"error":"the request did not arrive whole within 1 s"}"#))
        #expect(try TestHTTP.request(port: server.port, method: "GET", path: "/healthz").status == 200)
    }

    @Test func anIdleKeepAliveConnectionIsClosedAfterTheTimeout() throws {
        let server = try TestServer(config: IngressTests.config(timeout: 1))
        defer { server.stop() }
        let connection = try RawConnection(port: server.port, timeoutSeconds: 5)
        connection.send("GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
        #expect(connection.readResponse()?.status == 200)
        let (rest, closed) = connection.readUntilClose()
        #expect(closed && rest.isEmpty, "closed by the server, with nothing more sent")
    }

    /// A client that pipelines requests and never reads the replies: the server stops taking
    /// requests while a reply waits to be written (no unbounded buffering), and drops the
    /// connection once the reply has made no progress for the timeout.
    @Test func aClientThatNeverReadsItsRepliesIsDropped() throws {
        let server = try TestServer(config: IngressTests.config(timeout: 1))
        defer { server.stop() }
        let connection = try RawConnection(port: server.port, timeoutSeconds: 1)
        var small: Int32 = 4096
        setsockopt(connection.fd, SOL_SOCKET, SO_RCVBUF, &small, socklen_t(MemoryLayout<Int32>.size))
        let one = Array("GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n".utf8)  // replies of several KB each
        let burst = Array([[UInt8]](repeating: one, count: 20_000).joined())
        // Sent from another thread: once the server stops reading, this write blocks too.
        let fd = connection.fd
        Thread {
            _ = burst.withUnsafeBytes { Glibc.send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
        }.start()
        func open() -> Int? {
            guard let text = try? TestHTTP.request(port: server.port, method: "GET", path: "/metrics").body,
                let line = text.split(separator: "\n").first(where: { $0.hasPrefix("callflow_open_connections ") })
            else { return nil }
            return Int(Double(line.split(separator: " ")[1]) ?? -1)
        }
        // The metrics request itself is one open connection; the silent reader is the other.
        #expect(AcceptLimitTests.waitFor(10) { open() == 2 }, "the client's connection is open")
        #expect(AcceptLimitTests.waitFor(20) { open() == 1 }, "the non-reading client was dropped")
        let (bytes, closed) = connection.readUntilClose()
        // Closed with requests still unread on its side, the server's socket sends a reset after the data.
        let reset = !closed && errno == ECONNRESET
        let replies = String(decoding: bytes, as: UTF8.self).components(separatedBy: "HTTP/1.1 200").count - 1
        #expect(closed || reset, "the connection ended")
        #expect(replies > 0 && replies < 20_000, "some replies, not all: \(replies)")
    }

    /// Connections count from the moment they are accepted, whether or not they ever send a request.
    @Test func connectionsThatNeverSendARequestCountTowardsTheLimit() throws {
        var config = IngressTests.config()
        config.server.maxConnections = 2
        let server = try TestServer(config: config)
        defer { server.stop() }
        let a = try RawConnection(port: server.port, timeoutSeconds: 1)
        let b = try RawConnection(port: server.port, timeoutSeconds: 1)
        _ = b
        let c = try RawConnection(port: server.port, timeoutSeconds: 2)  // waits in the kernel's backlog
        c.send("GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        #expect(c.readResponse() == nil, "not served while two silent connections hold both slots")
        // One of them completes a request and closes: the waiting connection gets its slot.
        a.send("GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        #expect(a.readResponse()?.status == 200)
        #expect(c.readResponse()?.status == 200)
    }

    @Test(arguments: [
        ("FOO /healthz HTTP/1.1\r\nHost: x\r\n\r\n", 405, "method FOO not allowed"),
        ("PROPFIND /nowhere HTTP/1.1\r\nHost: x\r\n\r\n", 404, "no route for /nowhere"),
        ("POST /webhooks/telnyx HTTP/1.1\r\nHost: x\r\nContent-Length: 10000000000\r\n\r\n", 413, "request body is 10000000000 bytes"),
        ("POST /webhooks/telnyx HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n", 400, "malformed chunk size"),
        ("GET /healthz HTTP/1.1\r\nHost: x\r\nX-Big: \(String(repeating: "a", count: 20_000))\r\n\r\n", 431, "request headers are over"),
        ("GET /healthz HTTP/3\r\n\r\n", 505, "is not supported"),
        ("\u{1}\u{2}garbage\r\n\r\n", 400, "malformed request line"),
    ])
    func everyRefusalIsJSONWithTheDocumentedStatus(_ request: String, _ status: Int, _ message: String) throws {
        let server = try TestServer(config: IngressTests.config())
        defer { server.stop() }
        let connection = try RawConnection(port: server.port, timeoutSeconds: 3)
        connection.send(request)
        let response = try #require(connection.readResponse(), "an answer, not silence")
        #expect(response.status == status)
        #expect(response.headers["content-type"] == "application/json")
        let body = try JSONParser.parse(Array(response.body.utf8))
        #expect(body["error"]?.stringValue?.contains(message) == true, "\(response.body)")
    }
}
