import CallflowLoop
import CallflowRuntime
import CallflowServer
import CallflowTestSupport
import EventHTTP
import Foundation
import Logging
import Synchronization

/// Runs a real `ServerApp` on its own thread (its event loop is confined there) on a free port.
final class TestServer: Sendable {
    let port: Int
    private let handle: LoopHandle
    private let finished: DispatchSemaphore

    static let quietLogger = Logger(label: "test") { _ in SwiftLogNoOpLogHandler() }

    /// Shipped flows, a dummy API key, and an API base nobody listens on.
    static func baseConfig() -> CallflowConfig {
        var config = CallflowConfig()
        config.telnyx.apiKey = "KEY_test_secret"
        config.telnyx.apiBaseURL = "http://127.0.0.1:9/v2"
        config.telnyx.maxAttempts = 1
        config.flows.dir = Fixtures.repoRoot.appendingPathComponent("flows").path
        config.flows.defaultFlow = "main"
        config.store.kind = .memory
        return config
    }

    /// `clockMs`: the server's wall clock (a test moves it to make stored timers due after a restart).
    init(
        config: CallflowConfig, insecure: Bool = false, handleSignals: Bool = false, store: (any CallStore & Sendable)? = nil,
        clockMs: @escaping @Sendable () -> Int64 = Clocks.wallMs
    ) throws {
        var config = config
        config.server.host = "127.0.0.1"
        config.server.port = 0
        let started = DispatchSemaphore(value: 0)
        let finished = DispatchSemaphore(value: 0)
        let outcome = Mutex<Result<(Int, LoopHandle), any Error>?>(nil)
        let frozen = config
        let thread = Thread {
            do {
                let app = try ServerApp(
                    config: frozen, insecureSkipVerify: insecure, logger: TestServer.quietLogger, clockMs: clockMs, store: store)
                if handleSignals { try app.installSignalHandlers() }
                outcome.withLock { $0 = .success((app.port, app.loop.handle)) }
                started.signal()
                try app.run(handleSignals: false)
            } catch {
                outcome.withLock { $0 = .failure(error) }
                started.signal()
            }
            finished.signal()
        }
        thread.start()
        started.wait()
        let (port, handle) = try outcome.withLock { $0! }.get()
        self.port = port
        self.handle = handle
        self.finished = finished
    }

    func stop() {
        handle.stop()
        finished.wait()
    }

    /// Waits for the server's loop to end by itself (after SIGTERM); false on timeout.
    func waitUntilStopped(seconds: Double) -> Bool {
        finished.wait(timeout: .now() + seconds) == .success
    }

    deinit { handle.stop() }
}
