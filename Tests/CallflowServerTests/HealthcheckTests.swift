import CallflowServer
import Foundation
import Testing

/// `callflow healthcheck`, the Docker HEALTHCHECK: it asks the port the config (or `PORT`) sets,
/// so a mounted config that moves the port does not leave a serving container "unhealthy".
@Suite(.serialized) struct HealthcheckTests {
    @Test func itAsksThePortTheEnvironmentSets() throws {
        let server = try TestServer(config: IngressTests.config())
        defer { server.stop() }
        let up = try CLITests.callflow(["healthcheck"], environment: ["PORT": String(server.port)])
        #expect(up.status == 0, "\(up.stderr)")
        let ready = try CLITests.callflow(["healthcheck", "--path", "/readyz"], environment: ["PORT": String(server.port)])
        #expect(ready.status == 0, "\(ready.stderr)")
    }

    @Test func itAsksThePortAConfigFileSets() throws {
        let server = try TestServer(config: IngressTests.config())
        defer { server.stop() }
        let file = FileManager.default.temporaryDirectory.appendingPathComponent("callflow-hc-\(UUID()).json")
        try Data(#"{"server":{"host":"0.0.0.0","port":\#(server.port)}}"#.utf8).write(to: file)
        defer { try? FileManager.default.removeItem(at: file) }
        let run = try CLITests.callflow(["healthcheck", "--config", file.path])
        #expect(run.status == 0, "\(run.stderr)")
    }

    @Test func aServerThatTakesNoCallFailsTheReadinessCheckAndSaysWhy() throws {
        var config = IngressTests.config()
        config.flows.dir = try TelnyxSide.flowsDir(["sales": FirstDeployTests.say, "support": FirstDeployTests.say])
        config.flows.defaultFlow = nil
        let server = try TestServer(config: config)
        defer { server.stop() }
        let alive = try CLITests.callflow(["healthcheck"], environment: ["PORT": String(server.port)])
        #expect(alive.status == 0, "alive: the process answers /healthz")
        let ready = try CLITests.callflow(["healthcheck", "--path", "/readyz"], environment: ["PORT": String(server.port)])
        #expect(ready.status == 1)
        #expect(ready.stderr.contains("answered 503") && ready.stderr.contains("no flow takes calls"), "\(ready.stderr)")
    }

    @Test func noServerIsExitOneWithTheReason() throws {
        let run = try CLITests.callflow(["healthcheck"], environment: ["PORT": String(CrashRecoveryTests.freePort())])
        #expect(run.status == 1)
        #expect(run.stderr.contains("callflow healthcheck: http://127.0.0.1:"), "\(run.stderr)")
    }
}
