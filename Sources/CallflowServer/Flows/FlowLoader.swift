import CallflowCore
import Foundation

/// Reads flow files from disk and checks them as one set (gotos resolve across files).
public enum FlowLoader {
    /// Loads every `*.json` in `paths` (directories or files). Flow names are file names
    /// without `.json`; two files with one name are an error.
    public static func load(paths: [String], timeZones: any TimeZoneProvider = SystemTimeZones())
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
        let (set, diagnostics) = FlowSet.load(files: files, timeZones: timeZones)
        let all = problems + diagnostics
        return (all.contains { $0.severity == .error } ? nil : set, all, files.count)
    }
}
