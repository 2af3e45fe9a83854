import ArgumentParser
import CallflowCore
import CallflowServer
import Foundation
import TelnyxAPI

struct TelnyxGroup: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "telnyx",
        abstract: "Manage the Telnyx side: Call Control Applications, connecting the app to this server, live calls and call events.",
        discussion: "Uses TELNYX_API_KEY (and TELNYX_API_BASE_URL if set). Errors print Telnyx's reasons and exit 1.",
        subcommands: [Apps.self, Connect.self, Calls.self, CallStatus.self, Events.self]
    )
}

/// Options every `callflow telnyx` command takes.
struct AccountOptions: ParsableArguments {
    @Flag(help: "Print JSON instead of a table.")
    var json = false

    @Option(help: "Config file (for telnyx.api_key, telnyx.api_base_url and server.webhook_path); default $CALLFLOW_CONFIG.")
    var config: String?

    func load() throws -> (AccountCommands, CallflowConfig) {
        let loaded: CallflowConfig
        do { loaded = try ConfigLoader.load(path: config, environment: ProcessInfo.processInfo.environment) } catch {
            throw Failure("\(error)")
        }
        guard let key = loaded.telnyx.apiKey else { throw Failure("no Telnyx API key: set TELNYX_API_KEY (or telnyx.api_key in the config file)") }
        return (AccountCommands(api: try TelnyxAPI(baseURL: loaded.telnyx.apiBaseURL, apiKey: key)), loaded)
    }

    func emit(_ value: JSONValue, table: () -> String) {
        print(json ? value.jsonString : table(), terminator: json ? "\n" : "")
    }
}

/// A message for stderr and exit 1.
struct Failure: Error, CustomStringConvertible {
    var description: String
    init(_ d: String) { description = d }
}

func runAccount(_ body: () throws -> Void) throws {
    do { try body() } catch let e as TelnyxAPIError {
        FileHandle.standardError.write(Data("callflow: \(e)\n".utf8))
        throw ExitCode(1)
    } catch let e as Failure {
        FileHandle.standardError.write(Data("callflow: \(e)\n".utf8))
        throw ExitCode(1)
    }
}

/// Asks on the terminal before `action`; anything but y/yes refuses. Without a terminal (a script,
/// CI) it refuses at once and names `--yes`, rather than reading a line never meant as an answer.
/// `detail` (which may ask the API) is only fetched once there is someone to ask.
func confirm(_ action: String, detail: () throws -> String) throws {
    guard isatty(0) == 1 else {
        throw Failure("refusing to \(action) without confirmation: standard input is not a terminal; pass --yes to do it anyway")
    }
    FileHandle.standardError.write(Data("\(action)\(try detail())? [y/N] ".utf8))
    let answer = (readLine() ?? "").trimmingCharacters(in: .whitespaces).lowercased()
    guard answer == "y" || answer == "yes" else { throw Failure("not done: \(action) needs the answer y (or --yes)") }
}

func appsTable(_ apps: [JSONValue]) -> String {
    TextTable.render(
        ["ID", "NAME", "ACTIVE", "API", "WEBHOOK URL"],
        apps.map {
            [
                TextTable.cell($0["id"]), TextTable.cell($0["application_name"]), TextTable.cell($0["active"]),
                TextTable.cell($0["webhook_api_version"]), TextTable.cell($0["webhook_event_url"]),
            ]
        })
}

func validURL(_ s: String, _ option: String) throws {
    guard (s.hasPrefix("https://") || s.hasPrefix("http://")) && s.count > 8 else { throw ValidationError("\(option) must be an http(s) URL") }
}

struct Apps: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Call Control Applications.", subcommands: [List.self, Show.self, Create.self, Update.self, Delete.self])

    struct List: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "List every application (all pages).")
        @OptionGroup var options: AccountOptions
        func run() throws {
            try runAccount {
                let apps = try options.load().0.listApps()
                options.emit(.array(apps)) { appsTable(apps) }
            }
        }
    }

    struct Show: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Show one application.")
        @Argument(help: "The application id.") var id: String
        @OptionGroup var options: AccountOptions
        func run() throws {
            try runAccount {
                let app = try options.load().0.showApp(id)
                options.emit(app) { appsTable([app]) }
            }
        }
    }

    struct Create: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Create an application (webhook API v2).")
        @Option(help: "The application's name.") var name: String
        @Option(help: "Where Telnyx sends webhooks.") var webhookUrl: String
        @OptionGroup var options: AccountOptions
        func validate() throws {
            try validURL(webhookUrl, "--webhook-url")
            guard !name.isEmpty else { throw ValidationError("--name must not be empty") }
        }
        func run() throws {
            try runAccount {
                let app = try options.load().0.createApp(name: name, webhookURL: webhookUrl)
                options.emit(app) { "created\n" + appsTable([app]) }
            }
        }
    }

    struct Update: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Change an application's webhook settings.")
        @Argument(help: "The application id.") var id: String
        @Option(help: "Where Telnyx sends webhooks.") var webhookUrl: String?
        @Option(help: "Where Telnyx sends webhooks when the first URL fails.") var failoverUrl: String?
        @Option(help: "Webhook timeout in seconds (1-30).") var webhookTimeoutSecs: Int?
        @Option(help: "true or false.") var active: Bool?
        @OptionGroup var options: AccountOptions
        func validate() throws {
            if let webhookUrl { try validURL(webhookUrl, "--webhook-url") }
            if let failoverUrl { try validURL(failoverUrl, "--failover-url") }
            if let t = webhookTimeoutSecs, !(1...30).contains(t) { throw ValidationError("--webhook-timeout-secs must be 1-30") }
            guard webhookUrl != nil || failoverUrl != nil || webhookTimeoutSecs != nil || active != nil else {
                throw ValidationError("nothing to change: give --webhook-url, --failover-url, --webhook-timeout-secs or --active")
            }
        }
        func run() throws {
            try runAccount {
                let app = try options.load().0.updateApp(
                    id, webhookURL: webhookUrl, failoverURL: failoverUrl, timeoutSecs: webhookTimeoutSecs,
                    active: active)
                options.emit(app) { "updated\n" + appsTable([app]) }
            }
        }
    }

    struct Delete: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Delete an application (asks first; --yes skips the question).",
            discussion: "Numbers assigned to the application stop reaching this server. Without a terminal to ask on, --yes is required.")
        @Argument(help: "The application id.") var id: String
        @Flag(help: "Delete without asking.") var yes = false
        @OptionGroup var options: AccountOptions
        func run() throws {
            try runAccount {
                let (commands, _) = try options.load()
                if !yes {
                    try confirm("delete Call Control Application \(id)") {
                        " (\(TextTable.cell(try commands.showApp(id)["application_name"]))); numbers assigned to it stop reaching this server"
                    }
                }
                let app = try commands.deleteApp(id)
                options.emit(app) { "deleted \(id)\n" }
            }
        }
    }
}

