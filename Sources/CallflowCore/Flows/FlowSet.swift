/// All flows of one revision. A call keeps the set it started with, so a reload never changes
/// the menu under a caller's feet.
///
/// ```swift
/// let files = [(name: "main", file: "flows/main.json", bytes: bytes)]
/// let (set, diagnostics) = FlowSet.load(files: files, timeZones: zones)
/// for d in diagnostics { print(d) }  // flows/main.json: /nodes/menu/timeout_ms: ...
/// guard let set else { return }       // nil when any diagnostic is an error
/// let start = set["main"]?.start
/// ```
public struct FlowSet: Sendable, Equatable {
    /// Flow name → flow.
    public var flows: [String: Flow]
    /// Agent group name → addresses (`flows/groups/<name>.json`, see `AgentGroups`).
    public var groups: [String: [String]] = [:]
    /// Identifies this set's content (hash of the files); shown by `/v1/flows` and stored per call.
    public var revision: String
    /// The files it was built from (name → bytes): a store keeps them so calls still on this
    /// revision can finish after a restart, even if the files on disk changed.
    public var sources: [String: [UInt8]] = [:]

    /// An unsaved set with no sources; `load` is how files become one.
    public init(flows: [String: Flow], revision: String) {
        self.flows = flows
        self.revision = revision
    }

    /// Same revision and the same flows; `sources` are not compared (they are what the revision hashes).
    public static func == (a: FlowSet, b: FlowSet) -> Bool { a.revision == b.revision && a.flows == b.flows && a.groups == b.groups }

    /// The flow named `name` (the file name without `.json`).
    public subscript(name: String) -> Flow? { flows[name] }

    /// Parses and checks flow files (name → bytes). Returns the set only when there is no error.
    /// An entry named `groups/<name>` is an agent group (`AgentGroups`), not a flow.
    public static func load(
        files: [(name: String, file: String, bytes: [UInt8])], timeZones: any TimeZoneProvider
    ) -> (set: FlowSet?, diagnostics: [Diagnostic]) {
        var diagnostics: [Diagnostic] = []
        var flows: [String: Flow] = [:]
        var fileOf: [String: String] = [:]
        var groups: [String: [String]] = [:]
        var hash = FNV1a()
        for entry in files.sorted(by: { $0.name < $1.name }) {
            hash.add(entry.name)
            hash.add(entry.bytes)
            if entry.name.hasPrefix(AgentGroups.prefix) {
                let (agents, found) = AgentGroups.parse(entry.bytes, file: entry.file)
                diagnostics += found
                groups[String(entry.name.dropFirst(AgentGroups.prefix.count))] = agents ?? []
                continue
            }
            let (flow, found) = FlowParser.parse(entry.bytes, file: entry.file, name: entry.name, timeZones: timeZones)
            diagnostics += found
            fileOf[entry.name] = entry.file
            // A parse that yields no flow has always reported an error.
            if let flow { flows[entry.name] = flow }
        }
        diagnostics += FlowChecker.check(flows: flows, files: fileOf, groups: groups)
        if diagnostics.contains(where: { $0.severity == .error }) { return (nil, diagnostics) }
        // 15 hex digits (60 bits): fits Swift's inline small string, so no allocation per live call.
        var set = FlowSet(flows: flows, revision: String(hash.hex.prefix(15)))
        set.groups = groups
        for entry in files { set.sources[entry.name] = entry.bytes }
        return (set, diagnostics)
    }
}

/// 64-bit FNV-1a: a stable content hash with no dependency (revision ids, not security).
struct FNV1a {
    private(set) var value: UInt64 = 0xcbf2_9ce4_8422_2325
    mutating func add(_ bytes: some Sequence<UInt8>) {
        for b in bytes {
            value ^= UInt64(b)
            value = value &* 0x0000_0100_0000_01B3
        }
        value ^= 0xFF
        value = value &* 0x0000_0100_0000_01B3
    }
    mutating func add(_ s: String) { add(s.utf8) }
    var hex: String {
        let s = String(value, radix: 16)
        return String(repeating: "0", count: 16 - s.count) + s
    }
}
