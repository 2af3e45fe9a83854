import CallflowCore
import CallflowServer
import CallflowTestSupport
import Foundation
import Testing

@Suite struct ConfigTests {
    static func decode(_ text: String) throws -> CallflowConfig {
        try ConfigLoader.decode(try JSONParser.parse(text), path: "config.json")
    }

    @Test func defaultsWithoutAFile() throws {
        let config = try ConfigLoader.load(path: nil, environment: [:])
        #expect(config.server.port == 8080)
        #expect(config.server.host == "0.0.0.0")
        #expect(config.server.webhookPath == "/webhooks/telnyx")
        #expect(config.telnyx.apiBaseURL == "https://api.telnyx.com/v2")
        #expect(config.telnyx.signatureToleranceSecs == 300)
        #expect(config.flows.dir == FileManager.default.currentDirectoryPath + "/flows", "relative to the working directory")
        #expect(config.log.format == .json)
    }

    @Test func exampleConfigIsValid() throws {
        let path = Fixtures.repoRoot.appendingPathComponent("config.example.json").path
        let config = try ConfigLoader.load(path: path, environment: [:])
        #expect(config.flows.defaultFlow == "main")
    }

    @Test func environmentOverrides() throws {
        let config = try ConfigLoader.load(
            path: nil,
            environment: [
                "TELNYX_API_KEY": "KEY", "TELNYX_PUBLIC_KEY": "PUB", "TELNYX_API_BASE_URL": "http://127.0.0.1:9/v2", "PORT": "9090",
            ])
        #expect(config.telnyx.apiKey == "KEY")
        #expect(config.telnyx.publicKey == "PUB")
        #expect(config.telnyx.apiBaseURL == "http://127.0.0.1:9/v2")
        #expect(config.server.port == 9090)
        #expect(throws: ConfigError.self) { try ConfigLoader.load(path: nil, environment: ["PORT": "eighty"]) }
    }

    @Test func unknownKeysAndWrongTypesNameTheKey() {
        #expect {
            _ = try Self.decode(
                #"{"server":{"webhok_path":"/x","port":"80"},"telnix":{},"log":{"level":"loud"},"flows":{"routes":{"555":"main","+13125550100":3}}}"#)
        } throws: { error in
            let text = "\(error)"
            return text.contains("server.webhok_path: unknown key; did you mean \"webhook_path\"?")
                && text.contains("server.port: expected integer, found string")
                && text.contains("telnix: unknown key; did you mean \"telnyx\"?")
                && text.contains("log.level: expected one of")
                && text.contains("flows.routes.555: route key must be an E.164")
                && text.contains("flows.routes.+13125550100: expected a flow name")
        }
    }

    @Test func unreadableAndInvalidFiles() throws {
        #expect(throws: ConfigError.self) { try ConfigLoader.load(path: "/nonexistent/config.json", environment: [:]) }
        let url = FileManager.default.temporaryDirectory.appendingPathComponent("callflow-bad-\(UUID()).json")
        try Data("{\n  \"server\": {,}\n}".utf8).write(to: url)
        defer { try? FileManager.default.removeItem(at: url) }
        #expect {
            _ = try ConfigLoader.load(path: nil, environment: ["CALLFLOW_CONFIG": url.path])
        } throws: { error in
            "\(error)".contains("2:14")
        }
    }
}
