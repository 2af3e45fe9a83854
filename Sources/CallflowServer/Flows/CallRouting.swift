import CallflowCore

/// Which flow answers a call whose called number has no entry in `flows.routes`.
///
/// A server that rejects every call is the worst first deploy there is, and the image ships only
/// a flows directory, so the rule is: `flows.default` when set; else the flow named `main` when
/// there is one; else the only flow when there is exactly one. Anything else leaves unrouted
/// numbers rejected, which `serve` says at startup (and `/readyz` reports when no call could be
/// taken at all).
public enum CallRouting: Sendable, Equatable, CustomStringConvertible {
    /// `flows.default` names it.
    case configured(String)
    /// No `flows.default`; the flows directory has a `main` flow.
    case main
    /// No `flows.default` and no `main`; it is the only flow.
    case onlyFlow(String)
    /// No default: numbers without a route are rejected.
    case none

    public init(configured: String?, flows: FlowSet) {
        if let configured {
            self = .configured(configured)
        } else if flows["main"] != nil {
            self = .main
        } else if flows.flows.count == 1, let only = flows.flows.keys.first {
            self = .onlyFlow(only)
        } else {
            self = .none
        }
    }

    /// The flow for unrouted numbers, or nil when they are rejected.
    public var flow: String? {
        switch self {
        case .configured(let name), .onlyFlow(let name): return name
        case .main: return "main"
        case .none: return nil
        }
    }

    public var description: String {
        switch self {
        case .configured(let name): return "flow \"\(name)\" (flows.default)"
        case .main: return "flow \"main\" (flows.default is unset and the flows directory has main.json)"
        case .onlyFlow(let name): return "flow \"\(name)\" (flows.default is unset and it is the only flow)"
        case .none: return "none"
        }
    }

    /// Why no call can be taken at all, or nil when some can: no route and no default.
    public static func rejectsEverything(routes: [String: String], default routing: CallRouting, flowNames: [String]) -> String? {
        guard routes.isEmpty, routing == .none else { return nil }
        return "no flow takes calls: flows.routes is empty, flows.default is unset, and the flows directory has no main.json "
            + "and more than one flow (\(flowNames.sorted().joined(separator: ", "))); set flows.default to one of them "
            + "or route numbers to flows in flows.routes"
    }
}
