import ArgumentParser
import CallflowCore
import CallflowServer
import Foundation
import TelnyxEmulator

/// The flows directory option's default: a flow name without `--flows` is looked up here.
let defaultFlowsDirectory = "flows"

/// Resolves a flow argument (a name, or the path of a flow file) and loads what it needs. A broken
/// file the flow does not reach is skipped with one warning line on stderr; a flow that cannot
/// run prints its files' errors and exits 1; a name or path that names nothing is a usage error.
func selectFlow(_ argument: String, flows: String?) throws -> FlowSelection {
    let selection: FlowSelection
    do {
        selection = try FlowLoader.select(
            FlowArgument(argument, flowsDirectory: flows ?? defaultFlowsDirectory),
            defaultedDirectory: flows == nil)
    } catch {
        guard !error.diagnostics.isEmpty else { throw ValidationError(error.description) }
        for d in error.diagnostics { FileHandle.standardError.write(Data("\(d)\n".utf8)) }
        throw Failure(error.description)
    }
    for line in selection.skippedWarnings { FileHandle.standardError.write(Data("callflow: \(line)\n".utf8)) }
    return selection
}

/// Loads a whole flows directory for a CLI command, printing every problem; exits 1 on errors.
func loadFlowsOrExit(_ dir: String, defaulted: Bool = false) throws -> FlowSet {
    var isDirectory: ObjCBool = false
    guard FileManager.default.fileExists(atPath: dir, isDirectory: &isDirectory), isDirectory.boolValue else {
        throw ValidationError(defaulted ? "no flows directory here (\(dir)/); use --flows DIR" : "no flows directory \(dir)/; use --flows DIR")
    }
    let (set, diagnostics, _) = FlowLoader.load(paths: [dir])
    for d in diagnostics where d.severity == .error { FileHandle.standardError.write(Data("\(d)\n".utf8)) }
    guard let set else { throw Failure("the flows in \(dir)/ have errors (see above)") }
    return set
}

/// `--now`: an ISO-8601 time with offset → Unix seconds.
func parseStart(_ text: String) throws -> Int64 {
    guard let start = Timestamp.parse(text) else {
        throw ValidationError("--now must look like 2026-11-23T10:00:00-06:00 (or ...Z), got \"\(text)\"")
    }
    return start
}

/// `--http-mock FILE`: the mock table; its errors name lines and columns of FILE.
func loadMocks(_ path: String) throws -> HTTPMocks {
    guard let data = FileManager.default.contents(atPath: path) else {
        throw ValidationError("--http-mock: cannot read \(path)" + (FileManager.default.fileExists(atPath: path) ? "" : " (no such file)"))
    }
    do { return try HTTPMocks.parse(Array(data), source: path) } catch {
        throw Failure("--http-mock \(path) has errors:\n" + error.located(in: path))
    }
}

/// `--digits 1,,23#`: one entry per menu or gather; an empty entry is silence.
func parseDigits(_ text: String) throws -> [String] {
    let entries = text.split(separator: ",", omittingEmptySubsequences: false).map(String.init)
    for entry in entries where !entry.allSatisfy({ "0123456789*#ABCDabcd".contains($0) }) {
        throw ValidationError("--digits takes keys 0-9 * # (and A-D), comma-separated per menu or gather, like 2,1234#; got \"\(entry)\"")
    }
    return entries
}

/// An option that takes one of a few words.
func oneOf(_ value: String, _ allowed: [String], option: String) throws -> String {
    guard allowed.contains(value) else {
        throw ValidationError("\(option) is \(allowed.dropLast().joined(separator: ", ")) or \(allowed.last!), got \"\(value)\"")
    }
    return value
}

