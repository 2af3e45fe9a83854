import CallflowCore
import CallflowServer
import CallflowTestSupport
import Foundation
import Testing

/// One way to name a flow: names and paths, the folder a path brings, broken drafts beside a flow.
@Suite struct FlowSelectionTests {
    struct Case: Sendable, CustomTestStringConvertible {
        var argument: String
        var flowsDirectory: String
        var name: String
        var directory: String
        var isPath: Bool
        var testDescription: String { "\(argument) (--flows \(flowsDirectory))" }
    }

    static let cases: [Case] = [
        Case(argument: "main", flowsDirectory: "flows", name: "main", directory: "flows", isPath: false),
        Case(argument: "main", flowsDirectory: "drafts", name: "main", directory: "drafts", isPath: false),
        Case(argument: "flows/main.json", flowsDirectory: "other", name: "main", directory: "flows", isPath: true),
        Case(argument: "main.json", flowsDirectory: "flows", name: "main", directory: ".", isPath: true),
        Case(argument: "./x/y/reminder.json", flowsDirectory: "flows", name: "reminder", directory: "./x/y", isPath: true),
        Case(argument: "/abs/dir/voicemail.json", flowsDirectory: "flows", name: "voicemail", directory: "/abs/dir", isPath: true),
        Case(argument: "drafts/main", flowsDirectory: "flows", name: "main", directory: "drafts", isPath: true),
        Case(argument: "main.v2.json", flowsDirectory: "flows", name: "main.v2", directory: ".", isPath: true),
    ]

    @Test(arguments: cases) func nameOrPath(_ c: Case) {
        let flow = FlowArgument(c.argument, flowsDirectory: c.flowsDirectory)
        #expect(flow.name == c.name)
        #expect(flow.directory == c.directory)
        #expect(flow.isPath == c.isPath)
        #expect(flow.file == (c.directory as NSString).appendingPathComponent("\(c.name).json"))
    }

    /// A temporary folder with a flows directory; removed by the caller.
    static func folder(_ files: [String: String]) throws -> URL {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("callflow-select-\(UUID())")
        try FileManager.default.createDirectory(at: dir.appendingPathComponent("flows"), withIntermediateDirectories: true)
        for (name, text) in files { try Data(text.utf8).write(to: dir.appendingPathComponent("flows/\(name).json")) }
        return dir
    }

    static let good = #"{"start":"a","nodes":{"a":{"type":"answer","next":"b"},"b":{"type":"say","text":"Hi.","next":"c"},"c":{"type":"hangup"}}}"#
    static let broken = #"{"start":"a","nodes":{"a":{"type":"answr"}}}"#
    static let usesBroken = #"{"start":"a","nodes":{"a":{"type":"goto","flow":"draft"}}}"#
    static let usesGood = #"{"start":"a","nodes":{"a":{"type":"goto","flow":"good"}}}"#

    @Test func aPathBringsItsFolderSoGotosResolve() throws {
        let dir = try Self.folder(["good": Self.good, "entry": Self.usesGood])
        defer { try? FileManager.default.removeItem(at: dir) }
        let selection = try FlowLoader.select(FlowArgument(dir.appendingPathComponent("flows/entry.json").path, flowsDirectory: "nowhere"))
        #expect(selection.flow.name == "entry")
        #expect(selection.set["good"] != nil, "the goto target beside the file is loaded")
        #expect(selection.skipped.isEmpty)
        #expect(selection.files.map { ($0 as NSString).lastPathComponent } == ["entry.json", "good.json"])
    }

    @Test func aBrokenDraftIsSkippedForAFlowThatDoesNotReachIt() throws {
        let dir = try Self.folder(["good": Self.good, "draft": Self.broken, "uses": Self.usesBroken])
        defer { try? FileManager.default.removeItem(at: dir) }
        let flows = dir.appendingPathComponent("flows").path
        let selection = try FlowLoader.select(FlowArgument("good", flowsDirectory: flows))
        #expect(selection.set.flows.keys.sorted() == ["good"])
        #expect(selection.skipped == ["\(flows)/draft.json"])
        #expect(
            selection.skippedWarnings == [
                "warning: \(flows)/draft.json has errors and is skipped (good does not reach it; callflow check \(flows)/draft.json shows why)"
            ])
        // The broken file itself, and a flow that reaches it by goto, are refused, naming the file.
        for name in ["draft", "uses"] {
            #expect {
                try FlowLoader.select(FlowArgument(name, flowsDirectory: flows))
            } throws: { error in
                let e = error as! FlowArgumentError
                return e.description.contains("flow \"\(name)\" cannot run: \(flows)/draft.json has errors")
                    && e.diagnostics.contains { $0.file == "\(flows)/draft.json" && $0.message.contains("answr") }
            }
        }
    }

    @Test func aValidFolderIsLoadedWhole() throws {
        let dir = try Self.folder(["good": Self.good, "other": Self.good])
        defer { try? FileManager.default.removeItem(at: dir) }
        let selection = try FlowLoader.select(FlowArgument("good", flowsDirectory: dir.appendingPathComponent("flows").path))
        #expect(selection.set.flows.keys.sorted() == ["good", "other"])
        #expect(selection.files.count == 1, "only the files the flow needs are its own")
    }

    @Test func missingThingsSaySo() throws {
        let dir = try Self.folder(["good": Self.good])
        defer { try? FileManager.default.removeItem(at: dir) }
        let flows = dir.appendingPathComponent("flows").path
        func message(_ argument: String, _ directory: String, defaulted: Bool = false) -> String {
            do { _ = try FlowLoader.select(FlowArgument(argument, flowsDirectory: directory), defaultedDirectory: defaulted) } catch {
                return error.description
            }
            return "no error"
        }
        #expect(message("main", "flows-\(UUID())", defaulted: true).hasPrefix("no flows directory here (flows-"))
        #expect(message("main", "flows-\(UUID())", defaulted: true).hasSuffix("/); use --flows DIR or give a path to a flow file"))
        #expect(message("goood", flows) == "no flow \"goood\" in \(flows)/ (flows: good); did you mean \"good\"?")
        #expect(message("\(flows)/nope.json", "x") == "no such flow file: \(flows)/nope.json")
        #expect(message(flows + "/", "x").hasPrefix("\(flows)/ is a directory"))
    }

    @Test func theShippedMainReachesVoicemail() {
        let flows = Fixtures.repoRoot.appendingPathComponent("flows").path
        let files = (try? FlowLoader.flowFiles(in: flows, defaulted: false)) ?? [:]
        #expect(FlowLoader.closure(of: "main", in: files).map { ($0 as NSString).lastPathComponent } == ["main.json", "voicemail.json"])
        #expect(FlowLoader.closure(of: "reminder", in: files).map { ($0 as NSString).lastPathComponent } == ["reminder.json"])
    }
}
