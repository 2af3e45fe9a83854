import ArgumentParser
import CallflowCore
import CallflowServer
import Foundation
import TelnyxEmulator

/// The flow `name` of `set`, or a usage error listing the flows there are.
func requireFlow(_ name: String, in set: FlowSet, dir: String) throws -> Flow {
    guard let flow = set[name] else {
        throw ValidationError("no flow \"\(name)\" in \(dir)/ (flows: \(set.flows.keys.sorted().joined(separator: ", ")))")
    }
    return flow
}

/// Loads the flows for a CLI command, printing every problem; exits 1 on errors.
func loadFlowsOrExit(_ dir: String) throws -> FlowSet {
    let (set, diagnostics, _) = FlowLoader.load(paths: [dir])
    for d in diagnostics where d.severity == .error { FileHandle.standardError.write(Data("\(d)\n".utf8)) }
    guard let set else {
        FileHandle.standardError.write(Data("callflow: the flows have errors (see above)\n".utf8))
        throw ExitCode(1)
    }
    return set
}

struct Simulate: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Run one call through a flow against the Telnyx emulator, on a virtual clock, and print what happens.",
        discussion: "Same input, same output, byte for byte. Example: callflow simulate main --digits 2,1234# --http-mock mocks.json"
    )

    @Argument(help: "The flow to run (a name in the flows directory).")
    var flow: String

    @Option(help: "Keys the caller presses, one entry per menu or gather, comma-separated; an empty entry is silence (1,,23#).")
    var digits: String?

    @Option(help: "The caller's number.")
    var from = "+13125550101"

    @Option(help: "The number called.")
    var to = "+13125550100"

    @Option(help: "The caller hangs up as soon as the flow enters this node.")
    var hangupAfterNode: String?

    @Option(help: "Simulated start time, ISO-8601 with offset (default 2026-11-23T10:00:00-06:00).")
    var now = "2026-11-23T10:00:00-06:00"

    @Option(help: "JSON file of mocked responses for http nodes: {\"GET https://...\": {\"status\": 200, \"body\": {...}}}.")
    var httpMock: String?

    @Option(help: "inbound (default) or outbound (an outbound call the flow places, with machine detection).")
    var direction = "inbound"

    @Option(help: "Machine detection result for outbound calls: human, machine or not_sure.")
    var amd = "human"

    @Option(help: "What a transfer or connect target does: answer, busy or no_answer.")
    var target = "answer"

    @Option(name: .customLong("var"), help: "A flow variable for the call, name=value (repeatable).")
    var vars: [String] = []

    @Option(help: "The flows directory.")
    var flows = "flows"

    @Flag(help: "Print a machine-readable JSON trace instead of the transcript.")
    var json = false

    func run() throws {
        let set = try loadFlowsOrExit(flows)
        _ = try requireFlow(flow, in: set, dir: flows)
        var scenario = Scenario(name: "simulate", flow: flow)
        scenario.from = from
        scenario.to = to
        guard direction == "inbound" || direction == "outbound" else { throw ValidationError("--direction is inbound or outbound") }
        scenario.direction = direction
        guard let start = Timestamp.parse(now) else { throw ValidationError("--now must look like 2026-11-23T10:00:00-06:00") }
        scenario.start = start
        scenario.caller.inputs = digits.map { $0.split(separator: ",", omittingEmptySubsequences: false).map(String.init) } ?? []
        scenario.caller.hangupAfterNode = hangupAfterNode
        scenario.caller.amd = amd
        guard ["answer", "busy", "no_answer"].contains(target) else { throw ValidationError("--target is answer, busy or no_answer") }
        scenario.caller.target = target
        for pair in vars {
            guard let eq = pair.firstIndex(of: "=") else { throw ValidationError("--var takes name=value, got \(pair)") }
            scenario.vars[String(pair[..<eq])] = .string(String(pair[pair.index(after: eq)...]))
        }
        if let httpMock {
            guard let data = FileManager.default.contents(atPath: httpMock) else { throw ValidationError("cannot read \(httpMock)") }
            let wrapped = Array(#"{"flow":"x","http":"#.utf8) + Array(data) + Array("}".utf8)
            do { scenario.http = try Scenario.parse(wrapped, name: "mock").http } catch {
                throw ValidationError("\(httpMock): \(error)")
            }
        }
        let result = Simulation.run(flows: set, scenario: scenario)
        print(json ? result.json.jsonString : result.transcript, terminator: json ? "\n" : "")
    }
}

