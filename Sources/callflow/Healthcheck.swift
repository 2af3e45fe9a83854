import ArgumentParser
import CallflowLoop
import CallflowServer
import EventHTTP
import Foundation

/// The Docker HEALTHCHECK. It reads the same config as `serve` (`--config`, `CALLFLOW_CONFIG`,
/// `PORT`), so a mounted config that moves the port does not leave the container "unhealthy"
/// while it serves fine — a curl of a fixed port in the Dockerfile did exactly that.
struct Healthcheck: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Exit 0 when the server configured here answers GET /healthz (or --path) with 200, else 1.",
        discussion: "Reads the config as serve does (--config, CALLFLOW_CONFIG, PORT). Used by the Docker image's HEALTHCHECK."
    )

    @Option(name: .long, help: "Path to config.json (default: $CALLFLOW_CONFIG, else embedded defaults).")
    var config: String?

    @Option(help: "The path to ask: /healthz (alive) or /readyz (ready to take calls).")
    var path = "/healthz"

    @Option(help: "Give up after this many milliseconds.")
    var timeoutMs = 2000

    func run() throws {
        guard path.hasPrefix("/") else { throw ValidationError("--path must start with /, found \"\(path)\"") }
        let loaded: CallflowConfig
        do { loaded = try ConfigLoader.load(path: config, environment: ProcessInfo.processInfo.environment) } catch {
            FileHandle.standardError.write(Data("callflow healthcheck: \(error)\n".utf8))
            throw ExitCode(2)
        }
        let url = "http://\(Self.connectHost(loaded.server.host)):\(loaded.server.port)\(path)"
        let loop = try EventLoop()
        let client = try HTTPClient(loop: loop)
        var status: Int? = nil
        var body = ""
        var failure = ""
        client.send(ClientRequest(method: "GET", url: url, timeoutMs: timeoutMs, maxResponseBytes: 64 << 10)) { result in
            switch result {
            case .success(let response):
                status = response.status
                body = String(decoding: response.body.prefix(500), as: UTF8.self)
            case .failure(let error): failure = "\(error)"
            }
            loop.handle.stop()
        }
        try loop.run()
        guard status == 200 else {
            // The body says why (/readyz: "no flow takes calls: …", "store unavailable", …).
            let answer = status.map { "answered \($0)" + (body.isEmpty ? "" : ": \(body)") } ?? failure
            FileHandle.standardError.write(Data("callflow healthcheck: \(url): \(answer)\n".utf8))
            throw ExitCode(1)
        }
    }

    /// Where to connect for a listen address: the wildcard addresses mean "this machine".
    static func connectHost(_ host: String) -> String {
        switch host {
        case "0.0.0.0", "": return "127.0.0.1"
        case "::", "[::]": return "[::1]"
        default: return host.contains(":") && !host.hasPrefix("[") ? "[\(host)]" : host
        }
    }
}
