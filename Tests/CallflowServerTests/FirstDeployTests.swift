import CallflowCore
import CallflowServer
import CallflowTestSupport
import Foundation
import Testing

/// The path from `docker run` to a first answered call: which flow takes unrouted calls, where a
/// mounted config's relative paths point, and startup errors that name the fix.
@Suite(.serialized) struct FirstDeployTests {
    static let say = #"{"start":"a","nodes":{"a":{"type":"answer","next":"e"},"e":{"type":"hangup"}}}"#

    static func flowSet(_ names: [String]) throws -> FlowSet {
        let files = names.map { (name: $0, file: "\($0).json", bytes: Array(say.utf8)) }
        return try #require(FlowSet.load(files: files, timeZones: SystemTimeZones()).set)
    }

    struct RoutingCase: Sendable, CustomTestStringConvertible {
        var configured: String?
        var flows: [String]
        var expected: CallRouting
        var testDescription: String { "default \(configured ?? "unset"), flows \(flows)" }
    }

    @Test(arguments: [
        RoutingCase(configured: "sales", flows: ["main", "sales"], expected: .configured("sales")),
        RoutingCase(configured: nil, flows: ["main", "sales", "voicemail"], expected: .main),
        RoutingCase(configured: nil, flows: ["support"], expected: .onlyFlow("support")),
        RoutingCase(configured: nil, flows: ["sales", "support"], expected: .none),
    ])
    func unroutedCallsGoToTheDefaultThenMainThenTheOnlyFlow(_ c: RoutingCase) throws {
        let routing = CallRouting(configured: c.configured, flows: try Self.flowSet(c.flows))
        #expect(routing == c.expected)
        #expect(routing.flow == c.expected.flow)
    }

    @Test func rejectingEveryCallIsReportedOnlyWithoutRoutesAndDefault() throws {
        let two = try Self.flowSet(["sales", "support"])
        let none = CallRouting(configured: nil, flows: two)
        let problem = try #require(CallRouting.rejectsEverything(routes: [:], default: none, flowNames: Array(two.flows.keys)))
        #expect(problem.contains("set flows.default") && problem.contains("sales, support"))
        #expect(CallRouting.rejectsEverything(routes: ["+13125550100": "sales"], default: none, flowNames: ["sales"]) == nil)
        #expect(CallRouting.rejectsEverything(routes: [:], default: .main, flowNames: ["main"]) == nil)
    }