struct Simulate: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Run one call through a flow against the Telnyx emulator, on a virtual clock, and print what happens.",
        discussion: """
            Same input, same output, byte for byte. FLOW is a flow name (looked up in --flows) or the path of a flow \
            file (its folder is then the flows directory). Example: callflow simulate main --digits 2,1234# --http-mock mocks.json
            """
    )

    @Argument(help: "The flow to run: a name in the flows directory, or a path to a flow file (flows/main.json).")
    var flow: String

    @Option(help: "Keys the caller presses, one entry per menu or gather, comma-separated; an empty entry is silence (1,,23#).")
    var digits: String?

    @Option(help: "The caller's number.")
    var from = "+13125550101"

    @Option(help: "The number called.")
    var to = "+13125550100"

    @Option(help: "The caller hangs up as soon as the flow enters this node (node or flow/node).")
    var hangupAfterNode: String?

    @Option(help: "Simulated start time, ISO-8601 with offset.")
    var now = "2026-11-23T10:00:00-06:00"

    @Option(
        help:
            "JSON file of mocked responses for http nodes: {\"GET https://...\": {\"status\": 200, \"body\": {...}}} (see docs/testing.md); default: mocks.json when there is one, as for dev; none: no mocks."
    )
    var httpMock: String?

    @Option(help: "inbound (default) or outbound (an outbound call the flow places, with machine detection).")
    var direction = "inbound"

    @Option(help: "Machine detection result for outbound calls: human, machine or not_sure.")
    var amd = "human"

    @Option(help: "What a transfer or connect target does: answer, busy or no_answer.")
    var target = "answer"

    @Option(name: .customLong("var"), help: "A flow variable for the call, name=value (repeatable).")
    var vars: [String] = []

    @Option(help: "The flows directory (default: flows).")
    var flows: String?

    @Flag(help: "Print a machine-readable JSON trace instead of the transcript.")
    var json = false

    func run() throws {
        try runWithUsage(Self.self) {
            var scenario = Scenario(name: "simulate", flow: "")
            scenario.from = from
            scenario.to = to
            scenario.direction = try oneOf(direction, ["inbound", "outbound"], option: "--direction")
            scenario.start = try parseStart(now)
            scenario.caller.inputs = try digits.map(parseDigits) ?? []
            scenario.caller.amd = try oneOf(amd, Scenario.amdResults, option: "--amd")
            scenario.caller.target = try oneOf(target, Scenario.targets, option: "--target")
            for pair in vars {
                guard let eq = pair.firstIndex(of: "="), eq != pair.startIndex else { throw ValidationError("--var takes name=value, got \(pair)") }
                scenario.vars[String(pair[..<eq])] = .string(String(pair[pair.index(after: eq)...]))
            }
            // As `dev` does: the folder's mocks.json answers http nodes unless told otherwise.
            let mockFile = httpMock == "none" ? nil : httpMock ?? (FileManager.default.fileExists(atPath: "mocks.json") ? "mocks.json" : nil)
            scenario.http = try mockFile.map(loadMocks) ?? HTTPMocks(source: "a --http-mock file, like mocks.json")
            let selection = try selectFlow(flow, flows: flows)
            scenario.flow = selection.flow.name
            if let node = hangupAfterNode {
                if let why = Scenario.unknownNode(node, in: selection.set, qualified: false) { throw ValidationError("--hangup-after-node: \(why)") }
                scenario.caller.hangupAfterNode = node
            }
            let result = Simulation.run(flows: selection.set, scenario: scenario)
            print(json ? result.json.jsonString : result.transcript, terminator: json ? "\n" : "")
        }
    }
}

struct TestScenarios: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "test",
        abstract: "Run scenario files against the flows and report pass/fail and node and edge coverage.",
        discussion: """
            A scenario's "flow" is a flow name (looked up in --flows) or the path of a flow file, relative to the scenario \
            file. Exits 1 when a scenario fails (or, with --require-full-coverage, when coverage is incomplete).
            """
    )

    @Argument(help: "Directory of scenario files (default tests/scenarios).")
    var dir = "tests/scenarios"

    @Option(help: "The flows directory (default: flows).")
    var flows: String?

    @Flag(help: "Fail unless every node and outcome edge of every flow is exercised.")
    var requireFullCoverage = false

    @Flag(help: "Print every transcript, not only those of failing scenarios.")
    var verbose = false

    func run() throws {
        try runWithUsage(Self.self) {
            var isDirectory: ObjCBool = false
            guard FileManager.default.fileExists(atPath: dir, isDirectory: &isDirectory), isDirectory.boolValue else {
                throw ValidationError("no scenario directory \(dir)/")
            }
            let files = ((try? FileManager.default.contentsOfDirectory(atPath: dir)) ?? []).filter { $0.hasSuffix(".json") }.sorted()
            guard !files.isEmpty else { throw ValidationError("no scenario files (*.json) in \(dir)/") }
            var selections: [FlowArgument: Result<FlowSelection, FlowArgumentError>] = [:]
            var warned: Set<String> = []
            var runs: [(directory: String, set: FlowSet, result: Simulation.Result)] = []
            var failed = 0
            for file in files {
                let path = (dir as NSString).appendingPathComponent(file)
                let name = (file as NSString).deletingPathExtension
                func fail(_ why: String) {
                    print("FAIL \(name): \(why.split(separator: "\n").joined(separator: "\n  "))")
                    failed += 1
                }
                guard let data = FileManager.default.contents(atPath: path) else {
                    fail("cannot read \(path)")
                    continue
                }
                do throws(Scenario.ParseError) {
                    let parsed = try Scenario.parse(Array(data), name: name)
                    // A path in "flow" is relative to the scenario file, like its "$schema".
                    let argument =
                        FlowArgument.isPath(parsed.flow) && !parsed.flow.hasPrefix("/")
                        ? FlowArgument((dir as NSString).appendingPathComponent(parsed.flow))
                        : FlowArgument(parsed.flow, flowsDirectory: flows ?? defaultFlowsDirectory)
                    let resolved =
                        selections[argument]
                        ?? Result { () throws(FlowArgumentError) in
                            try FlowLoader.select(argument, defaultedDirectory: flows == nil)
                        }
                    selections[argument] = resolved
                    let selection: FlowSelection
                    switch resolved {
                    case .success(let s): selection = s
                    case .failure(let e):
                        fail("\(path): /flow: \(e)" + e.diagnostics.map { "\n\($0)" }.joined())
                        continue
                    }
                    for line in selection.skippedWarnings where warned.insert(line).inserted { print(line) }
                    var scenario = try Scenario.parse(Array(data), name: name, flows: selection.set)
                    scenario.flow = selection.flow.name
                    let result = Simulation.run(flows: selection.set, scenario: scenario)
                    runs.append(
                        (
                            URL(fileURLWithPath: selection.flow.directory).standardizedFileURL.resolvingSymlinksInPath().path,
                            selection.set, result
                        ))
                    if result.passed {
                        print("PASS \(name)")
                        if verbose { print(result.transcript) }
                    } else {
                        fail(result.failures.joined(separator: "\n"))
                        print(result.transcript.split(separator: "\n").map { "    " + $0 }.joined(separator: "\n"))
                    }
                } catch {
                    fail(error.located(in: path).split(separator: "\n").joined(separator: "\n"))
                }
            }
            // Coverage per flows directory, over every flow loaded from it.
            var complete = true
            var directories: [String] = []
            for run in runs where !directories.contains(run.directory) { directories.append(run.directory) }
            for directory in directories {
                let sets = runs.filter { $0.directory == directory }
                var flows: [String: Flow] = [:]
                for run in sets { flows.merge(run.set.flows) { a, _ in a } }
                let coverage = Coverage(flows: FlowSet(flows: flows, revision: ""), results: sets.map(\.result))
                if directories.count > 1 { print("flows in \(directory)/:") }
                print(coverage.text, terminator: "")
                complete = complete && coverage.reports.allSatisfy(\.complete)
            }
            print("\(files.count - failed) passed, \(failed) failed")
            if failed > 0 || (requireFullCoverage && !complete) { throw ExitCode(1) }
        }
    }
}

