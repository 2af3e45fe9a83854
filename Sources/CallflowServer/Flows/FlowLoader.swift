import CallflowCore
import Foundation

/// Reads flow files from disk and checks them as one set (gotos resolve across files).
public enum FlowLoader {
    /// Loads every `*.json` in `paths` (directories or files). Flow names are file names
    /// without `.json`; two files with one name are an error.
    public static func load(
        paths: [String], timeZones: any TimeZoneProvider = SystemTimeZones()
    )
        -> (set: FlowSet?, diagnostics: [Diagnostic], files: Int)
    {
        var files: [(name: String, file: String, bytes: [UInt8])] = []
        var problems: [Diagnostic] = []
        var seen: [String: String] = [:]
        for path in paths {
            var isDirectory: ObjCBool = false
            guard FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory) else {
                problems.append(Diagnostic(.error, file: path, pointer: "", "no such file or directory"))
                continue
            }
            var candidates: [String] = []
            if isDirectory.boolValue {
                let entries = (try? FileManager.default.contentsOfDirectory(atPath: path)) ?? []
                candidates = entries.filter { $0.hasSuffix(".json") }.sorted().map { (path as NSString).appendingPathComponent($0) }
                if candidates.isEmpty {
                    problems.append(Diagnostic(.error, file: path, pointer: "", "no flow files (*.json) in this directory"))
                }
            } else {
                candidates = [path]
            }
            for file in candidates {
                let name = ((file as NSString).lastPathComponent as NSString).deletingPathExtension
                if let other = seen[name] {
                    problems.append(Diagnostic(.error, file: file, pointer: "", "flow name \"\(name)\" is already used by \(other)"))
                    continue
                }
                guard let data = FileManager.default.contents(atPath: file) else {
                    problems.append(Diagnostic(.error, file: file, pointer: "", "cannot read file"))
                    continue
                }
                seen[name] = file
                files.append((name, file, Array(data)))
            }
        }
        // Agent groups (`<flows>/groups/*.json`) of every folder the flows came from.
        var folders: [String] = []
        for path in paths {
            var isDirectory: ObjCBool = false
            _ = FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory)
            let folder = isDirectory.boolValue ? path : (path as NSString).deletingLastPathComponent
            if !folders.contains(folder) { folders.append(folder.isEmpty ? "." : folder) }
        }
        for folder in folders {
            let groups = (folder as NSString).appendingPathComponent("groups")
            for entry in ((try? FileManager.default.contentsOfDirectory(atPath: groups)) ?? []).sorted() where entry.hasSuffix(".json") {
                let file = (groups as NSString).appendingPathComponent(entry)
                let name = AgentGroups.prefix + String(entry.dropLast(5))
                guard seen[name] == nil else { continue }
                guard let data = FileManager.default.contents(atPath: file) else {
                    problems.append(Diagnostic(.error, file: file, pointer: "", "cannot read file"))
                    continue
                }
                seen[name] = file
                files.append((name, file, Array(data)))
            }
        }
        let (set, diagnostics) = FlowSet.load(files: files, timeZones: timeZones)
        let all = problems + diagnostics
        return (all.contains { $0.severity == .error } ? nil : set, all, files.filter { !$0.name.hasPrefix(AgentGroups.prefix) }.count)
    }
}

/// How every command names a flow: a flow name looked up in a flows directory, or the path of a
/// flow file. An argument that ends in `.json` or contains `/` is a path, and the file's folder
/// becomes the flows directory, so gotos to sibling flows resolve.
public struct FlowArgument: Sendable, Hashable, CustomStringConvertible {
    /// What the user typed.
    public var argument: String
    /// The flow's name: the file name without `.json`.
    public var name: String
    /// The folder its gotos resolve in.
    public var directory: String
    /// The argument was a path (not a name).
    public var isPath: Bool

    public init(_ argument: String, flowsDirectory: String = "flows") {
        self.argument = argument
        if Self.isPath(argument) {
            isPath = true
            let file = (argument as NSString).lastPathComponent
            name = file.hasSuffix(".json") ? String(file.dropLast(5)) : file
            let folder = (argument as NSString).deletingLastPathComponent
            directory = folder.isEmpty ? "." : folder
        } else {
            isPath = false
            name = argument
            directory = flowsDirectory
        }
    }

    public static func isPath(_ argument: String) -> Bool { argument.hasSuffix(".json") || argument.contains("/") }

    /// The flow file this argument names.
    public var file: String { (directory as NSString).appendingPathComponent("\(name).json") }

    public var description: String { isPath ? file : name }
}

/// Why a flow argument names nothing that can be loaded. Each message says what to do instead.
public struct FlowArgumentError: Error, Sendable, Equatable, CustomStringConvertible {
    public var description: String
    /// The problems of the files the flow needs, when those are the reason.
    public var diagnostics: [Diagnostic] = []
    public init(_ description: String, diagnostics: [Diagnostic] = []) {
        self.description = description
        self.diagnostics = diagnostics
    }
}

/// The flows one command needs: the chosen flow and every flow it reaches by goto.
public struct FlowSelection: Sendable {
    public var flow: FlowArgument
    /// Every flow of the directory when all of them are valid; otherwise only the chosen flow and
    /// the flows it reaches.
    public var set: FlowSet
    /// The problems (warnings) of the files the chosen flow needs.
    public var diagnostics: [Diagnostic]
    /// Files of the directory that have errors but that the chosen flow never reaches: left out.
    public var skipped: [String]
    /// The files the chosen flow needs (itself first).
    public var files: [String]