    /// The image's own config (no routes, no default) answers a call on flows/main.json.
    @Test func theImageConfigAnswersACallOnMain() throws {
        let waker = LoopWaker()
        let api = try FakeHTTPServer.waking(waker) { _, _ in .status(200, #"{"data":{"result":"ok"}}"#) }
        defer { api.stop() }
        let image = try ConfigLoader.load(path: Fixtures.repoRoot.appendingPathComponent("docker/config.json").path, environment: [:])
        #expect(image.flows.defaultFlow == nil && image.flows.routes.isEmpty, "the image relies on the main.json rule")
        #expect(image.flows.dir == "/app/flows" && image.store.path == "/app/data/callflow.db")
        var config = try TelnyxSide.config(api: api, flows: [:], defaultFlow: "unused")
        config.flows = image.flows
        config.flows.dir = Fixtures.repoRoot.appendingPathComponent("flows").path
        let server = try InMemoryServer(config: config, waker: waker)
        #expect(try server.get("/readyz").status == 200)
        let initiated = TelnyxSide.event("call.initiated", call: "v3:first-call", ["direction": "incoming", "state": "parked"], clientState: nil)
        #expect(try server.signedWebhook(initiated).status == 200)
        #expect(try server.runLoop { !api.requests.isEmpty })
        let first = try #require(api.requests.first)
        #expect(first.path == "/v2/calls/v3:first-call/actions/answer", "main.json's first node answers, nothing rejects")
    }

    /// A flows directory no call can reach starts (the control API can still place calls), but is
    /// never reported ready.
    @Test func aServerThatWouldRejectEveryCallIsNotReady() throws {
        var config = IngressTests.config()
        config.flows.dir = try TelnyxSide.flowsDir(["sales": Self.say, "support": Self.say])
        config.flows.defaultFlow = nil
        let server = try InMemoryServer(config: config)
        let ready = try server.get("/readyz")
        #expect(ready.status == 503)
        #expect(ready.body.contains("no flow takes calls") && ready.body.contains("flows.default"))
    }

    static func tempDir() throws -> URL {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("callflow-config-\(UUID())")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        return dir
    }

    @Test func relativePathsInAConfigFileMeanBesideTheFile() throws {
        let dir = try Self.tempDir()
        defer { try? FileManager.default.removeItem(at: dir) }
        let file = dir.appendingPathComponent("config.json")
        try Data(#"{"flows":{"dir":"flows"},"store":{"path":"state/callflow.db"}}"#.utf8).write(to: file)
        let fromElsewhere = try ConfigLoader.load(path: file.path, environment: [:], workingDirectory: "/somewhere/else")
        #expect(fromElsewhere.flows.dir == dir.appendingPathComponent("flows").path)
        #expect(fromElsewhere.store.path == dir.appendingPathComponent("state/callflow.db").path)
        // A relative --config is relative to the working directory, its contents to its folder.
        let relative = try ConfigLoader.load(path: "config.json", environment: [:], workingDirectory: dir.path)
        #expect(relative.flows.dir == dir.appendingPathComponent("flows").path)
    }

    /// The mounted-config case: config.example.json (store.path "callflow.db") mounted over the
    /// image's keeps the database in the image's volume, not in the read-only /app.
    @Test func aMountedExampleConfigKeepsTheStoreInTheDataVolume() throws {
        let example = Fixtures.repoRoot.appendingPathComponent("config.example.json").path
        let config = try ConfigLoader.load(path: example, environment: ["CALLFLOW_DATA_DIR": "/app/data"], workingDirectory: "/app")
        #expect(config.store.path == "/app/data/callflow.db")
        #expect(config.flows.dir == Fixtures.repoRoot.appendingPathComponent("flows").path)
        let absolute = try ConfigLoader.load(path: nil, environment: ["CALLFLOW_DATA_DIR": "/app/data"], workingDirectory: "/app")
        #expect(absolute.store.path == "/app/data/callflow.db" && absolute.flows.dir == "/app/flows")
    }

    @Test func withoutAFilePathsAreRelativeToTheWorkingDirectory() throws {
        let config = try ConfigLoader.load(path: nil, environment: [:], workingDirectory: "/srv/ivr")
        #expect(config.flows.dir == "/srv/ivr/flows")
        #expect(config.store.path == "/srv/ivr/callflow.db")
    }

    @Test func aStoreFolderThatDoesNotExistNamesTheFolderAndTheFix() throws {
        var config = TestServer.baseConfig()
        config.telnyx.publicKey = IngressTests.signer.publicKeyBase64
        config.store.kind = .sqlite
        config.store.path = "/nonexistent-\(UUID())/callflow.db"
        #expect {
            _ = try ServerApp(config: config, insecureSkipVerify: false, logger: TestServer.quietLogger)
        } throws: { error in
            let text = "\(error)"
            return text.contains("store.path \(config.store.path)") && text.contains("does not exist") && text.contains("/app/data")
                && !text.contains("memory")
        }
    }

    @Test(arguments: [
        ("api.telnyx.com/v2", "the scheme is missing"),
        ("ftp://api.telnyx.com/v2", "only http and https are supported"),
        ("https:///v2", "with a host"),
        ("https://api telnyx.com", "spaces"),
    ])
    func anAPIBaseURLWithoutSchemeOrHostIsAStartupError(_ url: String, _ message: String) {
        #expect {
            _ = try ConfigLoader.load(path: nil, environment: ["TELNYX_API_BASE_URL": url])
        } throws: { error in
            "\(error)".contains("TELNYX_API_BASE_URL: ") && "\(error)".contains(message)
        }
        #expect {
            _ = try ConfigTests.decode(#"{"telnyx":{"api_base_url":"\#(url)"}}"#)
        } throws: { error in
            "\(error)".contains("telnyx.api_base_url: ") && "\(error)".contains(message)
        }
    }
}