struct TestScenarios: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "test",
        abstract: "Run scenario files against the flows and report pass/fail and node and edge coverage.",
        discussion: "Exits 1 when a scenario fails (or, with --require-full-coverage, when coverage is incomplete)."
    )

    @Argument(help: "Directory of scenario files (default tests/scenarios).")
    var dir = "tests/scenarios"

    @Option(help: "The flows directory.")
    var flows = "flows"

    @Flag(help: "Fail unless every node and outcome edge of every flow is exercised.")
    var requireFullCoverage = false

    @Flag(help: "Print every transcript, not only those of failing scenarios.")
    var verbose = false

    func run() throws {
        let set = try loadFlowsOrExit(flows)
        let files = ((try? FileManager.default.contentsOfDirectory(atPath: dir)) ?? []).filter { $0.hasSuffix(".json") }.sorted()
        guard !files.isEmpty else { throw ValidationError("no scenario files (*.json) in \(dir)") }
        var results: [Simulation.Result] = []
        var failed = 0
        for file in files {
            let path = (dir as NSString).appendingPathComponent(file)
            let name = (file as NSString).deletingPathExtension
            guard let data = FileManager.default.contents(atPath: path) else {
                print("FAIL \(name): cannot read \(path)")
                failed += 1
                continue
            }
            let scenario: Scenario
            do { scenario = try Scenario.parse(Array(data), name: name) } catch {
                print("FAIL \(name): \(path): \(error)")
                failed += 1
                continue
            }
            guard set[scenario.flow] != nil else {
                print("FAIL \(name): no flow \"\(scenario.flow)\"")
                failed += 1
                continue
            }
            let result = Simulation.run(flows: set, scenario: scenario)
            results.append(result)
            if result.passed {
                print("PASS \(name)")
                if verbose { print(result.transcript) }
            } else {
                failed += 1
                print("FAIL \(name)")
                for f in result.failures { print("  \(f)") }
                print(result.transcript.split(separator: "\n").map { "    " + $0 }.joined(separator: "\n"))
            }
        }
        let coverage = Coverage(flows: set, results: results)
        print(coverage.text, terminator: "")
        print("\(files.count - failed) passed, \(failed) failed")
        if failed > 0 || (requireFullCoverage && !coverage.reports.allSatisfy(\.complete)) { throw ExitCode(1) }
    }
}

struct Graph: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Print a flow as a diagram (Mermaid or Graphviz dot), edges labelled with their outcomes."
    )

    @Argument(help: "The flow to draw.")
    var flow: String

    @Option(help: "mermaid (default) or dot.")
    var format: String = "mermaid"

    @Option(help: "The flows directory.")
    var flows = "flows"

    func run() throws {
        guard let f = FlowGraph.Format(rawValue: format) else { throw ValidationError("--format is mermaid or dot") }
        let target = try requireFlow(flow, in: try loadFlowsOrExit(flows), dir: flows)
        print(FlowGraph.render(target, format: f), terminator: "")
    }
}

struct ReplayCall: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "replay",
        abstract: "Re-run a recorded call (the JSON of GET /v1/calls/{id}) against the flows, offline, and show where decisions differ."
    )

    @Argument(help: "The recorded call: a file with the JSON of GET /v1/calls/{id}.")
    var trace: String

    @Option(help: "A flow file to use instead of the one of the same name in the flows directory (a new revision).")
    var flow: String?

    @Option(help: "The flows directory.")
    var flows = "flows"

    func run() throws {
        guard let data = FileManager.default.contents(atPath: trace) else { throw ValidationError("cannot read \(trace)") }
        let document: JSONValue
        do { document = try JSONParser.parse(Array(data)) } catch { throw ValidationError("\(trace): \(error)") }
        if let flow {
            // The override replaces the flow of the same name: load the directory without it, plus the file.
            let name = ((flow as NSString).lastPathComponent as NSString).deletingPathExtension
            let dir = FileManager.default.temporaryDirectory.appendingPathComponent("callflow-replay-\(getpid())")
            try? FileManager.default.removeItem(at: dir)
            try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
            defer { try? FileManager.default.removeItem(at: dir) }
            for file in (try? FileManager.default.contentsOfDirectory(atPath: flows)) ?? [] where file.hasSuffix(".json") && file != "\(name).json" {
                try FileManager.default.copyItem(atPath: (flows as NSString).appendingPathComponent(file), toPath: dir.appendingPathComponent(file).path)
            }
            try FileManager.default.copyItem(atPath: flow, toPath: dir.appendingPathComponent("\(name).json").path)
            print(Replay.run(document: document, flows: try loadFlowsOrExit(dir.path)).text, terminator: "")
            return
        }
        print(Replay.run(document: document, flows: try loadFlowsOrExit(flows)).text, terminator: "")
    }
}