    /// One line per skipped file, for stderr.
    public var skippedWarnings: [String] {
        skipped.map { "warning: \($0) has errors and is skipped (\(flow.name) does not reach it; callflow check \($0) shows why)" }
    }
}

extension FlowLoader {
    /// The message for a flows directory that is not there.
    public static func missingDirectory(_ directory: String, defaulted: Bool) -> String {
        defaulted
            ? "no flows directory here (\(directory)/); use --flows DIR or give a path to a flow file"
            : "no flows directory \(directory)/; use --flows DIR or give a path to a flow file"
    }

    /// The flow files (`*.json`) of a directory by name, or why there are none.
    public static func flowFiles(in directory: String, defaulted: Bool) throws(FlowArgumentError) -> [String: String] {
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: directory, isDirectory: &isDirectory), isDirectory.boolValue else {
            throw FlowArgumentError(missingDirectory(directory, defaulted: defaulted))
        }
        var out: [String: String] = [:]
        for entry in (try? FileManager.default.contentsOfDirectory(atPath: directory)) ?? [] where entry.hasSuffix(".json") {
            out[String(entry.dropLast(5))] = (directory as NSString).appendingPathComponent(entry)
        }
        return out
    }

    /// The flows a flow file reaches by `goto`, runs by `subflow` or books by `callback`, read from the raw JSON so that a file with other
    /// errors still names them (an unreadable file reaches nothing; it fails on its own).
    public static func gotoTargets(of file: String) -> [String] {
        guard let data = FileManager.default.contents(atPath: file), let root = try? JSONParser.parse(Array(data)),
            let nodes = root["nodes"]?.objectValue
        else { return [] }
        return nodes.members.compactMap { node in
            let type = node.value["type"]?.stringValue
            return type == "goto" || type == "subflow" || type == "callback" ? node.value["flow"]?.stringValue : nil
        }
    }

    /// The files `name` needs in `files` (name → path): itself, then every flow it reaches by goto,
    /// transitively, in the order found. Gotos to flows that do not exist are left to the checker.
    public static func closure(of name: String, in files: [String: String]) -> [String] {
        var order: [String] = []
        var seen: Set<String> = []
        var stack = [name]
        while let next = stack.first {
            stack.removeFirst()
            guard let file = files[next], seen.insert(next).inserted else { continue }
            order.append(file)
            stack += gotoTargets(of: file)
        }
        return order
    }

    /// Loads what `flow` needs. When every file of its directory is valid the whole directory is
    /// loaded (as `serve` would); when some are broken, only the chosen flow and the flows it
    /// reaches, so one broken draft does not stop work on a different flow.
    /// `defaultedDirectory`: the directory was not given by the user (the error says "here").
    public static func select(
        _ flow: FlowArgument, defaultedDirectory: Bool = false, timeZones: any TimeZoneProvider = SystemTimeZones()
    ) throws(FlowArgumentError) -> FlowSelection {
        if flow.isPath {
            var isDirectory: ObjCBool = false
            if flow.argument.hasSuffix("/") && !FileManager.default.fileExists(atPath: flow.argument) {
                throw FlowArgumentError("no such directory: \(flow.argument)")
            }
            if FileManager.default.fileExists(atPath: flow.argument, isDirectory: &isDirectory), isDirectory.boolValue {
                throw FlowArgumentError(
                    "\(flow.argument) is a directory; give a flow file in it (like \((flow.argument as NSString).appendingPathComponent("main.json"))) or a flow name with --flows \(flow.argument)"
                )
            }
            guard FileManager.default.fileExists(atPath: flow.file) else {
                throw FlowArgumentError("no such flow file: \(flow.file)" + (flow.argument.hasSuffix(".json") ? "" : " (flow files end in .json)"))
            }
        }
        let files = try flowFiles(in: flow.directory, defaulted: defaultedDirectory && !flow.isPath)
        guard files[flow.name] != nil else {
            let names = files.keys.sorted()
            var message = "no flow \"\(flow.name)\" in \(flow.directory)/"
            message += names.isEmpty ? " (it has no flow files)" : " (flows: \(names.joined(separator: ", ")))"
            if let near = Spelling.nearest(to: flow.name, in: names) { message += "; did you mean \"\(near)\"?" }
            throw FlowArgumentError(message)
        }
        let needed = closure(of: flow.name, in: files)
        let whole = load(paths: [flow.directory], timeZones: timeZones)
        if let set = whole.set {
            return FlowSelection(
                flow: flow, set: set, diagnostics: whole.diagnostics.filter { needed.contains($0.file) },
                skipped: [], files: needed)
        }
        let part = load(paths: needed, timeZones: timeZones)
        guard let set = part.set else {
            let errors = part.diagnostics.filter { $0.severity == .error }
            let broken = needed.filter { file in errors.contains { $0.file == file } }
            let via = broken.first == flow.file || broken.isEmpty ? "" : " (\(flow.name) reaches \(broken.count == 1 ? "it" : "them") by goto)"
            let what = broken.isEmpty ? "its flows have errors" : "\(broken.joined(separator: ", ")) \(broken.count == 1 ? "has" : "have") errors"
            throw FlowArgumentError("flow \"\(flow.name)\" cannot run: \(what)\(via); see above", diagnostics: errors)
        }
        let skipped = Set(whole.diagnostics.filter { $0.severity == .error }.map(\.file)).subtracting(needed).sorted()
        return FlowSelection(flow: flow, set: set, diagnostics: part.diagnostics, skipped: skipped, files: needed)
    }
}