struct Connect: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Point a Call Control Application at this server's public URL (creating it if needed), then check /healthz.")
    @Option(help: "The server's public base URL, like https://ivr.example.com.") var publicUrl: String
    @Option(help: "Update this application id.") var app: String?
    @Option(help: "Use (or create) the application with this exact name (default callflow).") var name: String?
    @OptionGroup var options: AccountOptions
    func validate() throws {
        try validURL(publicUrl, "--public-url")
        guard app == nil || name == nil else { throw ValidationError("give --app or --name, not both") }
    }
    func run() throws {
        try runAccount {
            let (commands, config) = try options.load()
            let result = try commands.connect(publicURL: publicUrl, webhookPath: config.server.webhookPath, appID: app, name: name)
            options.emit(
                .object([
                    "application": result.app, "created": .bool(result.created), "webhook_url": .string(result.webhookURL),
                    "healthz": result.healthProblem.map(JSONValue.string) ?? "ok",
                ])
            ) {
                var out =
                    "\(result.created ? "created" : "updated") application \(TextTable.cell(result.app["id"])) "
                    + "(\(TextTable.cell(result.app["application_name"])))\nwebhook URL: \(result.webhookURL)\n"
                out +=
                    result.healthProblem.map { "warning: \(publicUrl)/healthz did not answer 200: \($0)\n" } ?? "\(publicUrl)/healthz answers 200\n"
                out += """
                    next steps:
                      1. assign your phone numbers to this application in the Telnyx portal (Numbers → My Numbers → Connection)
                      2. copy the public key (Portal → Keys & Credentials → Public Key) into TELNYX_PUBLIC_KEY and restart
                      3. call one of the numbers; watch GET /metrics and the logs

                    """
                return out
            }
        }
    }
}

struct Calls: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "List the active calls of a connection (all pages).")
    @Option(help: "The connection (Call Control Application) id.") var connection: String
    @OptionGroup var options: AccountOptions
    func run() throws {
        try runAccount {
            let calls = try options.load().0.activeCalls(connection: connection)
            options.emit(.array(calls)) {
                TextTable.render(
                    ["CALL CONTROL ID", "LEG", "SESSION", "DURATION"],
                    calls.map {
                        [
                            TextTable.cell($0["call_control_id"]), TextTable.cell($0["call_leg_id"]), TextTable.cell($0["call_session_id"]),
                            TextTable.cell($0["call_duration"]),
                        ]
                    }) + "\(calls.count) active call\(calls.count == 1 ? "" : "s")\n"
            }
        }
    }
}

struct CallStatus: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "call", abstract: "Show a call's status.")
    @Argument(help: "The call_control_id.") var id: String
    @OptionGroup var options: AccountOptions
    func run() throws {
        try runAccount {
            let call = try options.load().0.call(id)
            options.emit(call) {
                TextTable.render(
                    ["FIELD", "VALUE"],
                    ["call_control_id", "call_leg_id", "call_session_id", "is_alive", "call_duration", "start_time", "end_time"]
                        .map { [$0, TextTable.cell(call[$0])] })
            }
        }
    }
}

struct Events: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "List call events (all pages), optionally for one leg and since a time.")
    @Option(help: "Only this call leg id.") var callLeg: String?
    @Option(help: "Only events at or after this time (ISO-8601, like 2026-11-21T10:00:00Z).") var since: String?
    @OptionGroup var options: AccountOptions
    func validate() throws {
        if let since, since.count < 10 { throw ValidationError("--since takes an ISO-8601 time like 2026-11-21T10:00:00Z") }
    }
    func run() throws {
        try runAccount {
            let events = try options.load().0.events(legID: callLeg, since: since)
            options.emit(.array(events)) {
                TextTable.render(
                    ["TIME", "NAME", "TYPE", "LEG"],
                    events.map {
                        [
                            TextTable.cell($0["event_timestamp"]), TextTable.cell($0["name"]), TextTable.cell($0["type"]),
                            TextTable.cell($0["call_leg_id"]),
                        ]
                    })
            }
        }
    }
}
