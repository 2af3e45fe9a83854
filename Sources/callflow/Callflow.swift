import ArgumentParser
import CallflowCore
import CallflowServer
import Foundation
import Logging

@main
struct Callflow: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "callflow",
        abstract: "An IVR engine for Telnyx Call Control, driven by JSON flow files.",
        subcommands: [
            Serve.self, Dev.self, Check.self, TelnyxGroup.self, Simulate.self, TestScenarios.self, Graph.self, ReplayCall.self, Healthcheck.self,
        ]
    )
}

struct Serve: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Run the webhook server.",
        discussion:
            "Environment: TELNYX_API_KEY, TELNYX_PUBLIC_KEY, TELNYX_API_BASE_URL, PORT, CALLFLOW_ADMIN_TOKEN, CALLFLOW_REDIS_URL, CALLFLOW_CONFIG."
    )

    @Option(name: .long, help: "Path to config.json (default: $CALLFLOW_CONFIG, else embedded defaults).")
    var config: String?

    @Flag(name: .long, help: "Accept webhooks without checking their signature. Local development only.")
    var insecureSkipVerify = false

    func run() throws {
        closeInheritedDescriptors()
        resetSignalMask()
        let environment = ProcessInfo.processInfo.environment
        let loaded: CallflowConfig
        do { loaded = try ConfigLoader.load(path: config, environment: environment) } catch {
            FileHandle.standardError.write(Data("callflow: \(error)\n".utf8))
            throw ExitCode(2)
        }
        let logger = Logging.bootstrap(loaded.log)
        do {
            let app = try ServerApp(config: loaded, insecureSkipVerify: insecureSkipVerify, logger: logger)
            try app.run()
        } catch {
            FileHandle.standardError.write(Data("callflow: \(error)\n".utf8))
            throw ExitCode(1)
        }
    }
}

enum Logging {
    /// Bootstraps swift-log once for the process and returns the root logger.
    static func bootstrap(_ config: CallflowConfig.Log) -> Logger {
        LoggingSystem.bootstrap { label in CallflowLogHandler(label: label, level: config.level, format: config.format) }
        return Logger(label: "callflow")
    }
}

struct Check: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Check flow files and report every problem as file: /json/pointer: message.",
        discussion: """
            Each argument is a directory (every flow in it, as serve loads them), a flow name (looked up in --flows) or \
            the path of a flow file; a flow is checked with the flows it reaches by goto, in its own folder. \
            Exits 1 when any error is found (warnings alone exit 0).
            """
    )

    @Argument(help: "Directories, flow names or flow files (default: the flows directory).")
    var paths: [String] = []

    @Option(help: "The flows directory flow names are looked up in (default: flows).")
    var flows: String?

    @Flag(name: .long, help: "Treat warnings (such as unreachable nodes) as errors.")
    var strict = false

    func run() throws {
        try runWithUsage(Self.self) {
            let directory = flows ?? defaultFlowsDirectory
            var files: [String] = []
            var notes: [Diagnostic] = []
            for argument in paths.isEmpty ? [directory] : paths {
                var isDirectory: ObjCBool = false
                if FileManager.default.fileExists(atPath: argument, isDirectory: &isDirectory), isDirectory.boolValue {
                    files.append(argument)
                    continue
                }
                if paths.isEmpty { throw ValidationError(FlowLoader.missingDirectory(directory, defaulted: flows == nil)) }
                let flow = FlowArgument(argument, flowsDirectory: directory)
                do throws(FlowArgumentError) {
                    let selection = try FlowLoader.select(flow, defaultedDirectory: flows == nil)
                    files += selection.files
                    // Strict: a broken file beside it is reported, as a warning, since this flow never reaches it.
                    notes += selection.skipped.map {
                        Diagnostic(.warning, file: $0, pointer: "", "has errors (\(flow.name) does not reach it; callflow check \($0) lists them)")
                    }
                } catch  where !error.diagnostics.isEmpty {
                    files += FlowLoader.closure(of: flow.name, in: (try? FlowLoader.flowFiles(in: flow.directory, defaulted: false)) ?? [:])
                } catch {
                    throw ValidationError(error.description)
                }
            }
            var unique: [String] = []
            for file in files where !unique.contains(file) { unique.append(file) }
            let (_, loaded, count) = FlowLoader.load(paths: unique)
            var diagnostics: [Diagnostic] = []
            for d in loaded + notes where !diagnostics.contains(d) { diagnostics.append(d) }
            for d in diagnostics { print(d) }
            let errors = diagnostics.filter { $0.severity == .error }.count
            let warnings = diagnostics.count - errors
            print(
                "\(count) flow file\(count == 1 ? "" : "s") checked: \(errors) error\(errors == 1 ? "" : "s"), \(warnings) warning\(warnings == 1 ? "" : "s")"
            )
            if errors > 0 || (strict && warnings > 0) { throw ExitCode(1) }
        }
    }
}

/// Runs a subcommand so that a `ValidationError` prints that subcommand's usage (ArgumentParser
/// prints the top-level usage for errors thrown from `run()`), and a `Failure` prints its message
/// alone and exits 1.
func runWithUsage(_ command: ParsableCommand.Type, _ body: () throws -> Void) throws {
    do { try body() } catch let error as ValidationError {
        let usage = Callflow.usageString(for: command)
        let words = usage.split(whereSeparator: \.isWhitespace).prefix { !"<[-".contains($0.first!) }
        FileHandle.standardError.write(
            Data("Error: \(error.message)\nUsage: \(usage)\n  See '\(words.joined(separator: " ")) --help' for more information.\n".utf8))
        throw ExitCode.validationFailure
    } catch let error as Failure {
        FileHandle.standardError.write(Data("callflow: \(error)\n".utf8))
        throw ExitCode(1)
    }
}

/// Unblocks every signal: a parent (a supervisor, a test runner) can hand down a mask that blocks
/// SIGTERM/SIGHUP, and then shutdown and reload would never be seen.
func resetSignalMask() {
    var none = sigset_t()
    sigemptyset(&none)
    sigprocmask(SIG_SETMASK, &none, nil)
}

/// Closes file descriptors inherited from whatever started this process (a supervisor, a test
/// runner), so sockets of the parent cannot be held open by the server.
func closeInheritedDescriptors() {
    guard let entries = try? FileManager.default.contentsOfDirectory(atPath: "/proc/self/fd") else { return }
    for fd in entries.compactMap({ Int32($0) }) where fd > 2 { close(fd) }
}
