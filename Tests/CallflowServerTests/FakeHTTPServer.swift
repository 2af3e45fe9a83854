import CallflowCore
import Foundation
import Synchronization

#if canImport(Glibc)
    import Glibc
#endif

/// A scriptable HTTP/1.1 server on loopback, thread per connection, built on raw sockets so it
/// can do what a misbehaving API does: answer late, never answer, or reset the connection.
/// Plays Telnyx for the command client and a backend for `http` nodes.
final class FakeHTTPServer: Sendable {
    struct Received: Sendable {
        var method: String
        var path: String
        var headers: [String: String]
        var body: [UInt8]
        var at: Double
        var connection: Int
        var json: JSONValue? { try? JSONParser.parse(body) }
    }

    enum Reply: Sendable {
        case status(Int, String, headers: [(String, String)] = [])
        /// Wait, then reply.
        indirect case after(ms: Int, Reply)
        /// Close the connection without a response.
        case reset
        /// Read the request and never answer (until the client gives up).
        case silence
    }

    let port: Int
    private let listener: Int32
    private let log = Mutex<[Received]>([])
    private let connections = Mutex(0)
    private let responder: @Sendable (Received, Int) -> Reply
    private let stopped = Mutex(false)

    /// `responder` gets each request and its index (0-based, in arrival order).
    init(responder: @escaping @Sendable (Received, Int) -> Reply) throws {
        self.responder = responder
        let sock = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        listener = sock
        var yes: Int32 = 1
        setsockopt(sock, SOL_SOCKET, SO_REUSEADDR, &yes, socklen_t(MemoryLayout<Int32>.size))
        var addr = sockaddr_in()
        addr.sin_family = sa_family_t(AF_INET)
        addr.sin_addr.s_addr = inet_addr("127.0.0.1")
        addr.sin_port = 0
        let bound = withUnsafePointer(to: &addr) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(sock, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        guard bound == 0, listen(sock, 64) == 0 else { throw POSIXError(.EADDRINUSE) }
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        _ = withUnsafeMutablePointer(to: &addr) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(sock, $0, &length) }
        }
        port = Int(UInt16(bigEndian: addr.sin_port))
        let listening = self.listener
        Thread { [self] in
            while true {
                let fd = accept(listening, nil, nil)
                if fd < 0 { return }
                let id = connections.withLock {
                    $0 += 1; return $0
                }
                Thread { self.serve(fd, connection: id) }.start()
            }
        }.start()
    }

    /// Idempotent: a second close() could hit a descriptor number the kernel has since given to
    /// another test's socket.
    func stop() {
        let first = stopped.withLock { wasStopped -> Bool in
            defer { wasStopped = true }
            return !wasStopped
        }
        guard first else { return }
        shutdown(listener, Int32(SHUT_RDWR))
        close(listener)
    }

    deinit { stop() }

    var requests: [Received] { log.withLock { $0 } }
    var connectionCount: Int { connections.withLock { $0 } }

    /// Waits until `count` requests arrived (or `timeout` passes).
    @discardableResult
    func waitFor(_ count: Int, timeout: Double = 20) -> [Received] {
        let deadline = Date().addingTimeInterval(timeout)
        while Date() < deadline {
            let r = requests
            if r.count >= count { return r }
            usleep(5_000)
        }
        return requests
    }

    private func serve(_ fd: Int32, connection: Int) {
        defer { close(fd) }
        var buffer: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 65536)
        while !stopped.withLock({ $0 }) {
            // Read one request: headers, then Content-Length bytes.
            var headerEnd: Range<Int>? = nil
            while headerEnd == nil {
                let n = recv(fd, &chunk, chunk.count, 0)
                if n <= 0 { return }
                buffer += chunk[0..<n]
                headerEnd = buffer.firstRange(of: Array("\r\n\r\n".utf8))
            }
            let head = String(decoding: buffer[..<headerEnd!.lowerBound], as: UTF8.self).components(separatedBy: "\r\n")
            let requestLine = head[0].split(separator: " ")
            var headers: [String: String] = [:]
            for line in head.dropFirst() {
                guard let colon = line.firstIndex(of: ":") else { continue }
                headers[line[..<colon].lowercased()] = line[line.index(after: colon)...].trimmingCharacters(in: .whitespaces)
            }
            let length = Int(headers["content-length"] ?? "0") ?? 0
            buffer.removeFirst(headerEnd!.upperBound)
            while buffer.count < length {
                let n = recv(fd, &chunk, chunk.count, 0)
                if n <= 0 { return }
                buffer += chunk[0..<n]
            }
            let body = Array(buffer.prefix(length))
            buffer.removeFirst(length)
            let received = Received(
                method: String(requestLine.first ?? ""), path: requestLine.count > 1 ? String(requestLine[1]) : "",
                headers: headers, body: body, at: ProcessInfo.processInfo.systemUptime, connection: connection)
            let index = log.withLock {
                $0.append(received); return $0.count - 1
            }
            var reply = responder(received, index)
            while case .after(let ms, let next) = reply {
                usleep(useconds_t(ms * 1000))
                reply = next
            }
            switch reply {
            case .reset:
                var l = linger(l_onoff: 1, l_linger: 0)
                setsockopt(fd, SOL_SOCKET, SO_LINGER, &l, socklen_t(MemoryLayout<linger>.size))
                return
            case .silence:
                while recv(fd, &chunk, chunk.count, 0) > 0 {}
                return
            case .status(let status, let text, let extra):
                var response = "HTTP/1.1 \(status) X\r\nContent-Type: application/json\r\nContent-Length: \(text.utf8.count)\r\n"
                for (k, v) in extra { response += "\(k): \(v)\r\n" }
                response += "\r\n" + (received.method == "HEAD" ? "" : text)  // a HEAD reply states the length, sends no body
                let bytes = Array(response.utf8)
                _ = bytes.withUnsafeBytes { send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
            case .after:
                return
            }
        }
    }
}