struct Graph: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Print a flow as a diagram (Mermaid or Graphviz dot), edges labelled with their outcomes."
    )

    @Argument(help: "The flow to draw: a name in the flows directory, or a path to a flow file (flows/main.json).")
    var flow: String

    @Option(help: "mermaid (default) or dot.")
    var format: String = "mermaid"

    @Option(help: "The flows directory (default: flows).")
    var flows: String?

    func run() throws {
        try runWithUsage(Self.self) {
            guard let f = FlowGraph.Format(rawValue: format) else { throw ValidationError("--format is mermaid or dot, got \"\(format)\"") }
            let selection = try selectFlow(flow, flows: flows)
            print(FlowGraph.render(selection.set[selection.flow.name]!, format: f), terminator: "")
        }
    }
}

struct ReplayCall: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "replay",
        abstract: "Re-run a recorded call (the JSON of GET /v1/calls/{id}) against the flows, offline, and show where decisions differ."
    )

    @Argument(help: "The recorded call: a file with the JSON of GET /v1/calls/{id}.")
    var trace: String

    @Option(help: "A flow name, or a flow file to use instead of the flow of the same name in the flows directory (a new revision).")
    var flow: String?

    @Option(help: "The flows directory (default: flows).")
    var flows: String?

    /// Exit status 0: the same decisions; 1: they differ (a script can fail on a changed flow, as
    /// with `diff`); 2: the recording or the flows could not be read.
    func run() throws {
        var report: Replay.Report?
        try runWithUsage(Self.self) {
            do { report = try replay() } catch let error as Failure {
                FileHandle.standardError.write(Data("callflow: \(error)\n".utf8))
                throw ExitCode(2)
            }
        }
        guard let report else { return }
        print(report.text, terminator: "")
        if report.firstDifference != nil { throw ExitCode(1) }
    }

    private func replay() throws -> Replay.Report {
        guard let data = FileManager.default.contents(atPath: trace) else { throw ValidationError("cannot read \(trace)") }
        let document: JSONValue
        do { document = try JSONParser.parse(Array(data)) } catch { throw Failure("\(trace): \(error)") }
        let dir = flows ?? defaultFlowsDirectory
        guard let flow, FlowArgument(flow).isPath else {
            if let flow { _ = try selectFlow(flow, flows: flows) }  // a name must exist
            return Replay.run(document: document, flows: try loadFlowsOrExit(dir, defaulted: flows == nil))
        }
        // The file replaces the flow of the same name: the directory without it, plus the file.
        let override = FlowArgument(flow)
        guard FileManager.default.fileExists(atPath: override.file) else { throw ValidationError("--flow: no such flow file: \(override.file)") }
        let others = (try? FileManager.default.contentsOfDirectory(atPath: dir)) ?? []
        let paths =
            others.filter { $0.hasSuffix(".json") && $0 != "\(override.name).json" }.sorted()
            .map { (dir as NSString).appendingPathComponent($0) } + [override.file]
        let (set, diagnostics, _) = FlowLoader.load(paths: paths)
        for d in diagnostics where d.severity == .error { FileHandle.standardError.write(Data("\(d)\n".utf8)) }
        guard let set else { throw Failure("the flows have errors (see above)") }
        return Replay.run(document: document, flows: set)
    }
}
